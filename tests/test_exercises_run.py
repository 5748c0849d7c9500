"""A released exercise notebook runs top to bottom and stops only where a student must work.

Executed in a fresh kernel with errors allowed: every error must come from an exercise's own
cells (an answer or test cell) and be the stub's NotImplementedError, or a NameError for a name
the unanswered stub was meant to define. Any other error, or one in an ordinary cell, is a bug
in the release.
"""

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
EXERCISES = sorted((ROOT / "exercises").glob("*.ipynb"))
ALLOWED = {"NotImplementedError", "NameError"}


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("path", EXERCISES, ids=lambda p: p.name)
def test_released_notebook_stops_only_in_exercise_cells(path):
    nb = nbformat.read(path, as_version=4)
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    NotebookClient(nb, kernel_name="python3", allow_errors=True, timeout=240,
                   resources={"metadata": {"path": str(ROOT / "solutions")}}).execute()
    not_implemented = 0
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        errors = [o for o in cell.outputs if o.output_type == "error"]
        in_exercise = bool(cell.metadata.get("nbgrader", {}).get("solution") or cell.metadata.get("nbgrader", {}).get("grade"))
        for err in errors:
            assert in_exercise, f"{path.name} cell {i} (not an exercise cell) raised {err.ename}: {err.evalue}"
            assert err.ename in ALLOWED, f"{path.name} cell {i} raised {err.ename}: {err.evalue}"
            not_implemented += err.ename == "NotImplementedError"
    assert not_implemented >= 4, f"{path.name}: expected each unanswered exercise to stop with NotImplementedError"
