"""The console (管理后台): a web back office served by `fundcenter serve` at /console.

Server-rendered (Jinja2 templates, plain forms, the app's own stylesheet: nothing from
a CDN). Staff log in with their API key; the console then calls the same services as
the API (api/service/*) as that key, with the same permissions, idempotency and errors.

`PAGES` is the one list of page modules (each `pages/<name>.py` has its own `router`);
`navigation.py` lists what the menu shows and the permission each entry needs.
`web.py` holds what pages share (the desk, CSRF, rendering); `money.py` shows and
parses amounts; `sessions.py` keeps who is logged in.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.staticfiles import StaticFiles

from .pages import accounts, approvals, channels, events, keys, login, payments, reconciliation, reports, transactions
from .web import STATIC_DIR

PAGES = [login, accounts, transactions, payments, channels, reconciliation, reports, events, approvals, keys]

router = APIRouter(include_in_schema=False)
for page in PAGES:
    router.include_router(page.router)
router.mount("/console/static", StaticFiles(directory=STATIC_DIR), name="console-static")
