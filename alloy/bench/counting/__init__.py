"""A PostgreSQL backend that counts the SQL statements each process sends.

Only the processes started by ``manage.py bench`` use it (through
``alloy.bench.settings``). Each process writes its running count to
``BENCH_STATEMENT_COUNT_DIR/<pid>`` about four times a second, so the bench
reads every process's count without asking the process.
"""
