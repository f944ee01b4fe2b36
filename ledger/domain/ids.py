"""Deterministic identifiers.

Command aggregates get `uuid5(NAMESPACE, scope + key)` ids, so a retried command
finds the outcome of the first attempt; accounts get ids from
`(business_id, external_ref)`; system accounts from their role, channel and currency.
"""

from __future__ import annotations

import hashlib
import json
from uuid import UUID, uuid5

NAMESPACE = UUID("6f0c6e2a-8d35-4f3a-9a57-5b0e1e7c2f10")


def command_id(scope: str, key: str) -> UUID:
    return uuid5(NAMESPACE, f"{scope}\x1f{key}")


def referenced(reference: str | None) -> dict[str, str]:
    """A reference for a request's fingerprint: none adds nothing, so fingerprints without one stay as they were."""
    return {} if reference is None else {"reference": reference}


def account_id(business_id: str, external_ref: str) -> UUID:
    return uuid5(NAMESPACE, f"account\x1f{business_id}\x1f{external_ref}")


def system_account_id(role: str, currency: str, channel: str | None = None) -> UUID:
    return uuid5(NAMESPACE, f"system\x1f{role}\x1f{channel or ''}\x1f{currency}")


# What `json.dumps(arguments, sort_keys=True, separators=(",", ":"), default=str)` would use, made
# once: dumps builds an encoder per call when given options. Fingerprints are stored: never change it.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str)


def fingerprint(**arguments: object) -> str:
    """A stable hash of a command's arguments, to tell a retry from a conflicting reuse."""
    return hashlib.sha256(_CANONICAL.encode(arguments).encode()).hexdigest()
