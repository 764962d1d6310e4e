"""The version of each workflow that an installation runs, and upgrades.

An integration's ``version_policy`` decides how a publication reaches its
installations: ``follow`` moves every installation to the published version
(a rollback too), ``pinned`` keeps each installation on the versions it
installed until it is upgraded.
"""

import logging
from collections.abc import Collection

from django.db import transaction

from alloy import jobs
from alloy.errors import ApplicationError, NotFoundError
from alloy.generation import generation_bump
from integrations.models import Installation, Integration
from workflows.models import InstalledVersion, Workflow
from workflows.services.schedules import schedules_sync

logger = logging.getLogger(__name__)


def installed_versions_pin(
    *,
    installation: Installation,
    workflow_ids: Collection[int] | None = None,
    only_missing: bool = False,
) -> list[int]:
    """Set the installation's version of each published workflow to the published one.

    ``workflow_ids`` limits the change to those workflows; ``only_missing``
    writes only workflows the installation has no version of yet. Returns the
    ids of the workflows whose version changed. The caller bumps the cache
    generation (``alloy.generation``), once for all the installations it pins.
    """
    workflows = Workflow.objects.filter(
        integration_id=installation.integration_id, published_version__isnull=False
    )
    if workflow_ids is not None:
        workflows = workflows.filter(pk__in=workflow_ids)
    current = dict(
        InstalledVersion.objects.filter(installation=installation).values_list(
            "workflow_id", "version_id"
        )
    )
    changed = []
    for workflow in workflows:
        installed = current.get(workflow.pk)
        if installed == workflow.published_version_id:
            continue
        if installed is not None and only_missing:
            continue
        InstalledVersion.objects.update_or_create(
            installation=installation,
            workflow=workflow,
            defaults={"version_id": workflow.published_version_id},
        )
        changed.append(workflow.pk)
    return changed


@transaction.atomic
def installation_upgrade(
    *, installation: Installation, workflow_ids: Collection[int] | None = None
) -> Installation:
    """Move an installation to the published version of each of its workflows.

    Reconciles the shop's webhook subscriptions in the same transaction, so
    an app that rejects them leaves the old versions in place (ApplicationError,
    HTTP 502). Unknown ``workflow_ids`` raise NotFoundError.
    """
    from integrations.services import installation_sync_subscriptions

    if workflow_ids is not None:
        known = set(
            Workflow.objects.filter(
                integration_id=installation.integration_id, pk__in=workflow_ids
            ).values_list("pk", flat=True)
        )
        unknown = sorted(set(workflow_ids) - known)
        if unknown:
            raise NotFoundError(
                f"The integration has no workflow {unknown[0]}; list its workflows "
                "at GET /api/v1/integrations.",
                code="workflow_not_found",
                fields=[
                    {"path": "$.workflows", "message": f"Unknown id {unknown[0]}."}
                ],
            )
    changed = installed_versions_pin(
        installation=installation, workflow_ids=workflow_ids
    )
    generation_bump()
    installation_sync_subscriptions(installation=installation)
    schedules_sync(integration_id=installation.integration_id)
    logger.info(
        "integrations.installation.upgraded",
        extra={
            "installation_id": installation.pk,
            "integration_id": installation.integration_id,
            "workflow_ids": changed,
        },
    )
    return installation


def integration_upgrade(
    *, integration: Integration, installation_ids: Collection[int] | None = None
) -> list[tuple[Installation, ApplicationError | None]]:
    """Upgrade every installation of the integration, or those in the list.

    Each installation is upgraded in its own transaction, so one shop that
    rejects its subscriptions does not hold back the others. Returns each
    installation with its error, or None where the upgrade succeeded.
    """
    installations = Installation.objects.select_related("connection").filter(
        integration=integration
    )
    if installation_ids is not None:
        installations = installations.filter(pk__in=installation_ids)
        found = {installation.pk for installation in installations}
        unknown = sorted(set(installation_ids) - found)
        if unknown:
            raise NotFoundError(
                f"The integration has no installation {unknown[0]}.",
                code="installation_not_found",
                fields=[
                    {"path": "$.installations", "message": f"Unknown id {unknown[0]}."}
                ],
            )
    outcomes: list[tuple[Installation, ApplicationError | None]] = []
    for installation in installations.order_by("pk"):
        try:
            installation_upgrade(installation=installation)
        except ApplicationError as exc:
            outcomes.append((installation, exc))
        else:
            outcomes.append((installation, None))
    return outcomes


def followers_move(*, workflow: Workflow) -> None:
    """Bring installations up to date after ``workflow`` was published.

    Installations of a ``follow`` integration move to the published version;
    installations of a ``pinned`` one get it only for a workflow they had no
    version of. Call inside the publishing transaction; the shops' webhook
    subscriptions are reconciled by a job after commit, and the next firing
    of each schedule that now runs is armed.
    """
    integration = workflow.integration
    for installation in Installation.objects.filter(integration=integration):
        installed_versions_pin(
            installation=installation,
            workflow_ids=[workflow.pk],
            only_missing=integration.version_policy == Integration.VersionPolicy.PINNED,
        )
    schedules_sync(integration_id=integration.pk)
    from integrations.jobs import integration_subscriptions_reconcile_job

    transaction.on_commit(
        lambda: jobs.enqueue(integration_subscriptions_reconcile_job, integration.pk)
    )
