"""What every body and out-model shares: the bounded scalar types, the bases, and `derived`,
which makes an out-model from a ledger view's fields."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from datetime import date as date_type
from datetime import datetime
from typing import Annotated, Any, get_type_hints

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StrictInt, StringConstraints, create_model

from ledger.domain.inputs import CLIENT_KEY_LENGTH_MAX, moment_problem
from ledger.domain.money import AMOUNT_MINOR_MAX

Amount = Annotated[StrictInt, Field(gt=0, le=AMOUNT_MINOR_MAX, description="Integer minor units: 10050 is 100.50.")]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$"), Field(description="ISO 4217 code.", examples=["CNY"])]
Code = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]
Text = Annotated[str, StringConstraints(max_length=500)]
Ref = Annotated[str, StringConstraints(min_length=1, max_length=128)]
REFERENCE_RULE = ("Your own reference (order number), one per business and kind: the same request with it again "
                  "answers the first outcome, another request with it is 409 idempotency-conflict.")
ClientKey = Annotated[str, StringConstraints(min_length=1, max_length=CLIENT_KEY_LENGTH_MAX, pattern=r"^[^\x00-\x1f\x7f]*$")]


def _bounded(value: datetime) -> datetime:
    problem = moment_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


# Every datetime the API takes, in a body or a query: ISO 8601 with an offset (a naive one
# is refused: it would mean whatever the server's clock zone is), from 1970-01-01T00:00:00Z
# to 9999-12-31T23:59:59.999999Z after applying the offset. Else 422 validation-error,
# naming the field. The ledger checks the same bound (ledger.domain.inputs.check_moment).
BoundedDatetime = Annotated[AwareDatetime, AfterValidator(_bounded)]
DATETIME_RULE = "ISO 8601 with an offset (Z, +08:00), from 1970-01-01T00:00:00Z to 9999-12-31T23:59:59.999999Z in UTC."


def _bounded_day(value: date_type) -> date_type:
    if not date_type(1970, 1, 1) <= value <= date_type(9999, 12, 30):
        raise ValueError("must be within 1970-01-01 and 9999-12-30")
    return value


# A calendar day (an accounting day): its window runs to the next day's cut-off, so 9999-12-31 is out.
BoundedDate = Annotated[date_type, AfterValidator(_bounded_day)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


def derived(view: type, name: str, *, base: type[Out] | None = None, exclude: Iterable[str] = (),
            shown: Mapping[str, Any] | None = None, doc: str | None = None) -> type[Out]:
    """The out-model `name` with the fields of the ledger's view `view` (a dataclass), in its order,
    with its types and defaults: the shape is defined once, by the view. `base` (an `Out`) gives
    fields of its own first, `exclude` leaves fields out, and `shown` gives (type, default) for a field
    the API shows otherwise than the view holds it (a nested out-model, say)."""
    base = base or Out
    types, shown = get_type_hints(view), dict(shown or {})
    fields: dict[str, Any] = {}
    for field in dataclasses.fields(view):
        if field.name in set(exclude) or (field.name in base.model_fields and field.name not in shown):
            continue
        if field.default is not dataclasses.MISSING:
            default = field.default
        elif field.default_factory is not dataclasses.MISSING:
            default = field.default_factory()  # pydantic copies a mutable default for each instance
        else:
            default = ...
        fields[field.name] = shown.pop(field.name, (types[field.name], default))
    assert not shown, f"{view.__name__} has no field {', '.join(shown)}"
    return create_model(name, __base__=base, __doc__=doc, __module__=base.__module__, **fields)


def derived_from(view: type, *, exclude: Iterable[str] = (), shown: Mapping[str, Any] | None = None,
                 ) -> Callable[[type[Out]], type[Out]]:
    """`derived` as a class decorator: the class gives the out-model its name, its base and its doc,
    and the type checker a class to name (it cannot see the fields, which the view gives at run time)."""
    def make(declared: type[Out]) -> type[Out]:
        base = declared.__bases__[0]
        assert issubclass(base, Out), base
        return derived(view, declared.__name__, base=base, exclude=exclude, shown=shown, doc=declared.__dict__.get("__doc__"))
    return make
