"""Access: API keys and roles."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from ledger.views import ApiKeyView

from .common import Body, Code, Out, derived_from


class KeyIn(Body):
    role: Literal["admin", "operator", "finance", "auditor", "business"]
    business_id: Code | None = None
    name: Annotated[str, StringConstraints(max_length=200)] = ""
    holder: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = Field(
        default=None, description="Who holds the key (a person), for four-eyes approval; default: the key's own id.")


class GrantIn(Body):
    role: Literal["admin", "operator", "finance", "auditor", "business"]
    business_id: Code | None = None


@derived_from(ApiKeyView)
class KeyOut(Out):
    pass


class NewKeyOut(KeyOut):
    key: str | None = Field(description="The bearer token. Shown on the first response only (only its hash is kept):"
                                        " a retry with the same Idempotency-Key answers null, with a note.")
    note: str | None = None
    holder: str | None = Field(default=None, description="Who holds the key, as four-eyes approval compares it.")


class KeyListOut(Out):
    items: list[KeyOut]
    next_cursor: str | None


class RoleOut(Out):
    role: str
    permissions: list[str]
