"""Relay-style connections of the Shopify sandbox: pages, cursors and page info."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from graphql import GraphQLError

# Shopify's page size limit for connections.
MAX_PAGE_SIZE = 250


def encode_cursor(resource_id: int) -> str:
    """Return an opaque cursor in Shopify's form, base64 of a small JSON object."""
    payload = json.dumps({"last_id": resource_id, "last_value": str(resource_id)})
    return base64.b64encode(payload.encode("utf-8")).decode("ascii")


def decode_cursor(cursor: str) -> int:
    try:
        payload = json.loads(base64.b64decode(cursor, validate=True))
        return int(payload["last_id"])
    except (binascii.Error, ValueError, KeyError, TypeError) as error:
        raise GraphQLError(f"Invalid cursor '{cursor}'") from error


def build_connection(
    items: list[dict[str, Any]],
    first: int,
    after: str | None = None,
    reverse: bool = False,
) -> dict[str, Any]:
    """Return one page of ``items``, ordered by id, as a connection object.

    Ids only grow, so ``after`` selects the items past the cursor's id even if the
    item it names was deleted.
    """
    if first < 0:
        raise GraphQLError(f"Argument 'first' must not be negative, got {first}")
    if first > MAX_PAGE_SIZE:
        # NOTE: the limit is Shopify's, the message wording is the sandbox's.
        raise GraphQLError(
            f"Argument 'first' must be at most {MAX_PAGE_SIZE}, got {first}"
        )
    ordered = sorted(items, key=lambda item: item["id"], reverse=reverse)
    start = 0
    if after is not None:
        after_id = decode_cursor(after)
        start = next(
            (
                index
                for index, item in enumerate(ordered)
                if (item["id"] < after_id if reverse else item["id"] > after_id)
            ),
            len(ordered),
        )
    page = ordered[start : start + first]
    edges = [{"cursor": encode_cursor(item["id"]), "node": item} for item in page]
    return {
        "nodes": page,
        "edges": edges,
        "pageInfo": {
            "hasNextPage": start + len(page) < len(ordered),
            "hasPreviousPage": start > 0,
            "startCursor": edges[0]["cursor"] if edges else None,
            "endCursor": edges[-1]["cursor"] if edges else None,
        },
    }
