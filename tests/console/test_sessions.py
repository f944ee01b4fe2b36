"""The console's sessions, kept in the database: expiry (idle and total) by the injected clock, logging
out a key's sessions, a bounded size, only a hash of the id stored; and sessions that every process on
the database honours: two app instances on one PostgreSQL database, and a real `serve --workers 2`."""

import hashlib
import http.client
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.bootstrap import bootstrap
from api.console import sessions as store_module
from api.console.sessions import IDLE_MAX_S, LIFETIME_MAX_S, SessionStore
from ledger.domain.access import Principal, Role
from tests.config import api_keys, settings_for
from tests.serving import Server, create_keys, fundcenter_command

START = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
COOKIE = "fundcenter_console"


class Ticking:
    """The injected clock: it moves only when the test moves it."""

    def __init__(self):
        self.now = START

    def __call__(self):
        return self.now

    def step(self, seconds):
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def views(store_url):
    """The views' database on SQLite and on PostgreSQL (the sessions' table is in it)."""
    with bootstrap(settings_for(store_url)) as system:
        yield system.views


@pytest.fixture
def clock():
    return Ticking()


@pytest.fixture
def store(views, clock):
    return SessionStore(views, clock)


def principal(role=Role.FINANCE):
    return Principal(uuid4(), role, None)


def alive(store, session):
    """The session as the store has it now (None once it ended), checked to be that session."""
    found = store.get(session.id)
    if found is not None:
        assert (found.id, found.csrf_token, found.who, found.key_name) == (
            session.id, session.csrf_token, session.who, session.key_name)
    return found


def test_a_session_ends_when_idle_too_long_and_after_its_lifetime_however_busy(store, clock):
    idle = store.start(principal())
    busy = store.start(principal())
    clock.step(IDLE_MAX_S - 1)
    assert alive(store, busy)
    clock.step(2)
    assert alive(store, idle) is None and alive(store, busy)  # busy was used within the idle limit
    while clock.now < START + timedelta(seconds=LIFETIME_MAX_S):
        assert alive(store, busy)
        clock.step(IDLE_MAX_S / 2)
    assert alive(store, busy) is None


def test_ids_and_tokens_are_random_and_the_csrf_check_is_exact(store):
    first, second = store.start(), store.start()
    assert first.id != second.id and first.csrf_token != second.csrf_token and len(first.id) >= 40
    assert first.csrf_matches(first.csrf_token) and not first.csrf_matches(second.csrf_token)
    assert not first.csrf_matches("") and not first.csrf_matches(None)
    assert store.get(None) is None and store.get("") is None and store.get("nope") is None
    assert store.get("x" * 10_000) is None


def test_only_a_hash_of_the_session_id_is_stored(store, views):
    who = principal(Role.AUDITOR)
    session = store.start(who, "audit desk")
    rows = views.query("SELECT * FROM console_sessions")
    assert [row["id"] for row in rows] == [hashlib.sha256(session.id.encode()).hexdigest()]
    assert session.id not in repr(rows)
    assert (rows[0]["key_id"], rows[0]["role"], rows[0]["key_name"]) == (str(who.key_id), "auditor", "audit desk")
    assert rows[0]["expires_at"] == "2026-11-25T10:30:00.000000Z"  # idle limit, by the injected clock


def test_a_keys_sessions_all_end_together(store):
    who = principal()
    mine = [store.start(who), store.start(who)]
    other = store.start(principal())
    store.end_key(who.key_id)
    assert [alive(store, s) for s in mine] == [None, None] and alive(store, other)


def test_when_full_the_oldest_not_logged_in_goes_first(monkeypatch, store, clock):
    monkeypatch.setattr(store_module, "SESSIONS_MAX", 3)
    logged_in = store.start(principal())
    clock.step(1)
    strangers = [store.start(), store.start()]
    clock.step(1)
    newest = store.start()
    assert alive(store, logged_in) and alive(store, strangers[0]) is None
    assert alive(store, strangers[1]) and alive(store, newest)


def test_messages_are_shown_once_and_bounded(store):
    session = store.start(principal())
    for n in range(8):
        session.flash("ok", f"done {n}")
    assert session.take_flashes() == [("ok", f"done {n}") for n in range(3, 8)]
    assert session.take_flashes() == []


def test_another_store_on_the_database_sees_the_session_its_messages_and_its_end(views, store, clock):
    """What another process sees: a message flashed by one is shown once by the other; a logout is everywhere."""
    elsewhere = SessionStore(views, clock)
    session = store.start(principal(), "finance desk")
    session.flash("ok", "Day closed. 日结完成")
    there = alive(elsewhere, session)
    assert there.take_flashes() == [("ok", "Day closed. 日结完成")] and alive(store, session).take_flashes() == []
    elsewhere.regrant(there, Principal(there.who.key_id, Role.AUDITOR, None))
    assert alive(store, there).who.role == Role.AUDITOR
    elsewhere.end(session.id)
    assert alive(store, session) is None


