"""The bench's options, checked before anything starts."""

import argparse
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from alloy.bench.processes import port_in_use
from alloy.bench.workloads import WORKLOADS

DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"
DEFAULT_N8N_DIR = Path.home() / ".cache" / "alloy" / "bench" / "n8n"
PEERS = ("n8n",)


class BenchError(Exception):
    """The bench cannot continue; the message gives the cause and the fix."""


class InvalidOption(BenchError):
    """An option's value is invalid, or something it names cannot be used."""


@dataclass(frozen=True)
class BenchOptions:
    events: int
    concurrency: tuple[int, ...]
    workloads: tuple[str, ...]
    # gunicorn worker processes; None leaves the number to gunicorn.conf.py.
    web_workers: int | None
    workers: tuple[int, ...]
    # Events per second, "half" (of the capacity measured first), or None.
    rate: float | str | None
    port: int
    peer: str | None
    peer_port: int
    sink_port: int
    soak: int
    write_docs: bool
    postgres_url: str
    database: str
    redis_url: str
    n8n_dir: Path


def arguments_add(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--events", type=int, default=2000, help="Events sent per phase (default 2000)."
    )
    parser.add_argument(
        "--concurrency",
        default="16,64",
        help="Concurrent clients, or a comma-separated list of them; one phase "
        "each (default 16,64).",
    )
    parser.add_argument(
        "--workload",
        default=",".join(WORKLOADS),
        help=f"Comma-separated workloads out of {', '.join(WORKLOADS)} (default both).",
    )
    parser.add_argument(
        "--web-workers",
        type=int,
        default=None,
        help="gunicorn worker processes (default: gunicorn.conf.py's, which is "
        "$GUNICORN_WORKERS or one per core).",
    )
    parser.add_argument(
        "--workers",
        default="2",
        help="RQ worker processes, or a comma-separated list such as 1,2,4: the "
        "custom-event phases run with each count, and everything else with the "
        "last (default 2).",
    )
    parser.add_argument(
        "--rate",
        default="half",
        help="Offered load in events per second for an extra open-loop phase that "
        "measures end-to-end latency below capacity; 'half' is half the runs "
        "delivered per second of the first phase, 'off' skips it (default half).",
    )
    parser.add_argument(
        "--port", type=int, default=8950, help="gunicorn's port (default 8950)."
    )
    parser.add_argument(
        "--peer", choices=PEERS, help="Also measure this peer: n8n 2.8.4."
    )
    parser.add_argument(
        "--peer-port", type=int, default=5678, help="n8n's port (default 5678)."
    )
    parser.add_argument(
        "--sink-port",
        type=int,
        default=8951,
        help="The sink's port (default 8951).",
    )
    parser.add_argument(
        "--soak",
        type=int,
        default=0,
        metavar="RUNS",
        help="After the phases, send RUNS custom events and sample the workers' "
        "resident memory each second (default 0: no soak).",
    )
    parser.add_argument(
        "--write-docs",
        action="store_true",
        help="Write the report to docs/benchmarks.md.",
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL),
        help="The PostgreSQL server, as a URL without a database name "
        f"(default $BENCH_POSTGRES_URL or {DEFAULT_POSTGRES_URL}).",
    )
    parser.add_argument(
        "--database",
        default="alloy_bench",
        help="The database the bench drops and creates (default alloy_bench).",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL),
        help="The Redis database the bench flushes "
        f"(default $BENCH_REDIS_URL or {DEFAULT_REDIS_URL}).",
    )
    parser.add_argument(
        "--n8n-dir",
        type=Path,
        default=DEFAULT_N8N_DIR,
        help=f"Where n8n is installed (default {DEFAULT_N8N_DIR}).",
    )


