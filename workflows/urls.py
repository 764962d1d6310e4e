"""Builder URLs for workflows, versions and runs, mounted under /builder/."""

from django.urls import path

from workflows.views import editor, runs, schedules, step_config, versions

app_name = "workflows"

urlpatterns = [
    path(
        "integrations/<int:integration_id>/workflows",
        versions.workflow_create,
        name="workflow-create",
    ),
    path(
        "workflows/<int:workflow_id>", versions.workflow_detail, name="workflow-detail"
    ),
    path(
        "workflows/<int:workflow_id>/versions",
        versions.version_history,
        name="version-history",
    ),
    path(
        "workflows/<int:workflow_id>/versions/new",
        versions.version_new,
        name="version-new",
    ),
    path("versions/<int:version_id>", editor.version_editor, name="version-editor"),
    path("versions/<int:version_id>/trigger", editor.trigger_save, name="trigger-save"),
    path("versions/<int:version_id>/actions", editor.action_add, name="action-add"),
    path(
        "versions/<int:version_id>/release",
        versions.version_release,
        name="version-release",
    ),
    path(
        "versions/<int:version_id>/publish",
        versions.version_publish,
        name="version-publish",
    ),
    path("versions/<int:version_id>/test", versions.version_test, name="version-test"),
    path("steps/<int:block_id>/mappings", editor.mappings_save, name="mappings-save"),
    path(
        "steps/<int:block_id>/config",
        step_config.step_config_save,
        name="step-config-save",
    ),
    path(
        "steps/<int:block_id>/settings",
        editor.block_config_save,
        name="block-config-save",
    ),
    path(
        "steps/<int:block_id>/preview",
        editor.mapping_preview_view,
        name="mapping-preview",
    ),
    path("steps/<int:block_id>/remove", editor.action_remove, name="action-remove"),
    path("schedule-preview", schedules.schedule_preview, name="schedule-preview"),
    path("overview", runs.overview, name="overview"),
    path("runs", runs.run_list, name="run-list"),
    path("runs/<int:run_id>", runs.run_detail, name="run-detail"),
    path("runs/<int:run_id>/replay", runs.run_replay_view, name="run-replay"),
    path("runs/<int:run_id>/retry", runs.run_retry_view, name="run-retry"),
]
