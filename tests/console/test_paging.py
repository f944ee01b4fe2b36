"""The console's paging links (api/console/paging.py): forward by the API's cursors, back by the trail
each link carries."""

from types import SimpleNamespace
from urllib.parse import parse_qs

from api.console.paging import TRAIL_MAX, paging


def page(back=None, cursor=None, next_cursor=None, filters=None):
    query = {} if back is None else {"back": back}
    desk = SimpleNamespace(request=SimpleNamespace(query_params=query))
    return paging(desk, filters or {"kind": "member"}, cursor, next_cursor)


def follow(query):
    """(back, cursor) of a link's query string."""
    q = parse_qs(query)
    return q.get("back", [None])[0], q.get("cursor", [None])[0]


def test_three_pages_forward_then_back_to_the_first():
    first = page(next_cursor="c2")
    assert first["previous_query"] is None and not first["paged"]
    back, cursor = follow(first["next_query"])
    assert (back, cursor) == ("~", "c2") and "kind=member" in first["next_query"]
    second = page(back, cursor, next_cursor="c3")
    back3, cursor3 = follow(second["next_query"])
    third = page(back3, cursor3)
    assert third["next_query"] is None and third["paged"]
    back2, cursor2 = follow(third["previous_query"])
    assert (back2, cursor2) == (back, "c2")
    assert follow(page(back2, cursor2, next_cursor="c3")["previous_query"]) == (None, None)  # the first page: no cursor
    assert page(back2, cursor2)["previous_query"] == "kind=member"


def test_the_trail_is_bounded_and_a_foreign_one_is_ignored():
    long_trail = ",".join(f"c{i}" for i in range(50))
    back, _ = follow(page(long_trail, "c50", next_cursor="c51")["next_query"])
    assert back.split(",") == [f"c{i}" for i in range(31, 51)] and len(back.split(",")) == TRAIL_MAX
    for foreign in ("<script>", "a,,b", "x" * 5000):
        assert page(foreign, "c9", next_cursor="c10")["previous_query"] is None
