"""Workflows and their versions, blocks and field mappings; events, runs and steps."""

from django.db import models
from django.db.models import Q

from alloy.models import BaseModel
from workflows.exceptions import ReleasedVersionError


class Workflow(BaseModel):
    integration = models.ForeignKey(
        "integrations.Integration", on_delete=models.CASCADE, related_name="workflows"
    )
    name = models.CharField(max_length=200)
    # The released version that runs for new events; null until first published.
    published_version = models.ForeignKey(
        "WorkflowVersion",
        on_delete=models.RESTRICT,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["integration", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "name"], name="workflow_unique_name"
            )
        ]

    def __str__(self) -> str:
        return self.name


class WorkflowVersion(BaseModel):
    """One version of a workflow: an editable draft, or a release frozen for good."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        RELEASED = "released", "Released"

    workflow = models.ForeignKey(
        Workflow, on_delete=models.CASCADE, related_name="versions"
    )
    number = models.PositiveIntegerField()
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.DRAFT
    )
    released_at = models.DateTimeField(null=True, blank=True)
    released_by = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["workflow", "-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["workflow", "number"], name="version_unique_number"
            ),
            models.UniqueConstraint(
                fields=["workflow"],
                condition=Q(status="draft"),
                name="version_one_draft_per_workflow",
            ),
            models.CheckConstraint(
                condition=Q(status="draft") | Q(released_at__isnull=False),
                name="version_released_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.workflow} v{self.number}"

    @property
    def is_released(self) -> bool:
        return self.status == self.Status.RELEASED

    def save(self, *args, **kwargs) -> None:
        # A released row may not be saved again: release is the only path that
        # writes the released status, and it saves a draft row.
        if self.pk is not None and _stored_status(WorkflowVersion, self.pk) == (
            self.Status.RELEASED
        ):
            raise ReleasedVersionError(self)
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        if self.is_released:
            raise ReleasedVersionError(self)
        return super().delete(*args, **kwargs)


class Publication(BaseModel):
    """A record of a released version made the live one, with who did it.

    Publishing never writes to the version itself, which stays frozen; the
    newest publication of a workflow names its published version.
    """

    workflow = models.ForeignKey(
        Workflow, on_delete=models.CASCADE, related_name="publications"
    )
    version = models.ForeignKey(
        WorkflowVersion, on_delete=models.RESTRICT, related_name="publications"
    )
    published_by = models.CharField(max_length=200, blank=True)
    # The version that was live before, so history shows rollbacks.
    previous_version = models.ForeignKey(
        WorkflowVersion,
        on_delete=models.RESTRICT,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["workflow", "-created_at"]

    def __str__(self) -> str:
        return f"{self.version} published"


class Block(BaseModel):
    """A trigger (position 0) or an action in a version's flow.

    Positions number every block of a version in flow order, nested blocks
    included: a Branch or For each block is followed by the blocks of its
    lists, each list's blocks one after another.
    """

    class Kind(models.TextChoices):
        TRIGGER = "trigger", "Trigger"
        ACTION = "action", "Action"

    class Branch(models.TextChoices):
        # The list a nested block belongs to: a Branch block's two lists, or
        # a For each block's body.
        THEN = "then", "Then"
        ELSE = "else", "Else"
        BODY = "body", "Body"

    version = models.ForeignKey(
        WorkflowVersion, on_delete=models.CASCADE, related_name="blocks"
    )
    position = models.PositiveIntegerField()
    # The Branch or For each block whose list holds this block; null at the
    # top level.
    parent = models.ForeignKey(
        "self",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="children",
    )
    branch = models.CharField(max_length=8, choices=Branch.choices, blank=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # A step's name in mappings: `steps.<key>.<output field>`.
    key = models.SlugField(max_length=64)
    connector = models.CharField(max_length=64)
    # The trigger's or action's name inside the connector.
    operation = models.CharField(max_length=64)
    # Trigger settings: `event_name` and `schema` for a custom event, and
    # `stream_url` for any trigger.
    config = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["version", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["version", "position"], name="block_unique_position"
            ),
            models.UniqueConstraint(fields=["version", "key"], name="block_unique_key"),
            models.UniqueConstraint(
                fields=["version"],
                condition=Q(kind="trigger"),
                name="block_one_trigger_per_version",
            ),
            models.CheckConstraint(
                condition=(Q(kind="trigger") & Q(position=0))
                | (Q(kind="action") & Q(position__gt=0)),
                name="block_trigger_first",
            ),
            models.CheckConstraint(
                condition=(Q(parent__isnull=True) & Q(branch=""))
                | (Q(parent__isnull=False) & ~Q(branch="")),
                name="block_branch_with_parent",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.connector}.{self.operation})"

    def save(self, *args, **kwargs) -> None:
        _reject_if_released(self.version_id)
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        _reject_if_released(self.version_id)
        return super().delete(*args, **kwargs)


class FieldMapping(BaseModel):
    """The source of one action input's value: a literal, expression or template."""

    class Kind(models.TextChoices):
        LITERAL = "literal", "Literal"
        EXPRESSION = "expression", "JMESPath expression"
        TEMPLATE = "template", "Template"

    block = models.ForeignKey(Block, on_delete=models.CASCADE, related_name="mappings")
    # The input's name; a dotted name such as `customer.email` sets a nested field.
    target = models.CharField(max_length=255)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    value = models.JSONField()

    class Meta:
        ordering = ["block", "target"]
        constraints = [
            models.UniqueConstraint(
                fields=["block", "target"], name="mapping_unique_target"
            )
        ]

    def __str__(self) -> str:
        return f"{self.target} <- {self.kind}"

    def save(self, *args, **kwargs) -> None:
        _reject_if_released(
            Block.objects.filter(pk=self.block_id)
            .values_list("version_id", flat=True)
            .first()
        )
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        _reject_if_released(
            Block.objects.filter(pk=self.block_id)
            .values_list("version_id", flat=True)
            .first()
        )
        return super().delete(*args, **kwargs)


