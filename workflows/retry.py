"""Retry policies of action steps: attempts, exponential backoff with jitter, a cap."""

import random
from dataclasses import dataclass
from typing import Any

from django.conf import settings

# The keys a block's `retry` config may set, with the largest value allowed.
POLICY_LIMITS = {
    "max_attempts": 20,
    "base_delay_seconds": 3600.0,
    "max_delay_seconds": 86_400.0,
}


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    base_delay_seconds: float
    max_delay_seconds: float

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (from 1).

        Full jitter: a random share of ``base * 2**(attempt - 1)``, capped. A
        wait the app asked for (Retry-After, a throttle's restore time) is a
        floor, since retrying earlier only fails again.
        """
        ceiling = min(
            self.max_delay_seconds, self.base_delay_seconds * 2 ** (attempt - 1)
        )
        delay = random.uniform(ceiling / 2, ceiling)  # noqa: S311
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.max_delay_seconds))
        return delay


def default_policy() -> RetryPolicy:
    return RetryPolicy(
        max_attempts=settings.STEP_RETRY_MAX_ATTEMPTS,
        base_delay_seconds=settings.STEP_RETRY_BASE_DELAY,
        max_delay_seconds=settings.STEP_RETRY_MAX_DELAY,
    )


def policy_from_config(config: Any) -> RetryPolicy:
    """Merge a block's checked `retry` config over the default policy."""
    policy = default_policy()
    if not isinstance(config, dict):
        return policy
    return RetryPolicy(
        max_attempts=int(config.get("max_attempts", policy.max_attempts)),
        base_delay_seconds=float(
            config.get("base_delay_seconds", policy.base_delay_seconds)
        ),
        max_delay_seconds=float(
            config.get("max_delay_seconds", policy.max_delay_seconds)
        ),
    )


def policy_problems(config: Any, *, path: str) -> list[dict[str, str]]:
    """List each invalid setting of a block's `retry` config as an error field."""
    if config is None:
        return []
    if not isinstance(config, dict):
        return [{"path": path, "message": "Expected an object."}]
    problems = []
    for key in sorted(set(config) - set(POLICY_LIMITS)):
        problems.append(
            {
                "path": f"{path}.{key}",
                "message": f"Unknown setting; use {', '.join(POLICY_LIMITS)}.",
            }
        )
    for key, maximum in POLICY_LIMITS.items():
        if key not in config:
            continue
        value = config[key]
        integer_only = key == "max_attempts"
        valid_type = (
            isinstance(value, int) if integer_only else (isinstance(value, int | float))
        )
        if isinstance(value, bool) or not valid_type:
            kind = "a whole number" if integer_only else "a number"
            problems.append(
                {"path": f"{path}.{key}", "message": f"{value!r} is not {kind}."}
            )
        elif not 0 < value <= maximum:
            problems.append(
                {
                    "path": f"{path}.{key}",
                    "message": f"{value!r} is out of range; use more than 0 and "
                    f"at most {maximum:g}.",
                }
            )
    return problems
