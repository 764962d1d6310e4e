"""Benchmark the production stack on loopback, optionally beside n8n."""

import signal
import time
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from alloy.bench import options as bench_options
from alloy.bench.run import BenchRun


class Command(BaseCommand):
    help = (
        "Start gunicorn, RQ workers and a sink on loopback against a database of "
        "the bench's own, send events at a set concurrency, and report events "
        "accepted and runs delivered per second, latencies, CPU, memory and SQL "
        "statements per run. --peer n8n measures n8n 2.8.4 in the same run."
    )

    def add_arguments(self, parser) -> None:
        bench_options.arguments_add(parser)

    def handle(self, *args, **raw) -> None:
        try:
            options = bench_options.options_parse(raw)
        except bench_options.BenchError as exc:
            raise CommandError(str(exc)) from exc
        stamp = datetime.now(tz=UTC).strftime("%Y%m%dT%H%M%S")
        log_dir = Path(settings.BASE_DIR) / "var" / "bench" / stamp
        run = BenchRun(options, log_dir=log_dir, write=self._say)

        def interrupt(signum, frame):
            raise KeyboardInterrupt(f"signal {signum}")

        previous = signal.signal(signal.SIGTERM, interrupt)
        started = time.monotonic()
        try:
            report = run.execute()
        except KeyboardInterrupt as exc:
            raise CommandError(
                "Interrupted; every process the bench started was stopped."
            ) from exc
        except bench_options.BenchError as exc:
            raise CommandError(f"{exc} Process logs: {log_dir}.") from exc
        finally:
            run.stop()
            signal.signal(signal.SIGTERM, previous)
        self.stdout.write(report)
        self._say(f"Finished in {time.monotonic() - started:.0f} s; logs in {log_dir}.")
        if run.problems:
            raise CommandError(
                f"The run had {len(run.problems)} problem(s), listed under Problems; "
                "its figures do not describe a healthy system."
            )

    def _say(self, message: str) -> None:
        self.stderr.write(message)