class Event(BaseModel):
    """An event received for an end user: a custom event or an app's webhook."""

    class Source(models.TextChoices):
        CUSTOM = "custom", "Custom event"
        APP = "app", "App event"
        SCHEDULE = "schedule", "Schedule"

    workspace = models.ForeignKey(
        "integrations.Workspace", on_delete=models.CASCADE, related_name="events"
    )
    end_user = models.ForeignKey(
        "integrations.EndUser", on_delete=models.CASCADE, related_name="events"
    )
    connection = models.ForeignKey(
        "integrations.Connection",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="events",
    )
    source = models.CharField(max_length=16, choices=Source.choices)
    # The custom event's name, or the app's webhook topic such as orders/create.
    name = models.CharField(max_length=200)
    data = models.JSONField()
    # Null rather than blank, so that the partial unique constraints skip them.
    idempotency_key = models.CharField(  # noqa: DJ001
        max_length=255, null=True, blank=True
    )
    # The app's id for this delivery, e.g. X-Shopify-Webhook-Id.
    delivery_id = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    # The app's id for the change itself, e.g. X-Shopify-Event-Id: a change
    # sent again under a new delivery id keeps it.
    app_event_id = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="event_unique_idempotency_key",
            ),
            models.UniqueConstraint(
                fields=["connection", "delivery_id"],
                condition=Q(delivery_id__isnull=False),
                name="event_unique_delivery",
            ),
            models.UniqueConstraint(
                fields=["connection", "name", "app_event_id"],
                condition=Q(app_event_id__isnull=False),
                name="event_unique_app_event",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} #{self.pk}"


class Run(BaseModel):
    """One execution of a released version for one event."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        # Paused by a Delay block until ``next_attempt_at``; no worker holds it.
        WAITING = "waiting", "Waiting"
        # Stopped by a Filter block whose condition was false.
        FILTERED = "filtered", "Filtered"

    workspace = models.ForeignKey(
        "integrations.Workspace", on_delete=models.CASCADE, related_name="runs"
    )
    workflow = models.ForeignKey(
        Workflow, on_delete=models.CASCADE, related_name="runs"
    )
    version = models.ForeignKey(
        WorkflowVersion, on_delete=models.RESTRICT, related_name="runs"
    )
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="runs")
    end_user = models.ForeignKey(
        "integrations.EndUser", on_delete=models.CASCADE, related_name="runs"
    )
    installation = models.ForeignKey(
        "integrations.Installation",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="runs",
    )
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    attempt = models.PositiveIntegerField(default=0)
    error = models.JSONField(null=True, blank=True)
    # Empty while the run's job has not reached the queue; the reconciler
    # enqueues such runs, so the rows are the outbox.
    rq_job_id = models.CharField(max_length=64, blank=True)
    # When a queued run waits for a scheduled retry, or a waiting run for the
    # end of its delay, the time it is due.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # A running run's lease: the worker holding it renews it while it works,
    # and the reconciler takes over a run whose lease has expired.
    lease_owner = models.CharField(max_length=128, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    takeover_count = models.PositiveIntegerField(default=0)
    # The id of the run's stream delivery, set when it finishes with a stream
    # URL; every attempt, including the reconciler's, reuses it.
    stream_delivery_id = models.UUIDField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The run this one repeats on the same event and version; null for a first run.
    replay_of = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="replays",
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["event", "workflow"],
                condition=Q(replay_of__isnull=True),
                name="run_unique_event",
            )
        ]
        indexes = [models.Index(fields=["workflow", "status", "created_at"])]

    def __str__(self) -> str:
        return f"Run #{self.pk} of {self.workflow} ({self.status})"


class InstalledVersion(BaseModel):
    """The version of one workflow that an installation runs.

    Written on install and upgrade; publishing moves the rows of installations
    whose integration follows the published version.
    """

    installation = models.ForeignKey(
        "integrations.Installation",
        on_delete=models.CASCADE,
        related_name="installed_versions",
    )
    workflow = models.ForeignKey(
        Workflow, on_delete=models.CASCADE, related_name="installed_versions"
    )
    version = models.ForeignKey(
        WorkflowVersion, on_delete=models.RESTRICT, related_name="installed_by"
    )

    class Meta:
        ordering = ["installation", "workflow"]
        constraints = [
            models.UniqueConstraint(
                fields=["installation", "workflow"],
                name="installed_version_unique_workflow",
            )
        ]

    def __str__(self) -> str:
        return f"{self.installation}: {self.version}"


class RunTakeover(BaseModel):
    """A record of a run taken back from a worker whose lease expired."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="takeovers")
    previous_owner = models.CharField(max_length=128, blank=True)
    lease_expired_at = models.DateTimeField()
    # The step that was in progress, whose outcome is unknown; blank if none.
    step_key = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["run", "created_at"]

    def __str__(self) -> str:
        return f"Takeover of run #{self.run_id}"


