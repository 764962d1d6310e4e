"""Settings of the processes ``manage.py bench`` starts.

The production settings from the environment, with one change: the database
backend counts the SQL statements each process sends (see alloy.bench.counting).
"""

import os

from alloy.settings import *  # noqa: F403
from alloy.settings import DATABASES

DATABASES["default"]["ENGINE"] = "alloy.bench.counting"
BENCH_STATEMENT_COUNT_DIR = os.environ["BENCH_STATEMENT_COUNT_DIR"]
