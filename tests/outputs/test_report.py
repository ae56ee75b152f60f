"""transforms/outputs/report.py: the numbers behind the plots, and report.html of the sample run opened
offline in a real browser."""

from __future__ import annotations

import io
import json
import re

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from transforms.outputs.report import (
    NO_ARM,
    NO_SITE,
    NO_SUBJECT,
    derive_disposition,
    derive_findings_by_rule,
    derive_findings_by_site,
    derive_lab_changes,
    derive_lab_tests,
    derive_score_columns,
    derive_visit_summary,
    write_report,
)

VISITS = pd.DataFrame({"VISITNUM": [1.0, 2.0, 3.0], "VISIT": ["Screening", "Baseline", "Week 4"]})


def _dm(**columns) -> pd.DataFrame:
    base = {
        "STUDYID": ["S"] * 3, "USUBJID": ["S-01-001", "S-01-002", "S-02-001"],
        "SUBJID": ["01-001", "01-002", "02-001"], "SITEID": ["01", "01", "02"],
        "ARM": ["Low", "High", None], "RFXSTDTC": ["2025-01-02", "2025-01-03", None],
        "DTHFL": [None, "Y", None],
    }
    return pd.DataFrame({**base, **columns})


def test_visit_summary_is_n_median_and_quartiles_per_arm_and_planned_visit():
    frame = pd.DataFrame({
        "USUBJID": list("abcd") + list("ab") + ["a"],
        "ARM": ["A"] * 4 + ["B"] * 2 + ["A"],
        "VISITNUM": [1.0] * 6 + [4.01],  # 4.01 is not a planned visit
        "x": [1.0, 2.0, 3.0, 4.0, 10.0, np.nan, 99.0],
    })
    summary = derive_visit_summary(frame, "x", VISITS)
    # 1,2,3,4: median 2.5; linear quartiles at positions 0.75 and 2.25: 1.75 and 3.25
    assert summary.to_dict("list") == {
        "ARM": ["A", "B"], "VISITNUM": [1.0, 1.0], "VISIT": ["Screening", "Screening"],
        "n": [4, 1], "median": [2.5, 10.0], "q1": [1.75, 10.0], "q3": [3.25, 10.0],
    }


def test_lab_change_is_from_the_baseline_record_on_later_visits_only():
    lb = pd.DataFrame({
        "USUBJID": ["S-01-001"] * 5,
        "LBTESTCD": ["ALT"] * 5,
        "LBSEQ": [1, 2, 3, 4, 5],
        "VISITNUM": [1.0, 2.0, 3.0, 3.0, 3.0],
        "LBDTC": ["2025-01-01", "2025-01-02", "2025-01-30", "2025-01-31", "2025-01-29"],
        "LBSTRESN": [50.0, 40.0, 70.0, 65.0, np.nan],
        "LBSTRESU": ["U/L"] * 5,
        "LBLOBXFL": [None, "Y", None, None, None],
    })
    changes = derive_lab_changes(lb, pd.DataFrame({"USUBJID": ["S-01-001"], "ARM": ["Low"]}))
    # visit 3: the latest dated numeric result (31 Jan, 65) wins; 65 - 40 = 25
    assert changes[["VISITNUM", "LBSTRESN", "BASE"]].to_dict("list") == {
        "VISITNUM": [1.0, 2.0, 3.0], "LBSTRESN": [50.0, 40.0, 65.0], "BASE": [40.0, 40.0, 40.0],
    }
    assert changes["CHG"].isna().tolist() == [True, True, False]  # no change at or before baseline
    assert changes["CHG"].iloc[2] == 25.0
    assert set(changes["ARM"]) == {"Low"}


def test_lab_tests_carry_their_unit_and_every_reference_range():
    lb = pd.DataFrame({
        "LBTESTCD": ["ALP", "ALP", "ALP", "INR"], "LBTEST": ["Alkaline Phosphatase"] * 3 + ["INR"],
        "LBSTRESN": [100.0, 90.0, 80.0, 1.1], "LBSTRESU": ["U/L", "U/L", "U/L", None],
        "LBSTNRLO": [45.0, 45.0, 35.0, np.nan], "LBSTNRHI": [125.0, 125.0, 100.0, np.nan],
    })
    tests = derive_lab_tests(lb)
    assert tests.to_dict("list") == {
        "LBTESTCD": ["ALP", "INR"], "LBTEST": ["Alkaline Phosphatase", "INR"], "LBSTRESU": ["U/L", ""],
        "ranges": ["45\u2013125 (2); 35\u2013100 (1)", ""],
    }


def test_scores_are_the_columns_with_a_baseline_and_a_change():
    columns = ["USUBJID", "MELD", "MELD_BASE", "MELD_CHG", "INR", "CP_TOTAL", "CP_TOTAL_BASE", "CP_TOTAL_CHG"]
    assert derive_score_columns(pd.DataFrame(columns=columns)) == ["MELD", "CP_TOTAL"]


