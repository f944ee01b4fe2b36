"""A throwaway PostgreSQL server for tests and benchmarks.

Runs the installed server binaries (`/usr/lib/postgresql/15/bin`, else
`pg_config --bindir`, else PATH) on a free loopback port, with its data and
socket in a fresh temp dir. PostgreSQL refuses to run as root, so as root it runs
as the `postgres` system user. `FUNDCENTER_TEST_PG_URL` names an existing server
to use instead.

`stop()`, `start()` and `restart(mode)` take a server this harness started down
and up again on the same port and data (the outage tests); `close()` (and leaving
the `with` block) stops it for good and deletes its data.
"""

from __future__ import annotations

import atexit
import os
import pwd
import shlex
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import psycopg


def external_url() -> str | None:
    return os.environ.get("FUNDCENTER_TEST_PG_URL") or None


def _bindir() -> Path:
    candidates = [Path("/usr/lib/postgresql/15/bin")]
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True).stdout.strip()
        candidates.append(Path(out))
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).parent)
    for path in candidates:
        if (path / "initdb").exists() and (path / "pg_ctl").exists():
            return path
    raise RuntimeError("PostgreSQL server binaries not found: install postgresql-15")


PORT_TRIES = 3  # a port taken between free_port() and its server's bind is tried again with another


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now (a server started on it may find it taken: PORT_TRIES)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    def __init__(self, settings: dict[str, str] | None = None, user: str = "postgres", url: str | None = None) -> None:
        """`url` (else `FUNDCENTER_TEST_PG_URL`) names an existing server to use instead of starting one."""
        self.settings = settings or {}
        self.user = user
        self.port = 0
        self.dir: Path | None = None
        self._external = url or external_url()

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, *args: object) -> subprocess.CompletedProcess:
        command = [str(a) for a in args]
        if os.geteuid() == 0:
            if shutil.which("runuser"):
                command = ["runuser", "-u", self.user, "--", *command]
            else:
                command = ["su", self.user, "-s", "/bin/sh", "-c", shlex.join(command)]
        return subprocess.run(command, capture_output=True, text=True, timeout=120)

    def start(self) -> PostgresServer:
        """Create and start the server; or start it again, on the same port and data, after `stop()`."""
        if self._external:
            return self
        if self.dir is not None:
            if not self.running:
                self._pg_ctl_start()
            return self
        bindir = _bindir()
        # Under /tmp as root, so that every parent is traversable by the server's user.
        self.dir = Path(tempfile.mkdtemp(prefix="fundcenter-pg-", dir="/tmp" if os.geteuid() == 0 else None))
        self.dir.chmod(0o755)
        if os.geteuid() == 0:
            entry = pwd.getpwnam(self.user)
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)
        atexit.register(self.close)
        result = self._run(bindir / "initdb", "-D", self.dir / "data", "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
        if result.returncode != 0:
            self.close()
            raise RuntimeError(f"initdb failed: {(result.stderr or result.stdout).strip()[-2000:]}")
        for tries_left in reversed(range(PORT_TRIES)):
            self.port = free_port()  # free when probed; another process may take it before the server binds it
            if self._pg_ctl_start(retry_port=tries_left > 0):
                return self
        raise AssertionError("unreachable: the last try raises")

    def _pg_ctl_start(self, retry_port: bool = False) -> bool:
        """Start the server on its port; False (nothing started) if `retry_port` and the port was taken."""
        assert self.dir is not None
        options = [f"-p {self.port}", f"-k {self.dir}", "-c listen_addresses=127.0.0.1", "-c max_connections=200"]
        options += [f"-c {name}={value}" for name, value in self.settings.items()]
        log = self.dir / "server.log"
        result = self._pg_ctl("-l", log, "-w", "-t", "60", "-o", " ".join(options), "start")
        if result.returncode != 0:
            tail = log.read_text()[-2000:] if log.exists() else result.stderr
            if retry_port and "address already in use" in tail.lower():
                log.unlink(missing_ok=True)
                return False
            self.close()
            raise RuntimeError(f"PostgreSQL did not start: {tail}")
        return True

    def _pg_ctl(self, *args: object) -> subprocess.CompletedProcess:
        assert self.dir is not None
        return self._run(_bindir() / "pg_ctl", "-D", self.dir / "data", *args)

    @property
    def running(self) -> bool:
        return self.dir is not None and (self.dir / "data" / "postmaster.pid").exists()

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (`fast`: disconnect the clients, `immediate`: like a crash), keeping its
        data and port for `start()`. Only for a server this object started."""
        if self._external:
            raise RuntimeError("will not stop a server this harness did not start")
        if self.running:
            result = self._pg_ctl("-m", mode, "-w", "-t", "60", "stop")
            if result.returncode != 0:
                raise RuntimeError(f"pg_ctl stop failed: {(result.stderr or result.stdout).strip()[-2000:]}")

    def restart(self, mode: str = "fast") -> None:
        """Stop and start the server again (its clients' connections die; new ones work once it is up)."""
        self.stop(mode)
        self.start()

    def close(self) -> None:
        """Stop the server and delete its data."""
        if self.dir is None:
            return
        if self.running:
            self._pg_ctl("-m", "fast", "-w", "stop")
        folder, self.dir = self.dir, None
        shutil.rmtree(folder, ignore_errors=True)

    def url(self, dbname: str = "postgres") -> str:
        if self._external:
            return urlsplit(self._external)._replace(path=f"/{dbname}").geturl()
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str | None = None) -> str:
        name = name or f"test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)
