"""expectations/engine.py and expectations/raw.py: GX runs, raw-sheet suites, findings."""

from __future__ import annotations

import base64
import csv
import hashlib
import re
import socket
import threading
from pathlib import Path

import great_expectations as gx
import numpy as np
import pandas as pd
import pytest
from great_expectations.expectations.row_conditions import Column

import expectations.engine as engine_module
from expectations.cover import plan_cover
from expectations.engine import (
    ASSETS_DIR,
    DOCS_UNEXPECTED_CAP,
    get_engine,
    rewrite_asset_urls,
    validate_frame,
)
from expectations.raw import RULES, build_raw_suite, check_raw_sheet
from transforms.core.findings import FINDING_COLUMNS
from transforms.spec.study import DEFAULT_STUDY_DIR, read_study

RAW_COLUMNS = Path(__file__).resolve().parents[2] / "mappings" / "ucmsc-esld" / "raw_columns.csv"
E = gx.expectations

# GX deprecates text row conditions; one test uses one on purpose, and GX re-reads stored suites
# (Data Docs), which repeats the warning in later tests.
pytestmark = pytest.mark.filterwarnings(
    "ignore:The condition_parser parameter is deprecated:DeprecationWarning",
    "ignore:Passing a string to the row_condition parameter is deprecated:DeprecationWarning",
)

_STUDY = read_study(DEFAULT_STUDY_DIR)
CONTEXT = {
    # what each sheet is and its record key, as the study's sheets.csv says
    "roles": dict(zip(_STUDY.sheets["sheet"], _STUDY.sheets["role"])),
    "record_keys": _STUDY.record_keys,
    "labels": {sheet: names[0] for sheet, names in _STUDY.sheet_names.items()},
    "subjects_label": "Demographics",
    "known_subjects": ["01-001", "01-002"],
    "known_visits": ["Screening", "Baseline", "Week 4"],
    "known_tests": ["ALT", "BILI", "INR"],
    "known_units": [
        ("ALT", "U/L"), ("ALT", "IU/L"), ("BILI", "umol/L"), ("BILI", "mg/dL"), ("INR", None),
    ],
}

GOOD = {
    "demographics": {
        "site": "01", "subject": "01-001", "birth_date": "1961-08-14", "sex": "M",
        "consent_date": "2026-01-05", "randomisation_date": "2026-01-06", "arm": "Low dose",
        "weight": "63.5",
    },
    "infusions": {
        "subject": "01-001", "infusion_number": "1", "infusion_date": "2026-01-10", "dose": "1",
    },
    "labs": {
        "subject": "01-001", "visit": "Baseline", "collection_date": "2026-01-10", "test": "ALT",
        "result": "35", "unit": "U/L",
    },
    "assessments": {
        "subject": "01-001", "visit": "Baseline", "assessment_date": "2026-01-10",
        "ascites": "None", "encephalopathy": "None",
    },
}


@pytest.fixture(scope="module")
def raw_columns() -> pd.DataFrame:
    return pd.read_csv(RAW_COLUMNS, dtype=str, keep_default_na=False)


def sheet_frame(raw_columns, sheet, rows, file="export_2026-03-01.xlsx"):
    """A standardised raw sheet as the validate stage receives it: every canonical column as text,
    lineage (row numbers from 2), and helpers that copy the raw value unless a row overrides them
    (as if standardisation recognised everything)."""
    columns = raw_columns.loc[raw_columns["sheet"] == sheet]
    records = []
    for number, row in enumerate(rows, start=2):
        record = {c: None for c in columns["column"]}
        record.update({k: v for k, v in row.items() if k in record})
        for c in columns.loc[columns["kind"] == "date", "column"]:
            record[f"dtc_{c}"] = record[c]
            record[f"problem_{c}"] = None
        for c in columns.loc[columns["kind"] == "time", "column"]:
            record[f"problem_{c}"] = None
        for c, helper in columns.loc[columns["coded_as"] != "", ["column", "coded_as"]].values:
            record[helper] = record[c]
        if sheet == "demographics":
            record["age_at_consent"] = None
        if sheet == "infusions":
            record["EXDOSE"] = pd.to_numeric(record["dose"], errors="coerce")
        if sheet == "labs":
            record["problem_result"] = None
            record["result_standard"] = None
            # as the standardiser's unit conversion: a factor where (test, unit) is accepted
            unit = "" if record["LBORRESU"] is None else record["LBORRESU"]
            pairs = {(t, "" if u is None else u) for t, u in CONTEXT["known_units"]}
            record.setdefault("factor", 1.0 if (record["LBTESTCD"], unit) in pairs else None)
        record.update({"_file": file, "_sheet": sheet.capitalize(), "_row": number})
        record.update({k: v for k, v in row.items() if k not in columns["column"].values})
        records.append(record)
    frame = pd.DataFrame(records)
    numbers = [c for c in NUMBER_HELPERS if c in frame.columns]
    text = [c for c in frame.columns if c != "_row" and c not in numbers]
    return frame.astype({c: "str" for c in text}).astype({"_row": "int64", **dict.fromkeys(numbers, "float64")})


NUMBER_HELPERS = ("age_at_consent", "EXDOSE", "result_standard", "factor")


def good(sheet, **changes):
    return {**GOOD[sheet], **changes}


def rules_of(findings):
    return sorted(findings["rule"].tolist())


# --- engine -----------------------------------------------------------------------------------


