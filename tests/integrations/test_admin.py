"""The operator admin for workspaces and connections."""

import pytest

from integrations.models import Connection, Workspace

pytestmark = pytest.mark.django_db


def test_workspace_added_in_admin_gets_secret(admin_client):
    response = admin_client.post(
        "/admin/integrations/workspace/add/",
        {"name": "Globex", "slug": "globex"},
        follow=True,
    )
    workspace = Workspace.objects.get(slug="globex")
    assert workspace.signing_secret.startswith("whsec_")
    assert workspace.signing_secret in response.content.decode()


def test_workspace_secret_not_on_change_page(admin_client, workspace_and_secret):
    workspace, secret = workspace_and_secret
    response = admin_client.get(f"/admin/integrations/workspace/{workspace.pk}/change/")
    assert response.status_code == 200
    assert secret not in response.content.decode()


def test_connection_add_forbidden(admin_client):
    response = admin_client.get("/admin/integrations/connection/add/")
    assert response.status_code == 403


def test_connection_page_hides_token(admin_client, connection, shop_token):
    response = admin_client.get(
        f"/admin/integrations/connection/{connection.pk}/change/"
    )
    assert response.status_code == 200
    assert shop_token not in response.content.decode()


def test_disable_connection_action(admin_client, connection):
    admin_client.post(
        "/admin/integrations/connection/",
        {"action": "disable_connections", "_selected_action": [connection.pk]},
    )
    connection.refresh_from_db()
    assert connection.status == Connection.Status.DISABLED


def test_admin_links_rq_queues(admin_client):
    response = admin_client.get("/admin/")
    assert 'href="/admin/rq/"' in response.content.decode()
