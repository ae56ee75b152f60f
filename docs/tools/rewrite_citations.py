"""Rewrite the old citations ("sdtm-reference Part A", "Part B §4.1", "style guide §7", …) to
paths and anchors under docs/, touching comment and docstring text only.

    python docs/tools/rewrite_citations.py            # rewrite in place, then list what is left
    python docs/tools/rewrite_citations.py --dry-run  # show the changes, write nothing

Kept in the repository so it can be run again after a branch that still has the old forms is
merged: the rules match the citation and the words around it, not a file or a line number. It is
idempotent (the new forms match no rule). In Python files only comments and docstrings are
rewritten, so code and the strings a run writes are untouched; in TOML and CSV files only comment
lines; Markdown files as a whole. Whatever no rule knows is listed at the end (exit 1): cite it by
hand, or add a rule here.
"""

from __future__ import annotations

import argparse
import difflib
import io
import re
import sys
import tokenize
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from citations import ROOT, check_tree, scanned_files  # noqa: E402

REF = "docs/sdtm-reference.md"
STYLE = "docs/style.md"

# The old reference's Part B, by section number -> the section of docs/sdtm-reference.md.
PART_B = {
    "0": "sources",
    "1": "domain-variables",
    "1.1": "core",
    "1.2": "dm",
    "1.3": "ex",
    "1.4": "lb",
    "1.5": "rs",
    "2": "controlled-terminology",
    "2.1": "lab-test-codes",
    "2.2": "units-and-conversions",
    "2.3": "demographic-codelists",
    "2.4": "route-frequency-epoch",
    "2.5": "dose-form",
    "3": "clinical-classifications",
    "4": "score-formulas",
    "4.1": "meld",
    "4.2": "meld-na",
    "4.3": "meld-30",
    "4.4": "child-pugh",
    "4.5": "input-gaps",
    "5": "trial-design",
    "5.1": "technical-rejection-criteria",
    "5.2": "trial-design",
    "6": "xpt-and-define-xml",
    "6.1": "xpt-v5",
    "6.2": "define-xml-21",
    "7": "dates-and-study-day",
    "7.1": "dtc",
    "7.2": "study-day",
    "8": "sources",
}
# The old reference's Part A was one table; a citation quoting its row names that row.
PART_A_ROWS = {
    "standard": "standards",
    "studyid": "identifiers",
    "usubjid": "identifiers",
    "country": "identifiers",
    "rfstdtc / rfxstdtc": "reference-dates",
    "rficdtc": "reference-dates",
    "age / ageu": "age",
    "armcd / arm": "arms",
    "sex / race": "sex-race-and-ethnicity",
    "ex": "exposure",
    "visits": "visits",
    "lb tests": "lab-tests-and-units",
    "lb standard units": "lab-tests-and-units",
    "lb results": "lab-results",
    "baseline": "baseline",
    "--dy": "study-day",
    "scores' home": "scores-home",
    "score inputs": "score-inputs",
    "meld detail": "meld-rules",
    "child-pugh cut-offs": "child-pugh-cut-offs",
    "meld-na, meld 3.0": "analysis-only-scores",
    "trial design": "trial-design-decisions",
    "identifying data": "identifying-data",
}
# The SDTMIG's own sections -> where docs/sdtm-reference.md says what they say.
SDTMIG = {
    "4.1.3.1": "ex",
    "4.1.4": "core",
    "4.1.5": "core",
    "4.1.7": "xpt-v5",
    "4.2.9": "xpt-v5",
    "4.4": "dtc",
    "4.4.1": "dtc",
    "4.4.2": "dtc",
    "4.4.4": "study-day",
    "4.4.5": "lb",
    "4.5.3.2": "long-text",
}
# The old style guide's numbered rules ("What that means here") -> docs/style.md.
STYLE_RULES = {
    "1": "verbs",
    "2": "arguments",
    "3": "pure-transforms",
    "4": "pure-transforms",
    "5": "study-knowledge-is-data",
    "6": "lineage",
    "7": "two-channels-for-problems",
    "8": "the-writer-is-a-chain",
    "9": "flows-orchestrate",
    "10": "tests",
}

