"""/console/channels (operations 运营): banks, channels with their open/closed switch, products with
fees, per-bank switches and limits, routes per business and method, a route preview, and today's
outcomes per channel and bank. Every change goes through the API's own service (`Channels`), with
its permission (channels:manage), an Idempotency-Key per rendered form and the API's errors.

The catalog records amounts (fixed fees, limits) in minor units without a currency: they are the
currency the channels settle in, `CATALOG_CURRENCY`, for showing and typing them.
"""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Form, Query, Request
from fastapi.responses import RedirectResponse
from pydantic import BaseModel
from pydantic import ValidationError as InputError
from starlette.datastructures import FormData

from ledger.domain.access import Permission
from ledger.domain.channels import ChannelNotFound, check_method
from ledger.domain.errors import LedgerError, ValidationError
from ledger.domain.methods import METHODS

from ...models import BankIn, ChannelIn, ChannelStatusIn, ProductIn, RouteIn
from ...service.channels import Channels
from ..money import MoneyInputError, money, parse_money
from ..web import Desk, command_key, needs, page_router, query_string, readable

router = page_router("/console/channels")
Operator = Annotated[Desk, needs(Permission.CHANNELS_MANAGE)]
Text = Annotated[str, Form(max_length=200)]
Key = Annotated[str, Form(alias="idempotency_key", max_length=200)]  # the form's own key (web.command_key)
Asked = Annotated[str, Query(max_length=64)]
CATALOG_CURRENCY = "CNY"
HOME = "/console/channels"
_ZERO = re.compile(r"0+(?:\.0*)?")


def checked(model: type[BaseModel], **data: Any) -> Any:
    """The form's fields as the API's own body model checks them: a refusal reads like the API's."""
    try:
        return model.model_validate(data)
    except InputError as error:
        fields = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'input'}: {e['msg']}" for e in error.errors()[:5])
        raise ValidationError(fields) from None


def amount_or(text: str, blank: int | None) -> int | None:
    """An amount typed into a form ("1,234.56"), exactly; `blank` when left empty; a fee may be zero."""
    cleaned = text.strip().removesuffix(CATALOG_CURRENCY).strip().replace(",", "")
    if not cleaned:
        return blank
    if blank == 0 and _ZERO.fullmatch(cleaned):
        return 0
    return parse_money(text, CATALOG_CURRENCY)


def shown(amount: int | None) -> str:
    """An amount as the form shows it back, ready to be typed over (no currency)."""
    return "" if amount is None else money(amount, CATALOG_CURRENCY).removesuffix(f" {CATALOG_CURRENCY}")


@router.get("")
def channels(desk: Operator, business: Asked = "", method: Asked = "withholding", bank: Asked = "", amount: Asked = ""):
    """The page; with `business`, `bank` and `amount` (and `method`), the route preview too."""
    api = desk.service(Channels)
    catalog = api.catalog()
    preview, preview_error = None, None
    if business and bank and amount:
        try:
            preview = api.route_preview(business, method, bank, parse_money(amount, CATALOG_CURRENCY))
        except (LedgerError, MoneyInputError) as error:
            preview_error = readable(error)
    return desk.render(
        "channels/channels.html", catalog=catalog, activity=api.activity(), methods=METHODS, currency=CATALOG_CURRENCY,
        shown=shown, preview=preview, preview_error=preview_error,
        asked={"business": business, "method": method, "bank": bank, "amount": amount},
    )


@router.post("/banks")
def register_bank(desk: Operator, idempotency: Key = "", code: Text = "", name: Text = ""):
    api = desk.service(Channels)
    return desk.act(lambda: api.register_bank(command_key(idempotency), **checked(BankIn, code=code, name=name).model_dump()),
                    f"Bank {code} registered.", HOME)


@router.post("/register")
def register_channel(desk: Operator, idempotency: Key = "",
                     code: Text = "", name: Text = "", logo_url: Annotated[str, Form(max_length=500)] = ""):
    api = desk.service(Channels)
    return desk.act(
        lambda: api.register_channel(command_key(idempotency),
                                     **checked(ChannelIn, code=code, name=name, logo_url=logo_url).model_dump()),
        f"Channel {code} registered.", HOME)


