"""How a command that creates an aggregate answers a repeat of itself."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID


@dataclass(frozen=True)
class Once:
    """The aggregate a command creates, by which a repeat of it is answered."""

    cls: type
    aggregate_id: UUID
    request: str
    what: str
    answer: Callable[[Any, int | None], Any]  # (the stored aggregate, its position) -> the command's result
