"""Serializers of the workflows API: input checks and output shapes."""

from rest_framework import serializers

from workflows.models import Run, RunStep, StreamDelivery


class EventInputSerializer(serializers.Serializer):
    event = serializers.CharField(max_length=200)
    user = serializers.CharField(max_length=255)
    data = serializers.JSONField()
    idempotency_key = serializers.CharField(
        max_length=255, required=False, allow_blank=False
    )

    def validate_data(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("data must be a JSON object.")
        return value


class RunSummarySerializer(serializers.ModelSerializer):
    workflow = serializers.CharField(source="workflow.name")
    version = serializers.IntegerField(source="version.number")

    class Meta:
        model = Run
        fields = ["id", "workflow", "version", "status"]


class RunStepSerializer(serializers.ModelSerializer):
    class Meta:
        model = RunStep
        fields = [
            "position",
            "key",
            "status",
            "attempt",
            "input",
            "output",
            "error",
            "started_at",
            "finished_at",
            "duration_ms",
        ]


class StreamDeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = StreamDelivery
        fields = [
            "delivery_id",
            "attempt",
            "url",
            "status_code",
            "succeeded",
            "error",
            "duration_ms",
            "created_at",
        ]


class RunSerializer(serializers.ModelSerializer):
    workflow = serializers.SerializerMethodField()
    event = serializers.SerializerMethodField()
    user = serializers.CharField(source="end_user.external_id")
    steps = RunStepSerializer(many=True)
    stream_deliveries = StreamDeliverySerializer(many=True)

    class Meta:
        model = Run
        fields = [
            "id",
            "status",
            "attempt",
            "workflow",
            "event",
            "user",
            "error",
            "created_at",
            "started_at",
            "finished_at",
            "steps",
            "stream_deliveries",
        ]

    def get_workflow(self, run: Run) -> dict:
        return {
            "id": run.workflow_id,
            "name": run.workflow.name,
            "version": run.version.number,
        }

    def get_event(self, run: Run) -> dict:
        return {"id": run.event_id, "name": run.event.name, "source": run.event.source}
