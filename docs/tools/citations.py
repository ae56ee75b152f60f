"""Find the citations in the tree and say which of them point nowhere.

A citation is how a comment, docstring or document sends its reader to the reason for a rule:
`docs/sdtm-reference.md#meld`, `mappings/ucmsc-esld/visits.csv`, a relative Markdown link. It must
lead to a file (and anchor) a clone of the repository has. The old forms, which named documents
only the first authors had ("sdtm-reference Part A", "Part B §4.1", "design.md",
"raw-data-contract.md", "style guide §7", "stack-notes", a path under /work/), are reported as
pointing outside the repository; `docs/tools/rewrite_citations.py` turns them into the new form.

`tests/test_citations.py` runs `check_tree` over the repository; run this file to list the
problems: `python docs/tools/citations.py`.
"""

from __future__ import annotations

import io
import re
import sys
import tokenize
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# What is scanned: the folders and files the brief names, as the repository's own text.
SCANNED = ("flows", "transforms", "expectations", "mappings", "tests", "bench", "docs", "README.md")
TEXT_SUFFIXES = {".py", ".md", ".toml", ".csv", ".txt", ".yaml", ".yml", ".cfg", ".ini", ".sh"}
# Copied or generated material is not ours to cite from: the vendored CDISC standards (their rule
# texts say "Part A - Raise an error …" about parts of a rule), a study's sample export, the
# benchmarks' recorded results. Their READMEs are ours and are scanned.
SKIPPED_DIRS = ("mappings/standards/", "bench/results/", "tests/data/", "sample_export/")
# The two tools name the old forms on purpose (patterns and the rewrite table); the test plants
# bad citations to prove the finder finds them.
EXEMPT = {"docs/tools/citations.py", "docs/tools/rewrite_citations.py", "tests/test_citations.py"}

# Where runs and benchmarks write: a path there names an output, not a document.
GENERATED = ("bench/results/",)
_PLACEHOLDER = re.compile(r"<[^<>/]+>|\{[^{}/]+\}|\*")
PATH = re.compile(
    r"(?<![\w/.-])((?:(?:docs|mappings|flows|transforms|expectations|tests|bench)/[\w.<>{}*/-]*"
    r"[\w>}*/]|README\.md))(?:#([\w-]+))?",
)
MARKDOWN_LINK = re.compile(r"\]\(([^()\s]+)\)")
# Old forms: each names a document or a section a clone does not have.
OUTSIDE = (
    (re.compile(r"\bPart [AB]\b"), "names a part of an SDTM reference"),
    (re.compile(r"(?<!docs/)\bsdtm-reference\b"), "names an SDTM reference"),
    (re.compile(r"(?<!docs/)(?<![\w.-])design\.md"), "names a design document"),
    (re.compile(r"(?<!docs/)\braw-data-contract\b"), "names a data contract"),
    (re.compile(r"\bstyle[- ]guide\b", re.IGNORECASE), "names a style guide"),
    (re.compile(r"\bstack-notes\b"), "names notes"),
    (re.compile(r"§"), "cites by number a section of a document"),
    (re.compile(r"(?<![\w.])/work/[\w./-]*"), "is a path on a machine"),
)
FIX = "cite docs/<file>.md#<section> instead (docs/tools/rewrite_citations.py does it)"


@dataclass(frozen=True)
class Citation:
    path: str  # file the citation is in, relative to the root
    line: int
    text: str  # the citation as written
    problem: str | None  # None when it leads somewhere


