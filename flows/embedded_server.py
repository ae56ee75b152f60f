"""Prefect's temporary server for one `sdtmflow run`, started early so it boots while we import.

Without PREFECT_API_URL, Prefect itself starts the same server (SubprocessASGIServer) only when
the flow first asks for a client, after our imports are done, and to do so it imports the whole
server package (FastAPI, SQLAlchemy, the ORM models: ~3 s of CPU) into our process too, only to
spawn a subprocess that imports it again. Here the subprocess is spawned first, from a process
that has not imported Prefect, so it boots on the second core while this one imports Prefect and
Great Expectations; PREFECT_API_URL then points the flow at it. The command line and environment
are Prefect's own (prefect/server/api/server.py, SubprocessASGIServer._run_uvicorn_command):
the API only, no UI, ephemeral services, the usual database (~/.prefect/prefect.db, so its
migrations ran once, on the first start).
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

_PORT_IN_USE = 3  # uvicorn's exit code when it cannot bind


class ServerDidNotStart(RuntimeError):
    """The temporary Prefect server did not answer in time (its output is in the run log)."""


def find_configured_api_url() -> str | None:
    """PREFECT_API_URL from the environment or the active Prefect profile, read without
    importing Prefect (whose settings module alone costs 0.7 s)."""
    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"]
    home = Path(os.environ.get("PREFECT_HOME", Path.home() / ".prefect")).expanduser()
    profiles_path = Path(os.environ.get("PREFECT_PROFILES_PATH", home / "profiles.toml")).expanduser()
    try:
        profiles = tomllib.loads(profiles_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    active = os.environ.get("PREFECT_PROFILE") or profiles.get("active", "ephemeral")
    return profiles.get("profiles", {}).get(active, {}).get("PREFECT_API_URL") or None


class EmbeddedServer:
    """One uvicorn subprocess serving Prefect's API on a free local port, stopped at exit."""

    def __init__(self, log_path: Path):
        self.log_path = Path(log_path)
        self.process: subprocess.Popen | None = None
        self.port: int | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def start(self) -> EmbeddedServer:
        self.port = _free_port()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            # the server's own output (start-up errors, its telemetry) goes to the run's log file
            self.process = subprocess.Popen(
                [
                    sys.executable, "-m", "uvicorn", "--factory", "prefect.server.api.server:create_app",
                    "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "error",
                    "--lifespan", "on",
                ],
                env={**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1",
                     "PREFECT__SERVER_FINAL": "1"},
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                preexec_fn=_die_with_parent,
            )
        atexit.register(self.stop)
        os.environ["PREFECT_API_URL"] = self.api_url
        return self

    def wait_until_ready(self, timeout: float) -> None:
        """Block until GET /api/health answers 200; restart on another port if this one was
        taken between choosing and binding it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code == _PORT_IN_USE:
                self.start()
                continue
            if code is not None:
                raise ServerDidNotStart(
                    f"the temporary Prefect server exited with code {code} before answering; "
                    f"its output is in {self.log_path}"
                )
            try:
                with urllib.request.urlopen(f"{self.api_url}/health", timeout=1) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.05)
        raise ServerDidNotStart(
            f"the temporary Prefect server did not answer within {timeout:.0f} s (its output is in "
            f"{self.log_path}); on a busy machine raise PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS, "
            "or point PREFECT_API_URL at a running server (`prefect server start`)"
        )

    def stop(self) -> None:
        """Stop the server; a log file left empty (a run without a word to say) is removed."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        try:
            if self.log_path.stat().st_size == 0:
                self.log_path.unlink()
        except OSError:
            pass


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _die_with_parent() -> None:
    """Linux: the server gets SIGTERM when the run's process dies, even by SIGKILL, so no
    orphaned server outlives a killed run (elsewhere atexit is all there is)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
