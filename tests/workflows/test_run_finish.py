"""Finishing a run in one guarded write: only the worker holding the lease can."""

import pytest

from integrations import services as integration_services
from workflows.exceptions import InvalidRunTransition
from workflows.models import Run
from workflows.services.intake import custom_event_ingest
from workflows.services.runs import run_finish, run_transition
from workflows.tutorial import ORDER_REQUESTED_SAMPLE, tutorial_integration_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def running_run(workspace, end_user, connection, sandbox, settings):
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:9"
    integration = tutorial_integration_create(
        workspace=workspace, stream_base_url="http://127.0.0.1:9"
    )
    integration_services.installation_create(
        end_user=end_user, integration=integration, connection=connection
    )
    result = custom_event_ingest(
        workspace=workspace,
        event_name="order_requested",
        user_id=end_user.external_id,
        data=ORDER_REQUESTED_SAMPLE,
    )
    run = result.runs[0]
    return run_transition(run=run, status=Run.Status.RUNNING, lease_owner="worker-a")


def test_run_finish_by_lease_holder(running_run):
    assert run_finish(run=running_run, lease_owner="worker-a", status="succeeded")
    stored = Run.objects.get(pk=running_run.pk)
    assert stored.status == Run.Status.SUCCEEDED
    assert stored.finished_at is not None
    assert stored.lease_owner == ""
    assert stored.lease_expires_at is None


def test_run_finish_lost_lease_changes_nothing(running_run):
    finished = run_finish(run=running_run, lease_owner="worker-b", status="failed")
    stored = Run.objects.get(pk=running_run.pk)
    assert finished is False
    assert stored.status == Run.Status.RUNNING
    assert stored.lease_owner == "worker-a"


def test_run_finish_stores_stream_delivery_id(running_run):
    run_finish(run=running_run, lease_owner="worker-a", status="succeeded", stream=True)
    stored = Run.objects.get(pk=running_run.pk)
    assert stored.stream_delivery_id is not None
    assert stored.stream_delivery_id == running_run.stream_delivery_id


def test_run_finish_rejects_queued_status(running_run):
    with pytest.raises(InvalidRunTransition):
        run_finish(run=running_run, lease_owner="worker-a", status="queued")
