"""The shortcuts the exercise statements forbid score zero.

Each notebook in tests/data/course/shortcuts/ is a solution notebook with the forbidden shortcut in
place of some answers (a loop where the statement says "without a loop", ``jax.jacrev`` where it is
forbidden, a closed form where the implicit function theorem is asked for, the dense system where
Sherman-Morrison is asked for, the library's Fisher, ...). Graded against the current solutions,
each shortcut exercise must score 0 while every other exercise keeps full marks, so the tests catch
the shortcut and nothing else. One grading run covers all three notebooks (about a minute of CPU).
"""

import contextlib
import io
import json
from pathlib import Path

import pytest

from course.cli import main

ROOT = Path(__file__).resolve().parents[1]
SHORTCUTS = Path(__file__).parent / "data" / "course" / "shortcuts"

# notebook -> the exercises whose answers are shortcuts (each must score 0)
EXPECTED_ZERO = {
    "shortcut_01_linear_regression.ipynb": {"ex1_tests"},                       # a loop over steps
    "shortcut_02_taylor_autodiff.ipynb": {"ex3_tests", "ex6_tests"},             # jax.jacrev; ridge closed form
    "shortcut_03_metrics.ipynb": {"ex2_tests", "ex3_tests", "ex5_tests", "ex6_tests"},  # closed form;
    # gt.fisher_matrix; forming J; the dense n x n solve
}


@pytest.fixture(scope="module")
def report():
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main(["grade", str(SHORTCUTS), "--solutions", str(ROOT / "solutions"), "--json", "-q"])
    return status, {Path(r["submission"]).name: r for r in json.loads(out.getvalue())}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED_ZERO))
def test_each_forbidden_shortcut_scores_zero_and_nothing_else_does(report, name):
    _, rows = report
    assert name in rows, f"{name} was not graded; graded: {sorted(rows)}"
    row = rows[name]
    assert "exercises" in row, row
    scores = {e["grade_id"]: e for e in row["exercises"]}
    for gid in EXPECTED_ZERO[name]:
        assert scores[gid]["points"] == 0, f"{name}: the shortcut in {gid} scored {scores[gid]['points']}"
    for gid, e in scores.items():
        if gid in EXPECTED_ZERO[name] or gid.endswith("_written"):
            continue
        assert e["points"] == e["max_points"], f"{name}: {gid} lost points although its answer is the solution's: {e}"
