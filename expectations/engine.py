"""Run Great Expectations suites on in-memory frames and hand back the failing rows.

GX is the engine, not the report: the pipeline needs "which expectation failed on which row", so
every run goes through GX's own chain (ephemeral context -> pandas data source -> dataframe asset
-> whole-dataframe batch definition -> suite -> validation definition -> checkpoint, COMPLETE
results) and the per-row indices are lifted out into a plain frame. Findings, severities and
messages are built by the callers from each expectation's `meta`.

One context serves the whole process: creating it and its data source costs far more than a small
validation, and a nightly run validates a dozen frames.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import json
import os
import re
import shutil
import threading
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import great_expectations as gx
import numpy as np
import pandas as pd
from great_expectations.data_context.types.base import (
    DataContextConfig,
    InMemoryStoreBackendDefaults,
    ProgressBarsConfig,
)
from great_expectations.expectations.expectation import Expectation
from great_expectations.expectations.row_conditions import (
    AndCondition,
    Column,
    ComparisonCondition,
    NullityCondition,
    OrCondition,
)

from expectations.cover import condition_columns, expand_rows, named_columns, plan_cover

FAILURE_COLUMNS = ["expectation", "column", "index", "meta", "detail", "position"]

# COMPLETE is what gives `unexpected_index_list` for every failing row. The index *query* it also
# builds by default is a pandas expression naming every failing index: megabytes of text for 100k
# failures, serialised into the result store and never used here.
RESULT_FORMAT = {"result_format": "COMPLETE", "return_unexpected_index_query": False}

# Data Docs only need examples; the full lists stay in the findings. Without a cap one 1M-row sheet
# with 100k failures puts 100k values into the HTML.
DOCS_UNEXPECTED_CAP = 200
# Results kept per Data Docs folder so its index lists every sheet validated into it. Only the
# newest folders are kept: a long-lived process (a served nightly flow) must not grow without bound.
DOCS_FOLDERS_KEPT = 8

# Shown on each suite's Data Docs page: the counts there are of the rows GX examined.
DOCS_NOTE = (
    "sdtmflow validates one row for each distinct combination of the values an expectation "
    "reads, and every row whose key repeats (expectations/cover.py); a failure found on such a "
    "row is a failure of every row with the same values. The counts on these pages are of the "
    "rows examined. Every failing row of the sheet, with its file, sheet and row number, is in "
    "findings.csv and the site queries."
)

# The scripts, styles and images GX's page templates load from CDNs, vendored so the Data Docs open
# with no network (a reviewer's laptop, an archive years later). assets.csv maps each URL to its
# local copy; README.md beside it says where each file came from and under which licence.
ASSETS_DIR = Path(__file__).resolve().parent / "datadocs_assets"
# a file named "great_expectations:<path>" is GX's own copy in the site's static/ folder
_GX_STATIC = "great_expectations:"
# where, inside a Data Docs folder, the vendored files are copied
_VENDOR_DIR = Path("static") / "vendor"
# Every external URL a page or style sheet would *load* (script, style, image, font). Links a
# reader may click (<a href>, GX's documentation) are left alone: they load nothing by themselves.
_LOADED_URL = re.compile(
    r"""(?:<(?:script|img)\b[^>]*?\ssrc|<link\b[^>]*?\shref)\s*=\s*["'](https?://[^"']+)["']"""
    r"""|url\(\s*["']?(https?://[^"')\s]+)""",
    re.IGNORECASE,
)
# integrity/crossorigin make the browser fetch in CORS mode, which file:// pages cannot
_CORS_ATTRIBUTES = re.compile(r"""\s(?:integrity|crossorigin)\s*=\s*["'][^"']*["']""", re.IGNORECASE)
_SCRIPT_OR_LINK = re.compile(r"<(?:script|link)\b[^>]*>", re.IGNORECASE)

_DATASOURCE, _ASSET, _BATCH = "sdtmflow_frames", "frame", "whole_frame"
_DOCS_LISTS = ("unexpected_list", "unexpected_index_list", "partial_unexpected_list",
               "partial_unexpected_index_list", "partial_unexpected_counts")

# The GX context, its stores and suites are shared mutable state and not thread-safe; Prefect's
# default task runner uses threads, so runs are serialised (the work inside is pandas, which holds
# the GIL for most of it anyway).
_LOCK = threading.RLock()


@dataclass
class _Engine:
    context: object
    batch_definition: object
    docs_sites: OrderedDict = field(default_factory=OrderedDict)  # folder -> site name
    docs_results: dict = field(default_factory=dict)  # folder -> {result key: trimmed result}
    checkpoints: dict = field(default_factory=dict)  # suite name -> (fingerprint, suite, checkpoint)


_engine: _Engine | None = None


def get_engine() -> _Engine:
    """The process's GX context and batch definition, built on first use."""
    global _engine
    with _LOCK:
        if _engine is None:
            _engine = _build_engine()
        return _engine


def _build_engine() -> _Engine:
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(),
        # GX 1.24 ships no analytics client (no posthog, and nothing reads GX_ANALYTICS_ENABLED);
        # off in the config anyway, so an upgrade that brings one back starts switched off
        analytics_enabled=False,
        # tqdm bars on stderr would interleave with Prefect's logs for every validation
        progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
        data_docs_sites={},
    )
    context = gx.get_context(mode="ephemeral", project_config=config)
    source = context.data_sources.add_or_update_pandas(name=_DATASOURCE)
    asset = source.add_dataframe_asset(name=_ASSET)
    batch_definition = asset.add_batch_definition_whole_dataframe(name=_BATCH)
    return _Engine(context=context, batch_definition=batch_definition)


