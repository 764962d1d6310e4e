"""The leases a worker holds on its running runs, renewed by a thread while it works."""

import logging
import os
import socket
import threading
import uuid

from django.conf import settings
from django.db import DatabaseError, connections

from workflows.services.runs import runs_lease_renew

logger = logging.getLogger(__name__)


def lease_owner_name() -> str:
    """Name this worker in a lease: host, process id and a unique suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class LeaseKeeper:
    """Renew the leases of a batch of runs every third of RUN_LEASE_SECONDS.

    ``lost(run_id)`` turns True once a renewal finds that run's lease held by
    someone else, which happens after the reconciler took the run over.
    ``release(run_id)`` stops renewing a run the worker is done with.
    """

    def __init__(self, run_ids: list[int], owner: str) -> None:
        self.owner = owner
        self._held = set(run_ids)
        self._lost: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._renew_until_stopped,
            name=f"run-lease-{owner}",
            daemon=True,
        )

    def __enter__(self) -> "LeaseKeeper":
        self._thread.start()
        return self

    def __exit__(self, *_exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=settings.RUN_LEASE_SECONDS)

    def lost(self, run_id: int) -> bool:
        return run_id in self._lost

    def release(self, run_id: int) -> None:
        with self._lock:
            self._held.discard(run_id)

    def _renew_until_stopped(self) -> None:
        interval = settings.RUN_LEASE_SECONDS / 3
        try:
            while not self._stop.wait(interval):
                with self._lock:
                    run_ids = sorted(self._held)
                if not run_ids:
                    continue
                try:
                    renewed = runs_lease_renew(run_ids=run_ids, lease_owner=self.owner)
                except DatabaseError:
                    # The next renewal tries again; the lease lasts three intervals.
                    logger.warning(
                        "workflows.run.lease_renew_failed",
                        extra={"run_ids": run_ids, "lease_owner": self.owner},
                    )
                    continue
                with self._lock:
                    # A run released while the renewal ran is not lost.
                    lost = (set(run_ids) & self._held) - renewed
                    self._lost |= lost
                    self._held -= lost
                for run_id in sorted(lost):
                    logger.warning(
                        "workflows.run.lease_lost",
                        extra={"run_id": run_id, "lease_owner": self.owner},
                    )
        finally:
            connections.close_all()