@router.post("/{code}/status")
def set_status(desk: Operator, code: str, idempotency: Key = "", status: Text = ""):
    api = desk.service(Channels)
    return desk.act(
        lambda: api.set_channel_status(command_key(idempotency), code, checked(ChannelStatusIn, status=status).status),
        f"Channel {code} is now {status}{'' if status == 'open' else ': routing skips it'}.", HOME)


@router.get("/product")
def pick_product(desk: Operator, code: Asked = "", method: Asked = ""):
    """The product picker's answer: that product's form."""
    if not (code and method):
        return RedirectResponse(f"{HOME}#products", status_code=303)
    return RedirectResponse(f"{HOME}/{quote(code, safe='')}/products/{quote(method, safe='')}", status_code=303)


@router.get("/{code}/products/{method}")
def product_form(desk: Operator, code: str, method: str):
    catalog = desk.service(Channels).catalog()
    channel = catalog["channels"].get(code)
    if channel is None:
        raise ChannelNotFound(f"channel {code!r} not found")
    product = channel["products"].get(check_method(method)) or {"fee": {"rate_bps": 0, "fixed": 0, "minimum": 0, "maximum": None},
                                                  "banks": {}}
    return desk.render("channels/product.html", code=code, method=method, channel=channel, product=product,
                       banks=catalog["banks"], shown=shown, currency=CATALOG_CURRENCY)


async def form_of(request: Request) -> FormData:
    """The posted form (read once, by the CSRF check): for forms whose fields are named after banks and channels."""
    return await request.form()


Posted = Annotated[FormData, Depends(form_of)]


@router.post("/{code}/products/{method}")
def configure_product(desk: Operator, form: Posted, code: str, method: str):
    api = desk.service(Channels)
    back = f"{HOME}/{code}/products/{method}"

    def run() -> Any:
        key = command_key(_text(form.get("idempotency_key")))
        fee = {"rate_bps": _int(form.get("rate_bps"), "fee rate (bps)"), "fixed": amount_or(_text(form.get("fixed")), 0),
               "minimum": amount_or(_text(form.get("minimum")), 0), "maximum": amount_or(_text(form.get("maximum")), None)}
        before = api.catalog()["channels"].get(code, {}).get("products", {}).get(method, {}).get("banks", {})
        banks = {}
        for bank in map(_text, form.getlist("bank")):
            setting = {"enabled": form.get(f"enabled_{bank}") == "on",
                       "limit_per_transaction": amount_or(_text(form.get(f"single_{bank}")), None),
                       "limit_per_day": amount_or(_text(form.get(f"daily_{bank}")), None)}
            if bank in before or any(setting.values()):  # a bank the product never had stays out unless set
                banks[bank] = setting
        body = checked(ProductIn, fee=fee, banks=banks)
        return api.configure_product(key, code, method, body.fee.model_dump(),
                                     {bank: setting.model_dump() for bank, setting in body.banks.items()})

    return desk.act(run, f"The {method} product of {code} is saved.", back)


@router.post("/routes")
def set_route(desk: Operator, form: Posted):
    api = desk.service(Channels)
    business, method = _text(form.get("business_id")).strip(), _text(form.get("method"))

    def run() -> Any:
        key = command_key(_text(form.get("idempotency_key")))
        entries = [{"channel": _text(code), "priority": _int(form.get(f"priority_{_text(code)}"), f"priority of {code}")}
                   for code in form.getlist("channel") if _text(form.get(f"priority_{_text(code)}")).strip()]
        body = checked(RouteIn, business_id=business, method=method, channels=entries)
        return api.set_route(key, body.business_id, body.method, [entry.model_dump() for entry in body.channels])

    back = f"{HOME}?{query_string({'business': business, 'method': method})}#routes"
    return desk.act(run, f"The {method} route of {business} is saved.", back)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _int(value: Any, name: str) -> int:
    text = _text(value).strip()
    if not text.isascii() or not text.isdigit() or len(text) > 6:
        raise ValidationError(f"{name} must be a whole number, got {text[:20]!r}")
    return int(text)
