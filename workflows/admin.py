"""Admin for workflows, versions, events and runs; released versions are read-only."""

from django.contrib import admin

from workflows.models import (
    Block,
    Event,
    FieldMapping,
    Publication,
    Run,
    RunStep,
    RunTakeover,
    StreamDelivery,
    Workflow,
    WorkflowVersion,
)
from workflows.services.runs import run_replay


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
    fields = ["position", "kind", "key", "connector", "operation", "config"]

    def _released(self, obj) -> bool:
        return obj.is_released

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Workflow)
class WorkflowAdmin(admin.ModelAdmin):
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
    list_display = ["key", "version", "position", "kind", "connector", "operation"]
    list_filter = ["kind", "connector"]

    def has_add_permission(self, request) -> bool:
        # Blocks are added to a draft through the version services, which
        # check the connector's operation; a bare form would skip that.
        return False

    def _released(self, obj) -> bool:
        return obj.version.is_released


@admin.register(FieldMapping)
class FieldMappingAdmin(FrozenWhenReleasedMixin, admin.ModelAdmin):
    list_display = ["target", "kind", "block"]
    list_filter = ["kind"]

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
        "status",
        "attempt",
        "input",
        "output",
        "output_truncated",
        "error",
        "duration_ms",
    ]
    fields = readonly_fields


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
        "takeover_count",
        "end_user",
        "created_at",
    ]
    list_filter = ["status", "workflow"]
    search_fields = ["end_user__external_id"]
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
    actions = ["replay_runs"]

    @admin.action(description="Replay the selected failed runs")
    def replay_runs(self, request, queryset) -> None:
        replayed = 0
        for run in queryset.filter(status=Run.Status.FAILED):
            run_replay(run=run)
            replayed += 1
        skipped = queryset.count() - replayed
        message = f"Replayed {replayed} run(s)."
        if skipped:
            message += f" Skipped {skipped} that had not failed."
        self.message_user(request, message)


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
    list_filter = ["succeeded"]
