"""The top-level folders depend one way: flows/ -> expectations/ -> transforms/.

transforms/ is the pipeline's pure logic, a folder per stage; expectations/ runs Great Expectations
over it (the validate and conform stages, the suites, Data Docs); flows/ wires the stages (build)
and runs them under Prefect and the CLI. Read from every import statement of every module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAY_NOT_IMPORT = {"transforms": {"expectations", "flows"}, "expectations": {"flows"}}


def compute_imported_packages(path: Path) -> set[str]:
    """The top-level packages a module imports (lazy imports inside functions included)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_the_finder_sees_top_level_and_lazy_imports(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("import flows.cli as c\nfrom transforms.core import findings\n"
                      "def f():\n    from expectations.sdtm import x\n")
    assert compute_imported_packages(module) == {"flows", "transforms", "expectations"}


@pytest.mark.parametrize("folder", sorted(MAY_NOT_IMPORT))
def test_dependencies_run_one_way(folder):
    wrong = {
        path.relative_to(ROOT).as_posix(): sorted(compute_imported_packages(path) & MAY_NOT_IMPORT[folder])
        for path in sorted((ROOT / folder).rglob("*.py"))
    }
    assert {path: names for path, names in wrong.items() if names} == {}


def test_every_stage_is_a_folder_of_transforms():
    """A newcomer reading `ls transforms` sees the pipeline: no module left loose beside the stages."""
    loose = sorted(p.name for p in (ROOT / "transforms").glob("*.py") if p.name != "__init__.py")
    assert loose == []
    for folder in (p for p in (ROOT / "transforms").iterdir() if p.is_dir() and p.name != "__pycache__"):
        assert (folder / "__init__.py").read_text().startswith('"""'), f"{folder.name} says what it is"
