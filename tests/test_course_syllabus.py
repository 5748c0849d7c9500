"""``python -m course list`` and the syllabus, checked against the notebooks on disk."""

import shutil
from pathlib import Path

import nbformat
import pytest

from course import notebooks as nbk
from course.cli import main
from course.syllabus import load_syllabus

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data" / "course"
SEEDS = ROOT.parent / "shared" / "seeds"
START_PAGE = "lectures/00_start_here.ipynb"

EXPECTED = [
    (1, "01_linear_regression", "Linear regression as a toy model", "training-dynamics-notes-linreg-taylor.txt", "ready"),
    (2, "02_taylor_autodiff", "Taylor approximations and autodiff", "training-dynamics-notes-linreg-taylor.txt", "ready"),
    (3, "03_metrics", "Metrics: proximal, mirror and natural gradient, Fisher", "csc2541-lecture3-metrics.txt", "ready"),
    (4, "04_behavior_manifolds", "Behavior manifolds", "information-loss-basin-flatness.txt", "ready"),
    (5, "05_rashomon_manifold", "The Rashomon manifold: mode connectivity", "rashomon-manifold-mode-connectivity.txt", "ready"),
    (6, "06_geodesics", "Weight-space geodesics and functionally invariant paths", "geodesics-weight-space.txt", "ready"),
]


def test_syllabus_lists_the_six_lectures():
    got = [(lec.number, lec.slug, lec.title, lec.seed, lec.status) for lec in load_syllabus()]
    assert got == EXPECTED
    assert all(lec.papers for lec in load_syllabus())


@pytest.mark.skipif(not SEEDS.is_dir(), reason=f"the seeds folder {SEEDS} is not next to this checkout")
def test_every_seed_exists():
    for lec in load_syllabus():
        assert (SEEDS / lec.seed).is_file(), lec.seed


def test_syllabus_and_notebooks_on_disk_agree():
    lectures = load_syllabus()
    slugs = {lec.slug for lec in lectures}
    for lec in lectures:
        if lec.status == "ready":
            for folder in ("lectures", "solutions", "exercises"):
                assert (ROOT / folder / f"{lec.slug}.ipynb").is_file(), f"ready lecture {lec.slug} has no {folder}/{lec.slug}.ipynb"
    for folder in ("lectures", "solutions", "exercises"):
        for path in sorted((ROOT / folder).glob("*.ipynb")):
            if f"{folder}/{path.name}" == START_PAGE:  # the course's front page, not a lecture
                continue
            assert path.stem in slugs, f"{folder}/{path.name} is not in course/syllabus.toml"


@pytest.mark.parametrize("edit, expected", [
    (lambda t: t.replace('status = "ready"', 'status = "done"', 1), "expected status in"),
    (lambda t: t.replace('number = 2', 'number = 1', 1), "expected a slug 'NN_topic' with NN = number 1"),
    (lambda t: t.replace('title = "Behavior manifolds"\n', '', 1), "expected title of type str"),
    (lambda t: t + '\n[[lecture]]\nnumber = 6\nslug = "06_geodesics"\ntitle = "x"\nseed = "s"\npapers = []\nstatus = "planned"\n',
     "expected unique lecture numbers"),
    (lambda t: "", "expected [[lecture]] tables"),
])
def test_bad_syllabus_says_what_is_wrong(tmp_path, edit, expected):
    path = tmp_path / "syllabus.toml"
    path.write_text(edit((ROOT / "course" / "syllabus.toml").read_text()))
    with pytest.raises(ValueError, match=expected.replace("[", r"\[")):
        load_syllabus(path)


def test_list_shows_status_and_exercises(tmp_path, capsys):
    (tmp_path / "solutions").mkdir()
    shutil.copy(DATA / "solutions" / "01_tiny.ipynb", tmp_path / "solutions" / "01_linear_regression.ipynb")
    assert main(["list", "--root", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 7
    for (number, slug, title, _, status) in EXPECTED:
        line = next(x for x in lines if x.startswith(f"{number:02d}  "))
        assert title in line and status in line and slug in line
    assert lines[1] == ("    exercises/01_linear_regression.ipynb: ex1_tests (2 pts), ex2_tests (3 pts), "
                        "ex3_written (1 pt, by hand), ex3_tests (1 pt); total 7 points (1 graded by hand)")
    exs = nbk.exercises(nbformat.read(DATA / "solutions" / "01_tiny.ipynb", as_version=4))
    assert [e.answer_ids for e in exs] == [("ex1_answer",), ("ex2_answer",), ("ex3_answer", "ex3_written")]


@pytest.mark.slow
def test_execute_still_stores_outputs(tmp_path, capsys):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(6 * 7)")])
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    assert main(["execute", str(path), "--timeout", "60"]) == 0
    out = nbformat.read(path, as_version=4)
    assert out.cells[0].outputs[0]["text"] == "42\n"
    assert out.metadata.kernelspec["name"] == "gradtools-course"
