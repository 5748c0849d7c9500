"""nbgrader itself agrees with ``course grade`` on every solution notebook, and on its release.

For each ``solutions/NN_*.ipynb`` (and the tiny fixture), nbgrader's own ``generate_assignment``
must accept it, and ``course grade`` must give the solution full marks (written answers pending a
hand grade) and the notebook ``course release`` makes of it zero. For the tiny fixture and the
first lecture (every notebook with ``COURSE_NBGRADER_ALL=1``), nbgrader's ``autograde`` of the
same two submissions must give the same points per graded cell as ``course grade`` (written
answers: zero, "no answer", as nbgrader scores an untouched answer, on the release).

Everything runs at once: nbgrader for the two submissions in two course folders (one assignment
per notebook, so one broken notebook fails alone; one process each, since nbgrader takes seconds
to import), and ``course grade --jobs 2`` on both. That same ``course grade`` run writes feedback
pages, which are checked here on every solution notebook: full marks on the solution, each test
failing on the release, and never a line of a hidden test or of a solution.
"""

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import pytest

from course import notebooks as nbk
from course.release import release_notebook
from feedback_leaks import leaks, secret_lines

nbgrader_api = pytest.importorskip("nbgrader.api", reason="nbgrader is not installed: pip install -e '.[test]'")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = [ROOT / "tests" / "data" / "course" / "solutions" / "01_tiny.ipynb", *nbk.exercise_notebooks(ROOT / "solutions")]
if os.environ.get("COURSE_NBGRADER_ONLY"):  # while writing a notebook: COURSE_NBGRADER_ONLY=01_tiny,03_metrics
    NOTEBOOKS = [p for p in NOTEBOOKS if p.stem in os.environ["COURSE_NBGRADER_ONLY"].split(",")]
# nbgrader's autograde runs the tiny fixture and the first lecture (its runs repeat course grade's,
# which grades every notebook here); every notebook goes through its generate_assignment.
# COURSE_NBGRADER_ALL=1 autogrades every notebook with nbgrader too (several minutes more).
AUTOGRADED = NOTEBOOKS if os.environ.get("COURSE_NBGRADER_ALL") == "1" else NOTEBOOKS[:2]
BIN = Path(sys.executable).parent
TIMEOUT = 600  # seconds per notebook cell under nbgrader (its default, 30, is too short for a lecture)


#: Runs in nbgrader's environment: generate_assignment and autograde each notebook as its own
#: assignment (one broken notebook fails alone), in one process (nbgrader takes seconds to import).
DRIVER = r"""
import json, sys, time
from pathlib import Path
from traitlets.config import Config
from nbgrader.api import Gradebook
from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory

root, student, timeout = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
autograded = set(sys.argv[4].split(","))
db = f"sqlite:///{root / 'gradebook.db'}"
c = Config()
c.CourseDirectory.root = str(root)
c.CourseDirectory.db_url = db
c.CourseDirectory.course_id = "course"
c.Execute.timeout = timeout
# Unix sockets named under the course folder, not TCP ports: a port jupyter_client picks is free when
# it looks, and another process's kernel (course grade's, the other driver's) may take it before
# this kernel binds it; the kernel then dies before its first reply (seen once in CI).
c.KernelManager.transport = "ipc"
c.KernelManager.ip = str(root / "kernel")
api = NbGraderAPI(CourseDirectory(config=c), config=c)
out = {}
for source in sorted((root / "source").glob("ps_*/*.ipynb")):
    ps, stem, t0 = source.parent.name, source.stem, time.perf_counter()
    gen = api.generate_assignment(ps, force=True, create=True)
    if not gen["success"] or not (root / "release" / ps / source.name).exists():
        out[stem] = {"error": "generate_assignment failed: " + gen.get("error", "") + gen.get("log", "")[-2000:]}
        continue
    if stem not in autograded:
        out[stem] = {"generated": True}
        continue
    auto = api.autograde(ps, student, force=True, create=True)
    if not auto["success"] and "Kernel died before replying" in auto.get("log", ""):
        auto = api.autograde(ps, student, force=True, create=True)  # once: a kernel that never started graded nothing
    if not auto["success"]:
        out[stem] = {"error": "autograde failed: " + auto.get("error", "") + auto.get("log", "")[-2000:]}
        continue
    with Gradebook(db) as gb:
        nb = gb.find_submission_notebook(stem, ps, student)
        out[stem] = {"grades": {g.name: [None if g.needs_manual_grade else float(g.score), float(g.max_score)] for g in nb.grades},
                     "score": float(nb.score), "max": float(nb.max_score), "seconds": time.perf_counter() - t0}
(root / "results.json").write_text(json.dumps(out))
"""


