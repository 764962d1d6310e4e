"""The ready list: new runs wait in Redis, and drain jobs execute them in batches.

An RQ job per run costs a worker about 3 ms of bookkeeping (dequeue, status
writes, registries) before any of the run's own work. Under load that
bookkeeping was the largest single cost of a run, so queued runs go to the
list ``alloy:runs:ready`` instead, and a *drain job* pops them in batches and
executes them one after another.

At most RUN_DRAIN_SLOTS drain jobs are queued or running at once. Each takes
a *slot*, a Redis key with a time to live that it renews after every batch.
Pushing run ids and taking a free slot is one Lua script, and so is popping a
batch and giving the slot back when the list is empty. So a pushed run either
lands in the list while a drain job still holds a slot, and that job pops it
before it gives the slot back, or finds a free slot and enqueues a new drain
job. When every slot is busy, intake pushes without enqueueing anything, and
each drain job pops a share of the waiting runs, from one run when the list
is short to RUN_DRAIN_BATCH when it is long.

A drain job that dies holds its slot until the slot expires; the runs it had
popped are queued or running in the database, and the reconciler dispatches
or takes them over as it does for a lost RQ job. A run id in the list twice
is harmless: the claim skips a run that is not queued.
"""

import functools
import logging
import time
import uuid

from django.conf import settings
from django.db import close_old_connections
from redis.exceptions import RedisError

from alloy import jobs

logger = logging.getLogger(__name__)

READY_KEY = "alloy:runs:ready"
SLOT_KEY = "alloy:runs:drain-slot:{}"

# KEYS: the ready list, then every slot. ARGV: slot time to live in ms, the
# new job's token, then the run ids. Returns the slot taken, or -1.
_PUSH = """
redis.call('RPUSH', KEYS[1], unpack(ARGV, 3))
for i = 2, #KEYS do
  if redis.call('SET', KEYS[i], ARGV[2], 'NX', 'PX', ARGV[1]) then
    return i - 2
  end
end
return -1
"""

# KEYS: the ready list, the caller's slot. ARGV: token, slot time to live in
# ms, largest batch, slot count, and '1' to give the slot back if the list is
# empty. Returns the popped run ids, or nothing when the list was empty.
_POP = """
local waiting = redis.call('LLEN', KEYS[1])
local holder = redis.call('GET', KEYS[2])
if waiting == 0 then
  if holder == ARGV[1] and ARGV[5] == '1' then
    redis.call('DEL', KEYS[2])
  end
  return {}
end
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
elseif not holder then
  redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
end
local share = math.floor(waiting / tonumber(ARGV[4]))
local count = math.max(1, math.min(tonumber(ARGV[3]), share))
return redis.call('LPOP', KEYS[1], count)
"""

# Run ids pushed by one script call; Lua's unpack has a stack limit.
_PUSH_CHUNK = 1000

_scripts: tuple | None = None


def _redis_and_scripts():
    """Return the process's Redis client and the push and pop scripts.

    The scripts are registered once and always called with the current
    client, which changes only when the Redis URL setting does.
    """
    global _scripts
    connection = jobs.redis_connection()
    if _scripts is None:
        _scripts = (
            connection.register_script(_PUSH),
            connection.register_script(_POP),
        )
    push, pop = _scripts
    return (
        connection,
        functools.partial(push, client=connection),
        functools.partial(pop, client=connection),
    )


def _slot_keys() -> list[str]:
    return [SLOT_KEY.format(slot) for slot in range(settings.RUN_DRAIN_SLOTS)]


def _slot_ttl_ms() -> int:
    return int(settings.RUN_LEASE_SECONDS * 1000)


def runs_dispatch(*, run_ids: list[int]) -> bool:
    """Put queued runs in the ready list, and start a drain job if a slot is free.

    Call it after the transaction that stored the runs. Returns False when
    Redis failed; the runs then stay queued and the reconciler dispatches
    them again.
    """
    if not run_ids:
        return True
    from workflows.jobs import runs_drain_job

    _, push, _ = _redis_and_scripts()
    try:
        for start in range(0, len(run_ids), _PUSH_CHUNK):
            token = uuid.uuid4().hex
            chunk = run_ids[start : start + _PUSH_CHUNK]
            slot = push(
                keys=[READY_KEY, *_slot_keys()],
                args=[_slot_ttl_ms(), token, *chunk],
            )
            if slot >= 0:
                jobs.enqueue(runs_drain_job, slot, token, job_id=token)
    except RedisError as exc:
        logger.warning(
            "workflows.run.dispatch_failed",
            extra={"run_ids": run_ids[:20], "error": type(exc).__name__},
        )
        return False
    return True


def runs_drain(*, slot: int, token: str) -> int:
    """Pop batches of ready runs and execute them until the list is empty.

    After RUN_DRAIN_SECONDS the job hands its slot to a new drain job and
    returns, so that no job outlives its RQ timeout. A run that raises is
    logged and left to the reconciler; the rest of the batch goes on.
    Returns the number of runs popped.
    """
    from workflows import engine
    from workflows.jobs import runs_drain_job

    connection, _, pop = _redis_and_scripts()
    slot_key = SLOT_KEY.format(slot)
    deadline = time.monotonic() + settings.RUN_DRAIN_SECONDS
    popped = 0
    release = False
    while True:
        batch = pop(
            keys=[READY_KEY, slot_key],
            args=[
                token,
                _slot_ttl_ms(),
                settings.RUN_DRAIN_BATCH,
                settings.RUN_DRAIN_SLOTS,
                "1" if release else "0",
            ],
        )
        if not batch:
            if release:
                return popped
            # Wait a moment for the next run instead of ending at once: a
            # job that stays costs nothing, a new job costs RQ's bookkeeping.
            # Then pop once more, giving the slot back if the list is empty.
            waited = connection.blpop([READY_KEY], timeout=settings.RUN_DRAIN_LINGER)
            if waited is None:
                release = True
                continue
            batch = [waited[1]]
        release = False
        popped += len(batch)
        close_old_connections()
        engine.runs_execute(run_ids=[int(run_id) for run_id in batch])
        if time.monotonic() > deadline:
            # The slot is still held under this token; the new job keeps it.
            jobs.enqueue(runs_drain_job, slot, token, job_id=uuid.uuid4().hex)
            return popped


def runs_waiting_in_list(*, run_ids: list[int]) -> set[int]:
    """Return which of these runs wait in the ready list; empty when Redis fails."""
    connection, _, _ = _redis_and_scripts()
    pipeline = connection.pipeline(transaction=False)
    for run_id in run_ids:
        pipeline.lpos(READY_KEY, run_id)
    try:
        positions = pipeline.execute()
    except RedisError:
        return set()
    return {
        run_id
        for run_id, position in zip(run_ids, positions, strict=True)
        if position is not None
    }
