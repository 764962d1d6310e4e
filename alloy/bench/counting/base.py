"""The counting backend: Django's PostgreSQL backend with an execute wrapper."""

import itertools
import os
import threading
from pathlib import Path

from django.conf import settings
from django.db.backends.postgresql import base

# Seconds between two writes of a process's count.
WRITE_INTERVAL = 0.25

_lock = threading.Lock()
_counter = itertools.count(1)
_count = 0
_writer_pid: int | None = None


def _count_statement(execute, sql, params, many, context):
    global _count
    # next() on itertools.count is atomic under the GIL, so gthread workers
    # sharing this module count every statement once.
    _count = next(_counter)
    _writer_ensure()
    return execute(sql, params, many, context)


def _writer_ensure() -> None:
    """Start the file writer once per process, also after a fork."""
    global _writer_pid, _counter, _count
    pid = os.getpid()
    if _writer_pid == pid:
        return
    with _lock:
        if _writer_pid == pid:
            return
        if _writer_pid is not None:
            # A forked child starts from zero: its parent's statements are not its own.
            _counter = itertools.count(1)
            _count = 1
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
        current = _count
        if current != written:
            temporary = path.with_suffix(".tmp")
            temporary.write_text(str(current))
            temporary.replace(path)
            written = current


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.execute_wrappers.append(_count_statement)
