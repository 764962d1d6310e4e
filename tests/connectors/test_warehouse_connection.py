"""Warehouse connections: URL checks, outbound rules, storage, API and admin."""

import json
from decimal import Decimal

import pytest
from django.db import connection as platform_db
from rest_framework.test import APIClient

from connectors.warehouse import columns
from connectors.warehouse.connection_url import (
    WarehouseURLError,
    redact,
    warehouse_url_parse,
)
from integrations import services as integration_services
from integrations.exceptions import InvalidConnectionError
from integrations.models import Connection

pytestmark = pytest.mark.django_db

PASSWORD = "s3cret-Pa55"
# Port 9 (discard) has no PostgreSQL, so the connection is refused at once.
REFUSED_URL = f"postgresql://loader:{PASSWORD}@127.0.0.1:9/analytics"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mysql://u@h/db", "unsupported scheme 'mysql'"),
        ("snowflake://u@acme/db", "Snowflake warehouses are not available yet"),
        ("bigquery://project/dataset", "BigQuery warehouses are not available yet"),
        ("postgresql://u@127.0.0.1:5432/", "names no database"),
        ("postgresql://127.0.0.1:5432/db", "names no user"),
        ("postgresql://u@/db", "has no host"),
        ("postgresql://u@h1,h2/db", "has no host, or several"),
        ("postgresql://u@h:99999/db", "is invalid"),
        ("postgresql://u@h/db?host=10.0.0.1", "unsupported parameter 'host'"),
        ("postgresql://u@h/db?sslmode=sometimes", "invalid sslmode"),
        ("", "is empty"),
    ],
)
def test_url_parse_rejects(url, expected):
    with pytest.raises(WarehouseURLError, match=expected):
        warehouse_url_parse(url)


def test_url_parse_reads_parts():
    url = warehouse_url_parse(
        f"postgres://loader:{PASSWORD}@db.example.com/analytics?sslmode=require"
    )
    assert (url.backend, url.host, url.port, url.database, url.user) == (
        "postgresql",
        "db.example.com",
        5432,
        "analytics",
        "loader",
    )
    assert url.password == PASSWORD
    assert url.parameters == {"sslmode": "require"}


def test_url_redacted_hides_password():
    url = warehouse_url_parse(REFUSED_URL)
    assert url.redacted == "postgresql://loader:***@127.0.0.1:9/analytics"
    assert PASSWORD not in repr(url)


def test_url_redacted_without_password():
    url = warehouse_url_parse("postgresql://loader@127.0.0.1:9/analytics")
    assert url.redacted == "postgresql://loader@127.0.0.1:9/analytics"


def test_redact_invalid_url_hides_password():
    assert PASSWORD not in redact(f"postgresql://u:{PASSWORD}@h:99999/db")


def test_redact_keeps_allowed_parameters():
    redacted = redact(f"postgresql://u:{PASSWORD}@h/db?sslmode=require&passfile=/x")
    assert redacted == "postgresql://u:***@h/db?sslmode=require&passfile=***"


def test_password_parameter_redacted_in_message():
    with pytest.raises(WarehouseURLError) as raised:
        warehouse_url_parse(f"postgresql://u@h/db?password={PASSWORD}")
    message = str(raised.value)
    assert PASSWORD not in message
    assert "postgresql://u@h/db?password=***" in message
    assert "unsupported parameter 'password'" in message


def test_refused_url_rejected_naming_it(workspace):
    with pytest.raises(InvalidConnectionError) as raised:
        integration_services.warehouse_connection_set(
            workspace=workspace, url=REFUSED_URL
        )
    message = raised.value.message
    assert "postgresql://loader:***@127.0.0.1:9/analytics" in message
    assert "Could not connect" in message
    assert PASSWORD not in json.dumps(raised.value.fields)


def test_refused_url_stores_nothing(workspace):
    with pytest.raises(InvalidConnectionError):
        integration_services.warehouse_connection_set(
            workspace=workspace, url=REFUSED_URL
        )
    assert not Connection.objects.filter(app="warehouse").exists()


def test_internal_host_rejected_in_production(settings, workspace, warehouse_url):
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    with pytest.raises(InvalidConnectionError, match="OUTBOUND_ALLOWED_NETWORKS"):
        integration_services.warehouse_connection_set(
            workspace=workspace, url=warehouse_url
        )