def _nbgrader_side(course: Path, student: str, make_submission, out: dict) -> None:
    """Lay out an nbgrader course folder (sources, one submission per notebook) and run the driver."""
    course.mkdir(parents=True)
    for sol in NOTEBOOKS:
        ps = f"ps_{sol.stem}"
        (course / "source" / ps).mkdir(parents=True)
        shutil.copy(sol, course / "source" / ps / sol.name)
        (course / "submitted" / student / ps).mkdir(parents=True)
        nbformat.write(make_submission(sol), course / "submitted" / student / ps / sol.name)
    env = dict(os.environ, JAX_PLATFORMS="cpu", PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
               JUPYTER_CONFIG_DIR=str(course / ".jupyter"), PYTHONUNBUFFERED="1")
    proc = subprocess.run([sys.executable, "-c", DRIVER, str(course), student, str(TIMEOUT),
                           ",".join(p.stem for p in AUTOGRADED)], cwd=course, env=env,
                          capture_output=True, text=True)
    results = course / "results.json"
    out.update(json.loads(results.read_text()) if results.exists() else {})
    for sol in NOTEBOOKS:
        out.setdefault(sol.stem, {"error": f"nbgrader stopped (exit {proc.returncode}): {proc.stderr[-2000:]}"})


def _released(sol: Path) -> nbformat.NotebookNode:
    return release_notebook(nbformat.read(sol, as_version=4), sol.stem)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("nbgrader")
    folders = {"solution": tmp / "solution", "released": tmp / "released"}
    for kind, folder in folders.items():
        (folder / "ann").mkdir(parents=True)
        for sol in NOTEBOOKS:  # graded against their own solution: the tiny one lives elsewhere
            target = folder / "ann" / sol.name
            if kind == "solution":
                shutil.copy(sol, target)
            else:
                target.write_text(nbk.dumps(_released(sol)))
    results = {"nbgrader": {"solution": {}, "released": {}}, "course": {"solution": {}, "released": {}}}
    makers = {"solution": lambda sol: nbformat.read(sol, as_version=4), "released": _released}
    t0 = time.perf_counter()
    threads = [threading.Thread(target=_nbgrader_side, args=(tmp / f"nbg_{k}", k, makers[k], results["nbgrader"][k]))
               for k in folders]
    # the tiny fixture is not in solutions/: course grade matches against a folder of every notebook tried
    sols = tmp / "all_solutions"
    sols.mkdir()
    for sol in NOTEBOOKS:
        shutil.copy(sol, sols / sol.name)
    threads += [threading.Thread(target=_course_side_with, args=(folders[k], sols, results["course"][k])) for k in folders]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results["seconds"] = time.perf_counter() - t0
    return results


def _course_side_with(folder: Path, solutions: Path, out: dict) -> None:
    report = folder.parent / f"{folder.name}.json"
    feedback = folder.parent / f"{folder.name}_feedback"
    proc = subprocess.run([sys.executable, "-m", "course", "grade", str(folder), "--solutions", str(solutions),
                           "--jobs", "2", "--cell-timeout", str(TIMEOUT), "--report", str(report), "-q", "--json",
                           "--feedback", str(feedback)],
                          cwd=ROOT, capture_output=True, text=True, env=dict(os.environ, JAX_PLATFORMS="cpu"))
    out["proc"] = proc
    out["results"] = {Path(r["submission"]).stem: r for r in json.loads(report.read_text())} if report.exists() else {}
    out["feedback"] = feedback


def _course_result(graded, kind: str, sol: Path) -> dict:
    """``course grade``'s result for ``sol`` as submitted in ``kind`` (its run must have succeeded)."""
    course = graded["course"][kind]
    assert course["proc"].returncode == 0, course["proc"].stderr[-2000:]
    return course["results"][sol.stem]


