"""/console/reports (finance, auditors 报表): the trial balance at an instant (with its CSV), and
suspense, pending reconciliation versus reconciled per channel and day, as a table and a chart of
what is pending over the days (inline SVG drawn here, on the server: no script, nothing from a CDN).
Needs reports:read, as the API's reports do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Query
from fastapi.responses import StreamingResponse

from ledger.domain.access import Permission
from ledger.domain.errors import ValidationError
from ledger.domain.inputs import check_moment

from ...downloads import csv_download
from ...service.reports import SUSPENSE_DAYS_DEFAULT, SUSPENSE_DAYS_MAX, Reports
from ..money import money
from ..web import Desk, needs, page_router, query_string

router = page_router("/console/reports")
Reader = Annotated[Desk, needs(Permission.REPORTS_READ)]
Days = Annotated[int, Query(ge=1, le=SUSPENSE_DAYS_MAX)]
COLOURS = ("#1f5fa8", "#c2410c", "#217a3c", "#7c3aed", "#b42318", "#0e7490")  # one per channel and currency, in turn
WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 760, 240, 120, 12, 12, 28  # the chart's box and margins, in SVG units


@router.get("")
def reports(desk: Reader, as_of: Annotated[str, Query(max_length=64)] = "", include_zero: bool = False,
            days: Days = SUSPENSE_DAYS_DEFAULT, last: Annotated[str, Query(max_length=10)] = "",
            channel: Annotated[str, Query(max_length=64)] = ""):
    api = desk.service(Reports)
    moment = _moment(as_of)
    trial = api.trial_balance_summary(moment)
    over = api.suspense_over(days, last or None, channel or None)
    csv_link = "/console/reports/trial-balance.csv?" + query_string({"as_of": as_of, "include_zero": include_zero or None})
    return desk.render("reports/reports.html", trial=trial, over=over, charts=charts(over), csv_link=csv_link,
                       asked={"as_of": as_of, "include_zero": include_zero, "days": days, "last": last, "channel": channel})


@router.get("/trial-balance.csv", response_class=StreamingResponse)
def trial_balance_csv(desk: Reader, as_of: Annotated[str, Query(max_length=64)] = "", include_zero: bool = False):
    return csv_download(desk.service(Reports).trial_balance_csv(_moment(as_of), include_zero, None), "trial-balance.csv")


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    colour: str
    label: str


@dataclass(frozen=True)
class Chart:
    currency: str
    bars: list[Bar]
    legend: list[tuple[str, str]]  # (colour, channel)
    zero_y: float
    ticks: list[tuple[float, str]]  # (y, amount)
    days: list[tuple[float, str]]  # (x, MM-DD)
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT


def charts(over: dict[str, Any]) -> list[Chart]:
    """One bar chart per currency of what is pending each day, a bar per channel: the geometry only
    (none for a currency with nothing pending on any of the days)."""
    by_currency: dict[str, list[dict[str, Any]]] = {}
    for line in over["series"]:
        by_currency.setdefault(line["currency"], []).append(line)
    days = over["days"]
    made = []
    for currency, lines in sorted(by_currency.items()):
        values = [v for line in lines for v in line["pending"]]
        if not any(values):
            continue  # nothing pending in these days: no chart to draw
        high, low = max(0, *values), min(0, *values)
        span = (high - low) or 1
        plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

        def y(value: int, low: int = low, span: int = span, plot_h: int = plot_h) -> float:
            return TOP + plot_h * (1 - (value - low) / span)

        slot = plot_w / len(days)
        width = slot * 0.8 / len(lines)
        bars = []
        for n, line in enumerate(lines):
            colour = COLOURS[n % len(COLOURS)]
            for d, value in enumerate(line["pending"]):
                if value:
                    top, bottom = sorted((y(value), y(0)))
                    bars.append(Bar(round(LEFT + d * slot + slot * 0.1 + n * width, 2), round(top, 2), round(width, 2),
                                    round(max(bottom - top, 1), 2), colour,
                                    f"{line['channel']} {days[d]}: {money(value, currency)} pending"))
        every = max(1, len(days) // 10)  # at most about ten day labels
        made.append(Chart(
            currency, bars, [(COLOURS[n % len(COLOURS)], line["channel"]) for n, line in enumerate(lines)],
            round(y(0), 2), [(round(y(v), 2), money(v, currency)) for v in sorted({high, low, 0})],
            [(round(LEFT + d * slot + slot / 2, 2), day[5:]) for d, day in enumerate(days) if d % every == 0],
        ))
    return made


def _moment(text: str) -> datetime | None:
    if not text.strip():
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValidationError(f"as of must be an instant such as 2026-11-25T18:00:00+08:00, got {text[:40]!r}") from None
    return check_moment(moment, "as of")
