"""`sdtmflow serve`: the nightly deployment on a real Prefect server, and a process that runs it.

register_deployment() creates (or updates) the deployment `sdtmflow-run/<name>` with a cron
schedule in an explicit timezone and the run's folders as parameters; serve_nightly() registers it
and then polls the server for its runs, executing each in a subprocess (Prefect's Runner), until
stopped. The alternative with a work pool and `prefect worker start` is `prefect.yaml`.

A schedule needs a server that outlives the command: the embedded server `sdtmflow run` starts
lives for one run only, so serve refuses to start without PREFECT_API_URL.
"""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_CRON = "0 2 * * *"
DEFAULT_TIMEZONE = "Asia/Shanghai"
DEFAULT_DEPLOYMENT = "nightly"


class NoPrefectServer(ValueError):
    """PREFECT_API_URL is not set: there is no server to keep the schedule."""


def require_api_url() -> str:
    """The Prefect API the deployment goes to; NoPrefectServer (with the fix) when none is set."""
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if not url:
        raise NoPrefectServer(
            "serve needs a running Prefect server to keep the schedule, and PREFECT_API_URL is not "
            "set (the embedded server of `sdtmflow run` lives only as long as one run). Start one "
            "with `prefect server start`, then `export PREFECT_API_URL=http://127.0.0.1:4200/api` "
            "(or `prefect config set PREFECT_API_URL=...`) and run serve again."
        )
    return url


def build_deployment(
    input_dir: Path,
    output_dir: Path,
    study_dir: Path,
    cron: str = DEFAULT_CRON,
    timezone: str = DEFAULT_TIMEZONE,
    name: str = DEFAULT_DEPLOYMENT,
):
    """The nightly RunnerDeployment (not yet registered). Folders become absolute parameters, so
    a run finds them whatever directory the runner starts it in; the module-path entrypoint
    (flows.pipeline.sdtmflow_run) works wherever the package is installed."""
    from prefect.deployments.runner import EntrypointType
    from prefect.schedules import Cron

    from flows.pipeline import sdtmflow_run
    from transforms.publish.publish import compute_code_sha256

    folders = {"input_dir": Path(input_dir), "output_dir": Path(output_dir), "study_dir": Path(study_dir)}
    for parameter, folder in folders.items():
        if parameter != "output_dir" and not folder.is_dir():
            raise FileNotFoundError(f"{parameter.removesuffix('_dir')} folder {folder} does not exist")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown timezone {timezone!r}: give an IANA name such as Asia/Shanghai or Europe/London"
        ) from None
    try:
        schedule = Cron(cron, timezone=timezone)
    except ValueError as problem:
        raise ValueError(f"invalid cron {cron!r} (five fields, e.g. '0 2 * * *'): {problem}") from None
    return sdtmflow_run.to_deployment(
        name,
        schedules=[schedule],
        parameters={key: str(folder.resolve()) for key, folder in folders.items()},
        paused=False,
        concurrency_limit=1,
        description=f"Nightly SDTM build: {cron} ({timezone})",
        version=compute_code_sha256()[:12],
        tags=["sdtmflow", "nightly"],
        entrypoint_type=EntrypointType.MODULE_PATH,
    )


def register_deployment(deployment) -> str:
    """Create or update the deployment on the server PREFECT_API_URL names; returns its id."""
    require_api_url()
    return str(deployment.apply())


def serve_nightly(deployment, limit: int = 1) -> None:
    """Register the deployment, then execute its scheduled (and manually triggered) runs until
    interrupted. The schedule stays active on the server when serve stops: runs due meanwhile
    show as Late in the UI and execute when serve is back (a run over unchanged inputs publishes
    nothing, so catching up is safe)."""
    from prefect import serve

    register_deployment(deployment)
    serve(deployment, limit=limit, pause_on_shutdown=False, print_starting_message=True)
