"""The shop the channel tests run: the API with simulated channels, keys, and helpers."""

import secrets
from contextlib import contextmanager

from fastapi.testclient import TestClient

from api.app import create_app
from ledger.channels.gateway import ChannelRefused, GatewayRegistry
from ledger.channels.simulator import SimulatedChannel
from ledger.domain.fees import FeeRule
from ledger.domain.methods import METHODS
from tests.config import BUSINESS_HOURS, api_keys, settings_for

CARD, ID_NUMBER, PHONE = "6222020200112233446", "110101199003077777", "13812345678"
FEES = {"unionpay": FeeRule(rate_bps=60), "alipay": FeeRule(rate_bps=40, minimum=5), "flaky": FeeRule(rate_bps=10)}


def luhn_ok(number):
    digits = [int(d) for d in number][::-1]
    return sum(d if i % 2 == 0 else (d * 2 - 9 if d * 2 > 9 else d * 2) for i, d in enumerate(digits)) % 10 == 0


class Refusing(SimulatedChannel):
    def submit(self, request):
        raise ChannelRefused("down for maintenance")


class Shop:
    """The API, a business key, an operator key, and the simulated channels."""

    def __init__(self, client, keys, channels):
        self.client, self.keys, self.channels, self.n = client, keys, channels, 0

    def call(self, method, path, body=None, who="mall", **kwargs):
        self.n += 1
        headers = {"Authorization": f"Bearer {self.keys[who]}", "Idempotency-Key": kwargs.pop("key", f"k{self.n}")}
        response = self.client.request(method, path, json=body, headers=headers, **kwargs)
        assert response.status_code < 500, response.text
        return response

    def ok(self, method, path, body=None, **kwargs):
        response = self.call(method, path, body, **kwargs)
        assert response.status_code in (200, 201), response.text
        return response.json()

    def account(self, ref):
        return self.ok("POST", "/v1/accounts", {"kind": "member", "external_ref": ref, "currency": "CNY"})["id"]

    def balance(self, account):
        return self.ok("GET", f"/v1/accounts/{account}")

    def bind(self, account, bank="icbc", card=CARD):
        return self.ok("POST", "/v1/bindings", {"account": account, "bank": bank, "holder_name": "张三",
                                                "id_number": ID_NUMBER, "card_number": card, "phone": PHONE})

    def recharge(self, account, amount, method="withholding", key=None, **extra):
        body = {"account": account, "amount": amount, "currency": "CNY", "method": method, **extra}
        return self.call("POST", "/v1/recharges", body, **({"key": key} if key else {}))

    def deliver(self, channel):
        results = []
        for body, headers in self.channels[channel].pending_callbacks():
            results.append(self.client.post(f"/v1/channels/{channel}/notifications", content=body, headers=headers))
        return results


def configure(shop, routes):
    op = "operator"
    for code, name in (("icbc", "ICBC"), ("ccb", "CCB")):
        shop.ok("POST", "/v1/admin/banks", {"code": code, "name": name}, who=op)
    for code in ("unionpay", "alipay", "flaky", "refusing", "slow"):
        shop.ok("POST", "/v1/admin/channels", {"code": code, "name": code.title(), "logo_url": f"https://x/{code}.png"}, who=op)
        fee = FEES.get(code, FeeRule())
        for method in METHODS:
            shop.ok("POST", f"/v1/admin/channels/{code}/products/{method}",
                    {"fee": fee.as_dict(), "banks": {"icbc": {"enabled": True}, "ccb": {"enabled": code != "alipay"}}}, who=op)
    for method, entries in routes.items():
        shop.ok("POST", "/v1/admin/routes", {"business_id": "mall", "method": method, "channels": entries}, who=op)


UNIONPAY_FIRST = [{"channel": "unionpay", "priority": 1}, {"channel": "alipay", "priority": 2}]


@contextmanager
def open_shop(store_url, clock=BUSINESS_HOURS, **settings):
    """The app on `store_url` with five simulated channels, and keys for a business, an operator and an admin,
    everything on `clock`; `settings` change the app's (the accounting time zone, say)."""
    settings = settings_for(store_url, **settings)
    day = settings.accounting_day

    def fee(code):
        return lambda method, amount: FEES.get(code, FeeRule()).fee(amount)

    def kw(seed):
        return {"seed": seed, "secret": secrets.token_bytes(32), "clock": clock, "statement_day": day.day_of}

    channels = {
        "unionpay": SimulatedChannel("unionpay", fee_rule=fee("unionpay"), **kw(1)),
        "alipay": SimulatedChannel("alipay", fee_rule=fee("alipay"), **kw(2)),
        "flaky": SimulatedChannel("flaky", success_rate=0.0, fee_rule=fee("flaky"), **kw(3)),
        "refusing": Refusing("refusing", **kw(4)),
        "slow": SimulatedChannel("slow", timeout_rate=1.0, **kw(5)),
    }
    registry = GatewayRegistry()
    for channel in channels.values():
        registry.add(channel)
    keys = api_keys(settings, [("mall", "business", "mall"), ("operator", "operator", None), ("admin", "admin", None),
                               ("other", "business", "other")], clock=clock)
    with TestClient(create_app(settings=settings, gateways=registry, clock=clock)) as client:
        shop = Shop(client, keys, channels)
        shop.url = store_url
        yield shop
