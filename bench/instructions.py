"""Work that instruction counts measure steadily on a busy machine: run it under callgrind.

    valgrind --tool=callgrind --callgrind-out-file=/dev/null python bench/instructions.py WHAT N

WHAT is `transfers` (N one-by-one transfers among 20 accounts), `batches` (N
`transfer_many` calls of 100 transfers each among the same 20 accounts), `catch-up` (a runner
catching empty views up over a log of about N events, written first) or `transcoder`
(decoding, then encoding, the N first stored events of such a log, three times). The
client's instructions for the work are the count of `WHAT N` less the count of the
same set-up without the work: `transfers 0`; for the others `WHAT N --skip`, which writes
the log (and, for the transcoder, reads it once) and skips the work. The server runs in its own process, which callgrind does not follow.
`--without-account-events` asks what if: customer accounts' debits and credits change nothing and
make no event (the ledger never runs so: no balance, no funds check), so a transfer saves one event
instead of three: a floor under any event design (one keeping some accounts' events costs more).
`--pg-url` names a server; without it, a throwaway one is started (bench/common.py), whose
start-up moves the set-up's count by tens of millions from run to run: for differences of a few
percent, give every run the same running server.
"""

from __future__ import annotations

import argparse
import random

from common import fresh_database, postgres, transfer_batches

from ledger import FundCenter
from ledger.domain.accounts import Account
from projections import ProjectionRunner, ViewStore


def funded_accounts(fc: FundCenter) -> list:
    """Twenty member accounts with money enough for any run."""
    ids = []
    for n in range(20):
        account = fc.open_account("member", "bench", f"m{n}", "CNY")
        fc.book_recharge(account.id, 10**12, "CNY", "alipay", f"rc-{n}")
        ids.append(account.id)
    return ids


def transfers(fc: FundCenter, count: int) -> None:
    ids = funded_accounts(fc)
    rng = random.Random(1)
    for n in range(count):
        a, b = rng.sample(ids, 2)
        fc.transfer(a, b, 1, "CNY", f"t-{n}")


def batches(fc: FundCenter, count: int) -> None:
    transfer_batches(fc, funded_accounts(fc), count, "b")


def write_log(fc: FundCenter, events: int) -> None:
    """Transfers among 200 members, a hold and its release every tenth command."""
    ids = []
    for n in range(200):
        account = fc.open_account("member", "bench", f"m{n}", "CNY")
        fc.book_recharge(account.id, 10**12, "CNY", "alipay", f"rc-{n}")
        ids.append(account.id)
    rng, n = random.Random(1), 0
    while fc.head() < events:
        a, b = rng.sample(ids, 2)
        if n % 10 == 0:
            fc.release_hold(fc.place_hold(a, 100, f"h-{n}").id)
        else:
            fc.transfer(a, b, rng.randint(1, 10_000), "CNY", f"t-{n}")
        n += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["transfers", "batches", "catch-up", "transcoder"])
    parser.add_argument("n", type=int)
    parser.add_argument("--skip", action="store_true", help="catch-up: write the log, skip the catch-up")
    parser.add_argument("--pg-url")
    parser.add_argument("--without-account-events", action="store_true",
                        help="what if accounts' debits and credits made no events (never so in the ledger)")
    args = parser.parse_args()
    if args.without_account_events:
        Account.credit = Account.debit = lambda self, *given, **named: None  # type: ignore[method-assign]
    with postgres(args.pg_url) as server:
        fc = FundCenter(fresh_database(server, args.pg_url))
        try:
            if args.what == "transfers":
                transfers(fc, args.n)
            elif args.what == "batches":
                batches(fc, args.n)
            elif args.what == "catch-up":
                write_log(fc, args.n)
                if not args.skip:
                    store = ViewStore(fc.database)
                    try:
                        ProjectionRunner(fc, store).catch_up()
                    finally:
                        store.close()
            else:
                write_log(fc, args.n)
                stored = [n.state for n in fc.recorder.select_notifications(start=1, limit=args.n)]
                decoded = [fc.mapper.transcoder.decode(s) for s in stored]
                if not args.skip:
                    for _ in range(3):
                        for state in stored:
                            fc.mapper.transcoder.decode(state)
                        for state in decoded:
                            fc.mapper.transcoder.encode(state)
        finally:
            fc.close()


if __name__ == "__main__":
    main()
