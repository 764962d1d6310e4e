"""Shared fixtures: real Redis and RQ worker, the Shopify sandbox, a stream receiver."""

import django_rq
import psycopg
import pytest
from django.conf import settings as django_settings
from rq.scheduler import RQScheduler
from rq.worker import SimpleWorker

from connectors.http.receiver import StreamReceiver
from connectors.shopify.sandbox import ShopifySandbox
from integrations import services as integration_services

SHOP_DOMAIN = "test-store.myshopify.com"


@pytest.fixture(autouse=True)
def redis_flushed():
    """Empty the test Redis database before each test."""
    connection = django_rq.get_connection("default")
    connection.flushdb()
    yield connection


class BurstWorker(SimpleWorker):
    """A SimpleWorker without the command channel's pub/sub thread.

    redis-py 8 joins that thread on stop without a timeout while it waits up
    to 60 seconds for a message, which stalls a burst worker's teardown.
    """

    def subscribe(self) -> None:
        return

    def unsubscribe(self) -> None:
        return


@pytest.fixture
def rq_worker():
    """Return a callable that drains the queue with a burst-mode RQ worker."""
    queue = django_rq.get_queue("default")

    def work(*, with_scheduler: bool = False) -> int:
        if with_scheduler:
            # Move jobs whose scheduled time has passed onto the queue, as the
            # worker's scheduler does. The worker's own scheduler is not used:
            # its maintenance step can fork a scheduler process out of pytest.
            scheduler = RQScheduler([queue], connection=queue.connection)
            scheduler.acquire_locks()
            try:
                scheduler.enqueue_scheduled_jobs()
            finally:
                scheduler.release_locks()
        worker = BurstWorker([queue], connection=queue.connection)
        worker.work(burst=True, logging_level="WARNING")
        return worker.successful_job_count

    return work


@pytest.fixture
def sandbox(settings):
    server = ShopifySandbox(
        client_secret=settings.SHOPIFY_CLIENT_SECRET,
        webhook_retry_delays=(0.2, 0.4),
    ).start()
    settings.SHOPIFY_API_URL = server.url
    yield server
    server.stop()


@pytest.fixture
def shop_token(sandbox) -> str:
    return sandbox.add_shop(SHOP_DOMAIN)


@pytest.fixture
def workspace_and_secret(db):
    return integration_services.workspace_create(name="Acme Co", slug="acme-co")


@pytest.fixture
def workspace(workspace_and_secret):
    return workspace_and_secret[0]


@pytest.fixture
def api_key(workspace) -> str:
    _, token = integration_services.api_key_create(workspace=workspace, name="tests")
    return token


@pytest.fixture
def receiver(workspace_and_secret):
    server = StreamReceiver(workspace_and_secret[1]).start()
    yield server
    server.stop()


@pytest.fixture
def end_user(workspace):
    return integration_services.end_user_create(
        workspace=workspace, external_id="merchant-1", name="Merchant One"
    )


@pytest.fixture
def connection(end_user, shop_token):
    return integration_services.connection_create(
        end_user=end_user,
        app="shopify",
        account_id=SHOP_DOMAIN,
        credentials={"access_token": shop_token},
    )


@pytest.fixture
def tutorial_installed(
    settings, live_server, workspace, receiver, end_user, connection
):
    """The tutorial integration installed for the end user's shop."""
    from workflows.tutorial import tutorial_integration_create

    settings.PUBLIC_BASE_URL = live_server.url
    integration = tutorial_integration_create(
        workspace=workspace, stream_base_url=receiver.url
    )
    integration_services.installation_create(
        end_user=end_user, integration=integration, connection=connection
    )
    return integration


@pytest.fixture
def installed(workspace, end_user, connection, sandbox, settings):
    """The tutorial integration installed, its streams sent where nothing listens."""
    from workflows.tutorial import tutorial_integration_create

    settings.PUBLIC_BASE_URL = "http://127.0.0.1:9"
    integration = tutorial_integration_create(
        workspace=workspace, stream_base_url="http://127.0.0.1:9"
    )
    integration_services.installation_create(
        end_user=end_user, integration=integration, connection=connection
    )
    return integration


def _warehouse_admin() -> psycopg.Connection:
    server = django_settings.DATABASES["default"]
    return psycopg.connect(
        host=server["HOST"] or "127.0.0.1",
        port=server["PORT"] or 5432,
        user=server["USER"],
        password=server["PASSWORD"],
        dbname="postgres",
        autocommit=True,
    )


@pytest.fixture(scope="session")
def warehouse_database() -> str:
    """Create this checkout's warehouse database for the session; return its URL."""
    name = django_settings.WAREHOUSE_TEST_DATABASE
    server = django_settings.DATABASES["default"]
    with _warehouse_admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    password = f":{server['PASSWORD']}" if server["PASSWORD"] else ""
    address = f"{server['HOST'] or '127.0.0.1'}:{server['PORT'] or 5432}"
    yield f"postgresql://{server['USER']}{password}@{address}/{name}"
    with _warehouse_admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def warehouse_url(warehouse_database) -> str:
    """The warehouse database's URL, its public schema emptied for this test."""
    with psycopg.connect(warehouse_database, autocommit=True) as connection:
        connection.execute("DROP SCHEMA public CASCADE")
        connection.execute("CREATE SCHEMA public")
    return warehouse_database


@pytest.fixture
def warehouse(warehouse_url):
    """Return a function that runs one query on the warehouse and fetches all rows."""

    def query(statement: str, params=None) -> list[tuple]:
        with psycopg.connect(warehouse_url, autocommit=True) as connection:
            cursor = connection.execute(statement, params)
            return cursor.fetchall() if cursor.description else []

    return query
