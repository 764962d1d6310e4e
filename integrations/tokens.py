"""Short-lived signed end-user tokens, which open the connect page.

A token is Django's signed, timestamped encoding of the workspace and end-user
ids, keyed with ``SECRET_KEY``. It cannot be altered without the key, and it
expires ``TOKEN_MAX_AGE_SECONDS`` after it was made.
"""

import datetime

from django.core import signing
from django.utils import timezone

from integrations.exceptions import InvalidTokenError
from integrations.models import EndUser

TOKEN_SALT = "alloy.integrations.end-user-token"  # noqa: S105 - a salt, public
TOKEN_MAX_AGE_SECONDS = 30 * 60


def end_user_token_create(*, end_user: EndUser) -> tuple[str, datetime.datetime]:
    """Return a token for the end user and the time it expires."""
    token = signing.TimestampSigner(salt=TOKEN_SALT).sign_object(
        {"workspace": end_user.workspace_id, "end_user": end_user.pk}
    )
    expires_at = timezone.now() + datetime.timedelta(seconds=TOKEN_MAX_AGE_SECONDS)
    return token, expires_at


def end_user_token_check(token: str) -> EndUser:
    """Return the end user a token was made for.

    Raises InvalidTokenError when the token is expired, altered or names an
    end user that was deleted since.
    """
    signer = signing.TimestampSigner(salt=TOKEN_SALT)
    try:
        claims = signer.unsign_object(token, max_age=TOKEN_MAX_AGE_SECONDS)
    except signing.SignatureExpired as exc:
        raise InvalidTokenError(
            "The end-user token has expired; tokens last "
            f"{TOKEN_MAX_AGE_SECONDS // 60} minutes. Ask the app for a new one.",
            code="token_expired",
        ) from exc
    except (signing.BadSignature, ValueError, TypeError) as exc:
        raise InvalidTokenError(
            "The end-user token is invalid: it was altered or not made by this "
            "server. Ask the app for a new one.",
            code="token_invalid",
        ) from exc
    end_user = (
        EndUser.objects.select_related("workspace")
        .filter(pk=claims.get("end_user"), workspace_id=claims.get("workspace"))
        .first()
        if isinstance(claims, dict)
        else None
    )
    if end_user is None:
        raise InvalidTokenError(
            "The end user of this token no longer exists.", code="token_invalid"
        )
    return end_user
