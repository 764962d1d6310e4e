"""An interrupted bench stops every process it started."""

import os
import re
import signal
import subprocess
import sys
import threading

import pytest
from django.conf import settings

from alloy.bench.processes import free_port, port_in_use, process_tree, wait_until

STARTED = re.compile(r"bench\.process\.started role=(\S+) pid=(\d+)")


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.parametrize(
    ("signum", "wait_for_role"),
    [(signal.SIGINT, "worker-1"), (signal.SIGTERM, "sink")],
)
def test_bench_interrupted_stops_processes(signum, wait_for_role, bench_database):
    ports = [free_port(), free_port()]
    bench = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "manage.py",
            "bench",
            "--events",
            "50000",
            "--workload",
            "custom-event",
            "--port",
            str(ports[0]),
            "--sink-port",
            str(ports[1]),
            "--database",
            bench_database,
            "--redis-url",
            settings.REDIS_URL,
        ],
        cwd=settings.BASE_DIR,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "alloy.settings"},
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    started: dict[str, int] = {}
    lines: list[str] = []

    def read() -> None:
        for line in bench.stderr:
            lines.append(line)
            match = STARTED.search(line)
            if match:
                started[match.group(1)] = int(match.group(2))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert wait_until(lambda: wait_for_role in started, timeout=120), lines
        members = [pid for root in started.values() for pid in process_tree(root)]
        bench.send_signal(signum)
        code = bench.wait(timeout=60)
    finally:
        if bench.poll() is None:
            bench.kill()
    reader.join(timeout=10)
    output = "".join(lines)
    assert code == 1
    assert "Interrupted; every process the bench started was stopped." in output
    assert [pid for pid in members if alive(pid)] == []
    assert not any(port_in_use(port) for port in ports)
