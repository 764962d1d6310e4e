"""A second workspace sees none of the first one's integrations, workflows or runs."""

import pytest

from integrations import services as integration_services
from integrations.models import Workspace
from workflows.models import Block, Event, Run, RunStep

pytestmark = pytest.mark.django_db


@pytest.fixture
def failed_run(tutorial, end_user):
    workflow = tutorial.workflows.get(name="Create Shopify order from Acme Co")
    event = Event.objects.create(
        workspace=tutorial.workspace,
        end_user=end_user,
        source=Event.Source.CUSTOM,
        name="order_requested",
        data={"email": "private@example.com"},
    )
    return Run.objects.create(
        workspace=tutorial.workspace,
        workflow=workflow,
        version=workflow.published_version,
        event=event,
        end_user=end_user,
        status=Run.Status.FAILED,
        error={"code": "mapping_failed", "message": "x"},
    )


def guessed_urls(tutorial, run) -> list[str]:
    workflow = tutorial.workflows.get(name="Create Shopify order from Acme Co")
    version = workflow.versions.get()
    return [
        f"/builder/integrations/{tutorial.pk}",
        f"/builder/workflows/{workflow.pk}",
        f"/builder/workflows/{workflow.pk}/versions",
        f"/builder/versions/{version.pk}",
        f"/builder/versions/{version.pk}/test",
        f"/builder/versions/{version.pk}/release",
        f"/builder/runs/{run.pk}",
    ]


def test_other_workspace_lists_nothing(other_client, tutorial, failed_run):
    integrations = other_client.get("/builder/").content.decode()
    runs = other_client.get("/builder/runs").content.decode()
    assert "Shopify" not in integrations
    assert "Create Shopify order" not in runs
    assert f"#{failed_run.pk}" not in runs


def test_other_workspace_guessed_urls_404(other_client, tutorial, failed_run):
    statuses = {
        url: other_client.get(url).status_code
        for url in guessed_urls(tutorial, failed_run)
    }
    assert statuses == dict.fromkeys(statuses, 404)


def test_other_workspace_posts_404(other_client, tutorial, failed_run):
    workflow = tutorial.workflows.get(name="Create Shopify order from Acme Co")
    block = Block.objects.get(version__workflow=workflow, key="create_order")
    posts = [
        f"/builder/workflows/{workflow.pk}/versions/new",
        f"/builder/steps/{block.pk}/preview",
        f"/builder/steps/{block.pk}/remove",
        f"/builder/runs/{failed_run.pk}/replay",
        f"/builder/runs/{failed_run.pk}/retry",
        f"/builder/integrations/{tutorial.pk}/workflows",
    ]
    statuses = {url: other_client.post(url).status_code for url in posts}
    failed_run.refresh_from_db()
    assert statuses == dict.fromkeys(statuses, 404)
    assert workflow.versions.count() == 1
    assert failed_run.status == Run.Status.FAILED


def test_other_workspace_cannot_test_with_connection(
    other_client, tutorial, connection
):
    other_integration = integration_services.integration_create(
        workspace=Workspace.objects.get(slug="globex"),
        name="Globex Shopify",
        app="shopify",
    )
    other_client.post(
        f"/builder/integrations/{other_integration.pk}/workflows",
        {"name": "Orders", "trigger": "shopify.order_created"},
    )
    other_workflow_version = other_integration.workflows.get().versions.get()
    response = other_client.post(
        f"/builder/versions/{other_workflow_version.pk}/test",
        {"sample_json": "{}", "connection": connection.pk},
    )
    assert response.status_code == 422
    assert "Select a valid choice" in response.content.decode()


def test_replay_queues_new_run(author_client, failed_run):
    response = author_client.post(f"/builder/runs/{failed_run.pk}/replay")
    replay = Run.objects.get(replay_of=failed_run)
    assert response.status_code == 302
    assert response.url == f"/builder/runs/{replay.pk}"
    assert replay.version_id == failed_run.version_id


def test_retry_queues_failed_run(author_client, failed_run):
    response = author_client.post(f"/builder/runs/{failed_run.pk}/retry")
    failed_run.refresh_from_db()
    assert response.status_code == 302
    assert failed_run.status == Run.Status.QUEUED


def test_run_page_redacts_secrets(author_client, failed_run):
    RunStep.objects.create(
        run=failed_run,
        block=failed_run.version.blocks.get(position=0),
        position=0,
        key="trigger",
        status=RunStep.Status.SUCCEEDED,
        output={"access_token": "shpat_abcdefghijkl", "note": "ok"},
        started_at=failed_run.created_at,
        finished_at=failed_run.created_at,
        duration_ms=0,
    )
    page = author_client.get(f"/builder/runs/{failed_run.pk}").content.decode()
    assert "shpat_abcdefghijkl" not in page
    assert "[redacted]" in page


def test_admin_replays_run(admin_client, failed_run):
    admin_client.post(
        "/admin/workflows/run/",
        {"action": "replay_runs", "_selected_action": [failed_run.pk]},
    )
    assert Run.objects.filter(replay_of=failed_run).count() == 1


def test_admin_retries_failed_run(admin_client, failed_run):
    admin_client.post(
        "/admin/workflows/run/",
        {"action": "retry_runs", "_selected_action": [failed_run.pk]},
    )
    failed_run.refresh_from_db()
    assert failed_run.status == Run.Status.QUEUED


def test_overview_lists_failing_first(author_client, failed_run):
    page = author_client.get("/builder/overview").content.decode()
    assert "Create Shopify order from Acme Co" in page
    assert "0%" in page


def test_overview_counts_run_hour(author_client, failed_run):
    response = author_client.get("/builder/overview")
    bars = response.context["bars"]
    assert len(bars) == 24
    assert bars[-1]["failed"] == 1


def test_run_page_offers_replay_after_success(author_client, failed_run):
    Run.objects.filter(pk=failed_run.pk).update(status=Run.Status.SUCCEEDED)
    page = author_client.get(f"/builder/runs/{failed_run.pk}").content.decode()
    assert f"/builder/runs/{failed_run.pk}/replay" in page
    assert f"/builder/runs/{failed_run.pk}/retry" not in page
