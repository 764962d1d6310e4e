"""JSON endpoints for custom events and runs."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from alloy.errors import ApplicationError, NotFoundError, drf_error_fields
from alloy.jsonbody import PartwiseJsonParser, first_unstorable
from workflows import selectors
from workflows.api.serializers import (
    EventAcceptedSerializer,
    EventBatchInputSerializer,
    EventBatchResultSerializer,
    EventInputSerializer,
    RunFilterSerializer,
    RunListItemSerializer,
    RunSerializer,
    RunSummarySerializer,
    run_summary,
)
from workflows.models import Run
from workflows.services.intake import IntakeResult, custom_event_ingest
from workflows.services.replays import run_replay

IDEMPOTENCY_HEADER = "Idempotency-Key"


def _accepted_body(result: IntakeResult) -> dict:
    return {
        "event": {"id": result.event.pk, "name": result.event.name},
        "runs": [run_summary(run) for run in result.runs],
        "duplicate": result.duplicate,
    }


def _ingest(workspace, body: dict) -> IntakeResult:
    return custom_event_ingest(
        workspace=workspace,
        event_name=body["event"],
        user_id=body["user"],
        data=body["data"],
        idempotency_key=body.get("idempotency_key"),
    )


class EventCreateApi(APIView):
    """Accept a custom event: ``{event, user, data, idempotency_key}``.

    Returns 202 with the event and the queued runs. A repeated idempotency
    key returns 200 with the first response.
    """

    @extend_schema(
        request=EventInputSerializer,
        responses={
            202: EventAcceptedSerializer,
            200: OpenApiResponse(
                EventAcceptedSerializer, description="A repeated Idempotency-Key."
            ),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = EventInputSerializer(
            data=request.data,
            context={"idempotency_key_header": request.headers.get(IDEMPOTENCY_HEADER)},
        )
        serializer.is_valid(raise_exception=True)
        result = _ingest(request.auth.workspace, serializer.validated_data)
        code = status.HTTP_200_OK if result.duplicate else status.HTTP_202_ACCEPTED
        return Response(_accepted_body(result), status=code)


class EventBatchApi(APIView):
    """Accept up to 500 custom events, with a separate result for each.

    Valid events are stored and queued even when others in the batch are
    rejected. Each rejected event is named by its index, with its fields.
    """

    parser_classes = [PartwiseJsonParser]

    @extend_schema(
        request=EventBatchInputSerializer, responses=EventBatchResultSerializer
    )
    def post(self, request: Request) -> Response:
        if request.headers.get(IDEMPOTENCY_HEADER) is not None:
            raise ApplicationError(
                "A batch takes no Idempotency-Key header; give each event its "
                "own idempotency_key.",
                code="invalid_request",
                fields=[{"path": "headers.Idempotency-Key", "message": "Not used."}],
            )
        serializer = EventBatchInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        workspace = request.auth.workspace
        results = [
            self._one(workspace, index, item)
            for index, item in enumerate(serializer.validated_data["events"])
        ]
        rejected = sum(1 for item in results if "error" in item)
        return Response(
            {
                "accepted": len(results) - rejected,
                "rejected": rejected,
                "results": results,
            }
        )

    @staticmethod
    def _one(workspace, index: int, item) -> dict:
        path = f"$.events[{index}]"
        unstorable = first_unstorable(item)
        event = EventInputSerializer(data=item if isinstance(item, dict) else None)
        if unstorable is not None or not isinstance(item, dict) or not event.is_valid():
            if unstorable is not None:
                where, message = unstorable
                fields = [{"path": path + where.removeprefix("$"), "message": message}]
            elif isinstance(item, dict):
                fields = drf_error_fields(event.errors, path)
            else:
                fields = [{"path": path, "message": "Expected a JSON object."}]
            return {
                "index": index,
                "status": status.HTTP_400_BAD_REQUEST,
                "error": {
                    "code": "invalid_request",
                    "message": "The event is invalid; see fields.",
                    "fields": fields,
                },
            }
        try:
            result = _ingest(workspace, event.validated_data)
        except ApplicationError as exc:
            return {
                "index": index,
                "status": exc.status_code,
                "error": {
                    "code": exc.code,
                    "message": exc.message,
                    "fields": [
                        {**field, "path": path + field["path"].removeprefix("$")}
                        for field in exc.fields
                    ],
                },
            }
        code = status.HTTP_200_OK if result.duplicate else status.HTTP_202_ACCEPTED
        return {"index": index, "status": code, **_accepted_body(result)}


@extend_schema(parameters=[RunFilterSerializer])
class RunListApi(generics.ListAPIView):
    """Runs of the workspace, newest first, filtered by the query parameters."""

    serializer_class = RunListItemSerializer

    def get_queryset(self):
        filters = RunFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return selectors.run_filter(
            workspace=self.request.auth.workspace, **filters.validated_data
        )


def _run(request: Request, run_id: int) -> Run:
    run = selectors.run_get(workspace=request.auth.workspace, run_id=run_id)
    if run is None:
        raise NotFoundError(f"No run {run_id} in this workspace.", code="run_not_found")
    return run


class RunDetailApi(APIView):
    @extend_schema(responses=RunSerializer, operation_id="runs_get")
    def get(self, request: Request, run_id: int) -> Response:
        return Response(RunSerializer(_run(request, run_id)).data)


class RunReplayApi(APIView):
    @extend_schema(request=None, responses={202: RunSummarySerializer})
    def post(self, request: Request, run_id: int) -> Response:
        """Queue a new run of the same version on the same event."""
        replay = run_replay(run=_run(request, run_id))
        return Response(
            RunSummarySerializer(replay).data, status=status.HTTP_202_ACCEPTED
        )