def compute_slug(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading: lower case, punctuation dropped, spaces to '-'."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip().lower())  # a link's text only
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def compute_anchors(markdown: str) -> set[str]:
    """Every anchor a Markdown file offers: heading slugs (duplicates numbered) and `<a id=…>`."""
    anchors: set[str] = set()
    seen: dict[str, int] = {}
    fenced = False
    for line in markdown.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
            continue
        heading = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if heading and not fenced:
            slug = compute_slug(heading.group(1))
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            anchors.add(slug if count == 0 else f"{slug}-{count}")
    anchors |= set(re.findall(r"<a\s+(?:id|name)=\"([^\"]+)\"", markdown))
    return anchors


def citable_text(path: str, text: str) -> list[tuple[int, str]]:
    """The (first line number, text) pieces of a file that can carry a citation.

    Python: comments and string literals. TOML and CSV: comment lines only, so that a CSV's data
    (a rule's own wording) is never read as a citation. Anything else: the whole text.
    """
    if path.endswith(".py"):
        pieces = []
        try:
            for token in tokenize.generate_tokens(io.StringIO(text).readline):
                if token.type in (tokenize.COMMENT, tokenize.STRING) or (
                    token.type == getattr(tokenize, "FSTRING_MIDDLE", -1)
                ):
                    pieces.append((token.start[0], token.string))
        except (tokenize.TokenError, SyntaxError):
            return list(enumerate(text.splitlines(), start=1))
        return pieces
    if path.endswith((".toml", ".csv")):
        return [
            (number, line)
            for number, line in enumerate(text.splitlines(), start=1)
            if line.lstrip().startswith("#") or (path.endswith(".toml") and " # " in line)
        ]
    return [(1, text)]


def check_path(target: str, anchor: str | None, root: Path, anchors) -> str | None:
    """Why a repository path (and anchor) leads nowhere, or None. `<x>`, `{x}`, `*` are wildcards."""
    target = target.rstrip(".")
    if _PLACEHOLDER.search(target):
        pattern = _PLACEHOLDER.sub("*", target).rstrip("/")
        if not any(root.glob(pattern)):
            return f"no file matches {target}"
        return None
    found = root / target
    if not found.exists():
        return f"{target} does not exist"
    if anchor is not None:
        if found.suffix != ".md" or not found.is_file():
            return f"{target} is not a Markdown file, so #{anchor} cannot be in it"
        if anchor not in anchors(found):
            return f"{target} has no section #{anchor}"
    return None


def find_citations(path: str, text: str, root: Path = ROOT) -> list[Citation]:
    """Every citation-like reference in one file's text, each with its problem (None if fine)."""
    cache: dict[Path, set[str]] = {}

    def anchors(file: Path) -> set[str]:
        if file not in cache:
            cache[file] = compute_anchors(file.read_text(encoding="utf-8"))
        return cache[file]

    found: list[Citation] = []
    for first_line, piece in citable_text(path, text):

        def line_of(offset: int, first_line: int = first_line, piece: str = piece) -> int:
            return first_line + piece.count("\n", 0, offset)

        for match in PATH.finditer(piece):
            target, anchor = match.group(1), match.group(2)
            if target.startswith(GENERATED):
                continue
            problem = check_path(target, anchor, root, anchors)
            found.append(Citation(path, line_of(match.start()), match.group(0), problem))
        if path.endswith(".md"):
            for match in MARKDOWN_LINK.finditer(piece):
                link = match.group(1)
                if re.match(r"[a-z][a-z0-9+.-]*:", link):  # http:, https:, mailto:
                    continue
                file_part, _, anchor = link.partition("#")
                base = (root / path).parent
                target_file = (base / file_part).resolve() if file_part else root / path
                try:
                    relative = target_file.relative_to(root).as_posix()
                except ValueError:
                    problem = f"{link} leads outside the repository"
                else:
                    problem = check_path(relative, anchor or None, root, anchors)
                found.append(Citation(path, line_of(match.start()), link, problem))
        for pattern, reason in OUTSIDE:
            for match in pattern.finditer(piece):
                problem = f"{match.group(0)!r} {reason} a clone does not have; {FIX}"
                found.append(Citation(path, line_of(match.start()), match.group(0), problem))
    return found


def scanned_files(root: Path = ROOT) -> list[str]:
    """The repository files whose text is checked, relative to `root`, sorted."""
    files = []
    for name in SCANNED:
        top = root / name
        candidates = [top] if top.is_file() else sorted(top.rglob("*"))
        for file in candidates:
            relative = file.relative_to(root).as_posix()
            if (
                file.is_file()
                and file.suffix in TEXT_SUFFIXES
                and relative not in EXEMPT
                and not any(part in relative for part in SKIPPED_DIRS)
                and "__pycache__" not in relative
                and not relative.startswith(".")
            ) or (file.name == "README.md" and file.is_file() and relative not in EXEMPT):
                files.append(relative)
    return sorted(set(files))


def check_tree(root: Path = ROOT) -> list[Citation]:
    """Every citation in the scanned files that leads nowhere or outside the repository."""
    problems = []
    for relative in scanned_files(root):
        text = (root / relative).read_text(encoding="utf-8", errors="replace")
        problems += [c for c in find_citations(relative, text, root) if c.problem]
    return problems


if __name__ == "__main__":
    bad = check_tree()
    for citation in bad:
        print(f"{citation.path}:{citation.line}: {citation.problem}")
    print(f"{len(bad)} citation(s) lead nowhere", file=sys.stderr)
    sys.exit(1 if bad else 0)
