"""The console in a real browser: `fundcenter serve` on a free port (SQLite), Debian's chromium, headless.

One server and one browser for the whole session (starting them is the slow part); each
test gets a fresh browser context (its own cookies) through the `console` fixture, which
saves a screenshot of every page the test looks at (`tests/artifacts/console/`, not kept
in git) and, at the end, asserts that no request left the app's origin.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as dt_time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from ledger.domain.fees import FeeRule
from ledger.domain.methods import METHODS
from tests.config import api_keys, settings_for
from tests.serving import Server, request
from tests.shop import CARD, ID_NUMBER, PHONE

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "console"
STAFF = ("admin", "operator", "finance", "auditor")
SERVE_START_S_MAX = 60
CONSOLE_SESSION_S_MAX = 600  # the console's tests take about a minute; none may straddle a UTC midnight


@dataclass
class Served:
    base: str
    keys: dict[str, str]  # holder -> API key: one per staff role, and business mall's ("mall")
    calls: int = 0
    catalogued: bool = False
    position: int = 0  # the log position of the scene's latest change

    def raw(self, method: str, path: str, who: str = "admin", body: Any = None) -> tuple[int, Any]:
        """Call the HTTP API; a POST gets a fresh Idempotency-Key: (status, answer)."""
        self.calls += 1
        status, answer = request(self.base, method, path, self.keys[who], body,
                                 key=f"scene-{self.calls}-{time.monotonic_ns()}" if method == "POST" else None)
        for item in answer if isinstance(answer, list) else [answer]:
            found = item.get("position") if isinstance(item, dict) else None
            if isinstance(found, int) and status < 300:
                self.position = max(self.position, found)
        return status, answer

    def settle(self) -> None:
        """Wait until the read models include every change the scene made (read-your-writes)."""
        if self.position:
            self.api("GET", f"/v1/transactions?limit=1&min_position={self.position}")

    def api(self, method: str, path: str, who: str = "admin", body: Any = None) -> Any:
        """Call the HTTP API (to set the scene), asserting success."""
        status, answer = self.raw(method, path, who, body)
        assert status < 300, (status, answer)
        return answer

    def open_account(self, ref: str, funds_minor: int = 0, who: str = "mall", kind: str = "member") -> dict[str, Any]:
        account = self.api("POST", "/v1/accounts", who, {"kind": kind, "external_ref": ref, "currency": "CNY", "name": ref})
        if funds_minor:
            self.api("POST", "/v1/admin/adjustments", "admin", {"account": account["id"], "amount": funds_minor,
                                                               "currency": "CNY", "direction": "credit", "reason": "seed"})
        return account


    def catalog(self) -> None:
        """Banks icbc and ccb, channels unionpay and alipay (every method, both banks), and business mall's
        routes (unionpay first, then alipay) for every method: once per session."""
        if self.catalogued:
            return
        self.catalogued = True
        for code, name in (("icbc", "ICBC"), ("ccb", "CCB")):
            self.api("POST", "/v1/admin/banks", "operator", {"code": code, "name": name})
        for code in ("unionpay", "alipay"):
            self.api("POST", "/v1/admin/channels", "operator", {"code": code, "name": code.title(), "logo_url": f"https://example.com/{code}.png"})
            for method in METHODS:
                self.api("POST", f"/v1/admin/channels/{code}/products/{method}", "operator",
                         {"fee": FeeRule(rate_bps=60).as_dict(), "banks": {"icbc": {"enabled": True}, "ccb": {"enabled": True}}})
        for method in METHODS:
            self.api("POST", "/v1/admin/routes", "operator", {"business_id": "mall", "method": method, "channels": [
                {"channel": "unionpay", "priority": 1}, {"channel": "alipay", "priority": 2}]})

    def bind(self, account_id: str) -> dict[str, Any]:
        self.catalog()
        return self.api("POST", "/v1/bindings", "mall", {"account": account_id, "bank": "icbc", "holder_name": "张三",
                                                         "id_number": ID_NUMBER, "card_number": CARD, "phone": PHONE})


def clear_of_midnight() -> None:
    """The served app books on the wall clock (a real `serve`: no test clock), and some scenes read
    "today" from it (a channel's day, today's activity). A session that began in the last minutes of
    a UTC day (the tests' accounting day) would straddle two: it waits for the next day instead. The
    clock decides only when the session starts, never what a test asserts."""
    now = datetime.now(UTC)
    left_s = (datetime.combine(now.date() + timedelta(days=1), dt_time(), UTC) - now).total_seconds()
    if left_s < CONSOLE_SESSION_S_MAX:
        time.sleep(left_s + 1)


@contextmanager
def serving(folder: Path, env: dict[str, str]) -> Iterator[Served]:
    """`fundcenter serve` on a fresh SQLite database in `folder`, with a key per staff role ("admin2": a
    second admin, another holder) and business mall's, until the block ends."""
    clear_of_midnight()
    url = f"sqlite:///{folder}/fundcenter.db"
    keys = api_keys(settings_for(url), [(role, role, None) for role in STAFF]
                    + [("admin2", "admin", None), ("mall", "business", "mall")])
    with Server(url, env=env, log=folder / "serve.log", start_s=SERVE_START_S_MAX) as server:
        yield Served(server.base, keys)


# As in the other tests' settings (tests/config.py), nothing waits for four-eyes approval here...
POLICY_OFF = json.dumps({"adjustment_above": None, "reconciliation_actions": [], "channel_close": False,
                         "route_change": False, "limit_change": False, "role_grant": False})


@pytest.fixture(scope="session")
def console_server(tmp_path_factory) -> Iterator[Served]:
    with serving(tmp_path_factory.mktemp("console"), {"FUNDCENTER_APPROVAL_POLICY": POLICY_OFF}) as served:
        yield served


@pytest.fixture(scope="session")
def four_eyes_server(tmp_path_factory) -> Iterator[Served]:
    """... and here the default policy holds what it holds (a role grant, a route, a channel's closing...)."""
    with serving(tmp_path_factory.mktemp("four-eyes"), {"FUNDCENTER_APPROVAL_POLICY": ""}) as served:
        yield served


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (as .ci/run does)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield launched
        launched.close()


@dataclass
class Console:
    """One person at the console in their own browser context."""

    page: Page
    served: Served
    name: str
    shots: int = 0
    requests: list[str] = field(default_factory=list)

    @property
    def base(self) -> str:
        return self.served.base

    def shot(self, label: str) -> Path:
        """Save a screenshot of the page as it is now."""
        self.shots += 1
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{self.name}-{self.shots:02d}-{label}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def goto(self, path: str, label: str | None = None) -> Page:
        self.served.settle()
        self.page.goto(self.base + path)
        self.shot(label or (path.strip("/").replace("/", "-") or "root"))
        return self.page

    def login(self, who: str) -> Page:
        self.served.settle()
        self.page.goto(self.base + "/console/login")
        self.page.fill("input[name=api_key]", self.served.keys[who])
        self.page.click("form[action='/console/login'] button[type=submit]")
        self.page.wait_for_load_state()
        self.shot(f"logged-in-{who}")
        return self.page

    def navigation(self) -> list[str]:
        return [text.strip() for text in self.page.locator("#navigation a").all_inner_texts()]

    def flash(self) -> str:
        return " ".join(self.page.locator(".flash").all_inner_texts())


def _console(served: Served, browser: Browser, request: pytest.FixtureRequest) -> Iterator[Console]:
    context = browser.new_context()
    page = context.new_page()
    seen = Console(page, served, re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name))
    page.on("request", lambda r: seen.requests.append(r.url))
    try:
        yield seen
    finally:
        context.close()
    outside = [url for url in seen.requests if not url.startswith(served.base + "/")]
    assert not outside, f"requests outside the app's origin: {outside}"


