"""Write docs/benchmarks.md from one bench run: machine, versions, figures, targets."""

import os
import platform
import subprocess
import textwrap
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import psycopg
import redis
from django.conf import settings

from alloy.bench import report
from alloy.bench.stack import database_url

METHOD = """\
## How the figures are counted

- **Load.** The bench's own asyncio client sends HTTP/1.1 POSTs over keep-alive
  connections. A closed-loop phase (`c=16`) keeps that many requests in flight; an
  open-loop phase (`N/s offered`) sends request *i* at *i/N* seconds, so its latency is
  measured below capacity. A request that waits for a free client is sent late, and
  its latency counts from when it was sent.
- **Accepted/s** is the 2xx responses divided by the time from the first request sent to
  the last response. **Delivered/s** is the deliveries that reached the sink divided by
  the time from the first request sent to the last delivery.
- **Accept latency** is from sending a request to reading its whole response.
  **End-to-end latency** is from sending a request to the sink receiving the POST that
  it caused (the HTTP action's POST, or the run's stream delivery). The sink runs in a
  process of its own and finds each event's marker in the body it receives.
- **CPU ms per event** is the user and system time (from `/proc/PID/stat`) that each
  process tree used during the phase, divided by the events accepted. PostgreSQL's and
  Redis's own CPU is not in it; the machine's busy share is in its own column, and
  includes everything running on the machine then.
- **Peak RSS** is `VmHWM` from `/proc/PID/status`, added up over the processes of a
  tree. Forked gunicorn workers share pages with their master, so the sum counts shared
  pages more than once; **PSS** (`/proc/PID/smaps_rollup`) divides them among the
  processes that share them. PostgreSQL and Redis are not included; n8n keeps its data
  in SQLite inside its own process.
- **Statements per run** counts every SQL statement that the web and worker processes
  (the reconciler's thread included) sent during the phase, through a database
  backend that only the bench's processes use (`alloy.bench.counting`, Django's
  PostgreSQL backend with an execute wrapper), divided by the runs delivered. It
  includes the connection health check, the `SELECT 1` that Django sends outside the
  execute wrappers before a request's or a batch's first query.
  **Transactions per run** counts, through the same backend, each statement sent in
  autocommit mode and each COMMIT or ROLLBACK of an atomic block, divided the same
  way.
- Every run and step record is kept, and so is every stream delivery record; n8n keeps
  every execution's data, its default.
"""

SCALING = """\
## More workers on more machines

Every process reads its configuration from the environment, so more machines join
by running the same release with the same `DATABASE_URL`, `REDIS_URL`, `SECRET_KEY`
and `ENCRYPTION_KEY`:

- web: gunicorn on `alloy.wsgi:application` on each machine, behind a load balancer.
  A web process keeps no state that another one needs, so any machine can serve
  any request.
- workers: `manage.py rqworker default --skip-checks` on each machine, one process
  per core as a start. Every worker takes jobs from the one Redis queue, and new runs
  from the one ready list; set `RUN_DRAIN_SLOTS` to the number of worker processes
  over all machines, so that each can hold a drain job. Start at least one with
  `--with-scheduler`, which moves due retries onto the queue and runs the
  reconciler; several may, because they share a lock in Redis and only its holder
  schedules and reconciles.
- PostgreSQL: every web thread and every worker holds a connection while it works, so
  `max_connections` must exceed the sum over all machines of gunicorn workers times
  threads, plus the RQ workers and one for the reconciler.

The table above shows how far one machine goes with more worker processes. Past the
machine's cores, more processes only share the same CPU.
"""


def docs_write(run, path: Path | None = None) -> Path:
    path = path or Path(settings.BASE_DIR) / "docs" / "benchmarks.md"
    options = run.options
    sections = [
        "# Benchmarks",
        "",
        _wrap(
            "Written by `manage.py bench --write-docs` on "
            f"{datetime.now(tz=UTC):%Y-%m-%d %H:%M} UTC. Every figure below comes "
            "from that one run"
            + (
                ", ours and n8n's measured in the same invocation on the same "
                "machine, one after the other."
                if run.peer is not None
                else ". n8n was not measured."
            )
        ),
        "",
        "## Command",
        "",
        "```sh",
        command_line(options),
        "```",
        "",
        _wrap(
            "The bench starts gunicorn with the project's `gunicorn.conf.py`, the RQ "
            "workers (`manage.py rqworker default --skip-checks`, the configured "
            "worker class, the first with `--with-scheduler`, which also runs the "
            "reconciler) and a sink, all on 127.0.0.1, against the "
            f"database `{options.database}` (dropped, created and migrated) and a "
            "flushed Redis database. It builds the workflows through the services, "
            "and stops every process it started when it ends. Logs go to "
            "`var/bench/<time>/`. With several worker counts, only the custom-event "
            "phases run with each; everything else runs with the last."
        ),
        "",
        "## Machine and versions",
        "",
        *machine_lines(run),
        "",
        "## Results",
        "",
        report.throughput_table(run.results),
        "",
        report.resources_table(run.results),
    ]
    sections += _comparison_sections(run)
    sections += [
        "",
        "## Scaling with RQ worker processes",
        "",
        report.scaling_table(run.results),
        "",
        SCALING,
        METHOD,
    ]
    path.write_text("\n".join(sections))
    return path


