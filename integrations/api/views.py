"""JSON endpoints for API keys, end users with their tokens and connections,
integrations, installations and the workspace's settings.

Everything is scoped to the API key's workspace; another workspace's ids get
404, so an id reveals nothing.
"""

from django.conf import settings
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from alloy.errors import NotFoundError
from integrations import selectors, services, tokens
from integrations.api import serializers as s
from integrations.models import EndUser, Installation, Integration
from integrations.validators import EXTERNAL_ID_RULE, is_external_id
from workflows.services import installed_versions


def _or_404(found, message: str, code: str):
    """Return ``found``, or raise NotFoundError when the lookup found nothing."""
    if found is None:
        raise NotFoundError(message, code=code)
    return found


def _end_user(request: Request, external_id: str) -> EndUser:
    end_user = None
    if is_external_id(external_id):
        end_user = selectors.end_user_get(
            workspace=request.auth.workspace, external_id=external_id
        )
    return _or_404(
        end_user,
        f"No end user with the id {external_id!r} in this workspace.",
        "end_user_not_found",
    )


def _integration(request: Request, integration_id: int) -> Integration:
    return _or_404(
        selectors.integration_get(
            workspace=request.auth.workspace, integration_id=integration_id
        ),
        f"No integration {integration_id} in this workspace.",
        "integration_not_found",
    )


def _installation(request: Request, installation_id: int) -> Installation:
    return _or_404(
        selectors.installation_get(
            workspace=request.auth.workspace, installation_id=installation_id
        ),
        f"No installation {installation_id} in this workspace.",
        "installation_not_found",
    )


class ApiKeyListApi(generics.ListAPIView):
    serializer_class = s.ApiKeySerializer

    def get_queryset(self):
        return selectors.api_key_list(workspace=self.request.auth.workspace)

    @extend_schema(
        request=s.ApiKeyInputSerializer, responses={201: s.ApiKeyCreatedSerializer}
    )
    def post(self, request: Request) -> Response:
        """Create an API key; the key is in this response only."""
        serializer = s.ApiKeyInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        key, token = services.api_key_create(
            workspace=request.auth.workspace, name=serializer.validated_data["name"]
        )
        key.key = token
        return Response(
            s.ApiKeyCreatedSerializer(key).data, status=status.HTTP_201_CREATED
        )


class ApiKeyDetailApi(APIView):
    @extend_schema(responses={204: None})
    def delete(self, request: Request, api_key_id: int) -> Response:
        """Revoke an API key; requests with it get 401 from then on."""
        key = _or_404(
            selectors.api_key_get(
                workspace=request.auth.workspace, api_key_id=api_key_id
            ),
            f"No API key {api_key_id} in this workspace.",
            "api_key_not_found",
        )
        services.api_key_revoke(key=key)
        return Response(status=status.HTTP_204_NO_CONTENT)


class EndUserListApi(generics.ListAPIView):
    serializer_class = s.EndUserSerializer

    def get_queryset(self):
        return selectors.end_user_list(workspace=self.request.auth.workspace)

    @extend_schema(
        request=s.EndUserInputSerializer, responses={201: s.EndUserSerializer}
    )
    def post(self, request: Request) -> Response:
        serializer = s.EndUserInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        body = serializer.validated_data
        end_user = services.end_user_create(
            workspace=request.auth.workspace,
            external_id=body["id"],
            name=body["name"],
            email=body["email"],
        )
        return Response(
            s.EndUserSerializer(end_user).data, status=status.HTTP_201_CREATED
        )


