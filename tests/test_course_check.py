"""``python -m course check``: a student's half-done notebook, run with its visible tests in a fresh kernel.

The notebook is the tiny fixture's release, with exercise 1 answered, exercise 2 answered wrongly
(the visible shape check fails), exercise 3 left as released. One run is shared by the tests.
"""

import shutil
from pathlib import Path

import nbformat
import pytest

from course import check
from course import notebooks as nbk
from course.cli import main
from course.release import release_notebook

DATA = Path(__file__).parent / "data" / "course"
SOLUTION = DATA / "solutions" / "01_tiny.ipynb"


def _half_done(path: Path) -> Path:
    sol = nbformat.read(SOLUTION, as_version=4)
    nb = release_notebook(sol, "01_tiny")
    full = {c.get("id"): c.source for c in sol.cells}
    for cell in nb.cells:
        if cell.get("id") == "ex1_answer":
            cell.source = full["ex1_answer"]
        elif cell.get("id") == "ex2_answer":
            cell.source = "def gram(X):\n    X = np.asarray(X)\n    return X @ X.T  # rows, not columns"
    path.write_text(nbk.dumps(nb), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def checked(tmp_path_factory):
    folder = tmp_path_factory.mktemp("check")
    nb = _half_done(folder / "01_tiny.ipynb")
    before = (nb.read_bytes(), nb.stat().st_mtime_ns)
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main(["check", str(nb), "--cell-timeout", "60", "--timeout", "120"])
    return {"status": status, "out": out.getvalue(), "nb": nb, "before": before, "folder": folder}


@pytest.mark.slow
def test_half_done_notebook_reports_each_exercise_and_exits_1(checked):
    out = checked["out"]
    assert checked["status"] == 1, out
    lines = [" ".join(line.split()) for line in out.splitlines()]
    assert "exercise 1 (2 points) passed" in lines
    assert "exercise 2 (3 points) failed" in lines
    assert "at line 3 of the test cell: assert gram(X).shape == (2, 2)" in lines  # a bare assert: the line says why
    assert "exercise 3 (1 point) not answered yet" in lines
    assert "answer cell 'ex3_answer' still raises NotImplementedError" in lines
    assert "exercise 3, written (1 point) graded by hand" in lines and "not answered yet" in out
    assert check.HIDDEN in out
    assert "1 of 3 exercises pass their visible tests; 1 failed; 1 not answered yet; 1 written answer(s) are graded by hand." in lines


@pytest.mark.slow
def test_the_notebook_is_never_changed(checked):
    nb = checked["nb"]
    assert (nb.read_bytes(), nb.stat().st_mtime_ns) == checked["before"]
    assert sorted(p.name for p in checked["folder"].iterdir()) == ["01_tiny.ipynb"]


@pytest.mark.slow
def test_a_finished_notebook_exits_0(tmp_path, capsys):
    nb = tmp_path / "01_tiny.ipynb"
    shutil.copy(SOLUTION, nb)
    assert main(["check", str(nb)]) == 0
    out = capsys.readouterr().out
    assert "3 of 3 exercises pass their visible tests" in out and "Fix what fails" not in out


def test_user_errors(tmp_path, capsys):
    lecture = tmp_path / "plain.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")]), lecture)
    bad = tmp_path / "bad.ipynb"
    bad.write_text("{not json")
    for argv, expected in [([str(lecture)], "has no test cells"), ([str(bad)], "not a valid notebook"),
                           ([str(tmp_path / "none.ipynb")], "no such notebook"), ([str(lecture), "--timeout", "0"], "must be positive")]:
        capsys.readouterr()
        assert main(["check", *argv]) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and expected in err[0], (argv, err)