@pytest.fixture
def console(console_server: Served, browser: Browser, request: pytest.FixtureRequest) -> Iterator[Console]:
    """A person at the console of the shared server, in a browser context of their own."""
    yield from _console(console_server, browser, request)


@pytest.fixture
def four_eyes_console(four_eyes_server: Served, browser: Browser, request: pytest.FixtureRequest) -> Iterator[Console]:
    """The same, at a server with the default four-eyes policy."""
    yield from _console(four_eyes_server, browser, request)


# -- the app in process, on SQLite and PostgreSQL (store_url), for what the browser tests do not vary ---------

FIELD = re.compile(r'name="(csrf_token|idempotency_key)" value="([^"]+)"')


@dataclass
class Clerk:
    """A staff member at the console through the app's test client (HTTPS: production cookies are Secure)."""

    client: Any
    keys: dict[str, str]
    api: Any  # tests.api_client.Api on the same client, for the scene
    page: Any = None  # the last response

    def get(self, path: str, **kwargs: Any) -> Any:
        self.page = self.client.get(path, **kwargs)
        return self.page

    def post(self, path: str, data: dict[str, str], csrf: bool = True, **kwargs: Any) -> Any:
        """Submit a form of the last page: with its CSRF token and a fresh form's Idempotency-Key."""
        fields = dict(FIELD.findall(self.page.text)) if self.page is not None else {}
        form = {**({"csrf_token": fields.get("csrf_token", "")} if csrf else {}),
                "idempotency_key": fields.get("idempotency_key", "k1"), **data}
        self.page = self.client.post(path, data=form, **kwargs)
        return self.page

    def login(self, who: str) -> Any:
        self.get("/console/login")
        return self.post("/console/login", {"api_key": self.keys[who]})

    def text(self) -> str:
        return " ".join(re.sub(r"<[^>]+>", " ", self.page.text).split())

    def settle(self, position: int) -> None:
        """Wait until the read models include `position` (what the scene just did)."""
        assert self.api.get(f"/v1/transactions?limit=1&min_position={position}", who="admin").status_code == 200


@pytest.fixture
def clerk(store_url) -> Iterator[Clerk]:
    from fastapi.testclient import TestClient

    from api.app import create_app
    from tests.api_client import Api

    settings = settings_for(store_url)
    keys = api_keys(settings, [(role, role, None) for role in STAFF] + [("mall", "business", "mall")])
    with TestClient(create_app(settings=settings), base_url="https://testserver") as client:
        yield Clerk(client, keys, Api(client, keys))