class EndUserDetailApi(APIView):
    @extend_schema(responses=s.EndUserSerializer, operation_id="end_users_get")
    def get(self, request: Request, external_id: str) -> Response:
        return Response(s.EndUserSerializer(_end_user(request, external_id)).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, external_id: str) -> Response:
        services.end_user_delete(end_user=_end_user(request, external_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class EndUserTokenApi(APIView):
    @extend_schema(request=None, responses={201: s.EndUserTokenSerializer})
    def post(self, request: Request, external_id: str) -> Response:
        """Make a token (valid 30 minutes) that opens the connect page."""
        token, expires_at = tokens.end_user_token_create(
            end_user=_end_user(request, external_id)
        )
        connect_url = (
            settings.PUBLIC_BASE_URL.rstrip("/")
            + reverse("connect:page")
            + f"?token={token}"
        )
        body = {"token": token, "expires_at": expires_at, "connect_url": connect_url}
        return Response(
            s.EndUserTokenSerializer(body).data, status=status.HTTP_201_CREATED
        )


class ConnectionListApi(generics.GenericAPIView):
    serializer_class = s.ConnectionSerializer

    def get(self, request: Request, external_id: str) -> Response:
        connections = selectors.connection_list(
            end_user=_end_user(request, external_id)
        )
        page = self.paginate_queryset(connections)
        return self.get_paginated_response(s.ConnectionSerializer(page, many=True).data)

    @extend_schema(
        request=s.ConnectionInputSerializer, responses={201: s.ConnectionSerializer}
    )
    def post(self, request: Request, external_id: str) -> Response:
        end_user = _end_user(request, external_id)
        serializer = s.ConnectionInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        connection = services.connection_create(
            end_user=end_user, **serializer.validated_data
        )
        return Response(
            s.ConnectionSerializer(connection).data, status=status.HTTP_201_CREATED
        )


class ConnectionDetailApi(APIView):
    @extend_schema(responses={204: None})
    def delete(self, request: Request, external_id: str, connection_id: int):
        connection = _or_404(
            selectors.connection_get(
                end_user=_end_user(request, external_id), connection_id=connection_id
            ),
            f"End user {external_id!r} has no connection {connection_id}.",
            "connection_not_found",
        )
        services.connection_delete(connection=connection)
        return Response(status=status.HTTP_204_NO_CONTENT)


USER_PARAMETER = OpenApiParameter(
    "user",
    str,
    description="An end user's id: adds their installation to each integration.",
)


@extend_schema(parameters=[USER_PARAMETER])
class IntegrationListApi(generics.ListAPIView):
    serializer_class = s.IntegrationSerializer

    def get_queryset(self):
        return selectors.integration_list(workspace=self.request.auth.workspace)

    def get_serializer_context(self) -> dict:
        return {"installations": self._installations(self.request)}

    @staticmethod
    def _installations(request: Request) -> dict[int, Installation]:
        external_id = request.query_params.get("user")
        if external_id is None:
            return {}
        end_user = _end_user(request, external_id)
        installations = selectors.installation_filter(
            workspace=request.auth.workspace, external_id=end_user.external_id
        )
        return {
            installation.integration_id: installation for installation in installations
        }


class IntegrationDetailApi(APIView):
    @extend_schema(
        parameters=[USER_PARAMETER],
        responses=s.IntegrationSerializer,
        operation_id="integrations_get",
    )
    def get(self, request: Request, integration_id: int) -> Response:
        context = {"installations": IntegrationListApi._installations(request)}
        integration = _integration(request, integration_id)
        return Response(s.IntegrationSerializer(integration, context=context).data)

    @extend_schema(
        request=s.IntegrationUpdateSerializer, responses=s.IntegrationSerializer
    )
    def patch(self, request: Request, integration_id: int) -> Response:
        """Set how new publications reach installations."""
        integration = _integration(request, integration_id)
        serializer = s.IntegrationUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.integration_version_policy_set(
            integration=integration, **serializer.validated_data
        )
        return Response(s.IntegrationSerializer(integration).data)


class IntegrationUpgradeApi(APIView):
    @extend_schema(
        request=s.IntegrationUpgradeSerializer,
        responses=s.IntegrationUpgradeResultSerializer,
    )
    def post(self, request: Request, integration_id: int) -> Response:
        """Upgrade all installations, or those listed, to the published versions."""
        integration = _integration(request, integration_id)
        serializer = s.IntegrationUpgradeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        outcomes = installed_versions.integration_upgrade(
            integration=integration,
            installation_ids=serializer.validated_data.get("installations"),
        )
        results = [
            {
                "installation": installation.pk,
                "upgraded": error is None,
                "error": None
                if error is None
                else {"code": error.code, "message": error.message},
            }
            for installation, error in outcomes
        ]
        return Response({"results": results})


class InstallationListApi(generics.ListAPIView):
    serializer_class = s.InstallationSerializer

    def get_queryset(self):
        params = self.request.query_params
        user = params.get("user")
        if user is not None and not is_external_id(user):
            raise ValidationError({"user": EXTERNAL_ID_RULE})
        return selectors.installation_filter(
            workspace=self.request.auth.workspace,
            external_id=user,
            integration_id=_positive_int(params.get("integration"), "integration"),
        )

    @extend_schema(
        parameters=[
            OpenApiParameter("user", str, description="Only this end user's."),
            OpenApiParameter("integration", int, description="Only this one's."),
        ]
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=s.InstallationInputSerializer,
        responses={201: s.InstallationSerializer, 200: s.InstallationSerializer},
    )
    def post(self, request: Request) -> Response:
        """Install an integration for an end user with one of their connections."""
        serializer = s.InstallationInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        body = serializer.validated_data
        end_user = _end_user(request, body["user"])
        integration = _integration(request, body["integration"])
        connection = selectors.connection_get(
            end_user=end_user, connection_id=body["connection"]
        )
        if connection is None:
            raise NotFoundError(
                f"End user {end_user.external_id!r} has no connection "
                f"{body['connection']}.",
                code="connection_not_found",
                fields=[{"path": "$.connection", "message": "Unknown connection."}],
            )
        existed = selectors.installation_filter(
            workspace=request.auth.workspace,
            external_id=end_user.external_id,
            integration_id=integration.pk,
        ).exists()
        installation = services.installation_create(
            end_user=end_user, integration=integration, connection=connection
        )
        installation = _installation(request, installation.pk)
        return Response(
            s.InstallationSerializer(installation).data,
            status=status.HTTP_200_OK if existed else status.HTTP_201_CREATED,
        )


class InstallationDetailApi(APIView):
    @extend_schema(responses=s.InstallationSerializer, operation_id="installations_get")
    def get(self, request: Request, installation_id: int) -> Response:
        installation = _installation(request, installation_id)
        return Response(s.InstallationSerializer(installation).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, installation_id: int) -> Response:
        """Uninstall, and remove the webhook subscriptions nothing else needs."""
        services.installation_delete(
            installation=_installation(request, installation_id)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class InstallationUpgradeApi(APIView):
    @extend_schema(
        request=s.InstallationUpgradeSerializer, responses=s.InstallationSerializer
    )
    def post(self, request: Request, installation_id: int) -> Response:
        """Move the installation to the published version of its workflows."""
        installation = _installation(request, installation_id)
        serializer = s.InstallationUpgradeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        installed_versions.installation_upgrade(
            installation=installation,
            workflow_ids=serializer.validated_data.get("workflows"),
        )
        installation = _installation(request, installation_id)
        return Response(s.InstallationSerializer(installation).data)


class WorkspaceApi(APIView):
    @extend_schema(responses=s.WorkspaceSerializer)
    def get(self, request: Request) -> Response:
        return Response(s.WorkspaceSerializer(request.auth.workspace).data)

    @extend_schema(request=s.WorkspaceSerializer, responses=s.WorkspaceSerializer)
    def patch(self, request: Request) -> Response:
        """Set the error webhook, which is notified, signed, when a run fails."""
        serializer = s.WorkspaceSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        workspace = request.auth.workspace
        if "error_webhook_url" in serializer.validated_data:
            workspace = services.workspace_error_webhook_set(
                workspace=workspace,
                url=serializer.validated_data["error_webhook_url"],
            )
        return Response(s.WorkspaceSerializer(workspace).data)


def _positive_int(value: str | None, name: str) -> int | None:
    if value is None:
        return None
    if not value.isdigit() or int(value) < 1 or len(value) > 18:
        raise ValidationError({name: f"{value[:50]!r} is not a positive integer id."})
    return int(value)