_OLD_REF = r"(?<!docs/)sdtm-reference(?:\.md)?\s+"
_NUM = r"(\d+(?:\.\d+)*)"


def _part_b(match: re.Match) -> str:
    anchor = PART_B.get(match.group(1))
    return f"{REF}#{anchor}" if anchor else match.group(0)


def _part_b_range(match: re.Match) -> str:
    first, last = PART_B.get(match.group(1)), PART_B.get(match.group(2))
    if first is None or last is None:
        return match.group(0)
    return f"{REF}#{first}" if first == last else f"{REF}#{first} to {REF}#{last}"


def _part_a_row(match: re.Match) -> str:
    anchor = PART_A_ROWS.get(match.group(1).strip().lower())
    return f"{REF}#{anchor}" if anchor else match.group(0)


def _sdtmig(match: re.Match) -> str:
    anchor = SDTMIG.get(match.group(2))
    if anchor is None:
        return match.group(0)
    return f"SDTMIG {match.group(1)} section {match.group(2)} ({REF}#{anchor})"


def _style(match: re.Match) -> str:
    anchor = STYLE_RULES.get(match.group(1))
    return f"{STYLE}#{anchor}" if anchor else match.group(0)


# Ordered: the specific (a citation with the words that say which decision it means) before the
# generic. Each replacement leaves text that no rule matches again.
RULES: list[tuple[re.Pattern, object]] = [
    # Part A citations whose topic is in the words around them.
    (re.compile(r"\((?:" + _OLD_REF + r")?Part A\)(?=\s+and VISITDY)"), f"({REF}#visits)"),
    (re.compile(r"(?<=STUDYID-SUBJID )\((?:" + _OLD_REF + r")?Part A\)"), f"({REF}#identifiers)"),
    (re.compile(r"(?<=per lab row the site sent )\(" + _OLD_REF + r"Part A\)"), f"({REF}#laboratory)"),
    (re.compile(r"(?<=one record per subject )\(" + _OLD_REF + r"Part A\)"), f"({REF}#demographics)"),
    (re.compile(r"(?<=pre-exposure, )" + _OLD_REF + r"Part A"), f"{REF}#baseline"),
    (re.compile(r"(?<=go to RS )\(" + _OLD_REF + r"Part A\)"), f"({REF}#scores-home)"),
    (re.compile(r"(?<=NOT TREATED` )\(Part A\)"), f"({REF}#arms)"),
    (re.compile(r"\bas Part A says\b"), f"as {REF}#baseline says"),
    (re.compile(r"\bVISITDY as Part A gives it\b"), f"VISITDY as {REF}#visits gives it"),
    (re.compile(r"(?<=by design: )Part A\b"), f"{REF}#age"),
    (re.compile(r"\bsupersedes " + _OLD_REF + r"Part A's"), f"supersedes {REF}#age and its"),
    (re.compile(r"(?<=identifiers listed in )" + _OLD_REF + r"Part B\b"), f"{REF}#controlled-terminology"),
    (re.compile(r"\bas the Part A cut-offs are\b"), f"as the cut-offs of {REF}#child-pugh-cut-offs are"),
    (re.compile(r"\(Part A cut-offs\b"), f"({REF}#child-pugh-cut-offs"),
    (re.compile(r"\bPart A(?=: Baseline day 1)"), f"{REF}#visits"),
    (
        re.compile(r"\bPart B §4\.2 defines MELD\(i\) as \"the score from 4\.1\", and §4\.1 says"),
        f'{REF}#meld-na defines MELD(i) as "the integer score of MELD", and {REF}#meld says',
    ),
    (re.compile(r"(?:" + _OLD_REF + r")?\bPart A \"scores' home\", Part B §3\b"), f"{REF}#scores-home"),
    # Part A quoting its row: sdtm-reference Part A "scores' home" / Part A, "score inputs".
    (re.compile(r"(?:" + _OLD_REF + r")?\bPart A,?\s+[\"“]([^\"”]+)[\"”]"), _part_a_row),
    # Part B by section number, ranges first: Part B §4.2–4.3, sdtm-reference Part B §2-§5.
    (re.compile(r"(?:" + _OLD_REF + r")?\bPart B\s+§" + _NUM + r"\s*[-–]\s*§?" + _NUM), _part_b_range),
    (re.compile(r"(?:" + _OLD_REF + r")?\bPart B\s+§" + _NUM), _part_b),
    # The SDTMIG's sections, named by number: keep the IG's section, add where the repo says it.
    (re.compile(r"\bSDTMIG (\d\.\d) §" + _NUM), _sdtmig),
    # The style guide.
    (re.compile(r"\(style guide §(\d+)\)"), lambda m: f"({_style(m)})"),
    (re.compile(r"\bstyle guide §(\d+)"), _style),
    (re.compile(r"\bin the style-guide sense\b"), f"in the sense of {STYLE}#verbs"),
    # The other documents, by name.
    (
        re.compile(r"(?<=Eligibility the data can be checked against )\(raw-data-contract\.md\)"),
        "(docs/raw-data-contract.md#eligibility)",
    ),
    (
        re.compile(r"(?<=the eligibility criteria )\(raw-data-contract\.md\)"),
        "(docs/raw-data-contract.md#eligibility)",
    ),
    (re.compile(r"(?<![\w/])raw-data-contract\.md"), "docs/raw-data-contract.md"),
    (
        re.compile(r"\(design\.md has them the other way round\)"),
        "(the first design had them the other way round, docs/design.md#data-flows-one-way)",
    ),
    (re.compile(r"(?<![\w/])design\.md"), "docs/design.md"),
    # What is left of the old reference: the whole of a part, or the document.
    (re.compile(_OLD_REF + r"Part A\b"), f"{REF}#study-decisions"),
    (re.compile(r"\(Part A\)"), f"({REF}#study-decisions)"),
    (re.compile(_OLD_REF + r"Part B\b"), REF),
    (re.compile(r"(?<![\w/-])sdtm-reference\.md"), REF),
]


