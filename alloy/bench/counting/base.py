"""The counting backend: Django's PostgreSQL backend, counting statements and commits.

A statement sent in autocommit mode is a transaction of its own. Inside an
atomic block, the block's COMMIT or ROLLBACK ends one. The connection health
check's ``SELECT 1`` goes around the execute wrappers, so it is counted where
Django runs it. Each process writes its two counts to a file of its own.
"""

import itertools
import os
import threading
from pathlib import Path

from django.conf import settings
from django.db.backends.postgresql import base

# Seconds between two writes of a process's counts.
WRITE_INTERVAL = 0.25

_lock = threading.Lock()
_statements = itertools.count(1)
_transactions = itertools.count(1)
_counts = [0, 0]
_writer_pid: int | None = None


def _count(*, statement: bool, transaction: bool) -> None:
    # next() on itertools.count is atomic under the GIL, so gthread workers
    # sharing this module count every statement once.
    _writer_ensure()
    if statement:
        _counts[0] = next(_statements)
    if transaction:
        _counts[1] = next(_transactions)


def _count_statement(execute, sql, params, many, context):
    _count(statement=True, transaction=context["connection"].get_autocommit())
    return execute(sql, params, many, context)


def _writer_ensure() -> None:
    """Start the file writer once per process, also after a fork."""
    global _writer_pid, _statements, _transactions
    pid = os.getpid()
    if _writer_pid == pid:
        return
    with _lock:
        if _writer_pid == pid:
            return
        if _writer_pid is not None:
            # A forked child starts from zero: its parent's counts are not its own.
            _statements = itertools.count(1)
            _transactions = itertools.count(1)
            _counts[:] = [0, 0]
        _writer_pid = pid
        directory = Path(settings.BENCH_STATEMENT_COUNT_DIR)
        thread = threading.Thread(
            target=_write_forever,
            args=(directory / str(pid),),
            name="statement-count-writer",
            daemon=True,
        )
        thread.start()


def _write_forever(path: Path) -> None:
    written = None
    stop = threading.Event()
    while not stop.wait(WRITE_INTERVAL):
        current = tuple(_counts)
        if current != written:
            temporary = path.with_suffix(".tmp")
            temporary.write_text(f"{current[0]} {current[1]}")
            temporary.replace(path)
            written = current


def counts_read(path: Path) -> tuple[int, int]:
    """Return the statements and transactions in one process's count file."""
    parts = path.read_text().split()
    if len(parts) != 2:
        return 0, 0
    return int(parts[0]), int(parts[1])


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.execute_wrappers.append(_count_statement)

    def is_usable(self):
        _count(statement=True, transaction=True)
        return super().is_usable()

    def _commit(self):
        # The end of a transaction that an atomic block opened.
        if self.connection is not None:
            _count(statement=False, transaction=True)
        return super()._commit()

    def _rollback(self):
        if self.connection is not None:
            _count(statement=False, transaction=True)
        return super()._rollback()
