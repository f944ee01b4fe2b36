"""Who did it: every staff command's events carry the acting API key's id (`by`), "cli" for the
command line and "demo" for the demo; the events feed shows it, the transactions list shows it
for adjustments and reversals, and events written before it was recorded still load."""

import dataclasses
from datetime import UTC

from ledger import FundCenter
from ledger.domain.access import parse_key
from ledger.domain.accounts import Account
from ledger.domain.channels import Catalog
from ledger.domain.transfers import Transfer
from projections import ProjectionRunner, ViewStore
from projections.common import booked_day
from projections.transactions import list_transactions
from tests.config import BUSINESS_HOURS
from tests.shop import FEES


def _key_id(shop, who):
    return str(parse_key(shop.keys[who])[0])


def _events_after(shop, position):
    return shop.ok("GET", "/v1/events", who="admin", params={"after": position, "limit": 1000})["events"]


def _head(shop):
    events = shop.ok("GET", "/v1/events", who="admin", params={"limit": 1000})["events"]
    return events[-1]["position"] if events else 0


def _written_by(shop, who, method, path, body):
    """Call a staff route as `who`; the events it wrote, as the events feed shows them."""
    before = _head(shop)
    shop.ok(method, path, body, who=who)
    events = _events_after(shop, before)
    assert events, f"{method} {path} wrote nothing"
    return events


def test_each_staff_route_records_the_key_of_its_caller(shop):
    operator, admin, mall = (_key_id(shop, who) for who in ("operator", "admin", "mall"))
    catalog = [
        ("POST", "/v1/admin/banks", {"code": "icbc", "name": "ICBC"}),
        ("POST", "/v1/admin/channels", {"code": "unionpay", "name": "UnionPay"}),
        ("POST", "/v1/admin/channels/unionpay/products/withholding",
         {"fee": FEES["unionpay"].as_dict(), "banks": {"icbc": {"enabled": True, "limit_per_day": 50_000}}}),
        ("POST", "/v1/admin/channels/unionpay/status", {"status": "closed"}),
        ("POST", "/v1/admin/routes", {"business_id": "mall", "method": "withholding",
                                      "channels": [{"channel": "unionpay", "priority": 1}]}),
    ]
    for method, path, body in catalog:
        events = [e for e in _written_by(shop, "operator", method, path, body) if e["topic"].startswith("ledger.domain.channels")]
        assert events and {e["data"]["by"] for e in events} == {operator}, (path, events)

    alice = shop.account("alice")
    events = _written_by(shop, "admin", "POST", "/v1/admin/adjustments",
                         {"account": alice, "amount": 500, "currency": "CNY", "direction": "credit", "reason": "goodwill"})
    posted = [e for e in events if e["topic"].endswith("Transfer.Posted")]
    assert [e["data"]["by"] for e in posted] == [admin]

    for who, key_id, status in (("operator", operator, "frozen"), ("mall", mall, "active")):
        events = _written_by(shop, who, "POST", f"/v1/accounts/{alice}/status", {"status": status})
        assert [(e["data"]["status"], e["data"]["by"]) for e in events if e["topic"].endswith("StatusChanged")] == [
            (status, key_id)]

    events = _written_by(shop, "admin", "POST", "/v1/admin/api-keys", {"role": "auditor", "name": "audit"})
    created = [e for e in events if e["topic"].startswith("ledger.domain.access")]
    assert [e["data"]["created_by"] for e in created] == [admin]
    new_key = created[0]["originator_id"]
    events = _written_by(shop, "admin", "POST", f"/v1/admin/api-keys/{new_key}/role", {"role": "finance"})
    assert [e["data"]["by"] for e in events if e["topic"].startswith("ledger.domain.access")] == [admin]
    events = _written_by(shop, "admin", "DELETE", f"/v1/admin/api-keys/{new_key}", None)
    assert [e["data"]["by"] for e in events if e["topic"].startswith("ledger.domain.access")] == [admin]

    rows = shop.ok("GET", "/v1/transactions", who="admin",
                   params={"kind": "adjustment", "min_position": _head(shop)})["items"]
    assert [(r["amount"], r["actor"]) for r in rows] == [(500, admin)]