@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("kind", ["solution", "released"])
@pytest.mark.parametrize("sol", NOTEBOOKS, ids=lambda p: p.stem)
def test_nbgrader_accepts_every_notebook(graded, sol, kind):
    nbg = graded["nbgrader"][kind].get(sol.stem)
    assert nbg is not None and "error" not in nbg, (nbg or {}).get("error")


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["solution", "released"])
@pytest.mark.parametrize("sol", AUTOGRADED, ids=lambda p: p.stem)
def test_nbgrader_and_course_grade_agree(graded, sol, kind):
    nbg = graded["nbgrader"][kind].get(sol.stem)
    assert nbg is not None and "error" not in nbg, (nbg or {}).get("error")
    mine = _course_result(graded, kind, sol)
    manual = sum(v[1] for v in nbg["grades"].values() if v[0] is None)
    print(f"| {sol.stem} | {kind} | nbgrader {nbg['score']:g}/{nbg['max']:g} ({manual:g} to grade by hand) "
          f"| course grade {mine['total']:g}/{mine['max_total']:g} ({mine['pending']:g} pending) |")
    ours = {e["grade_id"]: (e["points"], e["max_points"]) for e in mine["exercises"]}
    assert ours == {g: tuple(v) for g, v in nbg["grades"].items()}, f"{sol.stem} ({kind}): course grade {ours} != nbgrader {nbg['grades']}"
    assert mine["total"] == nbg["score"] and mine["max_total"] == nbg["max"]


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["solution", "released"])
@pytest.mark.parametrize("sol", NOTEBOOKS, ids=lambda p: p.stem)
def test_course_grade_gives_the_solution_full_marks_and_the_release_zero(graded, sol, kind):
    mine = _course_result(graded, kind, sol)
    items = nbk.graded_items(nbformat.read(sol, as_version=4))
    auto = sum(ex.points for ex, manual in items if not manual)
    written = sum(ex.points for ex, manual in items if manual)
    if kind == "solution":
        assert (mine["total"], mine["pending"]) == (auto, written)  # full marks; written answers to grade by hand
    else:
        assert (mine["total"], mine["pending"]) == (0, 0)  # nothing answered


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["solution", "released"])
@pytest.mark.parametrize("sol", NOTEBOOKS, ids=lambda p: p.stem)
def test_feedback_pages_never_show_hidden_tests_or_solutions(graded, sol, kind):
    course = graded["course"][kind]
    assert course["proc"].returncode == 0, course["proc"].stderr[-2000:]
    page = (course["feedback"] / "ann" / f"{sol.stem}.html").read_text()
    nb = nbformat.read(sol, as_version=4)
    found = leaks(page, secret_lines(nb))
    assert not found, f"{sol.stem} ({kind}): the feedback page shows {found[:3]}"
    tests = sum(1 for ex, manual in nbk.graded_items(nb) if not manual)
    if kind == "solution":
        assert page.count("passed (visible and hidden tests)") == tests
    else:  # every test fails on the release: its message and visible part are shown
        assert page.count('<pre class="message">') == tests and page.count('<pre class="code">') == tests


@pytest.mark.slow
@pytest.mark.parametrize("sol", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_release_stops_only_where_a_student_must_work(graded, sol):
    """The released notebook, run top to bottom by the grader: no ordinary cell raises, and each
    test fails on the missing answer (the stub's NotImplementedError, or a NameError for a name the
    stub was meant to define), not on a bug of the release."""
    mine = _course_result(graded, "released", sol)
    broken = [n for n in mine["notes"] if n.startswith("cell #") and "grading went on" in n]
    assert not broken, f"{sol.stem}: ordinary cells of the release raised: {broken}"
    items = nbk.graded_items(nbformat.read(sol, as_version=4))
    auto = {ex.grade_id for ex, manual in items if not manual}
    for e in mine["exercises"]:
        if e["grade_id"] in auto:
            assert "NotImplementedError" in e["reason"] or "NameError" in e["reason"], (
                f"{sol.stem} {e['grade_id']}: the release's test failed for another reason than the missing answer: {e['reason']!r}")