def validate_frame(
    frame: pd.DataFrame,
    suite_name: str,
    expectations: list,
    data_docs_dir: Path | None = None,
    build_docs: bool = True,
    skip_rows=None,
    codes: dict | None = None,
) -> pd.DataFrame:
    """Validate `frame` against `expectations`; one row per failing (expectation, frame row).

    Columns: `expectation` (its type, e.g. expect_column_values_to_not_be_null), `column` (its
    column, or the columns of a multi-column expectation joined by ", "), `index` (the frame index
    label of the failing row; NA when the expectation failed for the table as a whole, e.g. a
    missing column), `meta` (the expectation's meta dict, shared by its rows: read it, don't edit
    it), `detail` (GX's message when the expectation could not be evaluated, else None) and
    `position` (the expectation's place in `expectations`, to group rows by expectation). Rows
    follow the order of `expectations`, then the frame's order. Every failing row is returned,
    however many: a row left out would be a row mapped unchecked. If `data_docs_dir` is given the
    result is kept for that folder's Data Docs and the HTML (re)built there; with `build_docs`
    False the build waits for `build_data_docs` (a dozen suites, one build: each build renders
    every page of the folder again). Rows where the boolean mask `skip_rows` is True are not
    validated.

    GX examines only the rows expectations.cover picks (one per distinct combination of the
    values each check reads, every row whose key repeats) and each failure it finds is spread to
    the rows judged the same way; the rows returned are exactly those a run over the whole frame
    fails. `codes` is the frame's value-code cache (transforms.core.distinct), shared with the other
    checks of the sheet so a column is factorised once.
    """
    _check_arguments(frame, suite_name, expectations)
    if not expectations:
        return empty_failures()
    engine = get_engine()
    context = engine.context
    # Copies: a suite takes ownership of its expectations (ids, save callbacks), and the caller's
    # objects may be reused for the next frame or another suite.
    copies = [e.copy(deep=True, update={"id": None}) for e in expectations]
    frame = _columns_used(frame, copies)
    skip = None
    if skip_rows is not None and len(skip_rows) and np.any(skip_rows):
        skip = np.asarray(skip_rows, dtype=bool)
    frame, copies, original_names = _alias_case_collisions(frame, copies)
    if original_names:
        codes = None  # the cache knows the columns by their own names
    cover = plan_cover(frame, copies, skip, codes)
    if cover is not None:
        examined = frame.iloc[cover.rows]
    else:
        examined = frame if skip is None else frame[~skip]
    examined = _as_categories(examined, copies)
    with _LOCK:
        suite, checkpoint = _checkpoint_for(engine, suite_name, copies)
        with _configurations_cached(), _registration_trusted():
            run = checkpoint.run(batch_parameters={"dataframe": examined})
        store = context.validation_results_store
        try:
            if data_docs_dir is not None:
                _keep_for_docs(engine, Path(data_docs_dir), run.run_results)
                if build_docs:
                    _build_docs(engine, Path(data_docs_dir))
        finally:
            # The ephemeral store would otherwise hold every result (with all its indices) until
            # the process ends.
            for key in list(store.list_keys()):
                store.remove_key(key)
    (suite_result,) = run.run_results.values()
    positions = {e.id: position for position, e in enumerate(suite.expectations)}
    missing = [r for r in suite_result.results if r.expectation_config.id not in positions]
    if missing or len(positions) != len(expectations):
        # results are matched to expectations by GX's ids; without them the order is a guess
        raise RuntimeError("validate_frame: GX results could not be matched to the expectations")
    results = sorted(suite_result.results, key=lambda r: positions[r.expectation_config.id])
    expand = None if cover is None else functools.partial(_expand_labels, cover, frame.index)
    failures = _collect_failures(
        results, [positions[r.expectation_config.id] for r in results], expand
    )
    if original_names:
        renamed = {
            names: ", ".join(original_names.get(n, n) for n in names.split(", "))
            for names in failures["column"].dropna().unique()
        }
        failures["column"] = failures["column"].map(renamed).astype("object")
    return failures


