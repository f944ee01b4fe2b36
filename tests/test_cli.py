"""The `fundcenter` command line, run as a user runs it."""

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from ledger.store import Database, MigrationConflict, migrate, migration_files
from tests.config import configured_secrets


def fundcenter(*args, cwd=None, env=None):
    script = Path(sys.executable).with_name("fundcenter")
    command = [str(script)] if script.exists() else [sys.executable, "-c", "from api.cli import main; main()"]
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, cwd=cwd, timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_demo_runs_a_day_on_the_embedded_default_and_repeats_it_identically(tmp_path):
    env = {"FUNDCENTER_DATABASE_URL": ""}
    first = fundcenter("demo", "--date", "2026-11-20", cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stderr
    assert (tmp_path / "fundcenter.db").exists()
    assert "Reconciliation of unionpay for 2026-11-20: 4 statement lines, 4 of ours, 0 carried over." in first.stdout
    for name in ("missing_in_ledger", "missing_in_channel", "amount_mismatch", "status_mismatch", "fee_mismatch"):
        assert f": {name} (" in first.stdout, name  # every difference class, resolved
    assert "missing_in_channel (5fb0d3ec-8341-56f0-bd05-9fe55c748120) -> wait" in first.stdout
    assert "Trial balance CNY: debit balances 1,800.00 = credit balances 1,800.00: balanced (turnover 3,204.04)" in first.stdout
    assert "Closed the day: 1,003.71 moved" in first.stdout and "1 difference(s) waiting" in first.stdout
    assert "returned, refunded to Bob" in first.stdout and "failed, funds unfrozen" in first.stdout
    assert _balances(first.stdout, "Alice ") == ["420.00", "0.00", "420.00"]
    again = fundcenter("demo", "--date", "2026-11-20", cwd=tmp_path, env=env)
    assert again.stdout == first.stdout  # the same day again: nothing new written, the same books


def test_demo_of_another_day_runs_that_days_business_afresh(tmp_path):
    env = {"FUNDCENTER_DATABASE_URL": ""}
    assert fundcenter("demo", "--date", "2026-11-20", cwd=tmp_path, env=env).returncode == 0
    second = fundcenter("demo", "--date", "2026-11-21", cwd=tmp_path, env=env)
    assert second.returncode == 0, second.stderr
    assert "Reconciliation of unionpay for 2026-11-21: 5 statement lines, 5 of ours, 1 carried over." in second.stdout
    # The difference the 20th left waiting is on the 21st's file: carried over, matched, moved by the 21st's close.
    assert ("line 1: 5fb0d3ec-8341-56f0-bd05-9fe55c748120 waited since 2026-11-20, on today's file: matched,"
            " carried over") in second.stdout
    assert "Closed the day: 1,500.70 moved" in second.stdout  # the day's own 1,003.70 and the 497.00 carried over
    assert "write_off" in second.stdout and second.stdout.count("missing_in_ledger (sim-extra-1)") == 1
    assert _balances(second.stdout, "Alice ") == ["840.00", "0.00", "840.00"]  # two days of business
    assert "pending_reconciliation unionpay CNY     system           497.00" in second.stdout  # only the 21st's wait
    assert "Trial balance CNY: debit balances 3,600.00 = credit balances 3,600.00: balanced (turnover 6,905.06)" in second.stdout


def test_demo_without_a_date_runs_today_in_the_accounting_zone(tmp_path):
    result = fundcenter("demo", cwd=tmp_path, env={"FUNDCENTER_DATABASE_URL": ""})
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Fund Center demo of ") and "balanced" in result.stdout
    refused = fundcenter("demo", "--date", "2026-13-01", cwd=tmp_path)
    assert (refused.returncode, refused.stderr) == (2, "fundcenter: --date '2026-13-01' is not YYYY-MM-DD\n")


def _balances(output, name):
    line = next(line for line in output.splitlines() if line.startswith(name) and "member" in line)
    return line.split()[-3:]


def test_migrate_applies_each_migration_once(store_url):
    database = Database.from_url(store_url)
    assert migrate(database) == ["0001_event_store", "0002_views", "0003_api_keys", "0004_payments", "0005_reconciliation",
                                 "0006_reconciliation_carry_over", "0007_day_and_actor", "0008_reconciliation_narrow_lines",
                                 "0009_insert_events_function", "0010_references", "0011_webhooks",
                                 "0012_event_chain", "0013_day_close_leaves", "0014_approvals",
                                 "0016_console_sessions", "0017_verify_runs", "0018_chain_in_one_pass",
                                 "0019_chain_from_the_writers_head", "0020_reference_index",
                                 "0021_chain_links_from_the_writer"]
    assert migrate(database) == []


def _migrations(root, files):
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_a_migration_is_common_or_one_file_per_database(tmp_path):
    root = _migrations(tmp_path, {
        "common/0001_shared.sql": "CREATE TABLE t (n BIGINT);", "postgresql/0002_own.sql": "-- pg",
        "sqlite/0002_own.sql": "-- lite", "common/0003_later.sql": "-- both", "sqlite/notes.txt": "not sql",
    })
    assert migration_files("postgresql", root) == [("0001_shared", "CREATE TABLE t (n BIGINT);"), ("0002_own", "-- pg"),
                                                   ("0003_later", "-- both")]
    assert migration_files("sqlite", root) == [("0001_shared", "CREATE TABLE t (n BIGINT);"), ("0002_own", "-- lite"),
                                               ("0003_later", "-- both")]
    (root / "sqlite/0003_later.sql").write_text("-- which one?")
    with pytest.raises(MigrationConflict, match="0003_later"):
        migration_files("sqlite", root)
    assert [version for version, _ in migration_files("postgresql", root)] == ["0001_shared", "0002_own", "0003_later"]


def test_the_shipped_migrations_give_each_database_every_version_once():
    postgresql, sqlite = (migration_files(kind) for kind in ("postgresql", "sqlite"))
    assert [version for version, _ in postgresql] == [version for version, _ in sqlite]
    assert postgresql[0][0] == "0001_event_store" and postgresql[0][1] != sqlite[0][1]  # each database's event store
    assert {"0002_views", "0007_day_and_actor"} <= {version for (version, a), (_, b) in zip(postgresql, sqlite, strict=True)
                                                    if a == b}  # the same SQL, one file


def test_migrate_command_and_database_url_from_the_environment(tmp_path):
    url = f"sqlite:///{tmp_path}/cli.db"
    result = fundcenter("migrate", env={"FUNDCENTER_DATABASE_URL": url})
    assert (result.returncode, result.stdout.strip()) == (0, "applied 0001_event_store, 0002_views, 0003_api_keys,"
                                                          " 0004_payments, 0005_reconciliation, 0006_reconciliation_carry_over,"
                                                          " 0007_day_and_actor, 0008_reconciliation_narrow_lines,"
                                                          " 0009_insert_events_function, 0010_references, 0011_webhooks,"
                                                          " 0012_event_chain, 0013_day_close_leaves, 0014_approvals,"
                                                          " 0016_console_sessions, 0017_verify_runs, 0018_chain_in_one_pass,"
                                                          " 0019_chain_from_the_writers_head, 0020_reference_index,"
                                                          " 0021_chain_links_from_the_writer")
    assert fundcenter("migrate", "--db", url).stdout.strip() == "up to date"


@pytest.mark.parametrize(
    "url, message",
    [
        ("mysql://x/y", "expected a sqlite:/// or postgresql:// URL"),
        ("postgresql://postgres@127.0.0.1:1/nowhere", "database error"),
    ],
)
def test_failures_are_one_line_and_exit_2(url, message):
    result = fundcenter("migrate", "--db", url)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_serve_on_a_port_in_use_says_so_in_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = fundcenter("serve", "--db", f"sqlite:///{tmp_path}/fc.db", "--port", str(port))
    assert result.returncode == 2
    assert result.stderr.strip() == f"fundcenter: cannot listen on 127.0.0.1:{port}: Address already in use"
    assert not (tmp_path / "fc.db").exists()  # refused before anything started


def test_the_console_script_is_installed():
    assert shutil.which("fundcenter", path=str(Path(sys.executable).parent)) is not None


def test_each_command_is_listed_by_a_summary_of_one_line():
    """`fundcenter --help` (and each group's) lists a command by its help's first paragraph, line
    breaks kept: so that paragraph is one line, its details after a blank line."""
    import inspect

    import typer

    from api.cli import app

    def commands(group, path=()):
        for name, command in getattr(group, "commands", {}).items():
            yield (*path, name), command
            yield from commands(command, (*path, name))

    listed = dict(commands(typer.main.get_command(app)))
    assert {("serve",), ("replay",), ("audit", "verify"), ("day", "close"), ("reconcile", "fetch")} <= set(listed)
    for path, command in listed.items():
        summary = inspect.cleandoc(command.help or "").split("\n\n")[0]
        assert summary and "\n" not in summary, (path, summary)


def test_project_once_then_replay_verify_and_a_tampered_view(store_url, tmp_path):
    demo = fundcenter("demo", "--db", store_url, env=configured_secrets())
    assert demo.returncode == 0, demo.stderr  # the demo brings the views up to date
    assert fundcenter("keys", "create", "--role", "auditor", "--db", store_url).returncode == 0  # one more event
    lagging = fundcenter("replay", "--verify", "--no-catch-up", "--db", store_url)
    assert lagging.returncode == 1 and "the live views lag" in lagging.stderr
    projected = fundcenter("project", "--once", "--db", store_url)
    assert projected.returncode == 0 and projected.stdout.startswith("applied ")
    verified = fundcenter("replay", "--verify", "--db", store_url)
    assert verified.returncode == 0, verified.stderr
    assert "verified: views equal a clean replay" in verified.stdout
    by_default = fundcenter("replay", "--db", store_url)  # verifying is what replay does: --verify is optional
    assert (by_default.returncode, by_default.stdout) == (0, verified.stdout), by_default.stderr
    from projections import ViewStore

    views = ViewStore(Database.from_url(store_url))
    with views.transaction() as cur:
        cur.execute("UPDATE account_balances SET posted = posted + 1 WHERE external_ref = 'bob'")
    views.close()
    tampered = fundcenter("replay", "--verify", "--db", store_url)
    assert tampered.returncode == 1
    assert "MISMATCH account_balances: row (" in tampered.stderr and "column posted" in tampered.stderr


def test_keys_create_prints_the_key_once(tmp_path):
    url = f"sqlite:///{tmp_path}/keys.db"
    result = fundcenter("keys", "create", "--role", "business", "--business", "mall", "--db", url)
    assert result.returncode == 0 and result.stdout.startswith("fc_") and len(result.stdout.strip().splitlines()) == 1
    assert "role business, business mall" in result.stderr
    refused = fundcenter("keys", "create", "--role", "business", "--db", url)
    assert refused.returncode == 2 and "business key needs a business_id" in refused.stderr
