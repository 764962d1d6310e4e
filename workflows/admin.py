"""Admin for workflows, versions, events and runs; released versions are read-only."""

from django.contrib import admin, messages

from alloy.errors import ApplicationError
from alloy.generation import GenerationBumpingAdmin
from workflows.models import (
    Block,
    Event,
    FieldMapping,
    InstalledVersion,
    Publication,
    Run,
    RunStep,
    RunTakeover,
    ScheduleFiring,
    StreamDelivery,
    Workflow,
    WorkflowVersion,
)
from workflows.services.replays import run_replay
from workflows.services.runs import run_retry


class FrozenWhenReleasedMixin:
    """No change or delete of an object whose version is released."""

    def _released(self, obj) -> bool:
        raise NotImplementedError

    def has_change_permission(self, request, obj=None) -> bool:
        if obj is not None and self._released(obj):
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        if obj is not None and self._released(obj):
            return False
        return super().has_delete_permission(request, obj)


class BlockInline(FrozenWhenReleasedMixin, admin.TabularInline):
    model = Block
    extra = 0
    fields = [
        "position",
        "kind",
        "key",
        "connector",
        "operation",
        "parent",
        "branch",
        "config",
    ]
    # Nesting changes only through the version services, which keep positions
    # in flow order.
    readonly_fields = ["parent", "branch"]

    def _released(self, obj) -> bool:
        return obj.is_released

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Workflow)
class WorkflowAdmin(GenerationBumpingAdmin, admin.ModelAdmin):
    list_display = ["name", "integration", "published_version", "created_at"]
    list_filter = ["integration__workspace", "integration"]
    search_fields = ["name"]
    readonly_fields = ["published_version"]


@admin.register(WorkflowVersion)
class WorkflowVersionAdmin(FrozenWhenReleasedMixin, admin.ModelAdmin):
    list_display = ["workflow", "number", "status", "released_at", "released_by"]
    list_filter = ["status", "workflow__integration"]
    search_fields = ["workflow__name"]
    readonly_fields = ["status", "released_at", "released_by"]
    inlines = [BlockInline]

    def _released(self, obj) -> bool:
        return obj.is_released

    def has_add_permission(self, request) -> bool:
        # A new version is a copy of the latest, made by version_new.
        return False


@admin.register(Block)
class BlockAdmin(FrozenWhenReleasedMixin, admin.ModelAdmin):
    list_display = [
        "key",
        "version",
        "position",
        "kind",
        "connector",
        "operation",
        "parent",
        "branch",
    ]
    list_filter = ["kind", "connector", "version__status"]
    search_fields = ["key", "version__workflow__name"]
    readonly_fields = ["parent", "branch"]

    def has_add_permission(self, request) -> bool:
        # Blocks are added to a draft through the version services, which
        # check the connector's operation; a bare form would skip that.
        return False

    def _released(self, obj) -> bool:
        return obj.version.is_released


@admin.register(FieldMapping)
class FieldMappingAdmin(FrozenWhenReleasedMixin, admin.ModelAdmin):
    list_display = ["target", "kind", "block"]
    list_filter = ["kind", "block__version__status"]
    search_fields = ["target", "block__key", "block__version__workflow__name"]

    def has_add_permission(self, request) -> bool:
        # Mappings are set through the version services, which parse them.
        return False

    def _released(self, obj) -> bool:
        return obj.block.version.is_released


@admin.register(Publication)
class PublicationAdmin(admin.ModelAdmin):
    list_display = [
        "workflow",
        "version",
        "previous_version",
        "published_by",
        "created_at",
    ]
    list_filter = ["workflow__integration__workspace"]
    search_fields = ["workflow__name", "published_by"]

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        # Publications are the audit trail of what went live and when.
        return False


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["name", "source", "end_user", "workspace", "created_at"]
    list_filter = ["source", "workspace"]
    search_fields = ["name", "idempotency_key", "delivery_id"]


class RunStepInline(admin.TabularInline):
    model = RunStep
    extra = 0
    can_delete = False
    readonly_fields = [
        "position",
        "key",
        "item_index",
        "status",
        "attempt",
        "input",
        "output",
        "output_truncated",
        "error",
        "duration_ms",
    ]
    fields = readonly_fields


@admin.action(description="Replay selected runs as new runs")
def replay_runs(modeladmin, request, queryset) -> None:
    replays = [run_replay(run=run) for run in queryset]
    messages.success(request, f"{len(replays)} replay run(s) queued.")


@admin.action(description="Retry selected failed runs from their failed step")
def retry_runs(modeladmin, request, queryset) -> None:
    retried, skipped = 0, []
    for run in queryset:
        try:
            run_retry(run_id=run.pk)
        except ApplicationError:
            skipped.append(str(run.pk))
        else:
            retried += 1
    messages.success(request, f"{retried} run(s) queued again.")
    if skipped:
        messages.warning(
            request,
            f"Not retried, because only failed runs can be: {', '.join(skipped)}.",
        )


class RunTakeoverInline(admin.TabularInline):
    model = RunTakeover
    extra = 0
    can_delete = False
    readonly_fields = ["created_at", "previous_owner", "lease_expired_at", "step_key"]
    fields = readonly_fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = [
        "pk",
        "workflow",
        "version",
        "status",
        "attempt",
        "takeover_count",
        "end_user",
        "created_at",
        "finished_at",
    ]
    list_filter = ["status", "workspace", "workflow", "created_at"]
    search_fields = ["end_user__external_id", "workflow__name", "rq_job_id"]
    actions = [replay_runs, retry_runs]

    # A run is a record of what happened; Replay and Retry are the only
    # changes to it.
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    readonly_fields = [
        "status",
        "attempt",
        "error",
        "started_at",
        "finished_at",
        "rq_job_id",
        "next_attempt_at",
        "lease_owner",
        "lease_expires_at",
        "takeover_count",
    ]
    inlines = [RunStepInline, RunTakeoverInline]


@admin.register(StreamDelivery)
class StreamDeliveryAdmin(admin.ModelAdmin):
    list_display = [
        "delivery_id",
        "attempt",
        "run",
        "status_code",
        "succeeded",
        "created_at",
    ]
    list_filter = ["succeeded", "created_at"]
    search_fields = ["delivery_id", "url"]


@admin.register(InstalledVersion)
class InstalledVersionAdmin(GenerationBumpingAdmin, admin.ModelAdmin):
    list_display = ["installation", "workflow", "version", "updated_at"]
    list_filter = ["workflow"]
    search_fields = ["installation__end_user__external_id"]
    # Versions change through install, upgrade and publish, which also
    # reconcile the shop's webhooks.
    readonly_fields = ["installation", "workflow", "version"]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(ScheduleFiring)
class ScheduleFiringAdmin(admin.ModelAdmin):
    list_display = [
        "version",
        "scheduled_at",
        "status",
        "fired_at",
        "event_count",
    ]
    list_filter = ["status", "scheduled_at"]
    search_fields = ["version__workflow__name"]
    # Firings are armed, fired and canceled by the schedule service only.
    readonly_fields = ["version", "scheduled_at", "status", "fired_at", "event_count"]

    def has_add_permission(self, request) -> bool:
        return False
