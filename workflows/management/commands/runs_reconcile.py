"""Enqueue queued runs whose job never reached Redis and take over expired leases."""

import time

from django.core.management.base import BaseCommand, CommandError

from workflows.services.reconcile import runs_reconcile


class Command(BaseCommand):
    help = (
        "Enqueue queued runs whose job is missing from Redis and take over running "
        "runs whose lease expired, and arm schedules whose next firing was lost. "
        "Runs once, or every --every seconds until "
        "stopped. To schedule it with RQ instead, run `rq cron workflows.rq_cron`."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--every",
            type=float,
            default=None,
            metavar="SECONDS",
            help="Repeat every SECONDS seconds until interrupted.",
        )

    def handle(self, *args, every: float | None = None, **options) -> None:
        if every is not None and every <= 0:
            raise CommandError(f"--every must be more than 0 seconds, not {every:g}.")
        while True:
            result = runs_reconcile()
            self.stdout.write(
                f"taken over {len(result.taken_over)}, enqueued "
                f"{len(result.enqueued)}, still waiting for Redis "
                f"{len(result.waiting)}, stream deliveries enqueued "
                f"{len(result.streams_enqueued)}, schedules armed "
                f"{len(result.schedules_armed)}, schedule firings enqueued "
                f"{len(result.schedules_enqueued)}"
            )
            if every is None:
                return
            time.sleep(every)
