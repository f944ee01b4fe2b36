"""Secrets: none is a constant in the source, none is kept in the log; production refuses to
run without them; development makes its own once per installation; passwords are masked."""

import hashlib
import hmac
import json
import os
import stat

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.service_secrets import MissingSecrets, load_secrets
from api.settings import Settings
from ledger import FundCenter
from ledger.store import redact_url
from tests.config import BUSINESS_HOURS, configured_secrets, settings_for
from tests.shop import Shop, configure
from tests.test_cli import fundcenter

EBANK = {"personal_ebank": [{"channel": "unionpay", "priority": 1}]}


def test_production_refuses_to_start_without_the_card_token_key():
    with pytest.raises(MissingSecrets, match="FUNDCENTER_CARD_TOKEN_KEY is not set"):
        load_secrets(Settings(database_url="postgresql://fc@db.internal/fundcenter"))
    with pytest.raises(MissingSecrets, match="FUNDCENTER_CARD_TOKEN_KEY"):
        load_secrets(Settings(database_url="sqlite:///x.db", env="production"))


def test_serve_in_production_names_what_is_missing_in_one_line_and_masks_the_password():
    url = "postgresql://fc:hunter2@127.0.0.1:1/fundcenter"
    result = fundcenter("serve", "--db", url, env={"FUNDCENTER_CARD_TOKEN_KEY": "", "FUNDCENTER_ENV": ""})
    assert result.returncode == 2
    assert result.stderr.startswith("fundcenter: FUNDCENTER_CARD_TOKEN_KEY is not set")
    assert len(result.stderr.strip().splitlines()) == 1 and "hunter2" not in result.stderr + result.stdout


def test_serve_in_production_refuses_a_channel_without_a_callback_secret(pg_url):
    fc = FundCenter(pg_url)
    fc.register_channel("unionpay", "UnionPay")
    fc.close()
    env = {**configured_secrets(), "FUNDCENTER_CHANNEL_SECRETS": json.dumps({"alipay": "x" * 32})}
    result = fundcenter("serve", "--db", pg_url, "--port", "1", env=env)
    assert result.returncode == 2
    assert "no callback secret for channel unionpay" in result.stderr


def test_development_makes_its_secrets_once_per_installation(tmp_path):
    first = Settings(database_url=f"sqlite:///{tmp_path}/a/fundcenter.db")
    made = load_secrets(first)
    assert made.environment == "development"
    assert load_secrets(first).card_token_key == made.card_token_key  # kept: card tokens stay comparable
    assert load_secrets(first).channel_secret("unionpay") == made.channel_secret("unionpay")
    other = load_secrets(Settings(database_url=f"sqlite:///{tmp_path}/b/fundcenter.db"))
    assert other.card_token_key != made.card_token_key  # random per installation, not a constant
    assert other.channel_secret("unionpay") != made.channel_secret("unionpay")
    assert made.channel_secret("unionpay") != made.channel_secret("alipay")
    kept = tmp_path / "a" / "fundcenter.db.secrets.json"
    assert stat.S_IMODE(os.stat(kept).st_mode) == 0o600
    assert "card_token_key" not in repr(made) and made.card_token_key.hex() not in repr(made)


def test_configured_secrets_win_over_the_file_and_production_uses_only_them(tmp_path):
    file = tmp_path / "secrets.json"
    file.write_text(json.dumps({"card_token_key": "from-the-file", "channel_secrets": {"unionpay": "file-secret"}}))
    settings = Settings(database_url="postgresql://fc@db/fc", secrets_file=file,
                        channel_secrets={"alipay": "env-secret"})
    loaded = load_secrets(settings)
    assert (loaded.environment, loaded.card_token_key) == ("production", b"from-the-file")
    assert (loaded.channel_secret("unionpay"), loaded.channel_secret("alipay")) == (b"file-secret", b"env-secret")
    assert loaded.channel_secret("flaky") is None  # production generates nothing: that channel is not connected