def build_data_docs(data_docs_dir: Path) -> None:
    """(Re)build the Data Docs HTML of a folder from every result validate_frame kept for it."""
    engine = get_engine()
    with _LOCK:
        if Path(data_docs_dir).resolve() not in engine.docs_results:
            return
        store = engine.context.validation_results_store
        try:
            _build_docs(engine, Path(data_docs_dir))
        finally:
            for key in list(store.list_keys()):
                store.remove_key(key)


@contextmanager
def _configurations_cached():
    """Within one checkpoint run, build each expectation's configuration once.

    GX 1.24 rebuilds `Expectation.configuration` (a pydantic `.dict()` of every field) about a
    hundred times per expectation per validation; that is a third of validating a small sheet.
    Nothing changes an expectation while its suite runs (the suite and checkpoint are registered
    before), and nothing in GX writes to the configuration it gets, so the first one serves the
    run. Only inside `_LOCK`: the property is patched process-wide while the run lasts.
    """
    original = Expectation.configuration
    built: dict[int, tuple] = {}

    def configuration(self):
        entry = built.get(id(self))
        if entry is None:
            # the expectation itself is kept too, so its id cannot be reused during the run
            entry = built[id(self)] = (self, original.fget(self))
        return entry[1]

    Expectation.configuration = property(configuration)
    try:
        yield
    finally:
        Expectation.configuration = original


@contextmanager
def _registration_trusted():
    """Within one checkpoint run, take the checkpoint and its validation definition as registered.

    GX 1.24 checks each is "fresh" five times per run: it serialises the checkpoint, the
    definition and the suite and compares each with its copy fetched from the store (the sample's
    SDTM gate, twelve runs: 3.0 s CPU with the checks, 2.1 s without). `_checkpoint_for` registers
    them itself, under `_LOCK`, and nothing changes them before the run, so they are fresh by
    construction. The suite's owner is still recorded, which the check does on the way. Only
    inside `_LOCK`: the methods are patched process-wide while the run lasts.
    """
    from great_expectations.core.freshness_diagnostics import (
        CheckpointFreshnessDiagnostics,
        ValidationDefinitionFreshnessDiagnostics,
    )
    from great_expectations.core.validation_definition import owner_from_batch_definition

    checkpoint_class, definition_class = gx.Checkpoint, gx.ValidationDefinition
    originals = checkpoint_class.is_fresh, definition_class.is_fresh

    def definition_fresh(self):
        self._record_suite_owner(owner_from_batch_definition(self.data))
        return ValidationDefinitionFreshnessDiagnostics(errors=[])

    def checkpoint_fresh(self):
        for definition in self.validation_definitions:
            definition_fresh(definition)
        return CheckpointFreshnessDiagnostics(errors=[])

    checkpoint_class.is_fresh, definition_class.is_fresh = checkpoint_fresh, definition_fresh
    try:
        yield
    finally:
        checkpoint_class.is_fresh, definition_class.is_fresh = originals


