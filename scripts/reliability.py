"""Drive thousands of events through the whole stack while injecting faults.

Starts a private Redis, the web server, two RQ workers with schedulers and
the reconciler as separate processes, and the Shopify sandbox and a stream
receiver in this process, all against a scratch PostgreSQL database. While
custom events arrive over HTTP, it makes the sandbox answer 500, 429,
THROTTLED and slow, kills a worker with SIGKILL and restarts it, and stops
Redis for a few seconds. When every run has finished it counts the orders in
the sandbox and writes docs/reliability.md.

Usage: .venv/bin/python scripts/reliability.py [--events 2000]
Needs PostgreSQL on 127.0.0.1:5432 (user postgres) and redis-server on PATH.
"""

import argparse
import os
import platform
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

DATABASE_NAME = "alloy_reliability"
POSTGRES = "postgres://postgres@127.0.0.1:5432"
SHOP_DOMAIN = "reliability.myshopify.com"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--output", default=str(BASE_DIR / "docs" / "reliability.md"))
    options = parser.parse_args()
    if options.events < 1:
        parser.error("--events must be at least 1")

    from tests.faults.processes import PrivateRedis, free_port, wait_until

    _recreate_database()
    own_redis = PrivateRedis().start()
    web_port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "alloy.settings",
        "DATABASE_URL": f"{POSTGRES}/{DATABASE_NAME}",
        "REDIS_URL": own_redis.url,
        "SHOPIFY_CLIENT_SECRET": "reliability-secret",
        "OUTBOUND_ALLOWED_NETWORKS": "127.0.0.0/8",
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{web_port}",
        "RUN_LEASE_SECONDS": "3",
        "RUN_ENQUEUE_GRACE_SECONDS": "3",
        "STEP_RETRY_BASE_DELAY": "0.5",
        "STEP_RETRY_MAX_DELAY": "4",
        "STEP_RETRY_MAX_ATTEMPTS": "8",
        "SHOPIFY_REQUEST_TIMEOUT": "1",
        "STREAM_RETRY_DELAYS": "1,2,4",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }
    os.environ.update({key: env[key] for key in env if key != "PATH"})

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return Drive(options, env, own_redis, web_port, wait_until).run()


def _recreate_database() -> None:
    import psycopg

    with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {DATABASE_NAME} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {DATABASE_NAME}")


