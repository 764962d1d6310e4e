"""Checks of identifiers that callers send."""

import re

# The author's own id of an end user: printable ASCII without spaces, and
# without the characters that mean something in a URL path, since it is one.
_PRINTABLE_ASCII = re.compile(r"^[\x21-\x7e]{1,255}$")
_URL_SPECIAL = re.compile(r"[/?#%\\]")
EXTERNAL_ID_RULE = (
    "Use 1 to 255 printable ASCII characters without spaces, '/', '?', '#', "
    "'%' or '\\'."
)


def is_external_id(value: str) -> bool:
    return bool(_PRINTABLE_ASCII.match(value)) and not _URL_SPECIAL.search(value)