def _checkpoint_for(engine: _Engine, suite_name: str, expectations: list):
    """The suite and checkpoint for these expectations, registered only when they changed.

    Registering (suite, validation definition, checkpoint) is about a third of a small
    validation; the same sheet checked again with the same rules reuses them.
    """
    fingerprint = json.dumps(
        [e.configuration.to_json_dict() for e in expectations], sort_keys=True, default=str
    )
    cached = engine.checkpoints.get(suite_name)
    if cached is not None and cached[0] == fingerprint:
        return cached[1], cached[2]
    context = engine.context
    # A name new to this context is added: add_or_update compares every expectation with every
    # other, and registering the definition and the checkpoint registers the suite again (half a
    # second for a nightly run's four suites). A changed suite is updated in place.
    factories = (context.suites, context.validation_definitions, context.checkpoints)
    if cached is None:
        add_suite, add_definition, add_checkpoint = (f.add for f in factories)
    else:
        add_suite, add_definition, add_checkpoint = (f.add_or_update for f in factories)
    suite = add_suite(
        gx.ExpectationSuite(name=suite_name, expectations=expectations, notes=DOCS_NOTE)
    )
    definition = add_definition(
        gx.ValidationDefinition(name=suite_name, data=engine.batch_definition, suite=suite)
    )
    checkpoint = add_checkpoint(
        gx.Checkpoint(
            name=suite_name, validation_definitions=[definition], result_format=RESULT_FORMAT
        )
    )
    engine.checkpoints[suite_name] = (fingerprint, suite, checkpoint)
    return suite, checkpoint


def empty_failures() -> pd.DataFrame:
    """A failures frame with no rows and the canonical columns."""
    return pd.DataFrame(
        {
            "expectation": pd.Series(dtype="object"),
            "column": pd.Series(dtype="object"),
            "index": pd.Series(dtype="Int64"),
            "meta": pd.Series(dtype="object"),
            "detail": pd.Series(dtype="object"),
            "position": pd.Series(dtype="int64"),
        }
    )


def _check_arguments(frame, suite_name, expectations) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(
            f"validate_frame: `frame` must be a pandas DataFrame, got {type(frame).__name__}"
        )
    if not isinstance(suite_name, str) or not suite_name.strip():
        raise ValueError("validate_frame: `suite_name` must be a non-empty text, e.g. 'raw_labs'")
    wrong = [type(e).__name__ for e in expectations if not isinstance(e, Expectation)]
    if wrong:
        raise TypeError(
            "validate_frame: `expectations` must hold gx.expectations.Expect... objects; got "
            f"{', '.join(sorted(set(wrong)))}"
        )
    if not frame.index.is_unique:
        # a failing index label must name exactly one row, or findings point at the wrong rows
        raise ValueError(
            "validate_frame: the frame's index has repeated labels; call "
            "frame.reset_index(drop=True) first"
        )


def _columns_used(frame: pd.DataFrame, expectations: list) -> pd.DataFrame:
    """The frame cut to the columns the expectations read, when that is knowable.

    GX copies the whole frame each time it filters rows (nulls, row conditions): with pandas 3
    Arrow strings that is most of the run time, so unread columns are dropped first. A table
    expectation or a text row_condition may read any column, and then the frame is kept whole.
    """
    used: set = set()
    for expectation in expectations:
        names = named_columns(expectation)
        condition = getattr(expectation, "row_condition", None)
        condition_names = condition_columns(condition) if condition is not None else []
        if not names or condition_names is None:
            return frame
        used.update(names, condition_names)
    # by case-folded name: GX matches names case-insensitively, so keep every spelling
    folded = {str(n).casefold() for n in used}
    return frame[[c for c in frame.columns if str(c).casefold() in folded]]


def _as_categories(frame: pd.DataFrame, expectations: list) -> pd.DataFrame:
    """Text columns as pandas categoricals, for speed; results are the same.

    Every row condition and every null filter makes GX copy the frame's rows; a categorical column
    copies its integer codes, an Arrow string column its text (10x slower on a million rows).
    Columns compared with each other (column_A / column_B) stay text: pandas refuses to compare
    two categoricals whose categories differ.
    """
    paired = {
        getattr(e, name, None) for e in expectations for name in ("column_A", "column_B")
    }
    text = [
        c for c in frame.columns
        if c not in paired and (pd.api.types.is_string_dtype(frame[c]) or frame[c].dtype == object)
        and not isinstance(frame[c].dtype, pd.CategoricalDtype)
    ]
    if not text:
        return frame
    return frame.assign(**{c: frame[c].astype("category") for c in text})


def _alias_case_collisions(frame: pd.DataFrame, expectations: list):
    """Give columns whose names differ only by case (`visit` and `VISIT`) distinct aliases.

    GX resolves a column name case-insensitively and takes the first match in the frame, so with
    both present an expectation on `VISIT` silently checks `visit`. Returns the frame and the
    expectations with the aliases in place, and the alias -> original name map.
    """
    by_fold: dict[str, list] = {}
    for name in frame.columns:
        by_fold.setdefault(str(name).casefold(), []).append(name)
    colliding = [name for names in by_fold.values() if len(names) > 1 for name in names]
    if not colliding:
        return frame, expectations, {}
    alias = {}
    for number, name in enumerate(colliding):
        candidate = f"_gx_alias_{number}"
        while candidate.casefold() in by_fold:
            candidate += "_"
        alias[name] = candidate
    renamed = [_rename_columns(e, alias) for e in expectations]
    return frame.rename(columns=alias), renamed, {v: k for k, v in alias.items()}


