"""Replays: a new run of a run's version on the same event."""

import logging

from django.db import transaction

from workflows.models import Run
from workflows.services.runs import runs_enqueue

logger = logging.getLogger(__name__)


@transaction.atomic
def run_replay(*, run: Run) -> Run:
    """Queue a new run of the same version on the same event and end user.

    The new run records which run it replays; it is enqueued after commit.
    """
    replay = Run.objects.create(
        workspace_id=run.workspace_id,
        workflow_id=run.workflow_id,
        version_id=run.version_id,
        event_id=run.event_id,
        end_user_id=run.end_user_id,
        installation_id=run.installation_id,
        replay_of=run,
    )
    transaction.on_commit(lambda: runs_enqueue(run_ids=[replay.pk]))
    logger.info(
        "workflows.run.replayed",
        extra={"run_id": replay.pk, "replay_of": run.pk, "version_id": run.version_id},
    )
    return replay
