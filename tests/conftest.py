"""Fixtures: every application test runs on SQLite and on a real PostgreSQL server
that the session starts itself (see tests/pgserver.py). Nothing is skipped."""

import pytest

from tests.pgserver import PostgresServer

FAST_BUT_UNSAFE = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


@pytest.fixture(scope="session")
def pg_server():
    with PostgresServer(FAST_BUT_UNSAFE) as server:
        yield server


@pytest.fixture
def pg_url(pg_server):
    return pg_server.create_database()


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path}/fundcenter.db"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request):
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")


@pytest.fixture
def fund_center(store_url):
    """The ledger, as the bootstrap builds it on `store_url`."""
    from api.bootstrap import bootstrap
    from tests.config import settings_for

    with bootstrap(settings_for(store_url)) as system:
        yield system.ledger


@pytest.fixture
def shop(store_url):
    """The API with simulated channels (tests/shop.py)."""
    from tests.shop import open_shop

    with open_shop(store_url) as opened:
        yield opened


@pytest.fixture
def api(store_url):
    """The real app on `store_url` (lifespan, projections and all) with a key for every role."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from tests.api_client import Api
    from tests.config import api_keys, settings_for

    settings = settings_for(store_url)
    keys = api_keys(settings, [
        ("admin", "admin", None), ("operator", "operator", None), ("finance", "finance", None),
        ("auditor", "auditor", None), ("mall", "business", "mall"), ("shop", "business", "shop"),
    ])
    with TestClient(create_app(settings=settings)) as client:
        # The views caught up with the keys made above: from here the runner watches the log, so
        # the key cache trusts what it holds (api/deps.py) from the first request on.
        services = client.app.state.services
        services.runner.wait(services.ledger.head(), timeout=30)
        yield Api(client, keys)