def _rename_columns(expectation: Expectation, alias: dict) -> Expectation:
    update = {}
    for name in ("column", "column_A", "column_B"):
        value = getattr(expectation, name, None)
        if isinstance(value, str) and value in alias:
            update[name] = alias[value]
    column_list = getattr(expectation, "column_list", None)
    if column_list:
        update["column_list"] = [alias.get(c, c) for c in column_list]
    condition = getattr(expectation, "row_condition", None)
    if condition is not None:
        update["row_condition"] = _rename_condition(condition, alias)
    return expectation.copy(update=update)


def _rename_condition(condition, alias: dict):
    if isinstance(condition, (NullityCondition, ComparisonCondition)):
        name = condition.column.name
        return condition.copy(update={"column": Column(alias.get(name, name))})
    if isinstance(condition, (AndCondition, OrCondition)):
        parts = [_rename_condition(c, alias) for c in condition.conditions]
        return type(condition)(conditions=parts)
    text = getattr(condition, "pass_through_filter", condition)  # PassThroughCondition or text
    if any(name in str(text) for name in alias):
        raise ValueError(
            f"validate_frame: the text row_condition {str(text)!r} names a column whose name "
            "differs only by case from another column of the frame; write it as a Condition "
            "object (great_expectations.expectations.row_conditions.Column) so it can be aliased"
        )
    return condition


def _expand_labels(cover, index: pd.Index, position: int, labels: list) -> list:
    """The index labels of every row judged as the examined rows `labels` were (cover.py)."""
    return index[expand_rows(cover, position, index.get_indexer(labels))].tolist()


def _collect_failures(results, positions: list[int], expand=None) -> pd.DataFrame:
    """The failures frame of the results; `expand(position, labels)` turns the failing rows GX
    examined into every frame row judged with them (see expectations.cover)."""
    parts = []
    for result, position in zip(results, positions):
        if result.success:
            continue
        config = result.expectation_config
        kwargs = config.kwargs
        column = kwargs.get("column")
        if column is None:
            columns = kwargs.get("column_list") or [
                kwargs[k] for k in ("column_A", "column_B") if k in kwargs
            ]
            column = ", ".join(columns) if columns else None
        meta = dict(config.meta or {})
        indices = (result.result or {}).get("unexpected_index_list")
        exception = result.exception_info or {}
        if exception.get("raised_exception") is not True:
            # a multi-metric expectation keeps its exceptions keyed by metric
            raised = [
                v for v in exception.values() if isinstance(v, dict) and v.get("raised_exception")
            ]
            exception = raised[0] if raised else {}
        if indices and not exception:
            if expand is not None:
                indices = expand(position, indices)
            parts.append(
                pd.DataFrame(
                    {
                        "expectation": config.type,
                        "column": column,
                        "index": indices,
                        "meta": [meta] * len(indices),
                        "detail": None,
                        "position": position,
                    }
                )
            )
        else:
            detail = exception.get("exception_message") or _describe_observed(result.result)
            parts.append(
                pd.DataFrame(
                    {"expectation": [config.type], "column": [column], "index": [pd.NA],
                     "meta": [meta], "detail": [detail], "position": [position]}
                )
            )
    if not parts:
        return empty_failures()
    out = pd.concat(parts, ignore_index=True)
    out = out.astype({"expectation": "object", "column": "object", "position": "int64"})
    try:
        out["index"] = out["index"].astype("Int64")
    except (TypeError, ValueError):
        out["index"] = out["index"].astype("object")  # a frame indexed by labels, not numbers
    return out[FAILURE_COLUMNS]


def _describe_observed(result: dict | None) -> str | None:
    if result and "observed_value" in result:
        return f"observed value: {result['observed_value']}"
    return None


def _site_name(folder: Path) -> str:
    return "sdtmflow_" + hashlib.sha1(str(folder).encode("utf-8")).hexdigest()[:12]