def _comparison_sections(run) -> list[str]:
    """Return the comparison with n8n, the targets and the soak."""
    sections: list[str] = []
    rows = report.comparison_rows(run.results)
    if rows:
        sections += [
            "",
            "## Ours beside n8n",
            "",
            _wrap(
                "The custom-event workload on both: a custom event (n8n: a webhook), "
                "three fields mapped, a JSON POST to the sink. Where several worker "
                "counts ran, ours is the one with the most runs delivered per second."
            ),
            "",
            report.comparison_table(rows),
        ]
    targets = report.targets_table(run)
    if targets:
        sections += ["", "## Targets", "", targets]
        note = report.accept_latency_note(run)
        if note:
            sections += ["", _wrap(note)]
    soak = report.soak_lines(run.soak)
    if soak:
        sections += ["", "## Worker memory", "", _wrap(" ".join(soak))]
    return sections


def _wrap(text: str) -> str:
    return textwrap.fill(text, width=88, break_on_hyphens=False)


def command_line(options) -> str:
    parts = [
        ".venv/bin/python manage.py bench",
        f"--events {options.events}",
        f"--concurrency {','.join(map(str, options.concurrency))}",
        f"--workload {','.join(options.workloads)}",
        f"--workers {','.join(map(str, options.workers))}",
        f"--rate {options.rate if options.rate is not None else 'off'}",
    ]
    if options.web_workers is not None:
        parts.append(f"--web-workers {options.web_workers}")
    if options.peer:
        parts.append(f"--peer {options.peer}")
    if options.soak:
        parts.append(f"--soak {options.soak}")
    parts.append("--write-docs")
    return " ".join(parts)


def machine_lines(run) -> list[str]:
    options = run.options
    peer_version = run.peer.installed_version() if run.peer is not None else None
    facts = [
        ("CPU", f"{_cpu_model()}, {os.cpu_count()} cores"),
        ("memory", f"{_memory_gib():.1f} GiB"),
        ("system", platform.platform()),
        ("Python", platform.python_version()),
        ("Django", version("Django")),
        ("gunicorn", version("gunicorn")),
        ("RQ", version("rq")),
        ("PostgreSQL", _postgres_version(options)),
        ("Redis", _redis_version(options.redis_url)),
        ("n8n", peer_version or "not run"),
        ("Node.js", _node_version() if peer_version else "not run"),
        ("commit measured", _commit()),
        (
            "load average when written (1, 5, 15 min)",
            ", ".join(f"{load:.1f}" for load in os.getloadavg()),
        ),
    ]
    return [
        "| | |",
        "|---|---|",
        *(f"| {name} | {value} |" for name, value in facts),
    ]


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024 / 1024
    return 0.0


def _postgres_version(options) -> str:
    try:
        with psycopg.connect(
            database_url(options.postgres_url, "postgres"), connect_timeout=3
        ) as connection:
            return connection.execute("SHOW server_version").fetchone()[0]
    except psycopg.Error:
        return "unknown"


def _redis_version(url: str) -> str:
    try:
        return redis.Redis.from_url(url).info("server")["redis_version"]
    except redis.RedisError:
        return "unknown"


def _node_version() -> str:
    return _output(["node", "--version"])


def _commit() -> str:
    commit = _output(["git", "rev-parse", "--short", "HEAD"])
    # The page being written is left out: rewriting it is not a change measured.
    dirty = _output(
        [
            "git",
            "status",
            "--porcelain",
            "--untracked-files=no",
            "--",
            ".",
            ":!docs/benchmarks.md",
        ]
    )
    return f"{commit}{' with uncommitted changes' if dirty else ''}"


def _output(argv: list[str]) -> str:
    try:
        result = subprocess.run(  # noqa: S603
            argv,
            cwd=settings.BASE_DIR,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except OSError:
        return "unknown"
    return result.stdout.strip() if result.returncode == 0 else "unknown"
