"""Start processes in groups of their own, stop them all, and read their /proc figures.

Every process the bench starts leads a new session, so that stopping it
stops its children too (gunicorn's workers, n8n's task runner), and so that
a Ctrl-C in the terminal reaches only the bench, which then stops them. On
Linux each also gets SIGTERM when the bench dies, even by SIGKILL, so a
killed bench leaves no server holding its ports or taking another run's jobs.
"""

import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# prctl(2) option: the signal a process gets when the thread that started it exits.
PR_SET_PDEATHSIG = 1
# Seconds a process group gets to exit after SIGTERM before SIGKILL.
STOP_TIMEOUT = 10.0


class ProcessGroups:
    """The processes one bench invocation started, by role (``web``, ``worker-1``)."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.processes: dict[str, subprocess.Popen] = {}

    def start(
        self, role: str, argv: Sequence[str], *, env: dict[str, str], cwd: Path
    ) -> subprocess.Popen:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = (self.log_dir / f"{role}.log").open("ab")
        try:
            process = subprocess.Popen(  # noqa: S603
                list(argv),
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_stop_with_parent if sys.platform == "linux" else None,
            )
        finally:
            log.close()
        self.processes[role] = process
        logger.info("bench.process.started", extra={"role": role, "pid": process.pid})
        return process

    def stop(self, role: str) -> None:
        process = self.processes.pop(role, None)
        if process is not None:
            group_stop(process)

    def stop_all(self) -> None:
        for role in list(self.processes):
            self.stop(role)

    def exited(self) -> dict[str, int]:
        """Return the roles whose process has exited, with the exit code."""
        return {
            role: process.returncode
            for role, process in self.processes.items()
            if process.poll() is not None
        }

    def log_path(self, role: str) -> Path:
        return self.log_dir / f"{role}.log"


def _stop_with_parent() -> None:
    """In the new child: ask Linux for SIGTERM when the bench's starting thread dies."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def group_stop(process: subprocess.Popen) -> None:
    """Send SIGTERM to the process's group, and SIGKILL after STOP_TIMEOUT seconds."""
    members = process_tree(process.pid)
    _signal_group(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        _signal_group(process.pid, signal.SIGKILL)
        process.wait()
    # Children that left the group, or outlived their parent, are stopped too.
    for pid in members:
        if pid != process.pid and _alive(pid):
            _signal_pid(pid, signal.SIGKILL)


def _signal_group(pid: int, signum: int) -> None:
    try:
        os.killpg(pid, signum)
    except ProcessLookupError:
        return


def _signal_pid(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        return


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z"


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def wait_until(condition: Callable[[], bool], *, timeout: float, step=0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()


def process_tree(pid: int) -> list[int]:
    """Return ``pid`` and every live descendant of it, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    tree, pending = [], [pid]
    while pending:
        current = pending.pop()
        if current != pid or _alive(pid):
            tree.append(current)
        pending.extend(children.get(current, []))
    return tree


@dataclass(frozen=True)
class ProcessFigures:
    """One process's figures at one moment, read from /proc."""

    pid: int
    command: str
    cpu_seconds: float
    # VmHWM: the largest resident set of the process's life so far, in bytes.
    peak_rss_bytes: int
    # Proportional set size: shared pages divided among the processes that map them.
    pss_bytes: int


def process_figures(pid: int) -> ProcessFigures | None:
    """Read CPU time, peak RSS and PSS of ``pid``; None when it has exited."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        status = Path(f"/proc/{pid}/status").read_text()
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = stat.rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 of /proc/PID/stat, in clock ticks.
    cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return ProcessFigures(
        pid=pid,
        command=command.replace(b"\0", b" ").decode(errors="replace").strip()[:120],
        cpu_seconds=cpu,
        peak_rss_bytes=_kilobytes(status, "VmHWM:"),
        pss_bytes=_kilobytes(rollup, "Pss:"),
    )


def _kilobytes(text: str, label: str) -> int:
    for line in text.splitlines():
        if line.startswith(label):
            return int(line.split()[1]) * 1024
    return 0


def tree_figures(pid: int) -> list[ProcessFigures]:
    figures = (process_figures(member) for member in process_tree(pid))
    return [figure for figure in figures if figure is not None]


def machine_cpu_seconds() -> tuple[float, float]:
    """Return the machine's busy and total CPU seconds since boot, all cores."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split()[1:9]]
    # user nice system idle iowait irq softirq steal, in clock ticks.
    total = sum(fields)
    idle = fields[3] + fields[4]
    return (total - idle) / CLOCK_TICKS, total / CLOCK_TICKS