# -- two app instances on one PostgreSQL database ---------------------------------------------------------


def csrf_of(html):
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def log_in(app, key):
    """Log in at `app` through the login form, as a browser does: the session id (the cookie)."""
    form = app.get("/console/login")
    assert form.status_code == 200
    anonymous = form.cookies[COOKIE]
    answer = app.post("/console/login", data={"api_key": key, "csrf_token": csrf_of(form.text), "next": "/console"},
                      headers={"Cookie": f"{COOKIE}={anonymous}"}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return answer.cookies[COOKIE]


def home(app, session_id):
    return app.get("/console", headers={"Cookie": f"{COOKIE}={session_id}"}, follow_redirects=False)


def test_a_session_made_by_one_app_instance_is_honoured_by_another(pg_url):
    settings = settings_for(pg_url)
    keys = api_keys(settings, [("ops", "operator", None), ("admin", "admin", None)])
    with TestClient(create_app(settings=settings), base_url="https://testserver") as one, \
            TestClient(create_app(settings=settings_for(pg_url)), base_url="https://testserver") as two:
        session_id = log_in(one, keys["ops"])
        assert home(two, session_id).status_code == 200 and "ops" in home(two, session_id).text

        # A form drawn by one instance is accepted by the other (the CSRF token is the session's, in the database).
        accounts = two.get("/console/accounts", headers={"Cookie": f"{COOKIE}={session_id}"})
        refused = one.post("/console/logout", data={"csrf_token": "forged"}, headers={"Cookie": f"{COOKIE}={session_id}"},
                           follow_redirects=False)
        assert refused.status_code == 403 and home(two, session_id).status_code == 200
        out = one.post("/console/logout", data={"csrf_token": csrf_of(accounts.text)},
                       headers={"Cookie": f"{COOKIE}={session_id}"}, follow_redirects=False)
        assert out.status_code == 303
        assert home(two, session_id).status_code == 303 and home(two, session_id).headers["location"] == "/console/login"

        # A key revoked through one instance's API ends its sessions at the other.
        session_id = log_in(two, keys["ops"])
        assert home(one, session_id).status_code == 200
        key_id = next(k["id"] for k in one.get("/v1/admin/api-keys", headers={"Authorization": f"Bearer {keys['admin']}"})
                      .json()["items"] if k["name"] == "ops")
        revoked = one.delete(f"/v1/admin/api-keys/{key_id}", headers={"Authorization": f"Bearer {keys['admin']}",
                                                                        "Idempotency-Key": "revoke-ops"})
        assert revoked.status_code == 200
        one.get(f"/v1/admin/api-keys?min_position={revoked.json()['position']}",
                headers={"Authorization": f"Bearer {keys['admin']}"})  # the views have seen the revocation
        assert home(two, session_id).status_code == 303


# -- a real `serve --workers 2`, over a socket ----------------------------------------------------------------


def call(port, method, path, cookie=None, form=None):
    """One request on its own connection (so that either worker may take it): (status, headers, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Cookie": f"{COOKIE}={cookie}"} if cookie else {}
    body = None
    if form is not None:
        body, headers["Content-Type"] = urlencode(form), "application/x-www-form-urlencoded"
    try:
        conn.request(method, path, body=body, headers=headers)
        answer = conn.getresponse()
        return answer.status, answer.getheader("Set-Cookie") or "", answer.read().decode()
    finally:
        conn.close()


def cookie_of(set_cookie):
    return re.match(rf"{COOKIE}=([^;]+);", set_cookie).group(1)


def log_in_and_browse(port, key, pages):
    """The login form, the login, then `pages` pages: each answer's status."""
    status, set_cookie, html = call(port, "GET", "/console/login")
    assert status == 200
    status, set_cookie, _ = call(port, "POST", "/console/login", cookie_of(set_cookie),
                                 {"api_key": key, "csrf_token": csrf_of(html), "next": "/console"})
    if status != 303:
        return [status]
    session_id = cookie_of(set_cookie)
    return [status] + [call(port, "GET", "/console/accounts", session_id)[0] for _ in range(pages)]


def test_a_login_through_serve_with_two_workers_holds_on_every_worker(pg_url):
    keys = create_keys(pg_url)
    operator = subprocess.run([*fundcenter_command(), "keys", "create", "--db", pg_url, "--role", "operator"],
                              capture_output=True, text=True, timeout=60).stdout.strip()
    assert keys and operator
    with Server(pg_url, "--workers", "2", start_s=60) as server:
        port = server.port
        # Eight people log in and browse at once, each request on its own connection, so that both workers
        # take some (one at a time, one worker may well take them all): every page answers, on either worker.
        with ThreadPoolExecutor(8) as pool:
            answers = [a for got in pool.map(lambda _: log_in_and_browse(port, operator, 10), range(8)) for a in got]
        assert answers == ([303] + [200] * 10) * 8