def test_wrong_password_rejected(workspace, warehouse_url):
    # The local server trusts loopback, so a wrong user is what it rejects.
    bad = warehouse_url.replace("postgres@", f"no_such_role:{PASSWORD}@")
    with pytest.raises(InvalidConnectionError, match="no_such_role") as raised:
        integration_services.warehouse_connection_set(workspace=workspace, url=bad)
    assert PASSWORD not in raised.value.message


def test_workspace_warehouse_stored_encrypted(workspace, warehouse_url):
    url = warehouse_url.replace("postgres@", f"postgres:{PASSWORD}@")
    stored = integration_services.warehouse_connection_set(workspace=workspace, url=url)
    with platform_db.cursor() as cursor:
        cursor.execute(
            "SELECT credentials FROM integrations_connection WHERE id = %s",
            [stored.pk],
        )
        [(raw,)] = cursor.fetchall()
    assert PASSWORD not in raw
    assert PASSWORD not in stored.account_id
    assert stored.credential_data == {"url": url}


def test_workspace_warehouse_replaced(workspace, warehouse_url):
    first = integration_services.warehouse_connection_set(
        workspace=workspace, url=warehouse_url
    )
    second = integration_services.warehouse_connection_set(
        workspace=workspace, url=warehouse_url + "?sslmode=disable"
    )
    assert second.pk == first.pk
    assert Connection.objects.filter(app="warehouse").count() == 1


@pytest.fixture
def api(api_key, end_user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key}")
    return client


