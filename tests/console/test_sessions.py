"""The console's session store: expiry (idle and total), logging out a key's sessions, a bounded size."""

from uuid import uuid4

from api.console import sessions as store_module
from api.console.sessions import IDLE_MAX_S, LIFETIME_MAX_S, SessionStore
from ledger.domain.access import Principal, Role


class Ticking:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def principal(role=Role.FINANCE):
    return Principal(uuid4(), role, None)


def test_a_session_ends_when_idle_too_long_and_after_its_lifetime_however_busy():
    clock = Ticking()
    store = SessionStore(clock)
    idle = store.start(principal())
    busy = store.start(principal())
    clock.now += IDLE_MAX_S - 1
    assert store.get(busy.id) is busy
    clock.now += 2
    assert store.get(idle.id) is None and store.get(busy.id) is busy  # busy was used within the idle limit
    while clock.now < 1000.0 + LIFETIME_MAX_S:
        assert store.get(busy.id) is busy
        clock.now += IDLE_MAX_S / 2
    assert store.get(busy.id) is None


def test_ids_and_tokens_are_random_and_the_csrf_check_is_exact():
    store = SessionStore()
    first, second = store.start(), store.start()
    assert first.id != second.id and first.csrf_token != second.csrf_token and len(first.id) >= 40
    assert first.csrf_matches(first.csrf_token) and not first.csrf_matches(second.csrf_token)
    assert not first.csrf_matches("") and not first.csrf_matches(None)
    assert store.get(None) is None and store.get("") is None and store.get("nope") is None


def test_a_keys_sessions_all_end_together():
    store = SessionStore()
    who = principal()
    mine = [store.start(who), store.start(who)]
    other = store.start(principal())
    store.end_key(who.key_id)
    assert [store.get(s.id) for s in mine] == [None, None] and store.get(other.id) is other


def test_when_full_the_oldest_not_logged_in_goes_first(monkeypatch):
    monkeypatch.setattr(store_module, "SESSIONS_MAX", 3)
    store = SessionStore()
    logged_in = store.start(principal())
    strangers = [store.start(), store.start()]
    newest = store.start()
    assert store.get(logged_in.id) is logged_in and store.get(strangers[0].id) is None
    assert store.get(strangers[1].id) is strangers[1] and store.get(newest.id) is newest


def test_messages_are_shown_once_and_bounded():
    session = SessionStore().start(principal())
    for n in range(8):
        session.flash("ok", f"done {n}")
    assert session.take_flashes() == [("ok", f"done {n}") for n in range(3, 8)]
    assert session.take_flashes() == []