def options_parse(raw: dict) -> BenchOptions:
    """Check every option and the servers they name; raise InvalidOption."""
    options = BenchOptions(
        events=_positive("--events", raw["events"]),
        concurrency=_positive_list("--concurrency", raw["concurrency"]),
        workloads=_workloads(raw["workload"]),
        web_workers=(
            None
            if raw["web_workers"] is None
            else _positive("--web-workers", raw["web_workers"])
        ),
        workers=_positive_list("--workers", raw["workers"]),
        rate=_rate(raw["rate"]),
        port=_port("--port", raw["port"]),
        peer=raw.get("peer"),
        peer_port=_port("--peer-port", raw["peer_port"]),
        sink_port=_port("--sink-port", raw["sink_port"]),
        soak=_at_least_zero("--soak", raw["soak"]),
        write_docs=bool(raw["write_docs"]),
        postgres_url=_postgres_url(raw["postgres_url"]),
        database=_database_name(raw["database"]),
        redis_url=_redis_url(raw["redis_url"]),
        n8n_dir=Path(raw["n8n_dir"]).expanduser(),
    )
    ports = {"--port": options.port, "--sink-port": options.sink_port}
    if options.peer:
        ports["--peer-port"] = options.peer_port
    if len(set(ports.values())) != len(ports):
        raise InvalidOption(
            f"The ports must differ: {', '.join(f'{k} {v}' for k, v in ports.items())}."
        )
    for name, port in ports.items():
        if port_in_use(port):
            raise InvalidOption(
                f"{name} {port} is in use by another process; stop it or choose "
                "another port."
            )
    # Imported here: the checks need psycopg and redis, which importing the
    # option parser for --help should not.
    from alloy.bench.stack import postgres_check, redis_check

    postgres_check(options.postgres_url, options.database)
    redis_check(options.redis_url)
    return options


def _positive(name: str, value: int) -> int:
    if value < 1:
        raise InvalidOption(f"{name} must be at least 1, not {value}.")
    return value


def _at_least_zero(name: str, value: int) -> int:
    if value < 0:
        raise InvalidOption(f"{name} must be 0 or more, not {value}.")
    return value


def _positive_list(name: str, text: str) -> tuple[int, ...]:
    values = []
    for part in str(text).split(","):
        try:
            value = int(part.strip())
        except ValueError:
            raise InvalidOption(
                f"{name} {text!r} is invalid: give whole numbers separated by "
                "commas, such as 16,64."
            ) from None
        values.append(_positive(name, value))
    return tuple(values)


def _workloads(text: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [name for name in names if name not in WORKLOADS]
    if unknown or not names:
        raise InvalidOption(
            f"--workload {text!r} is invalid: choose from {', '.join(WORKLOADS)}."
        )
    return names


def _rate(text: str) -> float | str | None:
    if text == "off":
        return None
    if text == "half":
        return "half"
    try:
        rate = float(text)
    except ValueError:
        rate = 0.0
    if not rate > 0 or rate == float("inf"):
        raise InvalidOption(
            f"--rate {text!r} is invalid: give events per second above 0, 'half' "
            "or 'off'."
        )
    return rate


def _port(name: str, value: int) -> int:
    if not 1 <= value <= 65535:
        raise InvalidOption(f"{name} {value} is invalid: use 1 to 65535.")
    return value


def _database_name(name: str) -> str:
    if not (name.isascii() and name.replace("_", "").isalnum()):
        raise InvalidOption(
            f"--database {name!r} is invalid: use ASCII letters, digits and "
            "underscores."
        )
    if name in ("postgres", "template0", "template1"):
        raise InvalidOption(
            f"--database {name!r} is a database PostgreSQL itself needs, and the "
            "bench drops and creates the one it is given; name another, such as "
            "alloy_bench."
        )
    return name


def _postgres_url(url: str) -> str:
    database = urlsplit(url).path.strip("/")
    if database:
        raise InvalidOption(
            f"--postgres-url names the database {database!r}; "
            "give the server alone, such as postgres://postgres@127.0.0.1:5432, "
            "and the database with --database."
        )
    return url


def _redis_url(url: str) -> str:
    number = urlsplit(url).path.strip("/")
    if number and not number.isdigit():
        raise InvalidOption(
            f"--redis-url ends in {number!r}, which is not a database number; "
            "use a URL such as redis://127.0.0.1:6379/13."
        )
    return url
