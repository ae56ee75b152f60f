"""Shared fixtures: one Prefect test harness per session, one published sample run per session."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from flows.cli import configure_environment

# Before Prefect or Great Expectations is imported anywhere: offline, quiet, patient start-up.
configure_environment()

REQUIRE_ALL_TOOLS = os.environ.get("CI", "").lower() == "true"


# A test that asks for one of these runs the real flow under Prefect: end to end by definition,
# so slow wherever it lives. The inner loop (`pytest -m "not slow"`) then never starts Prefect;
# the full suite still runs every one of them.
END_TO_END_FIXTURES = {"prefect_harness", "sample_run", "sample_sdtm"}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark slow every test that needs the real flow (before `-m` selects)."""
    for item in items:
        if END_TO_END_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


def require_tool(name: str) -> str:
    """Path of an external tool; skip without it locally, fail in CI (which installs it)."""
    path = shutil.which(name)
    if path is None:
        if REQUIRE_ALL_TOOLS:
            pytest.fail(f"{name} is not installed; .ci/run installs it")
        pytest.skip(f"{name} not installed (apt-get install r-cran-haven / chromium)")
    return path


@pytest.fixture(scope="session")
def rscript() -> str:
    """R's Rscript, for reading XPT with haven as an independent reader."""
    return require_tool("Rscript")


@pytest.fixture(scope="session")
def prefect_harness():
    """A throwaway Prefect backend for the whole session (~7 s once)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def sample_run(prefect_harness, tmp_path_factory) -> Path:
    """The bundled sample study run once through the real flow; returns the published run dir."""
    from flows.pipeline import sdtmflow_run
    from transforms.spec.study import DEFAULT_STUDY_DIR

    output = tmp_path_factory.mktemp("sample_output")
    sdtmflow_run(
        input_dir=DEFAULT_STUDY_DIR / "sample_export", output_dir=output, study_dir=DEFAULT_STUDY_DIR
    )
    return (output / "latest").resolve()


@pytest.fixture(scope="session")
def sample_sdtm(sample_run) -> Path:
    """The published sample run's submission folder (its XPT datasets and define.xml)."""
    from transforms.spec.study import DEFAULT_STUDY_DIR, read_study
    from transforms.outputs.submission import compute_sdtm_folder

    return sample_run / compute_sdtm_folder(read_study(DEFAULT_STUDY_DIR).studyid)


@pytest.fixture(scope="session")
def offline_chromium(tmp_path_factory):
    """Run headless chromium on a local page with no network: `run(path, *flags)` returns its
    stdout (e.g. with "--dump-dom", the DOM after the page's scripts ran).

    In a network namespace of its own when `unshare -n` is allowed (root, or user namespaces),
    and with every host name unresolvable either way, so a page that still needs a CDN shows it."""
    import subprocess

    chromium = require_tool("chromium")
    isolate = []
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-n", "true"], capture_output=True).returncode == 0:
        isolate = [unshare, "-n"]
    profile = tmp_path_factory.mktemp("chromium_profile")

    def run(path: Path, *flags: str) -> str:
        command = isolate + [
            chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={profile}",
            *flags, Path(path).resolve().as_uri(),
        ]
        return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True).stdout

    return run