def _keep_for_docs(engine: _Engine, folder: Path, run_results: dict) -> None:
    folder = folder.resolve()
    store = engine.context.validation_results_store
    kept = engine.docs_results.setdefault(folder, {})
    for key in run_results:
        trimmed = store.get(key)  # a deserialised copy: trimming it leaves the run's result alone
        for result in trimmed.results:
            for name in _DOCS_LISTS:
                values = (result.result or {}).get(name)
                if isinstance(values, list) and len(values) > DOCS_UNEXPECTED_CAP:
                    result.result[name] = values[:DOCS_UNEXPECTED_CAP]
        # one entry per suite: re-validating a sheet replaces its page instead of piling up runs
        suite = key.expectation_suite_identifier
        for old in [k for k in kept if k.expectation_suite_identifier == suite]:
            del kept[old]
        kept[key] = trimmed


def _build_docs(engine: _Engine, folder: Path) -> None:
    folder = folder.resolve()
    context = engine.context
    site = engine.docs_sites.get(folder)
    if site is None:
        site = _site_name(folder)
        context.add_data_docs_site(
            site_name=site,
            site_config={
                "class_name": "SiteBuilder",
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(folder),
                },
            },
        )
        engine.docs_sites[folder] = site
    engine.docs_sites.move_to_end(folder)
    while len(engine.docs_sites) > DOCS_FOLDERS_KEPT:
        old_folder, old_site = engine.docs_sites.popitem(last=False)
        context.delete_data_docs_site(old_site)
        engine.docs_results.pop(old_folder, None)
    # The site index lists whatever the result store holds: show exactly this folder's results.
    store = context.validation_results_store
    for key in list(store.list_keys()):
        store.remove_key(key)
    for key, result in engine.docs_results[folder].items():
        store.set(key, result)
    folder.mkdir(parents=True, exist_ok=True)
    context.build_data_docs(site_names=[site])
    localise_data_docs(folder)


@functools.cache
def read_docs_assets() -> dict[str, str]:
    """URL (without its query) -> local file, from datadocs_assets/assets.csv."""
    with open(ASSETS_DIR / "assets.csv", newline="", encoding="utf-8") as handle:
        return {row["url"]: row["file"] for row in csv.DictReader(handle)}


def localise_data_docs(folder: Path) -> None:
    """Make the Data Docs in `folder` open with no network: copy the vendored assets into
    static/vendor/ and point every page and style sheet at them.

    GX writes the CDN URLs into every page (and its own style sheet) on each build, so this runs
    after each build; pages already rewritten are left as they are. A URL GX loads that
    assets.csv does not know (a GX upgrade with new templates) raises: the docs would be blank
    offline."""
    folder = Path(folder)
    shutil.copytree(ASSETS_DIR, folder / _VENDOR_DIR, dirs_exist_ok=True)
    files = sorted(folder.rglob("*.html")) + sorted((folder / "static" / "styles").glob("*.css"))
    for path in files:
        text = path.read_text(encoding="utf-8")
        rewritten = rewrite_asset_urls(text, Path(os.path.relpath(folder, path.parent)).as_posix())
        if rewritten != text:
            path.write_text(rewritten, encoding="utf-8")


def rewrite_asset_urls(text: str, to_root: str) -> str:
    """`text` (a Data Docs page or style sheet) with each external asset URL replaced by the path
    of its local copy, relative to the file (`to_root`: the file's path back to the docs folder).

    Raises ValueError naming the URLs assets.csv has no copy of."""
    assets = read_docs_assets()
    loaded = {url for pair in _LOADED_URL.findall(text) for url in pair if url}
    unknown = sorted({url for url in loaded if url.split("?")[0] not in assets})
    if unknown:
        raise ValueError(
            "Data Docs would load these URLs from the network: " + ", ".join(unknown) + ". "
            f"Vendor each file into {ASSETS_DIR} (npm pack <package>@<version>) and add its URL "
            "to assets.csv there"
        )

    def local(url: str) -> str:
        file = assets[url.split("?")[0]]
        if file.startswith(_GX_STATIC):
            return f"{to_root}/static/{file[len(_GX_STATIC):]}"
        return f"{to_root}/{_VENDOR_DIR.as_posix()}/{file}"

    def replace(match: re.Match) -> str:
        group = 1 if match.group(1) else 2
        start, end = match.span(group)
        offset = match.start()
        whole = match.group(0)
        return whole[: start - offset] + local(match.group(group)) + whole[end - offset:]

    text = _LOADED_URL.sub(replace, text)
    return _SCRIPT_OR_LINK.sub(lambda tag: _CORS_ATTRIBUTES.sub("", tag.group(0)), text)
