"""Our stack on loopback: gunicorn, RQ workers, PostgreSQL and Redis.

PostgreSQL and Redis are the servers already running; the bench gets a
database of its own, dropped and created again, and a Redis database number
of its own, flushed. Everything else is started here and stopped by
ProcessGroups.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import redis
from django.conf import settings
from psycopg import sql
from rq import Worker

from alloy.bench.counting.base import counts_read
from alloy.bench.options import BenchError
from alloy.bench.processes import ProcessGroups, free_port, wait_until
from alloy.bench.workloads import SHOPIFY_CLIENT_SECRET

# Seconds to wait for gunicorn or a worker to come up.
START_TIMEOUT = 60.0


# The comment on a database the bench created, and the key in a Redis database
# it flushed: the bench drops or flushes only what carries its mark.
DATABASE_COMMENT = "Dropped and created by manage.py bench."
REDIS_MARK_KEY = "alloy:bench"


def postgres_check(server_url: str, name: str) -> None:
    """Check that the server accepts connections and ``name`` is new or the bench's."""
    try:
        with psycopg.connect(
            database_url(server_url, "postgres"), connect_timeout=3
        ) as connection:
            row = connection.execute(
                "SELECT datistemplate, shobj_description(oid, 'pg_database') "
                "FROM pg_database WHERE datname = %s",
                [name],
            ).fetchone()
    except psycopg.Error as exc:
        raise BenchError(
            f"PostgreSQL at {_without_password(server_url)} cannot be reached. "
            f"Start it, or pass --postgres-url. The error was: {str(exc).strip()}"
        ) from exc
    if row is not None and (row[0] or row[1] != DATABASE_COMMENT):
        raise BenchError(
            f"The database {name!r} exists and the bench did not create it. The "
            "bench drops and creates its database, so pass --database with another "
            f"name, or drop {name!r} yourself if a bench made it before it marked "
            "its databases."
        )


