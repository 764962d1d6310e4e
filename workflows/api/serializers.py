"""Serializers of the workflows API: input checks and output shapes."""

import re

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from integrations.validators import EXTERNAL_ID_RULE, is_external_id
from workflows.models import Run, RunStep, StreamDelivery

# The largest primary key: ids above it cannot exist and overflow the column.
MAX_ID = 2**63 - 1

# Printable ASCII, as HTTP header values and logs expect.
IDEMPOTENCY_KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}\Z")


class StrictCharField(serializers.CharField):
    """A string field that rejects numbers and other JSON types, and keeps spaces."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class EventInputSerializer(serializers.Serializer):
    """A custom event; the ``Idempotency-Key`` header comes in through the context."""

    event = StrictCharField(max_length=200)
    user = StrictCharField(max_length=255)
    data = serializers.JSONField()
    idempotency_key = StrictCharField(max_length=255, required=False)

    def validate_data(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("data must be a JSON object.")
        return value

    def validate_idempotency_key(self, value: str) -> str:
        if not IDEMPOTENCY_KEY_PATTERN.match(value):
            raise serializers.ValidationError(
                "Use 1 to 255 printable ASCII characters without spaces."
            )
        return value

    def validate(self, attrs: dict) -> dict:
        header = self.context.get("idempotency_key_header")
        if header is None:
            return attrs
        if not IDEMPOTENCY_KEY_PATTERN.match(header):
            raise serializers.ValidationError(
                {
                    "headers.Idempotency-Key": "Use 1 to 255 printable ASCII "
                    "characters without spaces."
                }
            )
        body_key = attrs.get("idempotency_key")
        if body_key is not None and body_key != header:
            raise serializers.ValidationError(
                {
                    "idempotency_key": "Differs from the Idempotency-Key header; "
                    "send the key once."
                }
            )
        attrs["idempotency_key"] = header
        return attrs


class RunSummarySerializer(serializers.ModelSerializer):
    workflow = serializers.CharField(source="workflow.name")
    version = serializers.IntegerField(source="version.number")

    class Meta:
        model = Run
        fields = ["id", "workflow", "version", "status"]


def run_summary(run: Run) -> dict:
    """Return what RunSummarySerializer returns for a run, without a serializer.

    A serializer builds its fields again for every instance, which was a
    tenth of an intake request's CPU in a profile of the web process.
    """
    return {
        "id": run.pk,
        "workflow": run.workflow.name,
        "version": run.version.number,
        "status": str(run.status),
    }


class RunListItemSerializer(RunSummarySerializer):
    workflow_id = serializers.IntegerField()
    user = serializers.CharField(source="end_user.external_id")
    event = serializers.IntegerField(source="event_id")
    replay_of = serializers.IntegerField(source="replay_of_id", allow_null=True)

    class Meta:
        model = Run
        fields = [
            "id",
            "workflow",
            "workflow_id",
            "version",
            "status",
            "user",
            "event",
            "replay_of",
            "created_at",
            "finished_at",
        ]


class EventAcceptedSerializer(serializers.Serializer):
    event = serializers.DictField()
    runs = RunSummarySerializer(many=True)
    duplicate = serializers.BooleanField()


# The maximum number of events in one batch request.
MAX_BATCH_EVENTS = 500


class EventBatchInputSerializer(serializers.Serializer):
    events = serializers.ListField(
        child=serializers.JSONField(),
        min_length=1,
        max_length=MAX_BATCH_EVENTS,
        help_text="Up to 500 events, each {event, user, data, idempotency_key?}.",
    )


class BatchErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    fields = serializers.ListField(child=serializers.DictField())


class BatchItemSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    status = serializers.IntegerField(help_text="The status a single POST would get.")
    event = serializers.DictField(required=False)
    runs = RunSummarySerializer(many=True, required=False)
    duplicate = serializers.BooleanField(required=False)
    error = BatchErrorSerializer(required=False)


class EventBatchResultSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    rejected = serializers.IntegerField()
    results = BatchItemSerializer(many=True)


class RunFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Run.Status.choices, required=False)
    user = serializers.CharField(max_length=255, required=False)
    workflow = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False)
    integration = serializers.IntegerField(
        min_value=1, max_value=MAX_ID, required=False
    )
    event = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False)
    created_after = serializers.DateTimeField(required=False)
    created_before = serializers.DateTimeField(required=False)

    def validate_user(self, value: str) -> str:
        if not is_external_id(value):
            raise serializers.ValidationError(EXTERNAL_ID_RULE)
        return value


class RunStepSerializer(serializers.ModelSerializer):
    parent = serializers.CharField(
        source="block.parent.key",
        allow_null=True,
        default=None,
        help_text="The Branch or For each step whose list holds this step; null "
        "at the top level.",
    )
    branch = serializers.CharField(
        source="block.branch",
        help_text="The list that holds this step: then, else, body, or empty.",
    )
    item_index = serializers.IntegerField(
        allow_null=True,
        help_text="The index of the For each item this step ran for; null outside "
        "a loop.",
    )

    class Meta:
        model = RunStep
        fields = [
            "position",
            "key",
            "parent",
            "branch",
            "item_index",
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
    replay_of = serializers.IntegerField(source="replay_of_id", allow_null=True)
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
            "replay_of",
            "error",
            "created_at",
            "started_at",
            "finished_at",
            "steps",
            "stream_deliveries",
        ]

    @extend_schema_field(
        {
            "type": "object",
            "properties": {
                "id": {"type": "integer"},
                "name": {"type": "string"},
                "version": {"type": "integer"},
            },
        }
    )
    def get_workflow(self, run: Run) -> dict:
        return {
            "id": run.workflow_id,
            "name": run.workflow.name,
            "version": run.version.number,
        }

    @extend_schema_field(
        {
            "type": "object",
            "properties": {
                "id": {"type": "integer"},
                "name": {"type": "string"},
                "source": {"type": "string"},
            },
        }
    )
    def get_event(self, run: Run) -> dict:
        return {"id": run.event_id, "name": run.event.name, "source": run.event.source}
