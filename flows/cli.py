"""The `sdtmflow` command: `sample` writes the bundled kind of site export, `run` builds a package,
`convert` turns one dataset into another format (XPT <-> Dataset-JSON).

Prefect and Great Expectations settings that must be in place before either is imported are set
here, first: no telemetry leaves the machine (and Prefect's heartbeat stops logging a spurious
"database is locked" traceback), and the embedded server gets time to start on a busy machine.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime
from pathlib import Path

_QUIET_DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "GX_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    "PREFECT_LOGGING_LEVEL": "WARNING",
}


def configure_environment() -> None:
    """Set quiet, offline defaults; a value the user exported wins."""
    for name, value in _QUIET_DEFAULTS.items():
        os.environ.setdefault(name, value)


def main(argv: list[str] | None = None) -> int:
    configure_environment()
    from transforms.study import DEFAULT_STUDY_DIR

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

    new = commands.add_parser("new-study", help="write a study folder to edit, which check-study accepts")
    new.add_argument("study", type=Path, help="the new study folder, e.g. mappings/<study>")
    new.add_argument("--studyid", default=None, help="STUDYID (default: the folder's name, upper case)")

    check = commands.add_parser("check-study", help="report every problem of a study folder (exit 2 if any)")
    check.add_argument("study", type=Path, help="the study folder, e.g. mappings/<study>")

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

    convert = commands.add_parser(
        "convert", help="convert one dataset between SAS XPT v5 and CDISC Dataset-JSON v1.1 (JSON or NDJSON)"
    )
    convert.add_argument("file", type=Path, help="FILE.xpt, FILE.json or FILE.ndjson")
    convert.add_argument("--to", required=True, choices=sorted(_CONVERT_SUFFIXES), help="the format to write")
    convert.add_argument(
        "--output", type=Path,
        help="file to write (default: beside FILE, same name; an XPT is named <dataset>.xpt, as FDA requires)",
    )

    args = parser.parse_args(argv)
    if args.command == "convert":
        return _convert(args)
    if args.command == "sample":
        return _sample(args)
    if args.command == "serve":
        return _serve(args)
    if args.command == "check-study":
        return _check_study(args.study)
    if args.command == "new-study":
        return _new_study(args.study, args.studyid)
    return _run(args)


def _new_study(study_dir: Path, studyid: str | None) -> int:
    from transforms.study_skeleton import write_study_skeleton

    try:
        written = write_study_skeleton(study_dir, studyid or study_dir.name.upper())
    except (FileExistsError, OSError) as problem:
        print(f"sdtmflow: {problem}", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    print(f"next: edit the files above (docs/new-study.md), then: sdtmflow check-study {study_dir}")
    return _check_study(study_dir)


def _check_study(study_dir: Path) -> int:
    """Print every problem of the study folder, one a line; 2 when there is any."""
    from transforms.study_check import check_study

    problems = check_study(study_dir)
    for problem in problems:
        print(f"sdtmflow: {study_dir}/{problem}", file=sys.stderr)
    if problems:
        print(f"sdtmflow: {len(problems)} problem(s) in study folder {study_dir}: nothing was run", file=sys.stderr)
        return 2
    print(f"study folder {study_dir}: no problem found")
    return 0


def _sample(args: argparse.Namespace) -> int:
    if args.study is not None:
        return _sample_study(args)
    from transforms.sample_export import generate_sample_export, write_sample_export

    written = write_sample_export(generate_sample_export(args.subjects, args.seed), args.output)
    for path in written:
        print(path)
    return 0


def _sample_study(args: argparse.Namespace) -> int:
    import datetime as dt

    from transforms.sample_study import generate_study_export, write_study_export
    from transforms.study import read_study
    from transforms.study_check import check_study

    if check_study(args.study):
        return _check_study(args.study)
    study = read_study(args.study)
    subjects = args.subjects if args.subjects != 22 else None  # 22: the bundled study's default
    frames = generate_study_export(study, subjects, args.seed)
    export_date = dt.date.fromisoformat(study.config.get("sample", {}).get("export_date", "2026-03-31"))
    for path in write_study_export(frames, args.output, export_date):
        print(path)
    return 0


def _run(args: argparse.Namespace) -> int:
    from transforms.metadata import read_variable_metadata
    from transforms.study import STANDARDS_DIR, read_study

    try:
        # Configuration problems are caught here, before Prefect starts, so the operator gets one
        # line with the fix instead of task-failure tracebacks and pointless retries.
        if not args.input.is_dir():
            raise FileNotFoundError(f"input folder {args.input} does not exist (--input)")
        from transforms.study_check import check_study

        problems = check_study(args.study)
        if problems:
            return _check_study(args.study)
        read_study(args.study)
        read_variable_metadata(STANDARDS_DIR, args.study)
    except (FileNotFoundError, ValueError) as problem:
        print(f"sdtmflow: {problem}", file=sys.stderr)
        return 2

    from flows.pipeline import RunFailed, sdtmflow_run
    from transforms.publish import OutputLocked

    try:
        summary = sdtmflow_run(input_dir=args.input, output_dir=args.output, study_dir=args.study)
    except RunFailed as failure:
        print(f"sdtmflow: run failed: {failure}", file=sys.stderr)
        return 1
    except OutputLocked as busy:
        print(f"sdtmflow: {busy}", file=sys.stderr)
        return 3
    except (FileNotFoundError, ValueError) as problem:
        # Configuration errors (a missing folder, a bad study table) carry their own fix.
        print(f"sdtmflow: {problem}", file=sys.stderr)
        return 2
    print(summary)
    return 0



_CONVERT_SUFFIXES = {"dataset-json": ".json", "ndjson": ".ndjson", "xpt": ".xpt"}


def _convert(args: argparse.Namespace) -> int:
    """One dataset from XPT or Dataset-JSON to another of the three; 2 for a bad request, 1 when
    the data cannot be written in the target format (the message lists why)."""
    from transforms.dataset_json import (
        DatasetJsonHeader,
        build_dataset_json_metadata,
        build_xpt_variables,
        read_dataset_json,
        read_xpt_dataset,
        write_dataset_json,
    )
    from transforms.write import XptRuleError, write_xpt

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
        print(f"sdtmflow: {problem}", file=sys.stderr)
        return 2
    serve_nightly(deployment)
    return 0


if __name__ == "__main__":
    sys.exit(main())