def redis_check(redis_url: str) -> None:
    """Check that Redis accepts connections, that the database is empty or the
    bench's own, and that no RQ worker left by an earlier bench takes its jobs."""
    url = _without_password(redis_url)
    try:
        client = redis.Redis.from_url(redis_url, socket_timeout=3)
        keys = client.dbsize()
        marked = client.exists(REDIS_MARK_KEY)
        # A worker killed without unregistering stays listed until its key
        # expires; one of this machine whose process is gone takes no jobs.
        workers = [
            worker
            for worker in Worker.all(connection=client)
            if worker.hostname != socket.gethostname() or _pid_alive(worker.pid)
        ]
    except (redis.RedisError, ValueError) as exc:
        raise BenchError(
            f"Redis at {url} cannot be reached. Start it, or pass --redis-url. "
            f"The error was: {exc}"
        ) from exc
    if keys and not marked:
        number = urlsplit(redis_url).path.strip("/") or "0"
        raise BenchError(
            f"The Redis database {url} contains {keys} keys that the bench did not "
            "write. The bench flushes its database, so pass --redis-url with an "
            "empty one. If a bench from before it marked its databases wrote "
            f"them, empty it with `redis-cli -n {number} flushdb`."
        )
    if workers:
        pids = ", ".join(str(worker.pid) for worker in workers)
        raise BenchError(
            f"RQ workers are still registered in {url} (pids {pids}), perhaps "
            "left by a bench that was killed. Stop them, or pass --redis-url with "
            "another database."
        )


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def database_url(server_url: str, name: str) -> str:
    parts = urlsplit(server_url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", "", ""))


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


class AlloyStack:
    """The processes and data of one bench invocation's system under test."""

    def __init__(
        self,
        groups: ProcessGroups,
        *,
        port: int,
        web_workers: int | None,
        server_url: str,
        database_name: str,
        redis_url: str,
        count_dir: Path,
    ) -> None:
        self.groups = groups
        self.port = port
        self.web_workers = web_workers
        self.server_url = server_url
        self.database_name = database_name
        self.database_url = database_url(server_url, database_name)
        self.redis_url = redis_url
        self.count_dir = count_dir
        self.worker_roles: list[str] = []
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "alloy.bench.settings",
            "DATABASE_URL": self.database_url,
            "REDIS_URL": redis_url,
            "BENCH_STATEMENT_COUNT_DIR": str(count_dir),
            "SHOPIFY_CLIENT_SECRET": SHOPIFY_CLIENT_SECRET,
            "OUTBOUND_ALLOWED_NETWORKS": "127.0.0.0/8",
            # Publishing enqueues a job that updates the shop's webhook
            # subscriptions. The workloads call no Shopify API, so that job gets
            # a loopback port with nothing listening, never the real shop's host.
            "SHOPIFY_API_URL": f"http://127.0.0.1:{free_port()}",
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
            # The default of 1200 a minute would throttle the load generator.
            "API_RATE_LIMIT": "100000000/min",
            "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO"),
            # Debug mode keeps every query in memory; production runs without it.
            "DEBUG": "false",
            "PYTHONUNBUFFERED": "1",
        }

    @property
    def base_dir(self) -> Path:
        return Path(settings.BASE_DIR)

    def prepare(self, sink_url: str) -> dict:
        """Create and migrate the database, flush Redis, build the workflows."""
        with psycopg.connect(
            database_url(self.server_url, "postgres"), autocommit=True
        ) as connection:
            name = sql.Identifier(self.database_name)
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name)
            )
            connection.execute(sql.SQL("CREATE DATABASE {}").format(name))
            connection.execute(
                sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                    name, sql.Literal(DATABASE_COMMENT)
                )
            )
        client = redis.Redis.from_url(self.redis_url)
        client.flushdb()
        client.set(REDIS_MARK_KEY, "1")
        self.count_dir.mkdir(parents=True, exist_ok=True)
        self._manage_once("migrate", "--no-input", "-v", "0")
        output = self._python_once("-m", "alloy.bench.prepare", sink_url)
        return json.loads(output.strip().splitlines()[-1])

    def _manage_once(self, *args: str) -> str:
        return self._python_once("manage.py", *args)

    def _python_once(self, *args: str) -> str:
        result = subprocess.run(  # noqa: S603
            [sys.executable, *args],
            cwd=self.base_dir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if result.returncode != 0:
            raise BenchError(
                f"{' '.join(args)} failed with exit code {result.returncode}:\n"
                f"{result.stderr[-3000:]}"
            )
        return result.stdout

    def web_start(self) -> None:
        """Start gunicorn with the production gunicorn.conf.py beside manage.py."""
        argv = [
            sys.executable,
            "-m",
            "gunicorn",
            "alloy.wsgi:application",
            "--bind",
            f"127.0.0.1:{self.port}",
        ]
        if self.web_workers is not None:
            argv += ["--workers", str(self.web_workers)]
        self.groups.start("web", argv, env=self.env, cwd=self.base_dir)
        if not wait_until(self._web_answers, timeout=START_TIMEOUT, step=0.2):
            raise BenchError(
                f"gunicorn did not respond on port {self.port} within "
                f"{START_TIMEOUT:g} s; see {self.groups.log_path('web')}."
            )

    def _web_answers(self) -> bool:
        if "web" in self.groups.exited():
            raise BenchError(
                f"gunicorn exited at start; see {self.groups.log_path('web')}."
            )
        import requests

        try:
            requests.get(f"http://127.0.0.1:{self.port}/health", timeout=1)
        except requests.RequestException:
            return False
        return True

    def workers_start(self, count: int) -> None:
        """Start ``count`` RQ workers, the first with the scheduler and the reconciler.

        As docs/operations.md runs them: the worker class runs both in threads
        of the worker started with ``--with-scheduler``.
        """
        from rq import Worker

        connection = redis.Redis.from_url(self.redis_url)
        for number in range(1, count + 1):
            role = f"worker-{number}"
            # As docs/operations.md runs them: without the system checks,
            # which would import the URLconf and every view into the worker.
            argv = [
                sys.executable,
                "manage.py",
                "rqworker",
                "default",
                "--skip-checks",
            ]
            if number == 1:
                # One scheduler moves due retries onto the queue, as in production.
                argv.append("--with-scheduler")
            self.groups.start(role, argv, env=self.env, cwd=self.base_dir)
            self.worker_roles.append(role)

        def registered() -> bool:
            exited = set(self.groups.exited()) & set(self.worker_roles)
            if exited:
                raise BenchError(
                    f"{', '.join(sorted(exited))} exited at start; see "
                    f"{self.groups.log_dir}."
                )
            return len(Worker.all(connection=connection)) >= count

        if not wait_until(registered, timeout=START_TIMEOUT, step=0.2):
            raise BenchError(
                f"{count} RQ worker(s) did not register within {START_TIMEOUT:g} s; "
                f"see {self.groups.log_dir}."
            )

    def workers_stop(self) -> None:
        for role in self.worker_roles:
            self.groups.stop(role)
        self.worker_roles = []

    def roles(self) -> dict[str, int]:
        return {
            role: process.pid
            for role, process in self.groups.processes.items()
            if role == "web" or role in self.worker_roles
        }

    def statement_counts(self) -> int:
        """Return the SQL statements every started process has sent so far."""
        return sum(counts_read(path)[0] for path in self._count_files())

    def transaction_count(self) -> int:
        """Return the transactions every started process has ended so far."""
        return sum(counts_read(path)[1] for path in self._count_files())

    def _count_files(self) -> list[Path]:
        return [path for path in self.count_dir.iterdir() if path.suffix != ".tmp"]

    def records(self) -> dict[str, int]:
        """Return the count of runs by status, of steps and of stream deliveries."""
        with psycopg.connect(self.database_url) as connection:
            rows = connection.execute(
                "SELECT status, count(*) FROM workflows_run GROUP BY status"
            ).fetchall()
            steps = connection.execute("SELECT count(*) FROM workflows_runstep")
            steps = steps.fetchone()[0]
            streams = connection.execute(
                "SELECT count(*) FROM workflows_streamdelivery WHERE succeeded"
            ).fetchone()[0]
        counts = {f"runs {status}": count for status, count in rows}
        counts["steps"] = steps
        counts["stream deliveries succeeded"] = streams
        return counts
