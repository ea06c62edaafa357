"""The ``local-bigquery`` emulator as a server process on 127.0.0.1, for tests and the bench.

``local-bigquery`` 0.3.2 (DuckDB behind BigQuery's REST API) needs Python 3.13, so it
runs from its own venv, ``.venv-bigquery/`` (``make bigquery-emulator`` creates it
with DuckDB's extensions pre-installed in a private HOME). Started here it gets free
ports, a fresh data folder, that HOME, and proxies pointed at a closed local port:
it can reach nothing beyond 127.0.0.1, and an attempt fails loudly instead of
quietly downloading (see ``docs/bigquery.md`` for what it does and does not do).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import requests

from etl.errors import EtlError

VENV = Path(__file__).resolve().parents[2] / ".venv-bigquery"
"""Where ``make bigquery-emulator`` puts the emulator (the repository's root)."""

DEAD_PROXY = "http://127.0.0.1:9"
"""A closed local port: every request not to 127.0.0.1 goes there and fails."""


def offline_environment(base: dict[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's) with proxies that let only loopback through."""
    env = dict(os.environ if base is None else base)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        env[name] = DEAD_PROXY
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return env


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class LocalBigQuery:
    """A running emulator: ``url`` for ``bigquery_api_url``, ``project`` for datasets."""

    def __init__(
        self, project: str = "traffy-test", *, venv: Path | None = None, start_timeout: float = 60
    ) -> None:
        self.project = project
        self.venv = Path(os.environ.get("ETL_BIGQUERY_EMULATOR_VENV", venv or VENV))
        self.start_timeout = start_timeout
        self.port = free_port()
        self.grpc_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._folder: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> LocalBigQuery:
        command = self.venv / "bin" / "local-bigquery"
        home = self.venv / "home"
        if not command.is_file() or not (home / ".duckdb").is_dir():
            raise EtlError(
                f"The BigQuery emulator is not installed in {self.venv}: run "
                "`make bigquery-emulator` (it needs a Python 3.13, see docs/bigquery.md)."
            )
        self._folder = Path(tempfile.mkdtemp(prefix="local-bigquery-"))
        env = offline_environment()
        env["HOME"] = str(home)
        log = (self._folder / "server.log").open("wb")
        command_line = [
            str(command), "serve", "--host", "127.0.0.1", "--port", str(self.port),
            "--grpc-port", str(self.grpc_port), "--data-dir", str(self._folder / "data"),
            "--project", self.project,
        ]  # fmt: skip
        self._process = subprocess.Popen(
            command_line,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        try:
            self._wait_ready()
        except BaseException:
            self.__exit__(None, None, None)  # never leave a server behind
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        session = requests.Session()
        session.trust_env = False  # loopback, no proxy
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise EtlError(f"The BigQuery emulator exited at start-up:\n{self.log()}")
            try:
                session.get(f"{self.url}/bigquery/v2/projects/{self.project}/datasets", timeout=5)
                return
            except requests.RequestException:
                time.sleep(0.1)
        raise EtlError(f"The BigQuery emulator did not start in {self.start_timeout:.0f} s")

    def log(self) -> str:
        path = self._folder / "server.log" if self._folder else None
        return path.read_text(errors="replace")[-4000:] if path and path.is_file() else ""

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None
