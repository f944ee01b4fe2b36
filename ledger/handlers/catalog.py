"""Handler: one change to the channel catalog (banks, channels, products, routes).

Each change is its own command; this one handler applies any of them, recorded
with who made it (`by`, else the ledger's actor). A change to what is already so
saves nothing. With `idempotency_key`, a repeat answers with the catalog as the
first call left it (whoever repeats it: the key names the request).
"""

from __future__ import annotations

from typing import Any

from ..commands import ChangeCatalog, ConfigureProduct, RegisterBank, RegisterChannel, SetChannelStatus, SetRoute
from ..domain import ids
from ..domain.channels import Catalog
from ..idempotency import run_once
from ..unit_of_work import Attempt, UnitOfWork

CATALOG_ID = ids.command_id("catalog", "main")


def catalog(uow: UnitOfWork) -> Catalog:
    """The catalog as it is now (an empty one before the first change)."""
    found = uow.find(Catalog, CATALOG_ID)
    return uow.fresh(found) if found is not None else Catalog(id=CATALOG_ID)


def change_catalog(uow: UnitOfWork, cmd: ChangeCatalog) -> Catalog:
    actor = uow.by(cmd.by)
    operation, arguments = _operation(cmd)

    def decide(attempt: Attempt) -> Catalog:
        found = attempt.find(Catalog, CATALOG_ID)
        current = uow.fresh(found) if found is not None else Catalog(id=CATALOG_ID, by=actor)
        if _apply(current, cmd, actor) is not False:
            attempt.commit(current)
        return current

    if cmd.idempotency_key is None:
        return uow.run(decide)
    return run_once(
        uow, cmd.idempotency_key, operation, ids.fingerprint(arguments=arguments), lambda: uow.run(decide),
        lambda states: states[0][0] if states else Catalog(id=CATALOG_ID),
        target=lambda a: a.id == CATALOG_ID, refer=lambda changed: [CATALOG_ID],
    )


def _operation(cmd: ChangeCatalog) -> tuple[str, tuple[Any, ...]]:
    """The name an idempotency record keeps for the change, and the arguments it fingerprints
    (as they were before changes were commands: stored records must keep matching)."""
    match cmd:
        case RegisterBank():
            return "register_bank", (cmd.code, cmd.name)
        case RegisterChannel():
            return "register_channel", (cmd.code, cmd.name, cmd.logo_url)
        case SetChannelStatus():
            return "set_channel_status", (cmd.code, cmd.status)
        case ConfigureProduct():
            return "configure_product", (cmd.code, cmd.method, cmd.fee, cmd.banks)
        case SetRoute():
            return "set_route", (cmd.business_id, cmd.method, cmd.entries)
    raise AssertionError(f"not a catalog change: {cmd!r}")


def _apply(current: Catalog, cmd: ChangeCatalog, actor: str | None) -> bool | None:
    """Make the change; False: it was so already (some changes always record: None)."""
    match cmd:
        case RegisterBank():
            return current.register_bank(cmd.code, cmd.name, by=actor)
        case RegisterChannel():
            return current.register_channel(cmd.code, cmd.name, cmd.logo_url, by=actor)
        case SetChannelStatus():
            return current.set_channel_status(cmd.code, cmd.status, by=actor)
        case ConfigureProduct():
            current.configure_product(cmd.code, cmd.method, cmd.fee, cmd.banks, by=actor)
            return None
        case SetRoute():
            return current.set_route(cmd.business_id, cmd.method, cmd.entries, by=actor)
    raise AssertionError(f"not a catalog change: {cmd!r}")
