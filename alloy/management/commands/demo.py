"""Run the getting-started integrations end to end against the local Shopify sandbox.

The tutorial's integration calls the sandbox and streams to a local receiver;
the warehouse integration writes Shopify orders and customers to PostgreSQL.
"""

import json
import logging
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
import requests
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from alloy import jobs
from alloy.demo_warehouse import warehouse_database_create, warehouse_rows
from alloy.errors import ApplicationError
from alloy.server import BackgroundServer
from connectors.http.receiver import StreamReceiver
from connectors.shopify.sandbox import ShopifySandbox
from connectors.warehouse.connection_url import WarehouseURLError, redact
from integrations import services as integration_services
from workflows.models import Run
from workflows.tutorial import (
    BUTTON_CLICKED_SAMPLE,
    ORDER_REQUESTED_SAMPLE,
    VIP_CLICKED_SAMPLE,
    tutorial_integration_create,
    warehouse_integration_create,
)

EXPECTED_RUNS = 4
# The warehouse integration's runs: an order, a customer and the VIP tag.
EXPECTED_WAREHOUSE_RUNS = 3
EXPECTED_STREAM_DELIVERIES = 2


class Command(BaseCommand):
    help = (
        "Build the tutorial's Shopify integration and the warehouse "
        "integration, send their custom events, and print every run, the sandbox "
        "shop's orders and tags, the stream deliveries and the warehouse rows. "
        "Exits 1 if any of it did not happen."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--timeout",
            type=float,
            default=60.0,
            help="Seconds to wait for the runs and deliveries (default 60).",
        )
        parser.add_argument(
            "--warehouse-url",
            default=settings.DEMO_WAREHOUSE_URL,
            help="The PostgreSQL database the warehouse workflows write to, "
            "created if missing (default: DEMO_WAREHOUSE_URL, "
            "postgresql://postgres@127.0.0.1:5432/alloy_demo_warehouse).",
        )

    def handle(
        self, *args, timeout: float, verbosity: int, warehouse_url: str, **options
    ):
        if verbosity < 2:
            # The report printed below is the demo's output; -v 2 adds every log line.
            logging.getLogger().setLevel(logging.WARNING)
        if timeout <= 0:
            raise CommandError(f"--timeout must be a positive number, not {timeout}.")
        self.timeout = timeout
        self.verbosity = verbosity
        self.warehouse_url = warehouse_url
        self.expected_runs = EXPECTED_RUNS
        self.failures: list[str] = []
        # A fresh workspace and shop on every run, so that a second demo on the
        # same database never delivers webhooks to an earlier demo's workspace.
        self.suffix = uuid.uuid4().hex[:6]
        self.shop_domain = f"acme-demo-{self.suffix}.myshopify.com"
        call_command("migrate", verbosity=0, interactive=False)
        database = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
        mode = "in-process jobs" if settings.JOBS_IN_PROCESS else "RQ worker"
        self._heading(f"Alloy demo ({database}, {mode})")

        # The sandbox, the server and the receiver all listen on loopback, which
        # outbound URLs may reach only when a setting allows it.
        settings.OUTBOUND_ALLOWED_NETWORKS = [
            *settings.OUTBOUND_ALLOWED_NETWORKS,
            "127.0.0.0/8",
            "::1/128",
        ]
        sandbox = ShopifySandbox(
            client_id=settings.SHOPIFY_CLIENT_ID,
            client_secret=settings.SHOPIFY_CLIENT_SECRET,
        ).start()
        server = BackgroundServer().start()
        settings.SHOPIFY_API_URL = sandbox.url
        settings.PUBLIC_BASE_URL = server.url
        token = sandbox.add_shop(self.shop_domain)
        self._say(f"Shopify sandbox   {sandbox.url} (shop {self.shop_domain})")
        self._say(f"Alloy server      {server.url}")

        worker = (
            None if settings.JOBS_IN_PROCESS else self._start_worker(sandbox, server)
        )
        try:
            self._run(sandbox, server, token)
        finally:
            if worker is not None:
                worker.terminate()
                worker.wait(timeout=10)
            server.stop()
            sandbox.stop()
        if self.failures:
            self._heading("FAILED")
            for failure in self.failures:
                self.stdout.write(self.style.ERROR(f"  - {failure}"))
            raise CommandError(f"{len(self.failures)} check(s) failed.", returncode=1)
        self._heading("All checks passed")

    def _run(
        self, sandbox: ShopifySandbox, server: BackgroundServer, token: str
    ) -> None:
        workspace, signing_secret = integration_services.workspace_create(
            name="Acme Co", slug=f"acme-co-{self.suffix}"
        )
        _, api_key = integration_services.api_key_create(
            workspace=workspace, name="demo"
        )
        receiver = StreamReceiver(signing_secret).start()
        self._say(f"Acme Co's server  {receiver.url} (stream receiver)")

        end_user = integration_services.end_user_create(
            workspace=workspace,
            external_id="merchant-42",
            name="Jane's Widgets",
            email="owner@janes-widgets.example",
        )
        connection = integration_services.connection_create(
            end_user=end_user,
            app="shopify",
            account_id=self.shop_domain,
            credentials={"access_token": token},
        )
        integration = tutorial_integration_create(
            workspace=workspace, stream_base_url=receiver.url
        )
        integration_services.installation_create(
            end_user=end_user, integration=integration, connection=connection
        )
        warehouse_ready = self._warehouse_connect(workspace)
        integrations = [integration]
        if warehouse_ready:
            to_warehouse = warehouse_integration_create(workspace=workspace)
            integration_services.installation_create(
                end_user=end_user, integration=to_warehouse, connection=connection
            )
            integrations.append(to_warehouse)
            self.expected_runs += EXPECTED_WAREHOUSE_RUNS
        self._heading("Set-up")
        self._say(
            f"workspace {workspace.slug}, API key {api_key[:12]}..., "
            "end user merchant-42"
        )
        for installed in integrations:
            self._say(f"integration {installed.name}")
            for workflow in installed.workflows.select_related("published_version"):
                self._say(
                    f"  published v{workflow.published_version.number}: {workflow.name}"
                )
        shop = sandbox.shop(self.shop_domain)
        topics = sorted(s["topic"] for s in shop.webhook_subscriptions)
        self._say(f"webhook subscriptions in the shop: {', '.join(topics)}")

        self._heading("Events from Acme Co's app")
        self._send(server, api_key, "order_requested", ORDER_REQUESTED_SAMPLE)
        self._wait_for_runs(workspace, 1, "the order run")
        self._send(server, api_key, "customer_button_clicked", BUTTON_CLICKED_SAMPLE)
        if warehouse_ready:
            self._send(server, api_key, "vip_button_clicked", VIP_CLICKED_SAMPLE)

        self._wait_for_runs(
            workspace, self.expected_runs, f"all {self.expected_runs} runs"
        )
        if not receiver.wait_for(EXPECTED_STREAM_DELIVERIES, timeout=self.timeout):
            self.failures.append(
                f"expected {EXPECTED_STREAM_DELIVERIES} stream deliveries, "
                f"received {len(receiver.accepted)}"
            )
        if settings.JOBS_IN_PROCESS:
            jobs.wait_for_in_process_jobs(timeout=self.timeout)
        self._report_shop(sandbox, warehouse_ready)
        self._report_runs(workspace)
        self._report_deliveries(receiver)
        if warehouse_ready:
            self._report_warehouse(sandbox)
        receiver.stop()

    def _warehouse_connect(self, workspace) -> bool:
        """Create the demo's warehouse database and connect the workspace to it.

        Returns False, saying why, when PostgreSQL cannot be reached, so that
        the demo runs without the warehouse workflows.
        """
        self._heading("Warehouse")
        safe_url = redact(self.warehouse_url)
        try:
            created = warehouse_database_create(self.warehouse_url)
            integration_services.warehouse_connection_set(
                workspace=workspace, url=self.warehouse_url
            )
        except (WarehouseURLError, psycopg.Error, ApplicationError) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else exc
            self.stdout.write(
                self.style.WARNING(
                    f"  PostgreSQL at {safe_url} cannot be reached, so the warehouse "
                    f"workflows are skipped: {reason}"
                )
            )
            self._say(
                "Start PostgreSQL on 127.0.0.1:5432, or pass --warehouse-url, to "
                "include them."
            )
            return False
        state = "created" if created else "exists"
        self._say(f"warehouse {safe_url} (database {state}), the workspace's")
        return True

    def _send(
        self, server: BackgroundServer, api_key: str, name: str, data: dict
    ) -> None:
        response = requests.post(
            f"{server.url}/api/v1/events",
            json={"event": name, "user": "merchant-42", "data": data},
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=10,
        )
        self._say(
            f"POST /api/v1/events {name} -> {response.status_code} {response.text}"
        )
        if response.status_code != 202:
            self.failures.append(f"{name} was answered {response.status_code}")

    def _wait_for_runs(self, workspace, count: int, what: str) -> None:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            finished = Run.objects.filter(
                workspace=workspace,
                status__in=[Run.Status.SUCCEEDED, Run.Status.FAILED],
            ).count()
            if finished >= count:
                return
            time.sleep(0.1)
        self.failures.append(f"timed out waiting for {what}")

    def _report_shop(self, sandbox: ShopifySandbox, warehouse_ready: bool) -> None:
        shop = sandbox.shop(self.shop_domain)
        self._heading("In the Shopify sandbox")
        if not shop.orders:
            self.failures.append("the sandbox shop has no order")
        for order in shop.orders:
            items = ", ".join(
                f"{i['quantity']} x {i['title']} @ {i['price']}"
                for i in order["line_items"]
            )
            self._say(
                f"order {order['name']} id={order['id']} {order['email']} "
                f"total {order['total_price']} {order['currency']}: {items}"
            )
        expected_tags = ["acme-upgrade-clicked"]
        if warehouse_ready:
            expected_tags.append("acme-vip")
        for tag in expected_tags:
            if not any(tag in _tags(c) for c in shop.customers):
                self.failures.append(f"no customer carries the tag {tag}")
        for customer in shop.customers:
            self._say(
                f"customer id={customer['id']} {customer['email']} "
                f"tags: {_tags(customer)}"
            )
        for delivery in shop.deliveries:
            statuses = [
                a.get("status_code") or a.get("error") for a in delivery.attempts
            ]
            self._say(
                f"webhook {delivery.topic} {delivery.webhook_id} -> "
                f"{'delivered' if delivery.delivered else 'NOT delivered'} {statuses}"
            )
            if not delivery.delivered:
                self.failures.append(f"webhook {delivery.topic} was not delivered")

    def _report_runs(self, workspace) -> None:
        self._heading("Runs")
        runs = (
            Run.objects.filter(workspace=workspace)
            .select_related("workflow", "version", "event")
            .prefetch_related("steps", "stream_deliveries")
            .order_by("pk")
        )
        if runs.count() != self.expected_runs:
            self.failures.append(
                f"expected {self.expected_runs} runs, found {runs.count()}"
            )
        for run in runs:
            self._say(
                f"run #{run.pk} {run.workflow.name} v{run.version.number} "
                f"[{run.event.name}] -> {run.status}"
            )
            if run.status != Run.Status.SUCCEEDED:
                self.failures.append(f"run #{run.pk} {run.status}: {run.error}")
            for step in run.steps.all():
                detail = json.dumps(step.error if step.error else step.output)
                self._say(
                    f"    step {step.position} {step.key}: {step.status} "
                    f"({step.duration_ms} ms) {_shorten(detail)}"
                )
            for delivery in run.stream_deliveries.all():
                self._say(
                    f"    stream delivery {delivery.delivery_id} attempt "
                    f"{delivery.attempt} -> HTTP {delivery.status_code}"
                )

    def _report_deliveries(self, receiver: StreamReceiver) -> None:
        self._heading("Received by Acme Co's server")
        for delivery in receiver.deliveries:
            body = delivery.json()
            verdict = (
                "signature valid" if delivery.signature_valid else "SIGNATURE INVALID"
            )
            self._say(
                f"POST {delivery.path} delivery {delivery.delivery_id}: {verdict}; "
                f"run #{body['run']['id']} {body['workflow']['name']} "
                f"event {body['event']['name']} with {len(body['steps'])} step(s)"
            )
            if not delivery.signature_valid:
                self.failures.append(
                    f"delivery {delivery.delivery_id} has a bad signature"
                )
        paths = sorted(d.path for d in receiver.accepted)
        if paths != ["/alloy/customers", "/alloy/orders"]:
            self.failures.append(
                f"expected deliveries to orders and customers, got {paths}"
            )

    def _report_warehouse(self, sandbox: ShopifySandbox) -> None:
        shop = sandbox.shop(self.shop_domain)
        self._heading(f"In the warehouse {redact(self.warehouse_url)}")
        rows = warehouse_rows(
            self.warehouse_url,
            order_ids=[order["id"] for order in shop.orders],
            customer_ids=[customer["id"] for customer in shop.customers],
        )
        for table, table_rows in rows.items():
            if not table_rows:
                self.failures.append(f"the warehouse table {table} has no demo rows")
            for row in table_rows:
                self._say(f"{table}: {' | '.join(_cell(value) for value in row)}")

    def _start_worker(self, sandbox: ShopifySandbox, server: BackgroundServer):
        self._say(
            "RQ worker         manage.py rqworker --with-scheduler (SimpleWorker)"
        )
        return worker_start(
            shopify_api_url=sandbox.url,
            public_base_url=server.url,
            verbosity=self.verbosity,
        )

    def _heading(self, text: str) -> None:
        self.stdout.write("")
        self.stdout.write(self.style.MIGRATE_HEADING(text))

    def _say(self, text: str) -> None:
        self.stdout.write(f"  {text}")


def worker_start(
    *, shopify_api_url: str, public_base_url: str, verbosity: int
) -> subprocess.Popen:
    """Start ``manage.py rqworker`` in a child process that calls the sandbox."""
    env = {
        **os.environ,
        "SHOPIFY_API_URL": shopify_api_url,
        "PUBLIC_BASE_URL": public_base_url,
        "OUTBOUND_ALLOWED_NETWORKS": ",".join(settings.OUTBOUND_ALLOWED_NETWORKS),
    }
    if verbosity < 2:
        env.setdefault("LOG_LEVEL", "WARNING")
    manage = Path(settings.BASE_DIR) / "manage.py"
    return subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            str(manage),
            "rqworker",
            "default",
            "--with-scheduler",
            f"--verbosity={verbosity}",
        ],
        env=env,
    )


def _tags(resource: dict) -> list[str]:
    tags = resource.get("tags") or ""
    if isinstance(tags, list):
        return tags
    return [tag.strip() for tag in tags.split(",") if tag.strip()]


def _shorten(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _cell(value) -> str:
    """Show a warehouse value as PostgreSQL stores it: exact numbers, UTC times."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)