def test_disposition_counts_per_arm_and_visit():
    dm = _dm()
    seen = pd.DataFrame({"USUBJID": ["S-01-001", "S-01-001", "S-01-002", "S-02-001", "S-01-001"],
                         "VISITNUM": [1.0, 2.0, 1.0, 1.0, 4.01]})
    table = derive_disposition(dm, seen, VISITS).set_index("ARM")
    assert table.loc["Low"].tolist() == [1, 1, 0, 1, 1, 0]
    assert table.loc["High"].tolist() == [1, 1, 1, 1, 0, 0]
    assert table.loc[NO_ARM].tolist() == [1, 0, 0, 1, 0, 0]
    assert table.loc["All"].tolist() == [3, 2, 1, 3, 1, 0]
    assert list(table.columns) == ["enrolled", "treated", "died", "Screening", "Baseline", "Week 4"]


def test_findings_go_to_the_site_of_their_subject_raw_or_usubjid():
    findings = pd.DataFrame({
        "severity": ["ERROR", "WARNING", "ERROR", "INFO", "WARNING"],
        "stage": ["validate", "conform", "validate", "ingest", "validate"],
        "rule": ["SF-0102", "SD1121", "SF-0102", "SF-0001", "SF-0105"],
        "subject": ["02-001", "S-01-002", "09-999", None, "01-001"],
        "message": ["not in DM", "AGE is null", "not in DM", "file unreadable", "unknown test"],
    })
    by_site = derive_findings_by_site(findings, _dm())
    assert by_site.to_dict("list") == {
        "site": [NO_SUBJECT, NO_SITE, "01", "02"],
        "ERROR": [0, 1, 0, 1], "WARNING": [0, 0, 2, 0], "INFO": [1, 0, 0, 0], "total": [1, 1, 2, 1],
    }
    by_rule = derive_findings_by_rule(findings)
    assert by_rule[["rule", "ERROR", "total", "example"]].to_dict("list") == {
        "rule": ["SF-0102", "SD1121", "SF-0001", "SF-0105"], "ERROR": [2, 0, 0, 0],
        "total": [2, 1, 1, 1], "example": ["not in DM", "AGE is null", "file unreadable", "unknown test"],
    }


def test_a_study_without_scores_gets_no_score_section(tmp_path):
    parquet = tmp_path / "parquet"
    parquet.mkdir()
    _dm().to_parquet(parquet / "dm.parquet")
    pd.DataFrame({
        "USUBJID": ["S-01-001", "S-01-001", "S-01-002"], "LBSEQ": [1, 2, 1], "LBTESTCD": ["ALT"] * 3,
        "LBTEST": ["Alanine Aminotransferase"] * 3, "LBSTRESN": [40.0, 55.0, 30.0], "LBSTRESU": ["U/L"] * 3,
        "LBSTNRLO": [7.0] * 3, "LBSTNRHI": [40.0] * 3, "LBLOBXFL": ["Y", None, "Y"],
        "VISITNUM": [2.0, 3.0, 2.0], "VISIT": ["Baseline", "Week 4", "Baseline"],
        "LBDTC": ["2025-01-02", "2025-01-30", "2025-01-03"],
    }).to_parquet(parquet / "lb.parquet")
    out = write_report(parquet, pd.DataFrame(columns=["severity", "stage", "rule", "subject", "message"]),
                       tmp_path / "report.html")
    text = out.read_text(encoding="utf-8")
    assert "Scores over the visits" not in text
    # nothing of the first study's scores or organ is named in another study's report
    words = re.sub(r"data:image/png;base64,[^\"]+", "", text).lower()  # the plots are not words
    assert "liver" not in words and "(dm, lb) and its findings" in text
    ids = re.findall(r' id="([^"]+)"', text)
    assert len(ids) == len(set(ids))  # the contents' links land on one place each
    assert "Alanine Aminotransferase (ALT)" in text and "No findings." in text
    (numbers,) = pd.read_html(io.StringIO(text), attrs={"id": "numbers-ALT"})
    assert numbers[["ARM", "VISIT", "n", "median"]].to_dict("list") == {
        "ARM": ["High", "Low", "Low"], "VISIT": ["Baseline", "Baseline", "Week 4"], "n": [1, 1, 1],
        "median": [30.0, 40.0, 55.0],
    }
    assert numbers["change median"].isna().tolist() == [True, True, False]
    assert numbers["change median"].iloc[2] == 15.0  # 55 - 40


def test_a_run_without_subjects_still_gets_its_report(tmp_path):
    # Demographics all held back: no DM, and a published run still needs report.html (it once
    # raised 'no dm.parquet', exit 2, and nothing was published)
    parquet = tmp_path / "parquet"
    parquet.mkdir()
    findings = pd.DataFrame({"severity": ["ERROR", "ERROR"], "stage": ["ingest", "validate"],
                             "rule": ["SF-0002", "SF-0102"], "subject": [None, "01-001"],
                             "message": ["required column 'Subject' is missing", "not in DM"]})
    text = write_report(parquet, findings, tmp_path / "report.html").read_text(encoding="utf-8")
    assert "<h1>analysis report</h1>" in text
    assert "No DM records in this run: no subject was mapped" in text
    (by_site,) = pd.read_html(io.StringIO(text), attrs={"id": "findings-by-site"})
    assert by_site[["site", "ERROR", "total"]].values.tolist() == [[NO_SUBJECT, 1, 1], [NO_SITE, 1, 1]]
    with pytest.raises(FileNotFoundError, match="pass the run's parquet/ folder"):
        write_report(tmp_path / "nowhere", findings, tmp_path / "report.html")


