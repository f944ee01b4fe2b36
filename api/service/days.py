"""Day close: close a day, its certificate, the signing key's public half, balance proofs.

The signing key (Ed25519, PEM) comes from `FUNDCENTER_SIGNING_KEY_FILE`. Production without it
closes no day (`409 signing-key-missing`, saying what to set). A development run makes one the
first time it needs it, keeps it for the installation (beside the SQLite database,
`<db>.signing-key.pem`, mode 0600; `./fundcenter.signing-key.pem` on PostgreSQL) and says so:
certificates it signs prove nothing to anyone else.
"""

from __future__ import annotations

import logging
import os
import tempfile
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID

from ledger.audit.days import Signer, certificate
from ledger.audit.merkle import proof
from ledger.domain import ids
from ledger.domain.days import DayClose
from ledger.domain.errors import AccountNotFound, LedgerError
from ledger.domain.instants import iso
from ledger.store import Database
from projections.day_closes import certificate_accounting_day, find_leaf, leaves_of, store_leaves

from ..models.days import CloseDayIn
from ..settings import Settings
from .caller import Caller

log = logging.getLogger(__name__)


class SigningKeyMissing(LedgerError):
    code = "signing-key-missing"
    status = 409  # a setting missing, not an outage: retrying does not help


def development_key_file(settings: Settings) -> Path:
    database = Database.from_url(settings.database_url)
    return Path(f"{database.path}.signing-key.pem") if database.kind == "sqlite" else Path("fundcenter.signing-key.pem")


def load_signer(settings: Settings) -> Signer:
    """The key that signs certificates: FUNDCENTER_SIGNING_KEY_FILE's; in development, else, the
    installation's generated one (made once, and said so); in production, else, none."""
    path = settings.signing_key_file
    if path is not None:
        try:
            return Signer.from_pem(path.read_bytes())
        except OSError as error:
            raise SigningKeyMissing(f"cannot read FUNDCENTER_SIGNING_KEY_FILE {path}: {error.strerror}") from None
        except ValueError as error:
            raise SigningKeyMissing(f"FUNDCENTER_SIGNING_KEY_FILE {path}: {error}") from None
    if settings.environment == "production":
        raise SigningKeyMissing("FUNDCENTER_SIGNING_KEY_FILE is not set: production does not generate a signing key")
    path = development_key_file(settings)
    if not path.exists():
        _write_once(path, Signer.generate().private_pem())
        log.warning("generated a throwaway development key to sign day-close certificates, in %s;"
                    " set FUNDCENTER_SIGNING_KEY_FILE to sign with yours", path)
    signer = Signer.from_pem(path.read_bytes())
    return Signer(signer.private_key, throwaway=True)


def _write_once(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, draft = tempfile.mkstemp(dir=path.parent, prefix=".signing-key-")  # mode 0600
    try:
        with os.fdopen(descriptor, "w") as file:
            file.write(text)
        os.link(draft, path)  # atomic, and fails if another process of this installation made it first
    except FileExistsError:
        pass  # theirs stands
    finally:
        os.unlink(draft)


def close_out(ledger: Any, close: DayClose, position: int | None = None) -> dict[str, Any]:
    return {
        "day": close.day, "position": close.position, "merkle_root": close.merkle_root, "closed_by": close.closed_by,
        "closed_at": iso(close.created_on), "certificate": certificate_of(close),
        "recorded_at": position if position is not None else ledger.latest_position(close),
    }


def certificate_of(close: DayClose) -> dict[str, Any]:
    return certificate(close.day, close.certificate, close.signature, close.key_id)


class Days(Caller):
    """The day routes' calls."""

    def close(self, day: date, body: CloseDayIn, key: str) -> dict[str, Any]:
        signer = load_signer(self.services.settings)
        return self.ledger.idempotent(
            self._key(key), "close-day", ids.fingerprint(day=day, waive=body.waive, reason=body.reason),
            lambda: close_out(self.ledger, self.ledger.close_day(
                day.isoformat(), signer, waive=body.waive, reason=body.reason, by=self.by,
                keep_leaves=lambda closed_day, leaves: store_leaves(self.views, closed_day, leaves))),
            lambda states: close_out(self.ledger, *states[0]),
            target=lambda a: isinstance(a, DayClose), refer=lambda result: [],
        )

    def get(self, day: date) -> dict[str, Any]:
        return close_out(self.ledger, self.ledger.get_day_close(day.isoformat()))

    def public_key(self) -> str:
        return load_signer(self.services.settings).public_pem

    def balance_proof(self, account_id: UUID, day: date) -> dict[str, Any]:
        self._own(account_id)
        close = self.ledger.get_day_close(day.isoformat())
        leaves = leaves_of(self.ledger, self.views, close, certificate_accounting_day(close))
        index = find_leaf(leaves, account_id)
        if index is None:
            raise AccountNotFound(f"account {account_id} was not open at the close of {close.day}")
        leaf = leaves[index]
        return {
            "account_id": str(account_id), "day": close.day, "currency": leaf.currency, "balance": leaf.balance,
            "leaf": leaf.as_json(), "path": [step.as_json() for step in proof(leaves, index)],
            "merkle_root": close.merkle_root, "certificate": certificate_of(close),
        }
