"""A serving app tunes the garbage collector once started (api/gc_tuning.py); an app made in a test
does not (`serve` sets `tune_gc`)."""

import gc

import pytest
from fastapi.testclient import TestClient

from api import gc_tuning
from api.app import create_app
from tests.config import settings_for


@pytest.fixture
def collector():
    """The collector's settings as they were, put back after the test."""
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_a_tuned_app_freezes_what_start_up_made_and_collects_less_often(sqlite_url, collector):
    before = gc.get_threshold()
    with TestClient(create_app(settings=settings_for(sqlite_url))) as client:
        assert client.get("/healthz").status_code == 200
        assert gc.get_threshold() == before and gc.get_freeze_count() == 0
    with TestClient(create_app(settings=settings_for(sqlite_url, tune_gc=True))) as client:
        assert client.get("/healthz").status_code == 200
        assert gc.get_threshold() == gc_tuning.THRESHOLDS and gc.get_freeze_count() > 10_000
        assert gc.collect() >= 0  # objects made after start-up are still collected