def rewrite_text(text: str) -> str:
    """Apply every rule, in order, to one piece of citable text."""
    for pattern, replacement in RULES:
        text = pattern.sub(replacement, text)
    return text


def _python_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the comments and docstrings of a Python source."""
    starts = [0]
    for line in text.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))

    def offset(position: tuple[int, int]) -> int:
        return starts[position[0] - 1] + position[1]

    spans = []
    tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    significant = {tokenize.NL, tokenize.COMMENT}
    for i, token in enumerate(tokens):
        if token.type == tokenize.COMMENT:
            spans.append((offset(token.start), offset(token.end)))
        elif token.type == tokenize.STRING:
            before = next((t for t in reversed(tokens[:i]) if t.type not in significant), None)
            after = next((t for t in tokens[i + 1 :] if t.type not in significant), None)
            statement_start = before is None or before.type in (
                tokenize.NEWLINE,
                tokenize.INDENT,
                tokenize.DEDENT,
                tokenize.ENCODING,
            )
            if statement_start and after is not None and after.type in (tokenize.NEWLINE, tokenize.ENDMARKER):
                spans.append((offset(token.start), offset(token.end)))
    return spans


def _line_spans(text: str, keep) -> list[tuple[int, int]]:
    spans, position = [], 0
    for line in text.splitlines(keepends=True):
        if keep(line):
            spans.append((position, position + len(line)))
        position += len(line)
    return spans


def citable_spans(path: str, text: str) -> list[tuple[int, int]]:
    """Where in a file a rewrite may change text (see the module docstring)."""
    if path.endswith(".py"):
        return _python_spans(text)
    if path.endswith((".toml", ".csv")):
        return _line_spans(text, lambda line: line.lstrip().startswith("#"))
    return [(0, len(text))]


def rewrite_file(path: str, text: str) -> str:
    """The file's text with its citations rewritten, outside the citable spans byte for byte.

    A line the rewrite made longer than the house width is wrapped into the rest of its paragraph.
    """
    pieces, last, changed = [], 0, set()
    for start, end in citable_spans(path, text):
        old = text[start:end]
        new = rewrite_text(old)
        if new != old:
            first = text.count("\n", 0, start)
            changed |= {first + n for n in _changed_lines(old, new)}
        pieces += [text[last:start], new]
        last = end
    pieces.append(text[last:])
    return wrap_lines("".join(pieces), changed)


def _changed_lines(old: str, new: str) -> set[int]:
    """Numbers (from 0) of the lines of `new` that are not lines of `old`."""
    matcher = difflib.SequenceMatcher(a=old.split("\n"), b=new.split("\n"), autojunk=False)
    return {
        n
        for tag, _, _, start, end in matcher.get_opcodes()
        if tag != "equal"
        for n in range(start, end)
    }


WIDTH = 100
# A line that starts one of these begins its own block: a wrapped overflow never joins it.
_BLOCK_START = re.compile(r"(?:[-*+|>]|\d+[.)]|#|```|\"\"\"|''')(?:\s|$)")


def _prefix(line: str) -> str:
    """What a wrapped line continues with: the indentation, comment marker or list-item hang."""
    indent = re.match(r"\s*", line).group(0)
    rest = line[len(indent) :]
    if rest.startswith("# "):
        return indent + "# "
    item = re.match(r"(?:[-*+]|\d+[.)])\s+", rest)
    return indent + " " * len(item.group(0)) if item else indent


def _continues(line: str, prefix: str) -> bool:
    """Whether `line` goes on with the paragraph whose continuation prefix is `prefix`."""
    if not line.strip() or not line.startswith(prefix):
        return False
    body = line[len(prefix) :]
    return bool(body) and not body[0].isspace() and not _BLOCK_START.match(body)


def wrap_lines(text: str, changed: set[int]) -> str:
    """Wrap each `changed` line longer than WIDTH, pushing the overflow into the next line."""
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        prefix = _prefix(line)
        cut = line.rfind(" ", len(prefix) + 1, WIDTH + 1)
        if (
            i not in changed
            or len(line) <= WIDTH
            or line.lstrip().startswith(("|", "```"))
            or cut <= len(prefix)
        ):
            i += 1
            continue
        head, tail = line[:cut].rstrip(), line[cut + 1 :]
        lines[i] = head
        following = lines[i + 1] if i + 1 < len(lines) else ""
        if not line.rstrip().endswith(('"""', "'''")) and _continues(following, prefix):
            lines[i + 1] = prefix + tail + " " + following[len(prefix) :]
        else:
            lines.insert(i + 1, prefix + tail)
            changed = {n + 1 if n > i else n for n in changed}
        changed.add(i + 1)
        i += 1
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="print the diff, write nothing")
    parser.add_argument("--skip", action="append", default=[], help="a file to leave alone")
    args = parser.parse_args(argv)
    changed = 0
    for relative in scanned_files(ROOT):
        if relative in args.skip:
            continue
        file = ROOT / relative
        text = file.read_text(encoding="utf-8")
        new = rewrite_file(relative, text)
        if new == text:
            continue
        changed += 1
        if args.dry_run:
            sys.stdout.writelines(
                difflib.unified_diff(
                    text.splitlines(keepends=True),
                    new.splitlines(keepends=True),
                    f"a/{relative}",
                    f"b/{relative}",
                )
            )
        else:
            file.write_text(new, encoding="utf-8")
    print(f"{changed} file(s) {'would change' if args.dry_run else 'rewritten'}", file=sys.stderr)
    if args.dry_run:
        return 0
    left = check_tree(ROOT)
    for citation in left:
        print(f"{citation.path}:{citation.line}: {citation.problem}", file=sys.stderr)
    return 1 if left else 0


if __name__ == "__main__":
    sys.exit(main())