def test_validate_frame_gives_one_row_per_failing_row_in_expectation_order():
    frame = pd.DataFrame({"a": ["x", None, "z", "x"], "b": ["1", "2", None, "4"]}, dtype="str")
    failures = validate_frame(
        frame,
        "engine_order",
        [
            E.ExpectColumnValuesToBeInSet(column="a", value_set=["x"], meta={"rule": "IN"}),
            E.ExpectColumnValuesToNotBeNull(column="a", meta={"rule": "NN"}),
            E.ExpectColumnValuesToNotBeNull(column="b", meta={"rule": "OK-not-reached"},
                                            row_condition=Column("a") == "x"),
        ],
    )
    assert failures.columns.tolist() == [
        "expectation", "column", "index", "meta", "detail", "position"
    ]
    assert failures["index"].tolist() == [2, 1]
    assert [m["rule"] for m in failures["meta"]] == ["IN", "NN"]
    assert failures["expectation"].tolist() == [
        "expect_column_values_to_be_in_set", "expect_column_values_to_not_be_null"
    ]
    assert failures["position"].tolist() == [0, 1]


def test_row_condition_object_and_legacy_pandas_string_select_the_same_rows():
    # pandas 3 `str` columns hold NaN for missing: both forms must still see them as null
    frame = pd.DataFrame(
        {"raw": ["a", "b", None, "d"], "code": ["A", None, None, None]}, dtype="str"
    )
    new = E.ExpectColumnValuesToNotBeNull(column="code", row_condition=Column("raw").is_not_null())
    with pytest.warns(DeprecationWarning):
        legacy = E.ExpectColumnValuesToNotBeNull(
            column="code", row_condition="raw.notna()", condition_parser="pandas"
        )
    failures = validate_frame(frame, "engine_conditions", [new, legacy])
    assert failures.groupby("position")["index"].apply(list).tolist() == [[1, 3], [1, 3]]


def test_columns_differing_only_by_case_are_checked_separately():
    # GX matches names case-insensitively and would check `visit` for `VISIT`
    frame = pd.DataFrame({"visit": ["W4", "Week 4", None], "VISIT": ["Week 4", "Week 4", "Week 9"]},
                         dtype="str")
    failures = validate_frame(
        frame,
        "engine_case",
        [
            E.ExpectColumnValuesToBeInSet(column="VISIT", value_set=["Week 4"]),
            E.ExpectColumnValuesToBeInSet(column="visit", value_set=["Week 4"]),
            E.ExpectColumnValuesToNotBeNull(
                column="visit", row_condition=Column("VISIT") == "Week 9"
            ),
            E.ExpectCompoundColumnsToBeUnique(column_list=["VISIT", "visit"]),
        ],
    )
    assert failures[["column", "index", "position"]].values.tolist() == [
        ["VISIT", 2, 0], ["visit", 0, 1], ["visit", 2, 2]
    ]
    legacy = E.ExpectColumnValuesToNotBeNull(
        column="visit", row_condition='VISIT == "Week 9"', condition_parser="pandas"
    )
    with pytest.raises(ValueError, match="Condition object"):
        validate_frame(frame, "engine_case", [legacy])


def test_table_expectations_see_every_column():
    frame = pd.DataFrame({"a": ["x"], "b": ["y"], "c": ["z"]}, dtype="str")
    failures = validate_frame(
        frame,
        "engine_table",
        [E.ExpectColumnValuesToNotBeNull(column="a"),
         E.ExpectTableColumnsToMatchSet(column_set=["a", "b", "c"], exact_match=True)],
    )
    assert failures.empty


def test_concurrent_calls_from_threads_keep_their_own_results():
    results = {}

    def run(number):
        values = ["x"] * 50
        values[number] = None
        frame = pd.DataFrame({"a": values}, dtype="str")
        failures = validate_frame(frame, f"engine_thread_{number % 2}",
                                  [E.ExpectColumnValuesToNotBeNull(column="a")])
        results[number] = failures["index"].tolist()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {n: [n] for n in range(8)}


def test_missing_column_is_a_table_level_row_not_a_traceback():
    frame = pd.DataFrame({"a": ["x"]}, dtype="str")
    failures = validate_frame(
        frame, "engine_missing",
        [E.ExpectColumnValuesToNotBeNull(column="nope", meta={"rule": "R"})],
    )
    assert len(failures) == 1
    assert pd.isna(failures["index"].iloc[0])
    assert "nope" in failures["detail"].iloc[0]


def test_caller_expectations_are_reusable_and_results_do_not_pile_up():
    expectations = [E.ExpectColumnValuesToNotBeNull(column="a")]
    for values in (["x", None], [None, "y", None]):
        frame = pd.DataFrame({"a": values}, dtype="str")
        failures = validate_frame(frame, "engine_reuse", expectations)
        assert failures["index"].tolist() == [i for i, v in enumerate(values) if v is None]
    assert expectations[0].id is None
    assert get_engine().context.validation_results_store.list_keys() == []
    # same suite name, new rules: the new rules run, not the registered ones
    frame = pd.DataFrame({"a": ["x", None], "b": [None, "y"]}, dtype="str")
    changed = validate_frame(frame, "engine_reuse", [E.ExpectColumnValuesToNotBeNull(column="b")])
    assert changed[["column", "index"]].values.tolist() == [["b", 0]]


def test_registered_checkpoints_are_fresh_by_gx_own_check_outside_the_run():
    # validate_frame skips GX's freshness checks while a run lasts: what it registered must be
    # what GX itself calls fresh, also after a changed suite is updated under the same name, and
    # GX's checks must be back once the run is over
    originals = gx.Checkpoint.is_fresh, gx.ValidationDefinition.is_fresh
    frame = pd.DataFrame({"a": ["x", None], "b": [None, "y"]}, dtype="str")
    for column in ("a", "b"):
        failures = validate_frame(frame, "engine_fresh", [E.ExpectColumnValuesToNotBeNull(column=column)])
        assert failures["column"].tolist() == [column]
        assert (gx.Checkpoint.is_fresh, gx.ValidationDefinition.is_fresh) == originals
        _, suite, checkpoint = get_engine().checkpoints["engine_fresh"]
        assert checkpoint.is_fresh().success
        assert [e.column for e in suite.expectations] == [column]


