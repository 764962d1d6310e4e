"""DRF authentication by workspace API key: ``Authorization: Bearer <key>``."""

from rest_framework import authentication, exceptions

from integrations.selectors import api_key_authenticate


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """Set ``request.auth`` to the ApiKey; ``request.user`` stays anonymous.

    Views read the workspace from ``request.auth.workspace``.
    """

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode(
            "latin-1", "replace"
        )
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != self.keyword.lower() or not token.strip():
            raise exceptions.AuthenticationFailed(
                "Send the API key as 'Authorization: Bearer <key>'."
            )
        key = api_key_authenticate(token.strip())
        if key is None:
            raise exceptions.AuthenticationFailed(
                "The API key is invalid or revoked; send an active key of the "
                "workspace."
            )
        return (_WorkspaceUser(key), key)

    def authenticate_header(self, request) -> str:
        return self.keyword


class _WorkspaceUser:
    """The caller behind an API key, authenticated but not a Django user."""

    is_authenticated = True
    is_anonymous = False
    is_active = True

    def __init__(self, key) -> None:
        self.api_key = key
        self.workspace = key.workspace
        self.pk = None

    def __str__(self) -> str:
        return f"API key {self.api_key.prefix}"
