"""Recharges per second end to end through the simulator (withholding, instant success) on
PostgreSQL: route, submit to the channel, post the recharge and its fee, one recharge at a time.

    python bench/recharges.py [--recharges N] [--pg-url URL] [--json]
"""

from __future__ import annotations

import argparse
import json
import secrets

from common import Timer, fresh_database, machine, open_system, postgres

from ledger.channels.gateway import GatewayRegistry
from ledger.channels.simulator import SimulatedChannel
from ledger.domain.fees import FeeRule

MEMBERS = 100
FEE = FeeRule(rate_bps=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recharges", type=int, default=2_000)
    parser.add_argument("--pg-url")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with postgres(args.pg_url) as server:
        gateways = GatewayRegistry()
        gateways.add(SimulatedChannel("unionpay", secret=secrets.token_bytes(32), seed=1,
                                      fee_rule=lambda method, amount: FEE.fee(amount)))
        system = open_system(fresh_database(server, args.pg_url), gateways=gateways)
        fc, payments = system.ledger, system.payments
        system.runner.start()  # as in `serve`: the views follow the log
        try:
            fc.register_bank("icbc", "ICBC")
            fc.register_channel("unionpay", "UnionPay")
            fc.configure_product("unionpay", "withholding", FEE.as_dict(), {"icbc": {"enabled": True}})
            fc.set_route("bench", "withholding", [{"channel": "unionpay", "priority": 1}])
            cards = []
            for n in range(MEMBERS):
                account = fc.open_account("member", "bench", f"m{n}", "CNY")
                card = payments.bind_card(account.id, "icbc", "Member", "110101199003077777", "6222020200112233446",
                                          "13812345678", f"bind-{n}")
                cards.append((account.id, card.id))
            for n in range(100):  # warm-up
                account, card = cards[n % MEMBERS]
                payments.recharge(account, 100, "CNY", "withholding", f"warm-{n}", binding_id=card)
            with Timer() as timer:
                for n in range(args.recharges):
                    account, card = cards[n % MEMBERS]
                    result = payments.recharge(account, 10_000, "CNY", "withholding", f"rc-{n}", binding_id=card)
                    assert result.status == "succeeded", result
        finally:
            system.close()
    rate = args.recharges / timer.seconds
    if args.json:
        print(json.dumps({"recharges_per_s": round(rate)}))
        return
    print(f"PostgreSQL 15, durable defaults; {machine()}; projections following in the same process")
    print(f"{'withholding recharges/s (route, submit, post recharge + fee)':<62}{round(rate):>8,}")


if __name__ == "__main__":
    main()
