"""The event classes declared for the type checker match the ones eventsourcing makes.

`@event("Posted")` makes `Transfer.Posted` at run time from the decorated method's
signature; mypy cannot see it, so each aggregate declares its event classes under
`if TYPE_CHECKING:`. Those declarations never run: this test reads them from the source
and checks them against the classes the library made, so that they cannot drift.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest
from eventsourcing.domain import AggregateCreated, CanMutateAggregate

DOMAIN = Path(__file__).resolve().parent.parent / "ledger" / "domain"
MODULES = sorted(p.stem for p in DOMAIN.glob("*.py") if "TYPE_CHECKING" in p.read_text())


def declared(module: str) -> dict[str, dict[str, tuple[str, list[tuple[str, str]]]]]:
    """Aggregate name -> event name -> (base, [(field, annotation)]), as written under TYPE_CHECKING."""
    tree = ast.parse((DOMAIN / f"{module}.py").read_text())
    found: dict[str, dict[str, tuple[str, list[tuple[str, str]]]]] = {}
    for cls in (node for node in tree.body if isinstance(node, ast.ClassDef)):
        for block in cls.body:
            if isinstance(block, ast.If) and ast.unparse(block.test) == "TYPE_CHECKING":
                for ev in (node for node in block.body if isinstance(node, ast.ClassDef)):
                    fields = [(ast.unparse(f.target), ast.unparse(f.annotation)) for f in ev.body if isinstance(f, ast.AnnAssign)]
                    found.setdefault(cls.name, {})[ev.name] = (ast.unparse(ev.bases[0]), fields)
    return found


def made(aggregate: type) -> dict[str, type]:
    """The event classes eventsourcing made for this aggregate itself (not inherited, not its bare bases)."""
    events = {}
    for name, value in vars(aggregate).items():
        if not (inspect.isclass(value) and issubclass(value, CanMutateAggregate)):
            continue
        own = inspect.get_annotations(value)
        inherited = any(hasattr(base, name) and base.__module__.startswith("ledger.domain.") and base.__name__ != "LedgerAggregate"
                        for base in aggregate.__mro__[1:])
        if own or not (name in ("Event", "Created") or inherited):
            events[name] = value
    return events


@pytest.mark.parametrize("module", MODULES)
def test_declared_event_classes_are_the_ones_eventsourcing_makes(module):
    mod = importlib.import_module(f"ledger.domain.{module}")
    declarations = declared(module)
    assert declarations, f"{module} imports TYPE_CHECKING but declares no event classes"
    for aggregate_name, events in declarations.items():
        aggregate = getattr(mod, aggregate_name)
        assert set(events) == set(made(aggregate)), aggregate_name
        for name, (base, fields) in events.items():
            runtime = getattr(aggregate, name)
            assert fields == list(inspect.get_annotations(runtime).items()), f"{aggregate_name}.{name}"
            assert base.endswith(".Created") == issubclass(runtime, AggregateCreated), f"{aggregate_name}.{name}"
