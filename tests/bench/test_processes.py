"""Process groups: every process the bench starts is stopped, children too."""

import sys
import time
from pathlib import Path

from alloy.bench.processes import (
    ProcessGroups,
    process_figures,
    process_tree,
    wait_until,
)

# A parent that starts a child, both ignoring SIGTERM when asked to.
PARENT = """
import signal, subprocess, sys, time
if sys.argv[1] == "stubborn":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
code = (
    "import signal, sys, time\\n"
    "if sys.argv[1] == 'stubborn':\\n"
    "    signal.signal(signal.SIGTERM, signal.SIG_IGN)\\n"
    "time.sleep(300)"
)
child = [sys.executable, "-c", code, sys.argv[1]]
subprocess.Popen(child)
time.sleep(300)
"""


def alive(pid: int) -> bool:
    figures = process_figures(pid)
    if figures is None:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state != "Z"


def start_parent(groups: ProcessGroups, mode: str) -> list[int]:
    process = groups.start(
        "parent", [sys.executable, "-c", PARENT, mode], env=None, cwd=Path.cwd()
    )
    assert wait_until(lambda: len(process_tree(process.pid)) == 2, timeout=10)
    return process_tree(process.pid)


def test_stop_all_stops_children(tmp_path):
    groups = ProcessGroups(tmp_path)
    pids = start_parent(groups, "polite")
    groups.stop_all()
    assert wait_until(lambda: not any(alive(pid) for pid in pids), timeout=5)
    assert groups.processes == {}


def test_stop_kills_stubborn_group(tmp_path, monkeypatch):
    monkeypatch.setattr("alloy.bench.processes.STOP_TIMEOUT", 0.5)
    groups = ProcessGroups(tmp_path)
    pids = start_parent(groups, "stubborn")
    started = time.monotonic()
    groups.stop("parent")
    assert wait_until(lambda: not any(alive(pid) for pid in pids), timeout=5)
    assert time.monotonic() - started < 5


def test_process_figures_reads_proc(tmp_path):
    groups = ProcessGroups(tmp_path)
    pids = start_parent(groups, "polite")
    try:
        figures = process_figures(pids[0])
    finally:
        groups.stop_all()
    assert figures is not None
    assert figures.peak_rss_bytes > 1024 * 1024
    assert figures.pss_bytes > 0
    assert "python" in figures.command
