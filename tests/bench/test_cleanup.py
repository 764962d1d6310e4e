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


class BenchProcess:
    """``manage.py bench`` in a subprocess, with the pids it reports starting."""

    def __init__(self, database: str) -> None:
        self.ports = [free_port(), free_port()]
        self.started: dict[str, int] = {}
        self.lines: list[str] = []
        self.process = subprocess.Popen(  # noqa: S603
            [
                sys.executable,
                "manage.py",
                "bench",
                "--events",
                "50000",
                "--workload",
                "custom-event",
                "--port",
                str(self.ports[0]),
                "--sink-port",
                str(self.ports[1]),
                "--database",
                database,
                "--redis-url",
                settings.REDIS_URL,
            ],
            cwd=settings.BASE_DIR,
            env={**os.environ, "DJANGO_SETTINGS_MODULE": "alloy.settings"},
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.process.stderr:
            self.lines.append(line)
            match = STARTED.search(line)
            if match:
                self.started[match.group(1)] = int(match.group(2))

    def wait_for_role(self, role: str) -> list[int]:
        """Wait until ``role`` started; return every process started so far."""
        assert wait_until(lambda: role in self.started, timeout=120), self.lines
        # The reader thread may add a role meanwhile, so iterate over a copy.
        roots = list(self.started.values())
        return [pid for root in roots for pid in process_tree(root)]

    def finish(self) -> tuple[int, str]:
        try:
            code = self.process.wait(timeout=60)
        finally:
            if self.process.poll() is None:
                self.process.kill()
        self.reader.join(timeout=10)
        return code, "".join(self.lines)


@pytest.mark.parametrize(
    ("signum", "wait_for_role"),
    [(signal.SIGINT, "worker-1"), (signal.SIGTERM, "sink")],
)
def test_bench_interrupted_stops_processes(signum, wait_for_role, bench_database):
    bench = BenchProcess(bench_database)
    members = bench.wait_for_role(wait_for_role)
    bench.process.send_signal(signum)
    code, output = bench.finish()
    assert code == 1
    assert "Interrupted; every process the bench started was stopped." in output
    assert [pid for pid in members if alive(pid)] == []
    assert not any(port_in_use(port) for port in bench.ports)


def test_bench_failed_sink_stops_processes(bench_database):
    bench = BenchProcess(bench_database)
    members = bench.wait_for_role("worker-1")
    os.kill(bench.started["sink"], signal.SIGKILL)
    code, output = bench.finish()
    assert code == 1
    assert f"The sink at http://127.0.0.1:{bench.ports[1]} failed" in output
    assert [pid for pid in members if alive(pid)] == []
    assert not any(port_in_use(port) for port in bench.ports)


def test_bench_killed_leaves_no_process(bench_database):
    bench = BenchProcess(bench_database)
    members = bench.wait_for_role("worker-2")
    bench.process.kill()
    bench.finish()
    # Each process got SIGTERM from Linux when the bench died, and stops in
    # its own time: gunicorn and the RQ workers finish what they were doing.
    assert wait_until(lambda: not any(alive(pid) for pid in members), timeout=30), [
        pid for pid in members if alive(pid)
    ]
    assert not any(port_in_use(port) for port in bench.ports)