# --- the sample run ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def report(sample_run):
    return sample_run / "report.html"


@pytest.mark.slow
def test_the_report_is_in_the_manifest_and_loads_nothing_from_outside(sample_run, report):
    manifest = json.loads((sample_run / "manifest.json").read_text())
    assert "report.html" in {o["path"] for o in manifest["outputs"]}
    text = report.read_text(encoding="utf-8")
    targets = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)["']""", text)
    assert targets and all(t.startswith("#") for t in targets)  # links inside the page only
    # the one URL allowed is SVG's namespace name, an identifier no browser fetches
    assert set(re.findall(r"https?://[^\s\"'<>]+", text)) == {"http://www.w3.org/2000/svg"}
    assert "<script" not in text.lower() and "<image" not in text.lower()
    # every plot inline: disposition, one per score, one per lab test with numbers, findings
    lb = pd.read_parquet(sample_run / "parquet" / "lb.parquet")
    tests = lb.loc[lb["LBSTRESN"].notna(), "LBTESTCD"].nunique()
    assert len(re.findall(r"<svg ", text)) == 1 + len(["MELD", "MELD_NA", "MELD3", "CP_TOTAL"]) + tests + 1


@pytest.mark.slow
def test_the_median_meld_per_arm_and_visit_is_that_of_liver_scores(sample_run, report):
    """The table under the MELD plot against plain pandas on liver_scores.parquet and tv.parquet."""
    scores = pd.read_parquet(sample_run / "parquet" / "liver_scores.parquet")
    planned = pd.read_parquet(sample_run / "parquet" / "tv.parquet")["VISITNUM"]
    rows = scores[scores["VISITNUM"].isin(planned)]
    expected = (
        rows.groupby(["ARM", "VISITNUM"])
        .agg(n=("MELD", "count"), median=("MELD", "median"),
             q1=("MELD", lambda v: np.percentile(v.dropna(), 25)), q3=("MELD", lambda v: np.percentile(v.dropna(), 75)),
             change_median=("MELD_CHG", "median"))
        .reset_index()
    )
    (shown,) = pd.read_html(io.StringIO(report.read_text(encoding="utf-8")), attrs={"id": "numbers-MELD"})
    shown = shown.sort_values(["ARM", "VISITNUM"]).reset_index(drop=True)
    assert len(shown) == len(expected) >= 10
    assert shown["ARM"].tolist() == expected["ARM"].tolist()
    assert shown["VISITNUM"].tolist() == expected["VISITNUM"].tolist()
    assert shown["n"].tolist() == expected["n"].tolist()
    for column in ("median", "q1", "q3"):
        assert shown[column].to_numpy() == pytest.approx(expected[column].to_numpy(), rel=1e-5)
    assert shown["change median"].to_numpy() == pytest.approx(expected["change_median"].to_numpy(), rel=1e-5, nan_ok=True)


@pytest.mark.slow
def test_the_report_renders_offline_in_a_browser(report, offline_chromium, tmp_path):
    shot = tmp_path / "report.png"
    offline_chromium(report, "--hide-scrollbars", "--window-size=1200,3000", f"--screenshot={shot}")
    image = Image.open(shot).convert("RGB")
    assert image.size == (1200, 3000)
    pixels = np.asarray(image).reshape(-1, 3)
    # the plots drew: much of the page is not white, in many colours (arms, bands, text)
    assert (pixels.min(axis=1) < 240).mean() > 0.05
    assert len(np.unique(pixels[::7], axis=0)) > 200
    dom = offline_chromium(report, "--dump-dom")
    assert "Subject disposition" in dom and "Scores over the visits" in dom and "Data quality" in dom


@pytest.mark.slow
def test_the_report_is_the_same_bytes_when_written_again(sample_run, report, tmp_path):
    findings = pd.read_csv(sample_run / "findings.csv", dtype=str, keep_default_na=False).replace("", None)
    again = write_report(sample_run / "parquet", findings, tmp_path / "report.html")
    assert again.read_bytes() == report.read_bytes()


@pytest.mark.slow
def test_the_run_summary_artifact_links_the_report(sample_run, report):
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from flows.operations import artifact_key

    studyid = pd.read_parquet(sample_run / "parquet" / "dm.parquet")["STUDYID"].iloc[0]
    with get_client(sync_client=True) as client:
        # other runs of the session may publish the same study (copies of its folder): this
        # run's artifact is the one that names its report
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[artifact_key(studyid, "summary")])),
            limit=50,
        )
    mine = [a for a in artifacts if f"analysis report (disposition, scores, labs, data quality): {report}" in a.data]
    assert mine and f"({report.as_uri()})" in mine[0].data
