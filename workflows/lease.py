"""The lease a worker holds on a running run, renewed by a thread while it works."""

import logging
import os
import socket
import threading
import uuid

from django.conf import settings
from django.db import DatabaseError, connections

from workflows.services.runs import run_lease_renew

logger = logging.getLogger(__name__)


def lease_owner_name() -> str:
    """Name this worker in a lease: host, process id and a unique suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class LeaseKeeper:
    """Renew a run's lease every third of RUN_LEASE_SECONDS until stopped.

    ``lost`` turns True when a renewal finds the lease held by someone else,
    which happens after the reconciler took the run over.
    """

    def __init__(self, run_id: int, owner: str) -> None:
        self.run_id = run_id
        self.owner = owner
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._renew_until_stopped,
            name=f"run-lease-{run_id}",
            daemon=True,
        )

    def __enter__(self) -> "LeaseKeeper":
        self._thread.start()
        return self

    def __exit__(self, *_exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=settings.RUN_LEASE_SECONDS)

    def _renew_until_stopped(self) -> None:
        interval = settings.RUN_LEASE_SECONDS / 3
        try:
            while not self._stop.wait(interval):
                try:
                    renewed = run_lease_renew(
                        run_id=self.run_id, lease_owner=self.owner
                    )
                except DatabaseError:
                    # The next renewal tries again; the lease lasts three intervals.
                    logger.warning(
                        "workflows.run.lease_renew_failed",
                        extra={"run_id": self.run_id, "lease_owner": self.owner},
                    )
                    continue
                if not renewed:
                    self.lost = True
                    logger.warning(
                        "workflows.run.lease_lost",
                        extra={"run_id": self.run_id, "lease_owner": self.owner},
                    )
                    return
        finally:
            connections.close_all()