def test_bad_arguments_raise_with_a_fix():
    frame = pd.DataFrame({"a": ["x", "y"]}, index=[0, 0])
    with pytest.raises(ValueError, match="reset_index"):
        validate_frame(frame, "engine_bad", [E.ExpectColumnValuesToNotBeNull(column="a")])
    with pytest.raises(TypeError, match="Expect"):
        validate_frame(frame.reset_index(drop=True), "engine_bad", ["not an expectation"])
    assert validate_frame(frame.reset_index(drop=True), "engine_bad", []).empty


def test_data_docs_are_written_where_asked_and_list_every_suite(tmp_path):
    docs = tmp_path / "run" / "data_docs"
    frame = pd.DataFrame({"a": ["x", None]}, dtype="str")
    for name in ("raw_alpha", "raw_beta"):
        validate_frame(
            frame, name, [E.ExpectColumnValuesToNotBeNull(column="a")], data_docs_dir=docs
        )
    index = (docs / "index.html").read_text(encoding="utf-8")
    assert "raw_alpha" in index and "raw_beta" in index
    pages = list((docs / "validations").rglob("*.html"))
    suites = {p.relative_to(docs / "validations").parts[0] for p in pages}
    assert suites == {"raw_alpha", "raw_beta"}


def test_data_docs_keep_only_examples_of_many_failures(tmp_path):
    # distinct values: GX examines one row per value, so only distinct failures reach Data Docs
    frame = pd.DataFrame({"a": [f"x{i}" for i in range(DOCS_UNEXPECTED_CAP + 50)]}, dtype="str")
    failures = validate_frame(
        frame, "engine_many", [E.ExpectColumnValuesToBeInSet(column="a", value_set=["ok"])],
        data_docs_dir=tmp_path,
    )
    assert len(failures) == DOCS_UNEXPECTED_CAP + 50  # the findings keep every row
    (kept,) = get_engine().docs_results[tmp_path.resolve()].values()
    assert len(kept.results[0].result["unexpected_index_list"]) == DOCS_UNEXPECTED_CAP


