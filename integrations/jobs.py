"""RQ entry points of the integrations app; each takes ids and calls one service."""

from alloy.jobs import job
from integrations import services


@job(timeout=300)
def integration_subscriptions_reconcile_job(integration_id: int) -> None:
    services.integration_subscriptions_reconcile(integration_id=integration_id)
