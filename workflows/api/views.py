"""JSON endpoints for custom events and runs."""

from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from alloy.errors import NotFoundError
from workflows import selectors
from workflows.api.serializers import (
    EventInputSerializer,
    RunSerializer,
    RunSummarySerializer,
)
from workflows.services.intake import custom_event_ingest

IDEMPOTENCY_HEADER = "Idempotency-Key"


class EventCreateApi(APIView):
    """Accept a custom event: ``{event, user, data, idempotency_key}``.

    Returns 202 with the event and the queued runs. A repeated idempotency
    key returns 200 with the first response.
    """

    def post(self, request: Request) -> Response:
        serializer = EventInputSerializer(
            data=request.data,
            context={"idempotency_key_header": request.headers.get(IDEMPOTENCY_HEADER)},
        )
        serializer.is_valid(raise_exception=True)
        body = serializer.validated_data
        key = body.get("idempotency_key")
        result = custom_event_ingest(
            workspace=request.auth.workspace,
            event_name=body["event"],
            user_id=body["user"],
            data=body["data"],
            idempotency_key=key,
        )
        answer = {
            "event": {"id": result.event.pk, "name": result.event.name},
            "runs": RunSummarySerializer(result.runs, many=True).data,
            "duplicate": result.duplicate,
        }
        code = status.HTTP_200_OK if result.duplicate else status.HTTP_202_ACCEPTED
        return Response(answer, status=code)


class RunListApi(APIView):
    def get(self, request: Request) -> Response:
        runs = selectors.run_list(workspace=request.auth.workspace)
        return Response({"results": RunSummarySerializer(runs, many=True).data})


class RunDetailApi(APIView):
    def get(self, request: Request, run_id: int) -> Response:
        run = selectors.run_get(workspace=request.auth.workspace, run_id=run_id)
        if run is None:
            raise NotFoundError(
                f"No run {run_id} in this workspace.", code="run_not_found"
            )
        return Response(RunSerializer(run).data)
