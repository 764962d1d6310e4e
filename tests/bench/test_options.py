"""manage.py bench rejects invalid options before it starts anything."""

import socket
import subprocess
from pathlib import Path

import psycopg
import pytest
import redis
from django.conf import settings
from django.core.management import CommandError, call_command
from rq import Worker

from alloy.bench.options import DEFAULT_POSTGRES_URL
from alloy.bench.processes import free_port
from alloy.bench.stack import REDIS_MARK_KEY, redis_check


def bench(*args: str) -> None:
    ports = ["--port", str(free_port()), "--sink-port", str(free_port())]
    call_command("bench", *ports, *args)


def bench_logs() -> set[Path]:
    root = Path(__file__).resolve().parents[2] / "var" / "bench"
    return set(root.iterdir()) if root.exists() else set()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--events", "0"], "--events must be at least 1, not 0."),
        (["--events", "-5"], "--events must be at least 1, not -5."),
        (["--concurrency", "-4"], "--concurrency must be at least 1, not -4."),
        (["--concurrency", "16,0"], "--concurrency must be at least 1, not 0."),
        (["--concurrency", "many"], "--concurrency 'many' is invalid"),
        (["--workers", "1,x"], "--workers '1,x' is invalid"),
        (["--web-workers", "0"], "--web-workers must be at least 1, not 0."),
        (["--rate", "0"], "--rate '0' is invalid"),
        (["--rate", "fast"], "--rate 'fast' is invalid"),
        (["--workload", "orders"], "--workload 'orders' is invalid"),
        (["--soak", "-1"], "--soak must be 0 or more, not -1."),
        (["--database", "x; drop"], "--database 'x; drop' is invalid"),
        (["--database", "caf\u00e9"], "--database 'caf\u00e9' is invalid"),
        (["--database", "template1"], "is a database PostgreSQL itself needs"),
        (
            ["--postgres-url", "postgres://postgres@127.0.0.1:5432/shop"],
            "--postgres-url names the database 'shop'",
        ),
        (
            ["--redis-url", "redis://127.0.0.1:6379/abc"],
            "--redis-url ends in 'abc', which is not a database number",
        ),
    ],
)
def test_bench_invalid_option_rejected(args, message):
    with pytest.raises(CommandError) as raised:
        bench(*args)
    assert message in str(raised.value)


def test_bench_port_in_use_rejected():
    before = bench_logs()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(CommandError) as raised:
            call_command("bench", "--port", str(port), "--sink-port", str(free_port()))
    assert f"--port {port} is in use" in str(raised.value)
    assert bench_logs() == before


def test_bench_same_ports_rejected():
    port = str(free_port())
    with pytest.raises(CommandError) as raised:
        call_command("bench", "--port", port, "--sink-port", port)
    assert "The ports must differ" in str(raised.value)


def test_bench_unreachable_postgres_rejected():
    url = f"postgres://postgres@127.0.0.1:{free_port()}"
    with pytest.raises(CommandError) as raised:
        bench("--postgres-url", url)
    assert f"PostgreSQL at {url} cannot be reached" in str(raised.value)


def test_bench_unreachable_redis_rejected():
    url = f"redis://127.0.0.1:{free_port()}/0"
    with pytest.raises(CommandError) as raised:
        bench("--redis-url", url)
    assert f"Redis at {url} cannot be reached" in str(raised.value)


@pytest.fixture
def absent_database(bench_database) -> str:
    """A database name that no test creates, so only the Redis checks can fail."""
    return f"{bench_database}_absent"


def test_bench_foreign_database_rejected(bench_database):
    with psycopg.connect(f"{DEFAULT_POSTGRES_URL}/postgres", autocommit=True) as db:
        db.execute(f"CREATE DATABASE {bench_database}")
    with pytest.raises(CommandError) as raised:
        bench("--database", bench_database, "--redis-url", settings.REDIS_URL)
    assert f"The database {bench_database!r} exists and the bench did not" in str(
        raised.value
    )


def test_bench_foreign_redis_keys_rejected(redis_flushed, absent_database):
    redis_flushed.set("orders:last", "1")
    with pytest.raises(CommandError) as raised:
        bench("--database", absent_database, "--redis-url", settings.REDIS_URL)
    assert "keys that the bench did not write" in str(raised.value)
    assert redis_flushed.get("orders:last") == b"1"


def test_bench_leftover_rq_worker_rejected(redis_flushed, absent_database):
    redis_flushed.set(REDIS_MARK_KEY, "1")
    client = redis.Redis.from_url(settings.REDIS_URL)
    leftover = Worker(["default"], connection=client)
    leftover.register_birth()
    try:
        with pytest.raises(CommandError) as raised:
            bench("--database", absent_database, "--redis-url", settings.REDIS_URL)
    finally:
        leftover.register_death()
    assert f"RQ workers are still registered in {settings.REDIS_URL} (pids " in str(
        raised.value
    )


def test_bench_dead_rq_worker_ignored(redis_flushed):
    redis_flushed.set(REDIS_MARK_KEY, "1")
    client = redis.Redis.from_url(settings.REDIS_URL)
    leftover = Worker(["default"], connection=client)
    leftover.register_birth()
    exited = subprocess.Popen(["true"])  # noqa: S607
    exited.wait()
    # The registration of a worker killed before it could unregister.
    client.hset(leftover.key, "pid", exited.pid)
    try:
        # Raises BenchError if the dead worker still counted.
        assert redis_check(settings.REDIS_URL) is None
    finally:
        leftover.register_death()