def test_a_repeat_by_another_staff_key_answers_the_first_outcome_and_keeps_the_first_actor(shop):
    first = shop.ok("POST", "/v1/admin/banks", {"code": "icbc", "name": "ICBC"}, who="operator", key="bank-1")
    head = _head(shop)
    again = shop.ok("POST", "/v1/admin/banks", {"code": "icbc", "name": "ICBC"}, who="admin", key="bank-1")
    assert again == first and _head(shop) == head  # staff keys share one scope: the retry wrote nothing
    bank = [e for e in _events_after(shop, 0) if e["topic"].endswith("Catalog.BankRegistered")]
    assert [e["data"]["by"] for e in bank] == [_key_id(shop, "operator")]


def test_reversals_record_who_reversed_and_the_ledger_has_a_default_actor(store_url):
    fc = FundCenter(store_url, clock=BUSINESS_HOURS, actor="cli")
    views = ViewStore(fc.database)
    try:
        alice = fc.open_account("member", "mall", "alice", "CNY")
        seed = fc.adjust(alice.id, 1_000, "CNY", "credit", "seed", idempotency_key="seed")
        fc.reverse_transfer(seed.id, "undo-seed", "entered twice", by="finance-key")
        fc.set_account_status(alice.id, "frozen")
        fc.register_bank("icbc", "ICBC")
        events = [e for _, e in fc.read_log()]
        posted = {e.kind: e.by for e in events if isinstance(e, Transfer.Posted)}
        assert posted == {"adjustment": "cli", "reversal": "finance-key"}
        assert [e.by for e in events if isinstance(e, Transfer.Reversed)] == ["finance-key"]
        assert [e.by for e in events if isinstance(e, Account.StatusChanged)] == ["cli"]
        assert [e.by for e in events if isinstance(e, Catalog.BankRegistered)] == ["cli"]
        ProjectionRunner(fc, views).catch_up()
        rows, _ = list_transactions(views)
        assert {(r["kind"], r["actor"]) for r in rows} == {("adjustment", "cli"), ("reversal", "finance-key")}
    finally:
        views.close()
        fc.close()


def test_events_written_before_the_day_and_the_actor_were_recorded_still_load(store_url):
    fc = FundCenter(store_url, clock=BUSINESS_HOURS)
    try:
        alice = fc.open_account("member", "mall", "alice", "CNY")
        seed = fc.adjust(alice.id, 1_000, "CNY", "credit", "seed", idempotency_key="seed", by="someone")
        fc.reverse_transfer(seed.id, "undo", "oops", by="someone")
        fc.set_account_status(alice.id, "frozen", by="someone")
        fc.register_bank("icbc", "ICBC", by="someone")
        fc.register_channel("unionpay", "UnionPay", by="someone")
        fc.set_channel_status("unionpay", "closed", by="someone")
        new_fields = {"day", "by"}
        checked = set()
        for _, event in fc.read_log():
            stored = fc.mapper.to_stored_event(event)
            state = fc.mapper.transcoder.decode(stored.state)
            if not new_fields & set(state):
                continue
            old = dataclasses.replace(stored, state=fc.mapper.transcoder.encode(
                {k: v for k, v in state.items() if k not in new_fields}))
            loaded = fc.mapper.to_domain_event(old)
            assert all(getattr(loaded, name, None) is None for name in new_fields & set(state))
            if isinstance(loaded, Transfer.Posted):
                assert booked_day(loaded) == loaded.timestamp.astimezone(UTC).date().isoformat()
                transfer = loaded.mutate(None)
                assert (transfer.day, transfer.by, [p.as_record() for p in transfer.postings]) == (None, None, event.postings)
            checked.add(type(loaded).__qualname__)
        assert {"Transfer.Posted", "Transfer.Reversed", "Account.StatusChanged", "Catalog.BankRegistered",
                "Catalog.ChannelRegistered", "Catalog.ChannelStatusChanged"} <= checked
    finally:
        fc.close()