def test_api_end_user_connects_warehouse(api, warehouse_url):
    response = api.post(
        "/api/v1/end-users/merchant-1/connections",
        {
            "app": "warehouse",
            "account_id": "merchant-1 warehouse",
            "credentials": {"url": warehouse_url},
        },
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["app"] == "warehouse"


def test_api_refused_warehouse_is_422(api):
    response = api.post(
        "/api/v1/end-users/merchant-1/connections",
        {
            "app": "warehouse",
            "account_id": "merchant-1 warehouse",
            "credentials": {"url": REFUSED_URL},
        },
        format="json",
    )
    assert response.status_code == 422
    body = response.json()
    assert body["error"]["fields"][0]["path"] == "$.credentials.url"
    assert "postgresql://loader:***@127.0.0.1:9/analytics" in body["error"]["message"]
    assert PASSWORD not in response.content.decode()


def test_api_warehouse_without_account_id(api, warehouse_url):
    url = warehouse_url.replace("postgres@", f"postgres:{PASSWORD}@")
    response = api.post(
        "/api/v1/end-users/merchant-1/connections",
        {"app": "warehouse", "credentials": {"url": url}},
        format="json",
    )
    assert response.status_code == 201
    account_id = response.json()["account_id"]
    assert account_id == warehouse_url_parse(url).redacted
    assert account_id.startswith("postgresql://postgres:***@127.0.0.1:5432/")
    assert PASSWORD not in response.content.decode()


def test_api_warehouse_reconnect_replaces(api, end_user, warehouse_url):
    path = "/api/v1/end-users/merchant-1/connections"
    first = api.post(
        path,
        {"app": "warehouse", "credentials": {"url": warehouse_url}},
        format="json",
    )
    second = api.post(
        path,
        {
            "app": "warehouse",
            "account_id": "merchant-1 warehouse",
            "credentials": {"url": warehouse_url + "?sslmode=disable"},
        },
        format="json",
    )
    assert first.status_code == 201
    assert second.status_code == 201
    assert second.json()["id"] == first.json()["id"]
    stored = Connection.objects.get(end_user=end_user, app="warehouse")
    assert stored.account_id == "merchant-1 warehouse"
    assert stored.credential_data == {"url": warehouse_url + "?sslmode=disable"}


def test_reconnect_drops_older_warehouses(end_user, warehouse_url):
    for name in ("old-1", "old-2"):
        Connection.objects.create(
            end_user=end_user,
            app="warehouse",
            account_id=name,
            credentials=json.dumps({"url": warehouse_url}),
        )
    connection = integration_services.connection_create(
        end_user=end_user,
        app="warehouse",
        account_id="old-1",
        credentials={"url": warehouse_url},
    )
    stored = Connection.objects.get(end_user=end_user, app="warehouse")
    assert stored.pk == connection.pk
    assert stored.account_id == "old-1"


def test_api_refused_reconnect_keeps_warehouse(api, end_user, warehouse_url):
    path = "/api/v1/end-users/merchant-1/connections"
    body = {"app": "warehouse", "credentials": {"url": warehouse_url}}
    assert api.post(path, body, format="json").status_code == 201
    body = {"app": "warehouse", "credentials": {"url": REFUSED_URL}}
    assert api.post(path, body, format="json").status_code == 422
    stored = Connection.objects.get(end_user=end_user, app="warehouse")
    assert stored.credential_data == {"url": warehouse_url}


def test_api_shopify_without_account_id_is_422(api):
    response = api.post(
        "/api/v1/end-users/merchant-1/connections",
        {"app": "shopify", "credentials": {"access_token": "t"}},
        format="json",
    )
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["path"] == "$.account_id"


def test_api_warehouse_url_not_string_is_422(api):
    response = api.post(
        "/api/v1/end-users/merchant-1/connections",
        {"app": "warehouse", "credentials": {"url": 12}},
        format="json",
    )
    assert response.status_code == 422
    [field] = response.json()["error"]["fields"]
    assert field["path"] == "$.credentials.url"
    assert "must be a string, not a number" in field["message"]


def test_api_warehouse_without_url_is_422(api):
    response = api.post(
        "/api/v1/end-users/merchant-1/connections",
        {"app": "warehouse", "account_id": "w", "credentials": {}},
        format="json",
    )
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["path"] == "$.credentials.url"


def test_api_account_id_with_password_is_422(api, warehouse_url):
    url = warehouse_url.replace("postgres@", f"postgres:{PASSWORD}@")
    response = api.post(
        "/api/v1/end-users/merchant-1/connections",
        {"app": "warehouse", "account_id": url, "credentials": {"url": url}},
        format="json",
    )
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["path"] == "$.account_id"
    assert PASSWORD not in response.content.decode()


def test_admin_adds_workspace_warehouse(admin_client, workspace, warehouse_url):
    url = warehouse_url.replace("postgres@", f"postgres:{PASSWORD}@")
    response = admin_client.post(
        "/admin/integrations/workspacewarehouse/add/",
        {"workspace": workspace.pk, "url": url},
        follow=True,
    )
    assert response.status_code == 200
    stored = Connection.objects.get(workspace=workspace, app="warehouse")
    assert stored.credential_data == {"url": url}
    page = admin_client.get(
        f"/admin/integrations/workspacewarehouse/{stored.pk}/change/"
    )
    assert PASSWORD not in page.content.decode()


def test_admin_refused_warehouse_shows_error(admin_client, workspace):
    response = admin_client.post(
        "/admin/integrations/workspacewarehouse/add/",
        {"workspace": workspace.pk, "url": REFUSED_URL},
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "Could not connect to the warehouse" in page
    assert PASSWORD not in page
    assert not Connection.objects.filter(app="warehouse").exists()


@pytest.mark.parametrize(
    ("column_type", "value", "expected"),
    [
        (columns.BIGINT, 9007199254740993, 9007199254740993),
        (columns.BIGINT, "9007199254740993", 9007199254740993),
        (columns.NUMERIC, "19.99", Decimal("19.99")),
        (columns.NUMERIC, 0.1, Decimal("0.1")),
        (columns.NUMERIC, 5, Decimal(5)),
        (columns.BOOLEAN, "true", True),
        (columns.TEXT, 42, "42"),
        (columns.JSONB, {"a": [1]}, {"a": [1]}),
    ],
)
def test_value_convert_exact(column_type, value, expected):
    converted = columns.value_convert(column_type, value)
    assert converted == expected
    assert type(converted) is type(expected)


@pytest.mark.parametrize(
    ("column_type", "value", "expected"),
    [
        (columns.BIGINT, 1e17, "not an exact integer"),
        (columns.BIGINT, 2**63, "does not fit in 64 bits"),
        (columns.BIGINT, "12a", "not a whole number"),
        (columns.BIGINT, True, "boolean is not an integer"),
        (columns.NUMERIC, "19,99", "not a decimal number"),
        (columns.NUMERIC, "NaN", "not finite"),
        (columns.NUMERIC, [1], "an array is not a number"),
        (columns.TIMESTAMPTZ, "2026-07-01T12:00:00", "no UTC offset"),
        (columns.TIMESTAMPTZ, "yesterday", "not an ISO 8601 timestamp"),
        (columns.TEXT, "a\x00b", "NUL"),
        (columns.TEXT, {"a": 1}, "an object is not text"),
        (columns.BOOLEAN, "yes", "a string is not true or false"),
    ],
)
def test_value_convert_rejects(column_type, value, expected):
    with pytest.raises(columns.ConversionError, match=expected):
        columns.value_convert(column_type, value)
