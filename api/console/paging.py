"""Paging links for the console's lists. The API's cursors go forward only, so each "Next page" link
carries the trail of cursors that led to it (`back`: comma-separated, the newest last, at most
TRAIL_MAX), and "Previous page" goes to the trail's last entry with the rest of the trail. Nothing is
kept on the server: a bookmarked page keeps its way back. A trail that is not one these links made
(too long, other characters) is ignored: the page shows, without a way back."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .web import Desk, query_string

TRAIL_MAX = 20  # pages remembered behind the current one
FIRST = "~"  # the first page's place in a trail (it has no cursor); not a base64url character
_TRAIL = re.compile(r"[A-Za-z0-9_\-~]+(,[A-Za-z0-9_\-~]+)*")
_TRAIL_CHARS_MAX = 4096


def paging(desk: Desk, filters: Mapping[str, Any], cursor: str | None, next_cursor: str | None, *,
           name: str = "cursor") -> dict[str, Any]:
    """`next_query`, `previous_query` (None where there is no such page) and `paged` (not the first page),
    for the `pager` macro: query strings keeping `filters`, the cursor in the parameter `name`."""
    back = desk.request.query_params.get("back", "")
    trail = back.split(",") if len(back) <= _TRAIL_CHARS_MAX and _TRAIL.fullmatch(back) else []
    here = cursor or None
    next_query = previous_query = None
    if next_cursor:
        next_query = query_string({**filters, name: next_cursor, "back": ",".join([*trail, here or FIRST][-TRAIL_MAX:])})
    if here and trail:
        before = trail[-1]
        previous_query = query_string({**filters, name: None if before == FIRST else before,
                                       "back": ",".join(trail[:-1])})
    return {"next_query": next_query, "previous_query": previous_query, "paged": here is not None}