class RunStep(BaseModel):
    """The record of one block in a run: its input, output, status and error."""

    class Status(models.TextChoices):
        # Written before the action is called; a step left in this state by a
        # worker that died has an unknown outcome.
        STARTED = "started", "Started"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="steps")
    block = models.ForeignKey(Block, on_delete=models.RESTRICT, related_name="+")
    position = models.PositiveIntegerField()
    # The index of the For each item this step ran for; null outside a loop.
    item_index = models.PositiveIntegerField(null=True, blank=True)
    key = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=Status.choices)
    attempt = models.PositiveIntegerField(default=1)
    # The attempt that began the current series of tries; a replay starts a
    # new series, so the step gets its retry policy's attempts again.
    first_attempt = models.PositiveIntegerField(default=1)
    input = models.JSONField(null=True, blank=True)
    output = models.JSONField(null=True, blank=True)
    error = models.JSONField(null=True, blank=True)
    # True when the stored output was cut to STEP_OUTPUT_MAX_BYTES.
    output_truncated = models.BooleanField(default=False)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        # Insertion order, which is execution order across loop iterations.
        ordering = ["run", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "position"],
                condition=Q(item_index__isnull=True),
                name="run_step_unique_position",
            ),
            models.UniqueConstraint(
                fields=["run", "position", "item_index"],
                condition=Q(item_index__isnull=False),
                name="run_step_unique_item",
            ),
        ]

    def __str__(self) -> str:
        if self.item_index is not None:
            return f"{self.key}[{self.item_index}]: {self.status}"
        return f"{self.key}: {self.status}"


class StreamDelivery(BaseModel):
    """One attempt to POST a run's execution data to its trigger's stream URL."""

    run = models.ForeignKey(
        Run, on_delete=models.CASCADE, related_name="stream_deliveries"
    )
    # The same on every attempt of one delivery, so a receiver can drop repeats.
    delivery_id = models.UUIDField()
    attempt = models.PositiveIntegerField()
    url = models.URLField(max_length=2000)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    succeeded = models.BooleanField(default=False)
    # False when another attempt cannot help, such as a refused URL.
    retryable = models.BooleanField(default=True)
    error = models.TextField(blank=True)
    response_body = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name_plural = "stream deliveries"
        ordering = ["run", "attempt"]
        constraints = [
            models.UniqueConstraint(
                fields=["delivery_id", "attempt"], name="stream_delivery_unique_attempt"
            )
        ]

    def __str__(self) -> str:
        return f"Delivery {self.delivery_id} attempt {self.attempt}"


class ScheduleFiring(BaseModel):
    """One planned firing of a released version's Schedule trigger.

    A firing is armed (its job waits in RQ's scheduler), then fired once or
    canceled. The unique instant per version makes a repeated tick a no-op.
    """

    class Status(models.TextChoices):
        ARMED = "armed", "Armed"
        FIRED = "fired", "Fired"
        # The version stopped running anywhere before the instant came.
        CANCELED = "canceled", "Canceled"

    version = models.ForeignKey(
        WorkflowVersion, on_delete=models.CASCADE, related_name="schedule_firings"
    )
    scheduled_at = models.DateTimeField()
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.ARMED
    )
    fired_at = models.DateTimeField(null=True, blank=True)
    # Events created by the firing, one per installation running the version.
    event_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["version", "-scheduled_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["version", "scheduled_at"],
                name="schedule_firing_unique_instant",
            ),
            models.UniqueConstraint(
                fields=["version"],
                condition=Q(status="armed"),
                name="schedule_firing_one_armed",
            ),
        ]
        indexes = [models.Index(fields=["status", "scheduled_at"])]

    def __str__(self) -> str:
        return f"{self.version} at {self.scheduled_at.isoformat()} ({self.status})"


def _stored_status(model: type[models.Model], pk: int) -> str | None:
    return model.objects.filter(pk=pk).values_list("status", flat=True).first()


def _reject_if_released(version_id: int | None) -> None:
    if version_id is None:
        return
    if _stored_status(WorkflowVersion, version_id) == WorkflowVersion.Status.RELEASED:
        raise ReleasedVersionError(WorkflowVersion.objects.get(pk=version_id))
