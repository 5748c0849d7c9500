"""The repository keeps its promises: CI runs the README's command, notebooks are stored as
`python -m course execute` leaves them (executed, no widget state, the course kernel)."""

import re
from pathlib import Path

import nbformat
import pytest

from course.execute import KERNEL_NAME

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "lectures").glob("*.ipynb")) + sorted((ROOT / "solutions").glob("*.ipynb"))


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "make lab" in readme and "make test" in readme
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^\s*make test\s*$", ci, re.M), ".ci/run must call `make test`, the README's test command"


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 2, "expected lecture and solution notebooks"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_notebook_is_stored_executed_and_clean(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert "widgets" not in nb.metadata, f"{path.name}: widget state stored; re-run `python -m course execute`"
    assert nb.metadata.get("kernelspec", {}).get("name") == KERNEL_NAME
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, f"{path.name} has no code cell"
    for i, cell in enumerate(code):
        assert cell.execution_count is not None, (
            f"{path.name}: code cell {i} was not executed; store outputs with `python -m course execute {path.relative_to(ROOT)}`"
        )
        for out in cell.outputs:
            assert out.output_type != "error", f"{path.name}: code cell {i} stored an error: {out.get('ename')}"
    counts = [c.execution_count for c in code]
    assert counts == list(range(1, len(code) + 1)), f"{path.name}: cells were not run top to bottom in one kernel"


@pytest.mark.parametrize("package", ["plotting", "widgets"])
def test_no_name_is_exported_by_two_submodules(package):
    # plotting/ and widgets/ star-import their submodules: a clash would silently shadow one.
    import importlib
    from collections import Counter

    pkg = importlib.import_module(f"gradtools.{package}")
    names = Counter()
    submodules = [m for m in vars(pkg).values() if getattr(m, "__name__", "").startswith(pkg.__name__ + ".")]
    for mod in submodules:
        names.update(mod.__all__)
    assert names, f"gradtools.{package} exports nothing"
    clashes = sorted(n for n, c in names.items() if c > 1)
    assert not clashes, f"exported by two gradtools.{package} submodules: {clashes}"


def test_public_api_names_resolve():
    import gradtools as gt

    missing = [n for n in gt.__all__ if not hasattr(gt, n)]
    assert not missing, f"gradtools.__all__ lists names it does not define: {missing}"
