"""`fundcenter` as a user runs it, for the tests that need a real process and socket: the
installed command, a free port, API keys made by the CLI, one JSON request, and `Server`:
`fundcenter serve` started, awaited until healthy and stopped (its whole process group)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import IO

import pytest

from tests.config import configured_secrets
from tests.pgserver import PORT_TRIES, free_port


def fundcenter_command():
    script = Path(sys.executable).with_name("fundcenter")
    return [str(script)] if script.exists() else [sys.executable, "-c", "from api.cli import main; main()"]


def json_request(base, method, path, token=None, body=None, key=None) -> urllib.request.Request:
    """A request to the API as a business system sends it: JSON, a bearer key, an Idempotency-Key."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if key:
        headers["Idempotency-Key"] = key
    data = None if body is None else json.dumps(body).encode()
    return urllib.request.Request(base + path, data=data, method=method, headers=headers)


def request(base, method, path, token=None, body=None, key=None):
    """(status, JSON body)."""
    try:
        with urllib.request.urlopen(json_request(base, method, path, token, body, key), timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def create_keys(url):
    """An admin key and business mall's key, made by the CLI as an operator would."""

    def key(*args):
        result = subprocess.run([*fundcenter_command(), "keys", "create", "--db", url, *args],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    return {"admin": key("--role", "admin"), "mall": key("--role", "business", "--business", "mall")}


def _healthy(base: str) -> bool:
    try:
        with urllib.request.urlopen(base + "/healthz", timeout=2) as response:
            return response.status == 200
    except (OSError, urllib.error.HTTPError):
        return False


class Server:
    """`fundcenter serve --db URL --port <free> *args` in its own process group, with the configured
    secrets and `env`, until `stop()` (or the `with` block's end). It is up once `/healthz` answers
    200 and `ready(base)` holds, within `start_s` seconds; else the test fails with its output's tail.
    Its output goes to `log` (a file: a long session's access log would fill a pipe nobody reads)."""

    def __init__(self, url: str, *args: str, env: dict[str, str] | None = None, log: Path | None = None,
                 ready: Callable[[str], bool] = lambda base: True, start_s: float = 30) -> None:
        self.url = url
        self._log: IO[str] = log.open("w+") if log else tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed in stop()
        for tries_left in reversed(range(PORT_TRIES)):
            self.port = free_port()  # free when probed; another process may take it before serve binds it
            self.base = f"http://127.0.0.1:{self.port}"
            self.process = subprocess.Popen(
                [*fundcenter_command(), "serve", "--db", url, "--port", str(self.port), *args],
                stdout=self._log, stderr=subprocess.STDOUT, text=True, start_new_session=True,
                env={**os.environ, **configured_secrets(), **(env or {})},
            )
            deadline = time.monotonic() + start_s
            while not (self.process.poll() is None and _healthy(self.base) and ready(self.base)):
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self._kill()
                    if tries_left and "address already in use" in self.output().lower():
                        break  # the port was taken meanwhile: another one
                    pytest.fail(f"serve did not come up: {self.output()[-2000:]}")
                time.sleep(0.1)
            else:
                return

    def output(self) -> str:
        self._log.seek(0)  # the child shares this offset: it is at the end again after the read
        return self._log.read()

    def _kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self, timeout: float = 30) -> None:
        """Ctrl-C, as an operator stops it; killed if it has not ended within `timeout` seconds."""
        try:
            os.killpg(self.process.pid, signal.SIGINT)
            self.process.wait(timeout=timeout)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            self._kill()
        self._log.close()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
