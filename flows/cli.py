"""The `sdtmflow` command line: run, check-study, new-study, sample, convert, serve.

`run` builds a package; `check-study` / `new-study` check and start a study folder; `sample`
writes a site export; `convert` turns one dataset into another format (XPT <-> Dataset-JSON);
`serve` runs the nightly deployment.

The operator never sees a traceback: a data or environment problem is one line naming the path
and what to do (exit 1 or 2), a bug of ours is "internal error — please report" with the log file
that holds the traceback (exit 1). `run` decides "unchanged" from the input hashes before Prefect
or Great Expectations is imported, and otherwise starts Prefect's server while it imports them.

Prefect and Great Expectations settings that must be in place before either is imported are set
here, first: no telemetry leaves the machine (and Prefect's heartbeat stops logging a spurious
"database is locked" traceback), and the embedded server gets time to start on a busy machine.
"""

from __future__ import annotations

import argparse
import errno
import getpass
import logging
import os
import sys
import tempfile
import traceback
from collections.abc import Callable
from contextlib import ExitStack
from datetime import datetime, timezone
from pathlib import Path

_QUIET_DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "GX_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    "PREFECT_LOGGING_LEVEL": "WARNING",
}
EXIT_FAILED, EXIT_CONFIGURATION, EXIT_LOCKED = 1, 2, 3
LOGS_DIR = "logs"
# An OSError of these kinds may pass (space freed, the share back): the run failed, try again.
# Any other is a path to fix: a configuration problem.
_TRANSIENT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EAGAIN, errno.ETIMEDOUT, errno.ESTALE}
_OS_ERROR_ADVICE = {
    errno.EACCES: "give the user running sdtmflow ({user}) access to it, or choose another folder",
    errno.EPERM: "give the user running sdtmflow ({user}) access to it, or choose another folder",
    errno.EROFS: "it is on a read-only filesystem: choose a writable folder",
    errno.ENOSPC: "the disk is full: free space there (or choose another --output) and run again",
    errno.EDQUOT: "the disk quota is used up: free space there (or choose another --output) and run again",
    errno.ENOTDIR: "a part of that path is a file, not a folder: give a folder",
    errno.EISDIR: "it is a folder where a file was expected",
    errno.ENOENT: "it does not exist: check the path",
    errno.EEXIST: "a file is in the way: move it or choose another folder",
}


_OUR_PACKAGES = tuple(Path(__file__).resolve().parents[1] / p for p in ("transforms", "flows", "expectations"))


class Problem(Exception):
    """A problem the operator can fix, already worded; `exit_code` 1 (run failed) or 2 (configuration)."""

    def __init__(self, message: str, exit_code: int = EXIT_CONFIGURATION):
        super().__init__(message)
        self.exit_code = exit_code


def configure_environment() -> None:
    """Set quiet, offline defaults; a value the user exported wins."""
    for name, value in _QUIET_DEFAULTS.items():
        os.environ.setdefault(name, value)