class Drive:
    def __init__(self, options, env, own_redis, web_port, wait_until) -> None:
        self.options = options
        self.env = env
        self.redis = own_redis
        self.base_url = f"http://127.0.0.1:{web_port}"
        self.web_port = web_port
        self.wait_until = wait_until
        self.log_dir = BASE_DIR / "var" / "reliability"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.processes: dict[str, subprocess.Popen] = {}
        self.faults: Counter = Counter()
        self.statuses: Counter = Counter()
        self.accepted: list[int] = []
        self.stopping = False

    def start(self, name: str, *args: str) -> None:
        output = (self.log_dir / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(  # noqa: S603
            [sys.executable, "manage.py", *args],
            cwd=BASE_DIR,
            env=self.env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )

    def run(self) -> int:
        import requests

        from connectors.http.receiver import StreamReceiver
        from connectors.shopify.sandbox import ShopifySandbox
        from tests.faults.processes import stop

        sandbox = ShopifySandbox(
            client_secret=self.env["SHOPIFY_CLIENT_SECRET"],
            webhook_retry_delays=(1, 2, 4, 8),
            restore_rate=1000.0,
        ).start()
        self.env["SHOPIFY_API_URL"] = sandbox.url
        os.environ["SHOPIFY_API_URL"] = sandbox.url
        from django.conf import settings

        settings.SHOPIFY_API_URL = sandbox.url
        token = sandbox.add_shop(SHOP_DOMAIN)
        receiver = self._install(token, StreamReceiver)

        self.start("web", "runserver", f"127.0.0.1:{self.web_port}", "--noreload")
        for name in ("worker-a", "worker-b"):
            self.start(name, "rqworker", "default", "--with-scheduler")
        self.start("reconciler", "runs_reconcile", "--every", "1")
        if not self.wait_until(lambda: self._answers(requests), timeout=60, step=0.2):
            raise SystemExit("the web server did not start; see var/reliability")

        supervisor = threading.Thread(target=self._supervise, daemon=True)
        supervisor.start()
        started = time.monotonic()
        try:
            self._send_all(requests, sandbox)
            finished = self.wait_until(self._all_finished, timeout=600, step=1)
            elapsed = time.monotonic() - started
            sandbox.wait_for_deliveries(len(self.accepted), timeout=60)
            self.wait_until(self._all_finished, timeout=120, step=1)
            self.wait_until(
                lambda: self._streams_expected() <= self._streams_received(receiver),
                timeout=180,
                step=1,
            )
        finally:
            self.stopping = True
            supervisor.join()
            for process in self.processes.values():
                stop(process)
            self.redis.stop()
        report = self._report(sandbox, receiver, elapsed, finished)
        sandbox.stop()
        receiver.stop()
        Path(self.options.output).write_text(report)
        print(report)
        return 0 if "| lost | 0 |" in report and "| duplicated | 0 |" in report else 1

    def _supervise(self) -> None:
        """Restart a worker that exited, as systemd or Kubernetes would.

        An RQ worker exits when it loses Redis in the middle of a job.
        """
        while not self.stopping:
            for name in ("worker-a", "worker-b"):
                if self.processes[name].poll() is not None:
                    self.start(name, "rqworker", "default", "--with-scheduler")
                    self.faults["worker exited and was restarted"] += 1
            time.sleep(0.5)

    def _install(self, token: str, receiver_class):
        """Create the workspace and install the tutorial; return the receiver."""
        from integrations import services
        from workflows.tutorial import tutorial_integration_create

        workspace, secret = services.workspace_create(name="Reliability")
        _, self.api_key = services.api_key_create(workspace=workspace, name="driver")
        receiver = receiver_class(secret).start()
        end_user = services.end_user_create(
            workspace=workspace, external_id="merchant-1"
        )
        connection = services.connection_create(
            end_user=end_user,
            app="shopify",
            account_id=SHOP_DOMAIN,
            credentials={"access_token": token},
        )
        integration = tutorial_integration_create(
            workspace=workspace, stream_base_url=receiver.url
        )
        services.installation_create(
            end_user=end_user, integration=integration, connection=connection
        )
        return receiver

    def _answers(self, requests) -> bool:
        try:
            requests.get(f"{self.base_url}/api/v1/runs", timeout=1)
        except requests.RequestException:
            return False
        return True

    def _send_all(self, requests, sandbox) -> None:
        from workflows.tutorial import ORDER_REQUESTED_SAMPLE

        total = self.options.events
        session = requests.Session()
        lock = threading.Lock()

        def send(number: int) -> None:
            body = {
                "event": "order_requested",
                "user": "merchant-1",
                "data": {**ORDER_REQUESTED_SAMPLE, "note": f"event {number}"},
                "idempotency_key": f"reliability-{number}",
            }
            for _ in range(60):
                try:
                    response = session.post(
                        f"{self.base_url}/api/v1/events",
                        json=body,
                        headers={"Authorization": f"Bearer {self.api_key}"},
                        timeout=10,
                    )
                except requests.RequestException:
                    time.sleep(0.5)
                    continue
                break
            else:
                with lock:
                    self.statuses["no answer"] += 1
                return
            with lock:
                self.statuses[response.status_code] += 1
                if response.status_code in (200, 202):
                    self.accepted.append(response.json()["event"]["id"])

        with ThreadPoolExecutor(max_workers=6) as pool:
            for number in range(total):
                self._inject(number, total, sandbox)
                pool.submit(send, number)
                if number % 50 == 0:
                    time.sleep(0.05)

    def _inject(self, number: int, total: int, sandbox) -> None:
        if number and number % 97 == 0:
            sandbox.inject_fault("error", status=500, count=3)
            self.faults["HTTP 500 (x3)"] += 1
        if number and number % 151 == 0:
            sandbox.inject_fault("rate_limit", retry_after="1.0", count=2)
            self.faults["HTTP 429, Retry-After 1.0 (x2)"] += 1
        if number and number % 173 == 0:
            sandbox.inject_fault("throttled", wait=1.0, count=2)
            self.faults["THROTTLED, 1 s to refill (x2)"] += 1
        if number and number % 211 == 0:
            sandbox.inject_fault("slow", delay=2.0, operation="orderCreate")
            self.faults["slow orderCreate past the client timeout"] += 1
        if number == total // 3:
            # The supervisor starts a new worker in its place.
            os.kill(self.processes["worker-a"].pid, signal.SIGKILL)
            self.faults["worker killed with SIGKILL"] += 1
        if number == (2 * total) // 3:
            self.redis.stop()
            time.sleep(3)
            self.redis.start()
            self.faults["Redis stopped for 3 s (its data lost)"] += 1

    def _streams_expected(self) -> int:
        from workflows.models import Run

        return Run.objects.filter(stream_delivery_id__isnull=False).count()

    def _streams_received(self, receiver) -> int:
        return len({delivery.delivery_id for delivery in receiver.accepted})

    def _all_finished(self) -> bool:
        from workflows.models import Run

        return not Run.objects.filter(
            status__in=[Run.Status.QUEUED, Run.Status.RUNNING]
        ).exists()

    def _report(self, sandbox, receiver, elapsed: float, finished: bool) -> str:
        from workflows.models import Event, Run, RunTakeover

        custom_runs = Run.objects.filter(event__source=Event.Source.CUSTOM)
        succeeded = custom_runs.filter(status=Run.Status.SUCCEEDED)
        keys = Counter(
            order.get("source_identifier") for order in sandbox.shop(SHOP_DOMAIN).orders
        )
        expected = {
            f"alloy-run-{pk}-create_order"
            for pk in custom_runs.values_list("pk", flat=True)
        }
        effects = sum(1 for key in keys if key in expected)
        duplicated = sum(count - 1 for key, count in keys.items() if count > 1)
        lost = len(expected - set(keys)) + (len(self.accepted) - custom_runs.count())
        app_runs = Run.objects.filter(event__source=Event.Source.APP)
        streamed = self._streams_received(receiver)
        all_orders = len(sandbox.shop(SHOP_DOMAIN).orders)
        rows = [
            ("events sent", self.options.events),
            ("accepted (2xx)", len(self.accepted)),
            ("runs succeeded", succeeded.count()),
            ("runs failed", custom_runs.filter(status=Run.Status.FAILED).count()),
            ("orders in the sandbox for these runs", effects),
            ("orders in the sandbox in all", all_orders),
            ("duplicated", duplicated),
            ("lost", lost),
            ("takeovers after the kill", RunTakeover.objects.count()),
            (
                "webhook runs succeeded (orders/create, customers/create)",
                app_runs.filter(status=Run.Status.SUCCEEDED).count(),
            ),
            ("stream deliveries expected", self._streams_expected()),
            ("stream deliveries received (distinct ids)", streamed),
        ]
        faults = "\n".join(
            f"| {name} | {count} |" for name, count in self.faults.items()
        )
        answers = ", ".join(
            f"{code}: {n}" for code, n in sorted(self.statuses.items(), key=str)
        )
        table = "\n".join(f"| {name} | {value} |" for name, value in rows)
        return f"""# Reliability run

Produced by `scripts/reliability.py --events {self.options.events}`: custom
events sent over HTTP to the web server, executed by two RQ workers (with
schedulers) and the reconciler running every second, each in its own
process, against the Shopify sandbox, while the faults below were injected.
Every accepted event must create exactly one order: lost and duplicated
must be 0.

| measure | count |
|---|---|
{table}

HTTP answers to the events: {answers}. All runs finished: {finished}.
Time from the first event until every run finished: {elapsed:.0f} s.

| fault injected | times |
|---|---|
{faults}

Machine: {platform.platform()}, {os.cpu_count()} CPUs, Python
{platform.python_version()}. The process logs are in `var/reliability/`.
"""


if __name__ == "__main__":
    sys.exit(main())
