"""Day close on SQLite and PostgreSQL: a signed certificate of the day's figures, verified
offline and refused after a one-byte change; the command line's verify-certificate against the
database; the close refused while a channel's reconciliation is open, allowed when waived;
nothing posted into a closed day (postings and corrections land in the next open day)."""

import json
import subprocess
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from api.bootstrap import bootstrap
from ledger.audit.days import CertificateInvalid, Signer, certificate, check_against_log, day_figures, verify_signature
from ledger.clock import SteppingClock
from ledger.day_commands import CloseDay
from ledger.domain.days import DayAlreadyClosed, DayNotOver, DayStillCommitting
from ledger.handlers import days
from tests.api_client import problem_of
from tests.config import BUSINESS_HOURS, DAY, settings_for
from tests.serving import fundcenter_command
from tests.shop import UNIONPAY_FIRST, configure, open_shop

D = DAY.isoformat()
NEXT_DAY = datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC) + timedelta(days=1, hours=1)


@pytest.fixture
def key_file(tmp_path):
    path = tmp_path / "signing-key.pem"
    path.write_bytes(Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    path.chmod(0o600)
    return path


@pytest.fixture
def clock():
    return SteppingClock(BUSINESS_HOURS())


@pytest.fixture
def ledger(store_url, clock):
    with bootstrap(settings_for(store_url), clock=clock, actor="cli") as system:
        yield system.ledger


def a_day_of_business(ledger):
    alice = ledger.open_account("member", "mall", "alice", "CNY")
    bob = ledger.open_account("member", "shop", "bob", "CNY")
    ledger.adjust(alice.id, 10_000, "CNY", "credit", "seed", "adj-1")
    ledger.transfer(alice.id, bob.id, 2_500, "CNY", "t-1")
    return alice, bob


def cert_of(close):
    return certificate(close.day, close.certificate, close.signature, close.key_id)


def test_a_days_certificate_verifies_offline_and_not_after_a_one_byte_change(ledger, clock):
    alice, bob = a_day_of_business(ledger)
    signer = Signer.generate()
    with pytest.raises(DayNotOver):
        ledger.close_day(D, signer)
    clock.set(NEXT_DAY)
    ledger.transfer(alice.id, bob.id, 100, "CNY", "t-next")  # the next day's: not in the close
    close = ledger.close_day(D, signer)
    cert = cert_of(close)
    body = verify_signature(json.loads(json.dumps(cert)), signer.public_pem.encode())
    assert body["day"] == D and body["position"] == close.position < ledger.head()
    assert body["trial_balance"] == [{"currency": "CNY", "debit": 10_000, "credit": 10_000, "accounts": 3, "balanced": True}]
    assert body["leaves"] == 3 and body["merkle_root"] == close.merkle_root and body["closed_by"] == "cli"
    assert check_against_log(ledger, body) == []
    for field in ("body", "signature"):
        for index in (0, len(cert[field]) // 2, len(cert[field]) - 2):
            changed = dict(cert)
            text = cert[field]
            changed[field] = text[:index] + ("1" if text[index] != "1" else "2") + text[index + 1:]
            with pytest.raises(CertificateInvalid):
                verify_signature(changed, signer.public_pem.encode())
    with pytest.raises(CertificateInvalid):  # another key
        verify_signature(cert, Signer.generate().public_pem.encode())
    with pytest.raises(DayAlreadyClosed):
        ledger.close_day(D, signer)


def test_a_posting_whose_clock_still_reads_a_closed_day_carries_the_next_open_day(store_url, ledger, clock):
    alice, bob = a_day_of_business(ledger)
    clock.set(NEXT_DAY)
    signer = Signer.generate()
    close = ledger.close_day(D, signer)
    late_clock = SteppingClock(BUSINESS_HOURS() + timedelta(hours=13))  # another process, its clock behind: still day D
    with bootstrap(settings_for(store_url), clock=late_clock) as other:
        late = other.ledger.transfer(alice.id, bob.id, 300, "CNY", "late-1")
        assert other.ledger.today() == (DAY + timedelta(days=1)).isoformat()
    assert late.created_at.date() == DAY  # stamped on D by its clock, booked on the next open day
    assert ledger.repository.get(late.id).day == (DAY + timedelta(days=1)).isoformat()
    body = verify_signature(cert_of(close), signer.public_pem.encode())
    assert check_against_log(ledger, body) == []  # the closed day's figures are as they were


def test_a_command_of_the_day_committed_while_the_close_reads_it_is_not_left_out(store_url, ledger, clock):
    alice, bob = a_day_of_business(ledger)
    clock.set(NEXT_DAY)
    checked = days.prepare(ledger.unit_of_work, CloseDay(D, (), "", Signer.generate()))
    late_clock = SteppingClock(BUSINESS_HOURS() + timedelta(hours=13))  # read its clock before the day's end
    with bootstrap(settings_for(store_url), clock=late_clock) as other:
        other.ledger.transfer(alice.id, bob.id, 300, "CNY", "late-1")
    with pytest.raises(DayStillCommitting):
        ledger.writer.run(days.record_close, checked)
    closed = ledger.close_day(D, Signer.generate())  # reads the day again
    body = json.loads(closed.certificate)
    assert closed.position == ledger.head() - 1 and body["position"] > checked.figures.position
    assert check_against_log(ledger, body) == []


def test_the_position_is_the_last_event_stamped_in_the_day_and_only_the_days_postings_count(store_url, ledger, clock):
    alice, bob = a_day_of_business(ledger)
    clock.set(NEXT_DAY)
    ledger.transfer(alice.id, bob.id, 1_000, "CNY", "next-day")  # the next day's, logged first
    with bootstrap(settings_for(store_url), clock=SteppingClock(BUSINESS_HOURS() + timedelta(hours=13))) as other:
        straggler = other.ledger.transfer(alice.id, bob.id, 300, "CNY", "straggler")  # the day's, logged after it
    signer = Signer.generate()
    closed = ledger.close_day(D, signer)
    assert closed.position == straggler.position
    balances = {leaf.account_id: leaf.balance for leaf in day_figures(
        ledger, DAY, ledger.accounting_day, closed.position).leaves}
    assert (balances[alice.id], balances[bob.id]) == (10_000 - 2_500 - 300, 2_500 + 300)
    assert check_against_log(ledger, verify_signature(cert_of(closed), signer.public_pem.encode())) == []


def close(shop, body=None, who="admin", key=None):
    return shop.call("POST", f"/v1/days/{D}/close", body or {}, who=who, **({"key": key} if key else {}))


def test_close_over_http_waits_for_the_reconciliation_or_a_waiver(store_url, key_file):
    clock = SteppingClock(BUSINESS_HOURS())
    with open_shop(store_url, clock=clock, signing_key_file=key_file) as shop:
        configure(shop, {"withholding": UNIONPAY_FIRST})
        member = shop.account("m1")
        binding = shop.bind(member)["id"]
        assert shop.recharge(member, 10_000, binding_id=binding).json()["status"] == "succeeded"
        problem_of(close(shop), 409, "day-not-over")
        clock.set(NEXT_DAY)
        assert "unionpay CNY" in problem_of(close(shop), 409, "reconciliations-open")["detail"]
        text = shop.channels["unionpay"].statement(DAY, change_amount=1)
        rec = shop.ok("POST", "/v1/reconciliations", {"channel": "unionpay", "date": D, "file": text}, who="admin")
        assert rec["open_differences"] == 1
        problem_of(close(shop), 409, "reconciliations-open")  # imported, a difference open: not closed
        problem_of(close(shop, {"waive": ["unionpay"]}), 422, "validation-error")  # a waiver needs its reason
        problem_of(close(shop, who="mall"), 403, "forbidden")
        waiver = {"waive": ["unionpay"], "reason": "the channel's file is disputed"}
        closed = close(shop, waiver, key="close-1")
        assert closed.status_code == 200, closed.text
        assert close(shop, waiver, key="close-1").json() == closed.json()  # a retry: the first answer
        problem_of(close(shop, waiver, key="close-2"), 409, "day-already-closed")
        problem_of(close(shop, {"waive": ["alipay"], "reason": "x"}, key="close-1"), 409, "idempotency-conflict")

        public = shop.call("GET", "/v1/days/public-key", who="mall")
        assert public.status_code == 200 and public.text.startswith("-----BEGIN PUBLIC KEY-----")
        cert = shop.ok("GET", f"/v1/days/{D}/certificate", who="admin")
        assert cert == closed.json()["certificate"]
        body = verify_signature(cert, public.text.encode())
        assert body["reconciliations"] == [{"channel": "unionpay", "currency": "CNY", "status": "waived"}]
        assert body["waiver"] == {"channels": ["unionpay"], "reason": "the channel's file is disputed"}
        assert body["closed_by"] == closed.json()["closed_by"] and body["position"] == closed.json()["position"]
        problem_of(shop.call("GET", "/v1/days/2026-11-24/certificate", who="admin"), 404, "day-not-closed")

        # The waived reconciliation is finished after the close: its move lands on the next open day.
        [difference] = shop.ok("GET", f"/v1/reconciliations/{rec['id']}/differences", who="admin")["items"]
        shop.ok("POST", f"/v1/reconciliations/{rec['id']}/differences/{difference['seq']}/resolve",
                {"action": "write_off", "reason": "accepted"}, who="admin")
        done = shop.ok("POST", f"/v1/reconciliations/{rec['id']}/close", who="admin")
        ledger = shop.client.app.state.services.ledger
        move = ledger.repository.get(ledger.get_reconciliation(UUID(rec["id"])).close_transfer_id)
        assert move.references["day"] == (DAY + timedelta(days=1)).isoformat() and done["moved"]
        assert check_against_log(ledger, body) == []


def test_a_closed_reconciliation_lets_the_day_close_without_a_waiver(store_url, key_file):
    clock = SteppingClock(BUSINESS_HOURS())
    with open_shop(store_url, clock=clock, signing_key_file=key_file) as shop:
        configure(shop, {"withholding": UNIONPAY_FIRST})
        member = shop.account("m1")
        binding = shop.bind(member)["id"]
        shop.recharge(member, 10_000, binding_id=binding)
        clock.set(NEXT_DAY)
        rec = shop.ok("POST", "/v1/reconciliations/fetch", {"channel": "unionpay", "date": D}, who="admin")
        shop.ok("POST", f"/v1/reconciliations/{rec['id']}/close", who="admin")
        closed = close(shop)
        assert closed.status_code == 200, closed.text
        body = json.loads(closed.json()["certificate"]["body"])
        assert body["reconciliations"] == [
            {"channel": "unionpay", "currency": "CNY", "status": "closed", "reconciliation_id": rec["id"]}]
        assert body["waiver"] is None and all(t["balanced"] for t in body["trial_balance"])


def test_production_without_a_signing_key_closes_no_day(store_url):
    clock = SteppingClock(BUSINESS_HOURS())
    with open_shop(store_url, clock=clock) as shop:
        clock.set(NEXT_DAY)
        response = shop.client.post(f"/v1/days/{D}/close", json={}, headers={
            "Authorization": f"Bearer {shop.keys['admin']}", "Idempotency-Key": "c"})
        assert "FUNDCENTER_SIGNING_KEY_FILE" in problem_of(response, 409, "signing-key-missing")["detail"]


def test_the_command_line_closes_a_day_and_verifies_its_certificate_against_the_database(tmp_path, store_url, key_file):
    day = "2020-01-15"  # long over by any machine's clock: the command line runs on the system's
    with bootstrap(settings_for(store_url), clock=SteppingClock(datetime(2020, 1, 15, 10, tzinfo=UTC))) as system:
        a_day_of_business(system.ledger)
    env = {"FUNDCENTER_SIGNING_KEY_FILE": str(key_file), "FUNDCENTER_ENV": "production",
           "FUNDCENTER_CARD_TOKEN_KEY": "k" * 64, "PATH": "/usr/bin:/bin"}

    def run(*args):
        return subprocess.run([*fundcenter_command(), *args], capture_output=True, text=True, timeout=120, env=env)

    closed = run("day", "close", "--date", day, "--db", store_url)
    assert closed.returncode == 0, closed.stderr
    assert json.loads(closed.stdout)["day"] == day
    again = run("day", "close", "--date", day, "--db", store_url)
    assert again.returncode == 2 and again.stderr.count("\n") == 1 and "closed already" in again.stderr
    cert_file, key_pem = tmp_path / "certificate.json", tmp_path / "public.pem"
    printed = run("day", "certificate", "--date", day, "--db", store_url)
    cert_file.write_text(printed.stdout)
    key_pem.write_text(run("day", "public-key").stdout)

    offline = run("audit", "verify-certificate", str(cert_file), "--public-key", str(key_pem))
    assert offline.returncode == 0 and "signature ok" in offline.stdout, offline.stderr
    online = run("audit", "verify-certificate", str(cert_file), "--public-key", str(key_pem), "--db", store_url)
    assert online.returncode == 0 and "the log still hashes to it" in online.stdout, online.stderr

    changed = json.loads(printed.stdout)
    changed["body"] = changed["body"].replace('"position":', '"position":1', 1)
    cert_file.write_text(json.dumps(changed))
    refused = run("audit", "verify-certificate", str(cert_file), "--public-key", str(key_pem))
    assert refused.returncode == 1 and "signature" in refused.stdout + refused.stderr

    cert_file.write_text(printed.stdout)
    _edit_first_transfer(store_url)
    tampered = run("audit", "verify-certificate", str(cert_file), "--public-key", str(key_pem), "--db", store_url)
    assert tampered.returncode == 1 and "chain_hash" in tampered.stdout + tampered.stderr


def _edit_first_transfer(url):
    """What an attacker with the database would do: change the amount of the day's transfer in its stored event."""
    if url.startswith("sqlite"):
        import sqlite3

        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            rowid, state = conn.execute("SELECT rowid, state FROM stored_events WHERE topic LIKE '%Transfer.Posted'"
                                        " AND CAST(state AS TEXT) LIKE '%\"kind\":\"transfer\"%' ORDER BY rowid LIMIT 1").fetchone()
            conn.execute("UPDATE stored_events SET state = ? WHERE rowid = ?",
                         (bytes(state).replace(b'"amount":2500', b'"amount":2501'), rowid))
        return
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT notification_id, state FROM fundcenter_events WHERE topic LIKE '%%Transfer.Posted'"
                           " AND position('\"kind\":\"transfer\"' in convert_from(state, 'UTF8')) > 0"
                           " ORDER BY notification_id LIMIT 1").fetchone()
        conn.execute("UPDATE fundcenter_events SET state = %s WHERE notification_id = %s",
                     (bytes(row[1]).replace(b'"amount":2500', b'"amount":2501'), row[0]))
