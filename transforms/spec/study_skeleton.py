"""new-study: a study folder to start from, complete enough that check-study accepts it.

The skeleton is the second bundled study's spec (mappings/zx101-liv2: every file a study needs,
each commented where its format allows: study.toml and trial_design.toml in comments, the CSV
tables in their `comment` columns and the folder's README.md), with the new STUDYID. A data
manager then replaces its sheets, headers, visits, tests, arms and drug with the new study's, as
docs/new-study.md walks through; nothing in it is code.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from transforms.spec.study import MAPPINGS_DIR

TEMPLATE = MAPPINGS_DIR / "zx101-liv2"
# The template study's bundled export is its own data, not part of the spec.
NOT_COPIED = {"sample_export"}


def write_study_skeleton(study_dir: Path, studyid: str) -> list[Path]:
    """Write the skeleton into `study_dir` (which must not exist yet); the written paths."""
    study_dir = Path(study_dir)
    if study_dir.exists():
        raise FileExistsError(f"{study_dir} already exists: give a new folder for the study")
    if not re.fullmatch(r"[A-Z0-9][A-Z0-9_-]{0,19}", studyid):
        raise OSError(
            f"STUDYID {studyid!r}: use 1-20 upper-case letters, digits, '-' or '_' (--studyid)"
        )
    study_dir.mkdir(parents=True)
    written = []
    for source in sorted(TEMPLATE.iterdir()):
        if source.name in NOT_COPIED or not source.is_file():
            continue
        target = study_dir / source.name
        shutil.copyfile(source, target)
        written.append(target)
    config = study_dir / "study.toml"
    text = config.read_text(encoding="utf-8")
    config.write_text(
        re.sub(r'(?m)^studyid = ".*"$', f'studyid = "{studyid}"', text, count=1), encoding="utf-8"
    )
    readme = study_dir / "README.md"
    readme.write_text(SKELETON_README.format(studyid=studyid), encoding="utf-8")
    return [*written, readme]


SKELETON_README = """# Study {studyid}

Written by `sdtmflow new-study` from the second bundled study; replace its content with this
study's, file by file (docs/new-study.md walks through it), then run
`sdtmflow check-study <this folder>` until it reports no problem.

| file | what it says |
|---|---|
| `study.toml` | STUDYID, title, country, ages; the drug; the arms (code, name, dose, allowed reductions); named derivations; where EX records come from; sample settings |
| `sheets.csv` | the sheets the site sends: id, role (subjects, exposure, findings, assessments), the names a sheet or CSV file may carry, what one row is, the record key |
| `raw_columns.csv` | every column of every sheet: its header and aliases (one per site), required, kind, codelist and the coded name, the standardised name, the date a time completes |
| `mapping.csv` | how each DM, EX, LB, SV and MH variable is filled (sdtm.oak's algorithms; conditions; fallbacks; named derivations) |
| `terminology.csv` | the site's spellings of each coded value -> the submission value |
| `codelists.csv` | the study's own CT terms (sponsor extensions), merged over the shared CDISC CT |
| `result_values.csv` | qualitative results the study accepts (TND ...) and their --STRESC/--STRESN |
| `visits.csv`, `lab_tests.csv`, `unit_conversions.csv` | the visit schedule, the lab tests, the unit conversions |
| `rs_tests.csv`, `scores.csv`, `score_inputs.csv` | scores (RS) the study derives, and which lab test or assessment column feeds each formula input; header only: none |
| `eligibility.csv` | raw answers that make a subject ineligible (sheet, column, value, the reason the site reads); header only: none |
| `variables.csv`, `datasets.csv`, `methods.csv` | the define.xml metadata: variables per domain, keys, methods |
| `trial_design.toml` | TS parameters, trial elements (they give EPOCH), arms' branches, visit rules, criteria |
| `explained_issues.csv` | conformance issues the study explains to the reviewer (cSDRG) |
"""