def test_validation_and_docs_make_no_network_connection(tmp_path, monkeypatch):
    get_engine()

    def refuse(*args, **kwargs):
        raise AssertionError(f"network connection attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    frame = pd.DataFrame({"a": ["x", None]}, dtype="str")
    validate_frame(frame, "engine_offline", [E.ExpectColumnValuesToNotBeNull(column="a")],
                   data_docs_dir=tmp_path)
    assert get_engine().context.config.analytics_enabled is False


# --- Data Docs offline -----------------------------------------------------------------------

GX_VIEW = Path(gx.__file__).parent / "render" / "view"
ASSETS = list(csv.DictReader((ASSETS_DIR / "assets.csv").open(encoding="utf-8")))


def test_asset_urls_are_rewritten_to_the_local_copies_and_links_left_alone():
    page = (
        '<script src="https://code.jquery.com/jquery-3.7.1.min.js"></script>\n'
        '<script src="https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js" '
        'integrity="sha384-abc" crossorigin="anonymous"></script>\n'
        '<img class="NO-CACHE"\n  src="https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/'
        'logo-long.png?d=20260331T000000Z" alt="GX"/>\n'
        "a { background: url('https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/"
        "full_logo_dark.png') 0 0; }\n"
        '<a href="https://code.jquery.com/jquery-3.7.1.min.js">jQuery</a>\n'
    )
    assert rewrite_asset_urls(page, "../..") == (
        '<script src="../../static/vendor/jquery@3.7.1/dist/jquery.min.js"></script>\n'
        '<script src="../../static/vendor/bootstrap@4.3.1/dist/js/bootstrap.min.js"></script>\n'
        '<img class="NO-CACHE"\n  src="../../static/images/logo-long.png" alt="GX"/>\n'
        "a { background: url('../../static/images/logo-long.png') 0 0; }\n"
        '<a href="https://code.jquery.com/jquery-3.7.1.min.js">jQuery</a>\n'
    )


def test_an_asset_url_without_a_local_copy_raises_with_the_fix():
    with pytest.raises(ValueError, match="cdn.example.org/x.js.*assets.csv"):
        rewrite_asset_urls('<script src="https://cdn.example.org/x.js"></script>', ".")


def test_every_url_the_gx_templates_load_has_a_vendored_copy():
    """Read from the installed GX's own templates: a GX upgrade that adds a CDN file fails here."""
    templates = [p for p in sorted((GX_VIEW / "templates").glob("*.j2")) if not p.name.startswith("markdown_")]
    text = "\n".join(p.read_text(encoding="utf-8") for p in templates + sorted((GX_VIEW / "static").rglob("*.css")))
    links = {u.split("?")[0] for u in re.findall(r"<a\b[^>]*href=\"(https?://[^\"{]+)\"", text)}
    used = {u.split("?")[0] for u in re.findall(r"https?://[^\"'()\s{?]+", text)} - links
    used -= {u for u in used if u.startswith("http://www.w3.org/")}  # XML namespaces, not files
    vendored = {a["url"] for a in ASSETS}
    # a folder URL is a template variable the file name is appended to (top_navbar.j2's logo)
    assert {u for u in used if not u.endswith("/")} <= vendored, used - vendored
    assert all(any(v.startswith(u) for v in vendored) for u in used if u.endswith("/"))
    for asset in ASSETS:
        if asset["file"].startswith("great_expectations:"):
            assert (GX_VIEW / "static" / asset["file"].split(":", 1)[1]).is_file()
        else:
            assert (ASSETS_DIR / asset["file"]).is_file(), asset["file"]
    # the two files GX pins by hash: the vendored bytes are the very bytes the CDN serves
    for url, digest in re.findall(r'src="(https?://[^"]+)"\s+integrity="sha384-([^"]+)"', text):
        (file,) = [a["file"] for a in ASSETS if a["url"] == url]
        assert base64.b64encode(hashlib.sha384((ASSETS_DIR / file).read_bytes()).digest()).decode() == digest


def test_data_docs_pages_load_nothing_from_the_network(tmp_path):
    frame = pd.DataFrame({"a": ["x", None]}, dtype="str")
    validate_frame(frame, "engine_local", [E.ExpectColumnValuesToNotBeNull(column="a")],
                   data_docs_dir=tmp_path)
    pages = sorted(tmp_path.rglob("*.html")) + sorted((tmp_path / "static" / "styles").glob("*.css"))
    assert len(pages) >= 3
    for page in pages:
        text = page.read_text(encoding="utf-8")
        loaded = re.findall(r"""(?:src|<link[^>]*href)=["']([^"']+)["']|url\(["']?([^"')]+)""", text)
        targets = [a or b for a, b in loaded]
        assert not [t for t in targets if re.match(r"https?:|//", t)], page
        for target in targets:
            # GX's own favicon link is one folder short on validation pages; a tab icon only
            if not target.startswith(("data:", "#")) and not target.endswith("favicon.ico"):
                assert (page.parent / target.split("?")[0]).resolve().is_file(), (page, target)
        assert "integrity=" not in text


def _rendered(offline_chromium, page: Path):
    import lxml.html

    return lxml.html.fromstring(offline_chromium(page, "--dump-dom"))


@pytest.mark.slow
def test_data_docs_render_in_a_browser_with_no_network(sample_run, offline_chromium):
    """Chromium, network off: the index's tables (built by jQuery + bootstrap-table from the
    vendored copies) list the suites, and a suite's page shows its expectation rows."""
    docs = sample_run / "validation"
    suites = sorted(p.name for p in (docs / "validations").iterdir())
    assert len(suites) >= 8
    index = _rendered(offline_chromium, docs / "index.html")
    results = index.get_element_by_id("section-1-content-block-2-1-body-table")
    rows = results.xpath("./tbody/tr")
    # bootstrap-table shows 10 rows a page and says how many there are; the HTML as written has none
    assert len(rows) == min(10, len(suites))
    assert f"of {len(suites)} rows" in index.text_content()
    linked = {r.get("data-href").split("/")[1] for r in rows}
    assert linked <= set(suites) and len(linked) == len(rows)
    (page,) = (docs / "validations" / "raw_labs").rglob("*.html")
    assert "<tbody" not in (docs / "index.html").read_text(encoding="utf-8")
    rendered = _rendered(offline_chromium, page)
    text = re.sub(r"\s+", " ", rendered.text_content())
    assert "Overview" in text and "Expectation Suite: raw_labs" in text
    assert "values must belong to this set" in text
    expectations = rendered.xpath("//table[contains(@class, 'table')]/tbody/tr")
    assert len(expectations) >= 10
    # bootstrap-table wrapped the tables: its script ran
    assert rendered.xpath("//div[contains(@class, 'bootstrap-table')]")


# --- raw suites -------------------------------------------------------------------------------


def test_suite_is_built_from_the_metadata(raw_columns):
    for sheet in ("demographics", "infusions", "labs", "assessments"):
        suite = build_raw_suite(sheet, raw_columns, CONTEXT)
        columns = raw_columns[raw_columns["sheet"] == sheet]
        required = {e.column for e in suite if e.meta["rule"] == "SF-0101"}
        assert required == set(columns.loc[columns["required"] == "Y", "column"])
        dates = {e.meta["variable"] for e in suite if e.meta["rule"] == "SF-0103"}
        assert dates == set(columns.loc[columns["kind"] == "date", "column"])
        for e in suite:
            assert e.meta["rule"] in RULES
            assert e.meta["severity"] in ("ERROR", "WARNING")
            assert e.meta["message"]


@pytest.mark.parametrize("sheet", ["demographics", "infusions", "labs", "assessments"])
def test_a_clean_sheet_has_no_findings(raw_columns, sheet):
    rows = [good(sheet)]
    if sheet == "labs":
        rows.append(good(sheet, test="INR", result="1.2", unit=None))
    findings = check_raw_sheet(sheet_frame(raw_columns, sheet, rows), sheet, raw_columns, CONTEXT)
    assert findings.columns.tolist() == FINDING_COLUMNS
    assert findings.empty


def test_required_blank_is_an_error_on_that_row(raw_columns):
    frame = sheet_frame(raw_columns, "demographics",
                        [good("demographics"), good("demographics", subject="01-002", sex=None)])
    findings = check_raw_sheet(frame, "demographics", raw_columns, CONTEXT)
    assert len(findings) == 1
    finding = findings.iloc[0]
    assert (finding["rule"], finding["severity"], finding["stage"]) == (
        "SF-0101", "ERROR", "validate"
    )
    assert (finding["file"], finding["sheet"], finding["row"]) == (
        "export_2026-03-01.xlsx", "Demographics", 3
    )
    assert (finding["subject"], finding["variable"], finding["value"]) == ("01-002", "sex", None)
    assert "Sex is blank" in finding["message"]


def test_blank_result_needs_a_not_done_reason(raw_columns):
    frame = sheet_frame(raw_columns, "labs", [
        good("labs", result=None, not_done_reason="Haemolysed"),
        good("labs", result=None, test="BILI", unit="umol/L"),
    ])
    findings = check_raw_sheet(frame, "labs", raw_columns, CONTEXT)
    assert findings[["rule", "row", "variable"]].values.tolist() == [["SF-0101", 3, "result"]]
    assert "Not done reason" in findings["message"].iloc[0]


def test_subject_must_be_in_demographics(raw_columns):
    frame = sheet_frame(raw_columns, "infusions",
                        [good("infusions"), good("infusions", subject="01-099")])
    findings = check_raw_sheet(frame, "infusions", raw_columns, CONTEXT)
    assert findings[["rule", "severity", "row", "value"]].values.tolist() == [
        ["SF-0102", "ERROR", 3, "01-099"]
    ]


def test_unreadable_date_is_an_error_with_the_parser_reason(raw_columns):
    frame = sheet_frame(raw_columns, "demographics", [
        good("demographics"),
        good("demographics", subject="01-002", birth_date="14/08/61",
             dtc_birth_date=None, problem_birth_date="ambiguous day/month"),
        good("demographics", death_date="2026-02-30", dtc_death_date=None),
    ])
    findings = check_raw_sheet(frame, "demographics", raw_columns, CONTEXT)
    # the second row also duplicates subject 01-001 of the first: look only at SF-0103 here
    dates = findings[findings["rule"] == "SF-0103"]
    assert dates[["row", "variable", "value", "severity"]].values.tolist() == [
        [3, "birth_date", "14/08/61", "ERROR"],
        [4, "death_date", "2026-02-30", "ERROR"],
    ]
    assert dates["message"].iloc[0].endswith("(ambiguous day/month)")
    assert "Date of death is not a date" in dates["message"].iloc[1]


def test_visit_must_be_recognised_and_in_the_schedule(raw_columns):
    frame = sheet_frame(raw_columns, "assessments", [
        good("assessments"),
        good("assessments", visit="Wk 99", VISIT=None),
        good("assessments", visit="Week 52", VISIT="Week 52"),
    ])
    findings = check_raw_sheet(frame, "assessments", raw_columns, CONTEXT)
    assert findings[["rule", "row", "value"]].values.tolist() == [
        ["SF-0104", 3, "Wk 99"], ["SF-0104", 4, "Week 52"]
    ]


def test_lab_test_must_be_known(raw_columns):
    frame = sheet_frame(raw_columns, "labs", [
        good("labs"),
        good("labs", test="谷丙转氨酶x", LBTESTCD=None, collection_date="2026-01-11"),
        good("labs", test="GGT", LBTESTCD="GGT", collection_date="2026-01-12"),
    ])
    findings = check_raw_sheet(frame, "labs", raw_columns, CONTEXT)
    tests = findings[findings["rule"] == "SF-0105"]
    assert tests[["row", "variable", "value"]].values.tolist() == [
        [3, "test", "谷丙转氨酶x"], [4, "test", "GGT"]
    ]


def test_lab_unit_must_be_known_for_the_test(raw_columns):
    frame = sheet_frame(raw_columns, "labs", [
        good("labs", unit="IU/L"),                                        # 2 fine
        good("labs", test="INR", result="1.1", unit=None),                # 3 fine: INR has none
        good("labs", test="BILI", unit="g/L"),                            # 4 wrong for BILI
        good("labs", test="BILI", unit=None, collection_date="2026-01-11"),  # 5 missing
        good("labs", unit="furlongs", LBORRESU=None, collection_date="2026-01-12"),  # 6 unknown
        good("labs", test="INR", unit="s", LBORRESU="sec", collection_date="2026-01-12"),  # 7
        good("labs", test="BILI", result=None, unit=None, not_done_reason="Haemolysed",
             collection_date="2026-01-13"),                               # 8 fine: not done
        good("labs", result=None, unit="xx", LBORRESU=None, not_done_reason="Clotted",
             collection_date="2026-01-14"),                               # 9 fine: not done
    ])
    findings = check_raw_sheet(frame, "labs", raw_columns, CONTEXT)
    assert findings[["rule", "row", "variable", "value"]].values.tolist() == [
        ["SF-0106", 4, "unit", "g/L"],
        ["SF-0106", 5, "unit", None],
        ["SF-0106", 6, "unit", "furlongs"],
        ["SF-0106", 7, "unit", "s"],
    ]
    assert findings["message"].iloc[0].endswith("(accepted for BILI: mg/dL, umol/L)")
    assert "blank" in findings["message"].iloc[1]
    assert "recognise" in findings["message"].iloc[2]


def test_repeated_key_within_a_file_is_an_error_on_every_copy(raw_columns):
    rows = [good("labs"), good("labs", test="BILI", unit="umol/L"), good("labs", result="36")]
    frame = pd.concat([
        sheet_frame(raw_columns, "labs", rows),
        # the same record again in a later export is a correction, not a duplicate
        sheet_frame(raw_columns, "labs", [good("labs")], file="export_2026-03-02.xlsx"),
    ], ignore_index=True)
    findings = check_raw_sheet(frame, "labs", raw_columns, CONTEXT)
    key = "01-001 | Baseline | ALT | 2026-01-10"  # the key as the site typed it
    assert findings[["rule", "severity", "file", "row", "variable", "value"]].values.tolist() == [
        ["SF-0107", "ERROR", "export_2026-03-01.xlsx", row, "subject", key] for row in (2, 4)
    ]
    assert findings["message"].str.endswith("; rows 2, 4").all()


def test_repeated_key_uses_the_standardised_visit(raw_columns):
    frame = sheet_frame(raw_columns, "assessments", [
        good("assessments", visit="W4", VISIT="Week 4"),
        good("assessments", visit="Week 4", VISIT="Week 4"),
    ])
    findings = check_raw_sheet(frame, "assessments", raw_columns, CONTEXT)
    assert findings[["rule", "row", "value"]].values.tolist() == [
        ["SF-0107", 2, "01-001 | W4"], ["SF-0107", 3, "01-001 | Week 4"]
    ]


def test_numbers_must_be_numbers_required_error_optional_warning(raw_columns):
    frame = sheet_frame(raw_columns, "infusions", [
        good("infusions", body_weight="63.5", total_cells="63.5"),
        good("infusions", infusion_number="2", dose="1 x10^6"),
        good("infusions", infusion_number="3", body_weight="63,5"),
    ])
    findings = check_raw_sheet(frame, "infusions", raw_columns, CONTEXT)
    assert findings[["rule", "severity", "row", "variable", "value"]].values.tolist() == [
        ["SF-0108", "ERROR", 3, "dose", "1 x10^6"],
        ["SF-0108", "WARNING", 4, "body_weight", "63,5"],
    ]


def test_missing_raw_column_gives_a_table_level_finding_per_file(raw_columns):
    frame = sheet_frame(raw_columns, "infusions", [good("infusions")]).drop(columns=["dose"])
    findings = check_raw_sheet(frame, "infusions", raw_columns, CONTEXT)
    assert set(findings["rule"]) == {"SF-0101", "SF-0108"}
    assert findings["row"].isna().all()
    assert (findings["file"] == "export_2026-03-01.xlsx").all()
    assert (findings["sheet"] == "Infusions").all()
    assert findings["message"].str.startswith("column 'Dose (10^6 cells/kg)' is missing").all()


def test_missing_helper_column_is_a_pipeline_error(raw_columns):
    frame = sheet_frame(raw_columns, "labs", [good("labs")]).drop(columns=["LBTESTCD"])
    with pytest.raises(ValueError, match="LBTESTCD.*standardise"):
        check_raw_sheet(frame, "labs", raw_columns, CONTEXT)


def test_missing_context_or_unknown_sheet_raises(raw_columns):
    with pytest.raises(ValueError, match="known_units"):
        without_units = {k: v for k, v in CONTEXT.items() if k != "known_units"}
        build_raw_suite("labs", raw_columns, without_units)
    with pytest.raises(ValueError, match="not a raw sheet"):
        build_raw_suite("vitals", raw_columns, CONTEXT)


def test_check_raw_sheet_writes_data_docs(raw_columns, tmp_path):
    frame = sheet_frame(raw_columns, "infusions", [good("infusions", subject="01-099")])
    check_raw_sheet(frame, "infusions", raw_columns, CONTEXT, data_docs_dir=tmp_path / "docs")
    assert (tmp_path / "docs" / "index.html").is_file()
    assert list((tmp_path / "docs" / "validations" / "raw_infusions").rglob("*.html"))
    # the suite page says its counts are of the rows examined, not of the rows sent
    suite_page = (tmp_path / "docs" / "expectations" / "raw_infusions.html").read_text("utf-8")
    assert "The counts on these pages are of the rows examined" in suite_page


# --- checks added for issue 3 -----------------------------------------------------------------

FULL_CONTEXT = {
    **CONTEXT,
    "plausible_ranges": [("ALT", 0.0, 20000.0, "U/L"), ("BILI", 0.0, 1500.0, "umol/L"),
                         ("INR", 0.5, 15.0, "")],
    "age_range": (18, 80),
    "arm_doses": [1.0, 3.0],
    "not_given_column": "not_given_reason",
    "spellings": {"SEX": ["M", "Male", "F", "Female"]},
    # the study's eligibility.csv, as build_context passes it
    "eligibility": [{"sheet": "demographics", "column": "liver_transplant", "value": "Y",
                     "reason": "transplant recipients are not eligible for this study"}],
}


def findings_of(raw_columns, sheet, rows, context=FULL_CONTEXT):
    return check_raw_sheet(sheet_frame(raw_columns, sheet, rows), sheet, raw_columns, context)


def test_result_must_be_a_number_or_qualifier(raw_columns):
    findings = findings_of(raw_columns, "labs", [
        good("labs", result="<5"),
        good("labs", result="12,6", problem_result="'12,6' is not a number: a comma ...",
             collection_date="2026-01-11"),
    ])
    assert findings[["rule", "severity", "row", "variable", "value"]].values.tolist() == [
        ["SF-0117", "ERROR", 3, "result", "12,6"]
    ]
    assert findings["message"].iloc[0].endswith("('12,6' is not a number: a comma ...)")


def test_a_result_with_a_not_done_reason_is_a_warning(raw_columns):
    findings = findings_of(raw_columns, "labs", [good("labs", not_done_reason="Clotted")])
    assert findings[["rule", "severity", "variable", "value"]].values.tolist() == [
        ["SF-0118", "WARNING", "not_done_reason", "Clotted"]
    ]


def test_implausible_results_are_errors_with_the_range_named(raw_columns):
    findings = findings_of(raw_columns, "labs", [
        good("labs", result="20000", result_standard=20000.0),                       # 2 limit
        good("labs", result="25000", result_standard=25000.0, collection_date="2026-01-11"),
        good("labs", result="-3", result_standard=-3.0, collection_date="2026-01-12"),
        good("labs", test="INR", unit=None, result="16", result_standard=16.0),      # 5
        good("labs", test="INR", unit=None, result="<0.5", result_standard=0.5,
             collection_date="2026-01-12"),                                           # 6 limit
    ])
    assert findings[["rule", "severity", "row", "value"]].values.tolist() == [
        ["SF-0119", "ERROR", 3, "25000"], ["SF-0119", "ERROR", 4, "-3"],
        ["SF-0119", "ERROR", 5, "16"],
    ]
    assert findings["message"].iloc[0].endswith("(possible for ALT: 0 to 20000 U/L)")
    assert findings["message"].iloc[2].endswith("(possible for INR: 0.5 to 15)")


def test_age_outside_the_range_is_a_warning_and_a_partial_date_an_info(raw_columns):
    findings = findings_of(raw_columns, "demographics", [
        good("demographics", age_at_consent=64.0),
        good("demographics", subject="01-002", birth_date="2009-01-01", age_at_consent=17.0),
        good("demographics", subject="01-003", birth_date="1961-08", age_at_consent=None),
    ])
    assert findings[["rule", "severity", "row", "variable", "value"]].values.tolist() == [
        ["SF-0120", "WARNING", 3, "birth_date", "2009-01-01"],
        ["SF-0121", "INFO", 4, "birth_date", "1961-08"],
    ]
    assert findings["message"].iloc[0].endswith("(age 17)")


def test_liver_transplant_yes_is_an_eligibility_warning(raw_columns):
    findings = findings_of(raw_columns, "demographics", [
        good("demographics", liver_transplant="Y", age_at_consent=64.0)
    ])
    assert findings[["rule", "severity", "variable", "value"]].values.tolist() == [
        ["SF-0122", "WARNING", "liver_transplant", "Y"]
    ]
    assert findings["message"].tolist() == [
        "Liver transplant is Y: transplant recipients are not eligible for this study; confirm the "
        "answer and record the eligibility deviation (the subject is still mapped)"
    ]


def test_the_first_study_declares_its_eligibility_rule_as_the_context_gives_it():
    assert _STUDY.eligibility[["sheet", "column", "value", "reason"]].to_dict("records") == (
        FULL_CONTEXT["eligibility"]
    )


def test_an_eligibility_rule_is_the_studys_own_words_on_any_column(raw_columns):
    # another study's rule on an uncoded column, compared as sent; no rule: no check
    rule = {"sheet": "demographics", "column": "aetiology", "value": "HCC",
            "reason": "a tumour excludes the subject (protocol 5.2)"}
    context = {**FULL_CONTEXT, "eligibility": [rule]}
    findings = findings_of(raw_columns, "demographics", [
        good("demographics", aetiology="HCC", liver_transplant="Y", age_at_consent=64.0),
        good("demographics", subject="01-002", aetiology="HBV", age_at_consent=64.0),
    ], context=context)
    assert findings[["rule", "severity", "row", "variable", "value"]].values.tolist() == [
        ["SF-0122", "WARNING", 2, "aetiology", "HCC"]
    ]
    assert findings["message"].iloc[0] == (
        "Aetiology is HCC: a tumour excludes the subject (protocol 5.2); confirm the answer and "
        "record the eligibility deviation (the subject is still mapped)"
    )
    assert findings_of(raw_columns, "demographics", [
        good("demographics", liver_transplant="Y", age_at_consent=64.0)
    ], context={**FULL_CONTEXT, "eligibility": []}).empty


def test_unrecognised_codes_take_the_severity_of_the_column(raw_columns):
    findings = findings_of(raw_columns, "demographics", [
        good("demographics", sex="X", SEX=None, race="Martian", RACE=None, age_at_consent=64.0)
    ])
    assert findings[["rule", "severity", "variable", "value"]].values.tolist() == [
        ["SF-0123", "WARNING", "race", "Martian"], ["SF-0123", "ERROR", "sex", "X"],
    ]
    sex = findings[findings["variable"] == "sex"]["message"].iloc[0]
    assert "(accepted: M, Male, F, Female)" in sex


def test_route_not_recognised_is_an_error(raw_columns):
    findings = findings_of(raw_columns, "infusions", [good("infusions", route="IM", EXROUTE=None)])
    assert findings[["rule", "severity", "variable", "value"]].values.tolist() == [
        ["SF-0123", "ERROR", "route", "IM"]
    ]


def test_dose_of_no_arm_is_a_warning_unless_not_given(raw_columns):
    findings = findings_of(raw_columns, "infusions", [
        good("infusions"),
        good("infusions", infusion_number="2", dose="2"),
        good("infusions", infusion_number="3", dose="2", not_given_reason="Fever"),
    ])
    assert findings[["rule", "severity", "row", "value"]].values.tolist() == [
        ["SF-0124", "WARNING", 3, "2"]
    ]


def test_time_problems_are_warnings_with_the_reason(raw_columns):
    findings = findings_of(raw_columns, "infusions", [
        good("infusions", start_time="25:00", problem_start_time="'25:00' is not a valid time"),
    ])
    assert findings[["rule", "severity", "variable", "value"]].values.tolist() == [
        ["SF-0127", "WARNING", "start_time", "25:00"]
    ]
    assert findings["message"].iloc[0].endswith("('25:00' is not a valid time)")


def test_subject_check_scales_to_many_subjects(raw_columns):
    """The subject membership is a helper, not a value set GX re-serialises per metric (its
    cost is bench/bench_validation.py's to measure, not a unit test's)."""
    subjects = [f"{i:05d}" for i in range(20000)]
    context = {**CONTEXT, "known_subjects": subjects}
    suite = build_raw_suite("infusions", raw_columns, context)
    assert max(len(getattr(e, "value_set", None) or []) for e in suite) < 100
    frame = sheet_frame(
        raw_columns, "infusions",
        [good("infusions", subject="00007"), good("infusions", subject="20001", infusion_number="2")],
    )
    findings = check_raw_sheet(frame, "infusions", raw_columns, context)
    assert findings[["rule", "row"]].values.tolist() == [["SF-0102", 3]]


def test_text_columns_are_validated_as_categories_with_the_same_results():
    frame = pd.DataFrame({"a": ["x", None, "zz", "x"], "b": ["1", "2", None, "y"]}, dtype="str")
    suite = [
        E.ExpectColumnValuesToBeInSet(column="a", value_set=["x"], row_condition=Column("b").is_not_null()),
        E.ExpectColumnValuesToMatchRegex(column="b", regex=r"^\d+$"),
        E.ExpectColumnPairValuesToBeEqual(column_A="a", column_B="b", ignore_row_if="either_value_is_missing"),
    ]
    failures = validate_frame(frame, "categories", suite)
    assert failures[["column", "index"]].values.tolist() == [["b", 3], ["a, b", 0], ["a, b", 3]]


# --- the rows GX examines (expectations/cover.py) ---------------------------------------------


def repetitive_frame(rows: int = 6000, seed: int = 3) -> pd.DataFrame:
    """Few distinct values per column, some missing, a few repeated keys: the shape of a lab sheet."""
    rng = np.random.default_rng(seed)

    def text(values, missing=0.05):
        series = pd.Series([str(v) for v in values], dtype="str")
        return series.where(rng.random(rows) > missing)

    frame = pd.DataFrame({
        "subject": text(rng.integers(0, 400, rows), 0.01),
        "visit": text(rng.choice(["Baseline", "Week 4", "W4", "bad"], rows)),
        "VISIT": text(rng.choice(["Baseline", "Week 4", "Unknown"], rows)),
        "result": text(rng.integers(-3, 40, rows)),
        "low": rng.choice([0.0, 5.0, np.nan], rows),
        "seq": text(np.arange(rows), 0),
    })
    repeats = rng.choice(rows, 30, replace=False)
    frame.loc[repeats, "seq"] = "7"  # repeated keys, some also with one subject
    frame.loc[repeats[:10], "subject"] = "5"
    return frame.set_axis(pd.RangeIndex(100, 100 + rows))  # labels, not positions


COVER_SUITE = [
    E.ExpectColumnValuesToNotBeNull(column="subject"),
    E.ExpectColumnValuesToNotBeNull(column="VISIT", row_condition=Column("visit").is_not_null()),
    E.ExpectColumnValuesToBeInSet(column="VISIT", value_set=["Baseline", "Week 4"]),
    E.ExpectColumnValuesToMatchRegex(column="result", regex=r"^\d+$"),
    E.ExpectColumnPairValuesAToBeGreaterThanB(
        column_A="result_number", column_B="low", or_equal=True,
        ignore_row_if="either_value_is_missing",
    ),
    E.ExpectCompoundColumnsToBeUnique(column_list=["subject", "seq"], ignore_row_if="any_value_is_missing"),
    E.ExpectColumnValuesToBeUnique(column="seq"),
    # read by nullity only (subject, VISIT above too) and by value in one suite
    E.ExpectColumnValuesToBeNull(column="low", row_condition=Column("visit") == "bad"),
    E.ExpectColumnValuesToNotBeNull(column="result", row_condition=Column("low").is_null()),
]


def with_numbers(frame):
    return frame.assign(result_number=pd.to_numeric(frame["result"], errors="coerce"))


@pytest.mark.parametrize("skipped", [0, 40])
def test_examining_one_row_per_combination_fails_exactly_the_rows_a_full_run_fails(monkeypatch, skipped):
    frame = with_numbers(repetitive_frame())
    skip = np.zeros(len(frame), dtype=bool)
    skip[np.random.default_rng(1).choice(len(frame), skipped, replace=False)] = True
    examined = []
    original = engine_module.plan_cover

    def spy(*args):
        cover = original(*args)
        examined.append(None if cover is None else len(cover.rows))
        return cover

    monkeypatch.setattr(engine_module, "plan_cover", spy)
    covered = validate_frame(frame, "cover_on", COVER_SUITE, skip_rows=skip)
    monkeypatch.setattr(engine_module, "plan_cover", lambda *args: None)
    full = validate_frame(frame, "cover_off", COVER_SUITE, skip_rows=skip)

    assert examined[0] is not None and examined[0] < len(frame) / 2  # GX saw a fraction
    pd.testing.assert_frame_equal(covered, full)
    # every expectation failed somewhere, so the comparison covers each kind
    assert sorted(full["position"].unique()) == list(range(len(COVER_SUITE)))
    assert not set(full["index"]) & set(frame.index[skip])


def test_cover_is_not_used_where_the_verdict_needs_every_row():
    frame = with_numbers(repetitive_frame(500))
    for expectation in (
        E.ExpectColumnValuesToNotBeNull(column="subject", mostly=0.9),  # a share of the rows
        E.ExpectColumnMeanToBeBetween(column="low", min_value=0, max_value=1),  # an aggregate
        E.ExpectColumnValuesToNotBeNull(column="subject", row_condition='visit=="W4"',
                                        condition_parser="pandas"),  # text: may read anything
    ):
        assert plan_cover(frame, [expectation]) is None