def build_parser() -> argparse.ArgumentParser:
    """One sub-parser per command; each names its handler (`set_defaults(handler=...)`)."""
    from transforms.spec.locations import DEFAULT_STUDY_DIR

    parser = argparse.ArgumentParser(prog="sdtmflow", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    sample = commands.add_parser("sample", help="write a realistic, deterministic site export")
    sample.add_argument("--output", type=Path, required=True, help="folder to write the export into")
    sample.add_argument("--subjects", type=int, default=22)
    sample.add_argument("--seed", type=int, default=20260301)
    sample.add_argument(
        "--study", type=Path, default=None,
        help="generate the export from this study folder's spec (sheets, headers, visits, tests, arms)",
    )
    sample.set_defaults(handler=_sample)

    check = commands.add_parser("check-study", help="report every problem of a study folder (exit 2 if any)")
    check.add_argument("study", type=Path, help="the study folder, e.g. mappings/<study>")
    check.set_defaults(handler=lambda args: _check_study(args.study))

    new = commands.add_parser("new-study", help="write a study folder to edit, which check-study accepts")
    new.add_argument("study", type=Path, help="the new study folder, e.g. mappings/<study>")
    new.add_argument("--studyid", default=None, help="STUDYID (default: the folder's name, upper case)")
    new.set_defaults(handler=_new_study)

    convert = commands.add_parser(
        "convert", help="convert one dataset between SAS XPT v5 and CDISC Dataset-JSON v1.1 (JSON or NDJSON)"
    )
    convert.add_argument("file", type=Path, help="FILE.xpt, FILE.json or FILE.ndjson")
    convert.add_argument("--to", required=True, choices=sorted(_CONVERT_SUFFIXES), help="the format to write")
    convert.add_argument(
        "--output", type=Path,
        help="file to write (default: beside FILE, same name; an XPT is named <dataset>.xpt, as FDA requires)",
    )
    convert.set_defaults(handler=_convert)

    run = commands.add_parser("run", help="build and publish the SDTM package from a site export")
    run.add_argument(
        "--input", type=Path, default=DEFAULT_STUDY_DIR / "sample_export",
        help="the site's export folder (default: the bundled sample study)",
    )
    run.add_argument("--output", type=Path, default=Path("output"), help="package root (default: output/)")
    run.add_argument(
        "--study", type=Path, default=DEFAULT_STUDY_DIR,
        help="study configuration folder under mappings/ (default: the bundled UC-MSC study)",
    )
    run.set_defaults(handler=_run)

    # the defaults live in flows/serve.py, which imports nothing heavy at module level
    from flows.serve import DEFAULT_CRON, DEFAULT_DEPLOYMENT, DEFAULT_TIMEZONE

    serve = commands.add_parser(
        "serve",
        help="register the nightly deployment on the Prefect server at PREFECT_API_URL and run it",
    )
    serve.add_argument("--input", type=Path, required=True, help="the site's export folder")
    serve.add_argument("--output", type=Path, required=True, help="package root")
    serve.add_argument("--study", type=Path, default=DEFAULT_STUDY_DIR, help="study configuration folder")
    serve.add_argument("--cron", default=DEFAULT_CRON, help=f"schedule (default: '{DEFAULT_CRON}')")
    serve.add_argument(
        "--timezone", default=DEFAULT_TIMEZONE, help=f"IANA timezone of the cron (default: {DEFAULT_TIMEZONE})"
    )
    serve.add_argument("--name", default=DEFAULT_DEPLOYMENT, help=f"deployment name (default: {DEFAULT_DEPLOYMENT})")
    serve.set_defaults(handler=_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    configure_environment()
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        print("sdtmflow: interrupted; nothing was published", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 — the boundary: no traceback reaches the console
        code, message = describe_failure(error, args)
        print(f"sdtmflow: {message}", file=sys.stderr)
        return code


def describe_failure(error: BaseException, args: argparse.Namespace) -> tuple[int, str]:
    """(exit code, one-line message) for an exception that reached the command line. Ours to
    fix (a bug) unless it is a worded problem, a locked or failed run, or an OSError on a path."""
    from flows.embedded_server import ServerDidNotStart
    from transforms.publish.publish import OutputLocked, RunFailed

    if isinstance(error, Problem):
        return error.exit_code, str(error)
    if isinstance(error, ServerDidNotStart):
        return EXIT_FAILED, f"run failed, nothing published: {error}"
    if isinstance(error, OutputLocked):
        return EXIT_LOCKED, str(error)
    if isinstance(error, RunFailed):
        return EXIT_FAILED, f"run failed: {error}"
    if isinstance(error, OSError) and (error.filename is not None or error.errno in _TRANSIENT_ERRNOS):
        return describe_os_error(error, args)
    if isinstance(error, (OSError, ValueError)) and raised_by_our_code(error):
        # a configuration error we raised ourselves carries its fix in the message
        return EXIT_CONFIGURATION, str(error)
    path = write_traceback(error, log_path_for(args))
    return EXIT_FAILED, f"internal error — please report; details in {path}"


def describe_os_error(error: OSError, args: argparse.Namespace) -> tuple[int, str]:
    """A write that found the disk full often names no file: everything is written under OUT."""
    if error.filename is not None:
        path, flag = Path(error.filename), name_option(Path(error.filename), args)
    else:
        path, flag = Path(getattr(args, "output", ".")), " (--output)"
    advice = _OS_ERROR_ADVICE.get(error.errno, "check that path").format(user=_user())
    code = EXIT_FAILED if error.errno in _TRANSIENT_ERRNOS else EXIT_CONFIGURATION
    what = (error.strerror or type(error).__name__).lower()
    return code, f"cannot use {path}{flag}: {what}; {advice}. Nothing was published."


def name_option(path: Path, args: argparse.Namespace) -> str:
    """` (--input)` etc. when `path` is inside (or is) the folder given by that option."""
    resolved = path.absolute()
    for option in ("input", "output", "study"):
        folder = getattr(args, option, None)
        if folder is not None and (resolved == Path(folder).absolute() or Path(folder).absolute() in resolved.parents):
            return f" (--{option})"
    return ""


def raised_by_our_code(error: BaseException) -> bool:
    """Whether the innermost frame of the traceback is in transforms/, flows/ or expectations/:
    a `raise` we wrote (with its message), not a library tripping over a bug of ours."""
    frames = traceback.extract_tb(error.__traceback__)
    return bool(frames) and is_our_code(frames[-1].filename)


def is_our_code(filename: str) -> bool:
    return any(folder in Path(filename).resolve().parents for folder in _OUR_PACKAGES)


def log_path_for(args: argparse.Namespace) -> Path:
    """This command's log file, chosen on first use (so a run stopped by a bad argument creates
    nothing): see choose_log_path."""
    if getattr(args, "log_path", None) is None:
        args.log_path = choose_log_path(getattr(args, "output", None) if args.command == "run" else None)
    return args.log_path


def find_file_in_traceback(error: BaseException, folder: Path) -> Path | None:
    """The file under `folder` a library was reading when it raised `error`: a parse error of
    tomllib or pandas does not name the file, but the reader's frame holds its path (or the open
    file). Only frames below our innermost one count: a path merely lying around in our code
    (the previous table read) would name the wrong file."""
    folder = Path(folder).resolve()
    frames = [frame for frame, _ in traceback.walk_tb(error.__traceback__)]
    ours = [i for i, frame in enumerate(frames) if is_our_code(frame.f_code.co_filename)]
    for frame in reversed(frames[ours[-1] + 1:] if ours else frames):
        for value in frame.f_locals.values():
            candidate = value if isinstance(value, (str, Path)) else getattr(value, "name", None)
            if not isinstance(candidate, (str, Path)) or len(str(candidate)) > 4096:
                continue
            try:
                path = Path(candidate).resolve()
            except (OSError, ValueError):
                continue
            if folder in path.parents and path.is_file():
                return path
    return None


def choose_log_path(output_dir: Path | None) -> Path:
    """OUT/logs/run-<UTC time>-<pid>.log, or the same name in the temporary folder when OUT
    cannot hold it (missing permissions, a file in the way, a full disk, no OUT for this
    command). The file itself is created only when something is written to it."""
    name = f"run-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{os.getpid()}.log"
    if output_dir is not None:
        folder = Path(output_dir).absolute() / LOGS_DIR
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if os.access(folder, os.W_OK | os.X_OK):
                return folder / name
        except OSError:
            pass
    return Path(tempfile.gettempdir()) / f"sdtmflow-{name}"


def write_traceback(error: BaseException, log_path: Path) -> Path:
    """Append the traceback to the run's log, or (that disk full too) to a fresh temporary file."""
    text = f"{datetime.now(timezone.utc).isoformat(timespec='seconds')} internal error\n"
    text += "".join(traceback.format_exception(error))
    try:
        with Path(log_path).open("a", encoding="utf-8") as handle:
            handle.write(text)
        return Path(log_path)
    except OSError:
        descriptor, fallback = tempfile.mkstemp(prefix="sdtmflow-internal-", suffix=".log")
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        return Path(fallback)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


def _new_study(args: argparse.Namespace) -> int:
    from transforms.spec.study_skeleton import write_study_skeleton

    study_dir, studyid = args.study, args.studyid
    try:
        written = write_study_skeleton(study_dir, studyid or study_dir.name.upper())
    except (FileExistsError, OSError) as problem:
        raise Problem(str(problem)) from problem
    for path in written:
        print(path)
    print(f"next: edit the files above (docs/new-study.md), then: sdtmflow check-study {study_dir}")
    return _check_study(study_dir)


def _check_study(study_dir: Path) -> int:
    """Print every problem of the study folder, one a line; 2 when there is any."""
    from transforms.spec.study_check import check_study

    problems = check_study(study_dir)
    for problem in problems:
        print(f"sdtmflow: {study_dir}/{problem}", file=sys.stderr)
    if problems:
        print(f"sdtmflow: {len(problems)} problem(s) in study folder {study_dir}: nothing was run", file=sys.stderr)
        return 2
    print(f"study folder {study_dir}: no problem found")
    return 0


def _sample_study(args: argparse.Namespace) -> int:
    import datetime as dt

    from transforms.samples.sample_study import generate_study_export, write_study_export
    from transforms.spec.study import read_study
    from transforms.spec.study_check import check_study

    if check_study(args.study):
        return _check_study(args.study)
    study = read_study(args.study)
    subjects = args.subjects if args.subjects != 22 else None  # 22: the bundled study's default
    frames = generate_study_export(study, subjects, args.seed)
    export_date = dt.date.fromisoformat(study.config.get("sample", {}).get("export_date", "2026-03-31"))
    for path in write_study_export(frames, args.output, export_date):
        print(path)
    return 0


def _sample(args: argparse.Namespace) -> int:
    if args.study is not None:
        return _sample_study(args)
    from transforms.samples.sample_export import generate_sample_export, write_sample_export

    written = write_sample_export(generate_sample_export(args.subjects, args.seed), args.output)
    for path in written:
        print(path)
    return 0


def _run(args: argparse.Namespace) -> int:
    """Check the folders; if OUT has published runs, decide "unchanged" under OUT/.lock (no
    Prefect, no study check: the run id covers the study, the mappings and the code, so a
    published run with that id had a study that passed); else check the study and run the flow."""
    from transforms.publish.publish import hold_output_lock

    check_run_folders(args)
    published_before = (args.output / "runs").is_dir()  # else tonight cannot be unchanged
    with ExitStack() as lock:
        if published_before:
            lock.enter_context(hold_output_lock(args.output))
            message = finish_if_unchanged(args.input, args.output, args.study)
            if message is not None:
                print(message)
                return 0
        check_run_study(args)
        if not published_before:  # locked only now, so a bad study does not create OUT
            lock.enter_context(hold_output_lock(args.output))
        start_flow = prepare_flow(args)
        # The flow takes the lock itself (it also runs from deployments): hand it over only now,
        # so a second run arriving while we import is turned away at once.
        lock.close()
        print(start_flow())
    return 0


def check_run_folders(args: argparse.Namespace) -> None:
    """Configuration problems are caught before Prefect starts, so the operator gets one line
    with the fix instead of task-failure tracebacks and pointless retries. First the folders."""
    if not args.input.exists():
        raise Problem(f"input folder {args.input} does not exist (--input): give the site's export folder")
    if not args.input.is_dir():
        raise Problem(f"input {args.input} is a file, not a folder (--input): give the folder that holds the export")
    os.listdir(args.input)  # an unreadable folder fails here, as an OSError naming it
    if args.output.exists() and not args.output.is_dir():
        raise Problem(f"output {args.output} is a file, not a folder (--output): choose a folder")
    if not args.study.is_dir():
        raise Problem(f"study {args.study} is not a folder (--study): give the study folder (e.g. mappings/<study>)")


def check_run_study(args: argparse.Namespace) -> None:
    """Then the study folder: every problem check-study finds, and what reading it raises."""
    from transforms.core.metadata import read_variable_metadata
    from transforms.spec.study import STANDARDS_DIR, read_study
    from transforms.spec.study_check import check_study

    problems = check_study(args.study)
    if problems:
        more = f"; {len(problems) - 1} more: sdtmflow check-study {args.study} lists them all" if len(problems) > 1 else ""
        raise Problem(f"{args.study}/{problems[0]} (--study){more}")
    try:
        read_study(args.study)
        read_variable_metadata(STANDARDS_DIR, args.study)
    except (OSError, ValueError, KeyError) as problem:
        if isinstance(problem, (OSError, ValueError)) and raised_by_our_code(problem):
            raise Problem(str(problem)) from problem
        details = write_traceback(problem, log_path_for(args))
        where = find_file_in_traceback(problem, args.study) or args.study
        what = (f"the column or key {problem} is missing" if isinstance(problem, KeyError)
                else f"{type(problem).__name__}: {problem}")
        raise Problem(
            f"{where} cannot be read (--study): {what}. "
            f"Compare it with the bundled mappings/ucmsc-esld/; details in {details}"
        ) from problem


def finish_if_unchanged(input_dir: Path, output_dir: Path, study_dir: Path) -> str | None:
    """If the export's run id (inputs hashed as they are, the flow's recipe) is published
    already: point `latest` at it, write the history line, return the message. Imports
    neither Prefect nor Great Expectations. Call it holding OUT/.lock."""
    from transforms.publish.audit import append_history
    from transforms.publish.publish import compute_run_identity, find_published_run, repoint_unchanged
    from transforms.ingest.read_files import compute_file_order, list_input_entries
    from transforms.spec.locations import MAPPINGS_DIR

    # the whole folder, as the flow lists it: a stray file that changed makes a new run
    entries = list_input_entries(input_dir)
    files = compute_file_order(entries).drop(columns="path")
    run_id, _ = compute_run_identity(files, input_dir, study_dir, MAPPINGS_DIR, entries)
    published = find_published_run(output_dir, run_id)
    if published is None:
        return None
    message = repoint_unchanged(output_dir, published)
    append_history(output_dir, run_id, "unchanged", message, {"id": None, "name": None})
    return message


def prepare_flow(args: argparse.Namespace) -> Callable[[], str]:
    """Start Prefect's server in another process while this one imports the flow (Prefect, Great
    Expectations, the stages: ~4 s); returns the call that runs the flow once the server answers."""
    from flows.embedded_server import EmbeddedServer, find_configured_api_url

    log_path = log_path_for(args)
    # Prefect already imported means an in-process caller (a test harness, a notebook) with its
    # own settings: leave the server to Prefect then.
    spawn = "prefect" not in sys.modules and not find_configured_api_url()
    server = EmbeddedServer(log_path).start() if spawn else None
    try:
        from flows.pipeline import sdtmflow_run

        route_prefect_logging(log_path)
        if server is not None:
            server.wait_until_ready(float(os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"]))
    except BaseException:
        if server is not None:
            server.stop()
        raise

    def start_flow() -> str:
        # the server is stopped at exit (EmbeddedServer.start registered it before Prefect was
        # imported, so it runs after Prefect has flushed its logs and events to it)
        return sdtmflow_run(input_dir=args.input, output_dir=args.output, study_dir=args.study)

    return start_flow


def route_prefect_logging(log_path: Path) -> None:
    """Prefect logs a failed task or flow at ERROR with its traceback on the console, Great
    Expectations its own errors; the CLI prints one line instead. Every record still goes,
    whole, to the run's log file (and Prefect's to its API, the UI); the console keeps
    warnings, without tracebacks."""
    root = logging.getLogger()
    for handler in root.handlers:
        if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
            handler.addFilter(lambda record: record.levelno < logging.ERROR)
            handler.setFormatter(_WithoutTraceback(handler.formatter))
    log_file = _QuietFileHandler(log_path, delay=True, encoding="utf-8")
    log_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(log_file)


class _QuietFileHandler(logging.FileHandler):
    """A log file that cannot be written (the disk that is full) must not print logging's own
    traceback on the console; the CLI's line names the problem."""

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 — logging's name
        pass


class _WithoutTraceback(logging.Formatter):
    """Formats a copy of the record without exception or stack with the handler's own
    formatter, so the other handlers (log file, API) still get the traceback."""

    def __init__(self, formatter: logging.Formatter | None):
        super().__init__()
        self.inner = formatter or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        bare = logging.makeLogRecord(record.__dict__)
        bare.exc_info, bare.exc_text, bare.stack_info = None, None, None
        return self.inner.format(bare)


_CONVERT_SUFFIXES = {"dataset-json": ".json", "ndjson": ".ndjson", "xpt": ".xpt"}


def _convert(args: argparse.Namespace) -> int:
    """One dataset from XPT or Dataset-JSON to another of the three; 2 for a bad request, 1 when
    the data cannot be written in the target format (the message lists why)."""
    from transforms.outputs.dataset_json import (
        DatasetJsonHeader,
        build_dataset_json_metadata,
        build_xpt_variables,
        read_dataset_json,
        read_xpt_dataset,
        write_dataset_json,
    )
    from transforms.conform.xpt_rules import XptRuleError
    from transforms.outputs.write import write_xpt

    source, suffix = args.file, _CONVERT_SUFFIXES[args.to]
    if source.suffix.lower() not in _CONVERT_SUFFIXES.values():
        print(f"sdtmflow: {source}: convert reads .xpt, .json or .ndjson files", file=sys.stderr)
        return 2
    if not source.is_file():
        print(f"sdtmflow: {source} does not exist", file=sys.stderr)
        return 2
    try:
        if source.suffix.lower() == ".xpt":
            xpt = read_xpt_dataset(source)
            frame, name, label, variables = xpt.frame, xpt.name, xpt.label, xpt.variables
            # The XPT's last-modified stamp dates both: the same file always converts to the same bytes.
            header = DatasetJsonHeader(created=xpt.modified, modified=xpt.modified)
            metadata = build_dataset_json_metadata(frame, variables, name, label, xpt.lengths, [], header)
            stamp = xpt.modified
        else:
            frame, metadata = read_dataset_json(source)
            name, label, variables = metadata["name"], metadata["label"], build_xpt_variables(metadata)
            stamp = datetime.fromisoformat(metadata.get("dbLastModifiedDateTime") or metadata["datasetJSONCreationDateTime"])
        default = source.with_name(f"{name.lower()}{suffix}") if suffix == ".xpt" else source.with_suffix(suffix)
        target = args.output or default
        if target.resolve() == source.resolve():
            print(f"sdtmflow: {target} is the input file: name another with --output", file=sys.stderr)
            return 2
        target.parent.mkdir(parents=True, exist_ok=True)
        if suffix == ".xpt":
            write_xpt(frame, variables, name, label, target, stamp)
        else:
            write_dataset_json(frame, metadata, target)
    except XptRuleError as problem:
        print(f"sdtmflow: {problem}", file=sys.stderr)
        return 1
    except (KeyError, ValueError) as problem:
        print(f"sdtmflow: {source}: cannot convert: {problem}", file=sys.stderr)
        return 1
    print(target)
    return 0


def _serve(args: argparse.Namespace) -> int:
    from flows.serve import build_deployment, require_api_url, serve_nightly

    try:
        require_api_url()
        deployment = build_deployment(
            args.input, args.output, args.study, args.cron, args.timezone, args.name
        )
    except (FileNotFoundError, ValueError) as problem:
        raise Problem(str(problem)) from problem
    serve_nightly(deployment)
    return 0


if __name__ == "__main__":
    sys.exit(main())
