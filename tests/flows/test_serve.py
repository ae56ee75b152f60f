"""The nightly deployment: built with an explicit timezone, refused without a server, and (slow)
registered on a real `prefect server start`, read back, triggered and executed by `sdtmflow serve`."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from flows.cli import main
from flows.serve import build_deployment
from transforms.spec.study import DEFAULT_STUDY_DIR

SAMPLE = DEFAULT_STUDY_DIR / "sample_export"
BIN = Path(sys.executable).parent


def test_deployment_has_cron_timezone_and_absolute_folders(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    deployment = build_deployment(SAMPLE, Path("out"), DEFAULT_STUDY_DIR, "30 1 * * *", "Europe/London")
    schedule = deployment.schedules[0].schedule
    assert (schedule.cron, schedule.timezone) == ("30 1 * * *", "Europe/London")
    assert deployment.name == "nightly"
    assert deployment.entrypoint == "flows.pipeline.sdtmflow_run"  # importable wherever installed
    assert deployment.parameters == {
        "input_dir": str(SAMPLE.resolve()),
        "output_dir": str(tmp_path / "out"),
        "study_dir": str(DEFAULT_STUDY_DIR.resolve()),
    }
    assert deployment.concurrency_limit == 1


def test_default_schedule_is_two_am_shanghai(tmp_path):
    schedule = build_deployment(SAMPLE, tmp_path, DEFAULT_STUDY_DIR).schedules[0].schedule
    assert (schedule.cron, schedule.timezone) == ("0 2 * * *", "Asia/Shanghai")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"timezone": "Mars/Base"}, "unknown timezone 'Mars/Base'"),
        ({"cron": "every night"}, "invalid cron 'every night'"),
        ({"input_dir": Path("/no/such/export")}, "input folder /no/such/export does not exist"),
    ],
)
def test_bad_schedule_or_folder_is_a_configuration_error(tmp_path, overrides, message):
    arguments = {"input_dir": SAMPLE, "output_dir": tmp_path, "study_dir": DEFAULT_STUDY_DIR, **overrides}
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        build_deployment(**arguments)


def test_serve_refuses_without_a_prefect_server(tmp_path, capsys):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        code = main(["serve", "--input", str(SAMPLE), "--output", str(tmp_path)])
    assert code == 2
    assert "serve needs a running Prefect server" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


# --- against a real server -------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _environment(prefect_home: Path, **extra: str) -> dict[str, str]:
    """This process's environment without any PREFECT_* (the test harness's API among them),
    offline and quiet, with its own PREFECT_HOME."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(prefect_home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
        PREFECT_SERVER_UI_ENABLED="false",
        **extra,
    )
    return env


def _stop(process: subprocess.Popen, seconds: float = 20) -> None:
    """SIGTERM the process group, then SIGKILL what is left."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(seconds)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _wait(condition, seconds: float, what: str, process: subprocess.Popen, log: Path):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if process.poll() is not None:
            pytest.fail(f"{what}: process exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        time.sleep(0.5)
    pytest.fail(f"{what}: not within {seconds} s:\n{log.read_text()[-3000:]}")


@pytest.fixture
def prefect_server(tmp_path):
    """`prefect server start` on 127.0.0.1:<free port> with a throwaway PREFECT_HOME (SQLite)."""
    home = tmp_path / "prefect-home"
    home.mkdir()
    port = _free_port()
    log = tmp_path / "server.log"
    started = time.monotonic()
    with log.open("wb") as output:
        server = subprocess.Popen(
            [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=_environment(home), stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}/api"

    def healthy() -> bool:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    try:
        _wait(healthy, 120, "prefect server start", server, log)
        print(f"prefect server healthy after {time.monotonic() - started:.1f} s")
        yield url, home
    finally:
        _stop(server)


@pytest.mark.slow
def test_serve_registers_the_schedule_and_runs_the_deployment(prefect_server, tmp_path):
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.exceptions import ObjectNotFound

    url, home = prefect_server
    output = tmp_path / "out"
    log = tmp_path / "serve.log"
    with log.open("wb") as sink:
        serve = subprocess.Popen(
            [str(BIN / "sdtmflow"), "serve", "--input", str(SAMPLE), "--output", str(output),
             "--study", str(DEFAULT_STUDY_DIR), "--timezone", "Asia/Shanghai"],
            env=_environment(home, PREFECT_API_URL=url, PREFECT_RUNNER_POLL_FREQUENCY="1"),
            stdout=sink, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        with SyncPrefectClient(url) as client:

            def registered():
                try:
                    return client.read_deployment_by_name("sdtmflow-run/nightly")
                except ObjectNotFound:
                    return None

            deployment = _wait(registered, 90, "deployment registration", serve, log)
            [schedule] = deployment.schedules
            assert (schedule.schedule.cron, schedule.schedule.timezone) == ("0 2 * * *", "Asia/Shanghai")
            assert schedule.active and not deployment.paused
            assert deployment.parameters["output_dir"] == str(output.resolve())
            assert deployment.entrypoint == "flows.pipeline.sdtmflow_run"

            triggered = time.monotonic()
            run = client.create_flow_run_from_deployment(deployment.id)

            def finished():
                state = client.read_flow_run(run.id).state
                return state if state is not None and state.is_final() else None

            state = _wait(finished, 180, "the triggered flow run", serve, log)
            print(f"triggered run finished after {time.monotonic() - triggered:.1f} s: {state.type}")
            assert state.is_completed(), log.read_text()[-3000:]
            assert client.read_flow_run(run.id).name == "UCMSC-ESLD-2026-03-31"
            artifacts = client.read_artifacts(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.id]))
            )
            assert {a.key for a in artifacts} == {
                "sdtmflow-ucmsc-esld-summary", "sdtmflow-ucmsc-esld-rows", "sdtmflow-ucmsc-esld-findings",
            }
    finally:
        _stop(serve)
    manifest = json.loads((output / "latest" / "manifest.json").read_text())
    assert manifest["study"] == "UCMSC-ESLD"
    history = [json.loads(line) for line in (output / "history.jsonl").read_text().splitlines()]
    assert [(h["outcome"], h["flow_run"]["id"]) for h in history] == [("published", str(run.id))]