def test_a_callback_signed_with_the_old_constant_secret_is_refused_and_moves_no_money(store_url):
    """`serve`'s simulated channels sign with the configured secret: the constant the source once
    held forges nothing, while the channel's own callback settles the payment."""
    url, settings = store_url, settings_for(store_url, channels=("unionpay",))
    fc = FundCenter(url, clock=BUSINESS_HOURS)
    keys = {name: fc.create_api_key(role, business, name=name)[1]
            for name, role, business in [("mall", "business", "mall"), ("operator", "operator", None)]}
    fc.close()
    with TestClient(create_app(settings=settings, clock=BUSINESS_HOURS)) as client:
        shop = Shop(client, keys, {})
        configure(shop, EBANK)
        member = shop.account("m1")
        recharge = shop.recharge(member, 5_000, method="personal_ebank", bank="icbc").json()
        assert recharge["status"] == "redirected"
        forged = json.dumps({"reference": recharge["id"], "channel_txn_id": "unionpay-forged", "outcome": "succeeded",
                             "amount": 5_000, "fee": 0, "notification_id": "forged-1",
                             "sent_at": "2026-11-25T10:00:00Z"}).encode()
        signature = hmac.new(b"simulator-secret", forged, hashlib.sha256).hexdigest()
        refused = client.post("/v1/channels/unionpay/notifications", content=forged,
                              headers={"X-Sim-Signature": signature})
        assert (refused.status_code, refused.json()["type"]) == (401, "callback-rejected")
        assert shop.balance(member)["posted"] == 0
        channel = client.app.state.services.payments.gateways.get("unionpay")  # the real one, with the real secret
        channel.complete_redirects()
        delivered = [client.post("/v1/channels/unionpay/notifications", content=body, headers=headers)
                     for body, headers in channel.pending_callbacks()]
        assert [response.status_code for response in delivered] == [200]
        assert shop.balance(member)["posted"] == 5_000
    secret = load_secrets(settings)
    fc = FundCenter(url)
    stored = b"".join(bytes(n.state) for n in fc.recorder.select_notifications(start=1, limit=10_000))
    fc.close()
    for value in (secret.card_token_key, secret.channel_secret("unionpay")):
        assert value not in stored and value.hex().encode() not in stored  # no secret in the event log


def test_development_secrets_sign_serve_s_channels(tmp_path):
    """On the embedded default nothing is configured: the installation's generated secret signs."""
    url = f"sqlite:///{tmp_path}/fundcenter.db"
    generated = load_secrets(Settings(database_url=url)).channel_secret("unionpay")
    fc = FundCenter(url)
    fc.register_channel("unionpay", "UnionPay")
    fc.close()
    with TestClient(create_app(settings=Settings(database_url=url))) as client:
        channel = client.app.state.services.payments.gateways.get("unionpay")
        assert channel.secret == generated


@pytest.mark.parametrize("url, shown", [
    ("postgresql://fc:s3cret@db:5432/fundcenter", "postgresql://fc:***@db:5432/fundcenter"),
    ("postgresql://fc@db/fundcenter", "postgresql://fc@db/fundcenter"),
    ("sqlite:///./fundcenter.db", "sqlite:///./fundcenter.db"),
])
def test_passwords_in_database_urls_are_masked(url, shown):
    assert redact_url(url) == shown


def test_a_bad_url_is_named_without_its_password():
    result = fundcenter("migrate", "--db", "postgresql://fc:s3cret@/nodbname")
    assert result.returncode == 2 and "s3cret" not in result.stderr and "fc:***@" in result.stderr


def test_a_bad_setting_is_one_line():
    result = fundcenter("demo", env={"FUNDCENTER_ENV": "staging"})
    assert result.returncode == 2
    assert result.stderr.startswith("fundcenter: setting FUNDCENTER_ENV: Input should be 'development' or 'production'")
