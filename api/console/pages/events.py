"""/console/events: the event log for auditors, filtered by aggregate (its id) and by type, each event's
data readable; where the views stand against the log, and the last recorded `fundcenter replay` and
`fundcenter audit verify` runs (projections/verify_runs.py): they are run from the command line, not here."""

from __future__ import annotations

from typing import Annotated, Any

from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic

from ledger.domain.access import Permission as P

from ...service.reports import Reports
from .. import inputs
from ..paging import paging
from ..web import Desk, needs, page_router

router = page_router("/console/events")
Auditor = Annotated[Desk, needs(P.EVENTS_READ)]
PAGE_EVENTS = 50
POSITION_MAX = 2**63 - 1
VERIFY_COMMANDS = {"replay": "fundcenter replay", "audit": "fundcenter audit verify"}  # run from the command line


def event_topics() -> list[str]:
    """The topics of the ledger's event classes (not the abstract bases), sorted."""
    found: set[str] = set()
    stack: list[type] = [Aggregate.Event]
    while stack:
        sub: type
        for sub in stack.pop().__subclasses__():
            stack.append(sub)
            if sub.__module__.startswith("ledger") and sub.__name__ != "Event":
                found.add(get_topic(sub))
    return sorted(found, key=lambda topic: topic.split(":")[-1])


@router.get("")
def event_log(desk: Auditor, after: int = 0, type: str | None = None, aggregate: str | None = None):
    topics = event_topics()
    topic = inputs.choice(type, topics, "type")
    originator = inputs.uuid(aggregate, "aggregate")
    if not 0 <= after <= POSITION_MAX:
        after = 0
    reports = desk.service(Reports)
    pages: dict[str, Any] = {"next_query": None, "previous_query": None, "paged": False}
    if originator is not None:
        events = [e for e in reports.aggregate_events(originator, PAGE_EVENTS * 20) if topic in (None, e["topic"])]
    else:
        page = reports.events(after, PAGE_EVENTS, [topic] if topic else None)
        events = page["events"]
        following = None if page["next_after"] is None else str(page["next_after"])
        pages = paging(desk, {"type": topic}, str(after) if after else None, following, name="after")
    runner = desk.services.runner
    views = {"head": desk.services.ledger.head(), "position": runner.position, "following": runner.following,
             "error": runner.state()["error"]}
    verifications = [{"kind": kind, "command": VERIFY_COMMANDS[kind], "run": run}
                     for kind, run in reports.last_verifications(views["head"]).items()]
    return desk.render("events/log.html", events=events, topics=topics, topic=topic, aggregate=inputs.blank(aggregate),
                       after=after, views=views, verifications=verifications, **pages)
