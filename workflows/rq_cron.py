"""RQ cron configuration: run the reconciler every RUNS_RECONCILE_INTERVAL seconds.

Start it with ``DJANGO_SETTINGS_MODULE=alloy.settings rq cron workflows.rq_cron
--url $REDIS_URL`` next to the workers.
"""

import django

django.setup()

from django.conf import settings  # noqa: E402
from rq import cron  # noqa: E402

from workflows.jobs import runs_reconcile_job  # noqa: E402

cron.register(
    runs_reconcile_job,
    "default",
    interval=settings.RUNS_RECONCILE_INTERVAL,
    job_timeout=runs_reconcile_job.job_timeout,
)
