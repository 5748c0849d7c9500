"""Every shortcut route scores zero on its exercise, for the reason the route names.

The routes are in ``tests/data/course/shortcuts/NN_topic.toml`` (see ``tests/shortcuts.py``): an
import alias of a banned function, an equivalent the statement did not name, the library doing the
exercise in one call, a trace cached before the ban, a host callback, brute force, a dense route at
a size it cannot finish, a wrong answer... Each is an answer a student could hand in, in its own
copy of its exercise's cells (a lecture's routes share a notebook; tampering ones get their own).
They are graded in one ``python -m course grade --jobs 2`` run (``make test``: each exercise's first
route and first correct answer, see ``shortcuts.sample``; ``make test-long``: the others), against the solutions
reduced to the same copies, and each must lose all the exercise's points with a failure that
contains the route's ``expect`` text (the integrity check's message, or the assertion that a
generic input exposes). The same files list correct answers written otherwise than the solution
(``[[accept]]``), graded in the same run: each must keep every point, so that closing a route never
refuses an honest answer. Each cell gets 180 s instead of the grader's 60: this run shares two cores
with the rest of the suite, and a route that ran into the cell limit would fail for no reason of
its own (a brute-force route still stops at its test's ``seconds=`` budget).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import shortcuts  # noqa: E402

LECTURES = shortcuts.lectures_with_routes()
# make test grades each exercise's first route and first correct answer (shortcuts.sample); make
# test-long, with COURSE_SHORTCUTS=rest, grades the others; COURSE_SHORTCUTS=all grades every one.
SHARE = os.environ.get("COURSE_SHORTCUTS", "sample")
if SHARE not in shortcuts.SHARES:
    raise ValueError(f"COURSE_SHORTCUTS must be one of {shortcuts.SHARES}, got {SHARE!r}")


def _entries(lecture):
    return shortcuts.share_of(shortcuts.load_routes(lecture), shortcuts.load_accepts(lecture), SHARE)


# pytest-timeout counts a fixture's setup in the first test that uses it: the grading run of every
# route took 23 minutes on two cores shared with a reviewer's grading (2026-12-06: 459 routes, 51
# accepts, the guard checking after every statement of a test), and 36 inside make test with other
# grading beside it (its own limit is the subprocess's 3600 s), more than make test's 900 s per test.
pytestmark = pytest.mark.timeout(3800)


def test_every_lecture_has_routes_and_each_route_is_well_formed():
    # load_routes checks each route against its solution notebook (exercise and answer ids exist)
    assert LECTURES, "no routes in tests/data/course/shortcuts/"
    for lecture in LECTURES:
        assert shortcuts.load_routes(lecture), lecture
        shortcuts.load_accepts(lecture)  # the correct answers too (there may be none)


def test_a_malformed_accept_is_a_clear_error(tmp_path):
    (tmp_path / "01_linear_regression.toml").write_text(
        '[[accept]]\nexercise = "ex99_tests"\nanswer = "a correct answer"\n[accept.answers]\nex1_answer = "x = 1"\n')
    with pytest.raises(ValueError, match="no test cell 'ex99_tests'"):
        shortcuts.load_accepts("01_linear_regression", tmp_path)
    (tmp_path / "01_linear_regression.toml").write_text('[[accept]]\nexercise = "ex1_tests"\n')
    with pytest.raises(ValueError, match="exactly"):
        shortcuts.load_accepts("01_linear_regression", tmp_path)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    out = tmp_path_factory.mktemp("shortcuts")
    made = shortcuts.build_submissions(out, share=SHARE)
    proc = subprocess.run(
        [sys.executable, "-m", "course", "grade", str(out / "submissions"), "--solutions", str(out / "solutions"),
         "--json", "-q", "--jobs", "2", "--timeout", "2400", "--cell-timeout", "180"],
        capture_output=True, text=True, timeout=3600, cwd=shortcuts.ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    keep = shortcuts.ROOT / "test-artifacts"  # the gradebook, to read when a route fails (and its times)
    keep.mkdir(exist_ok=True)
    (keep / "shortcuts-graded.json").write_text(proc.stdout)
    rows = {Path(r["submission"]).stem: r for r in json.loads(proc.stdout)}
    return made, rows


def _cases():
    out = []
    for lecture in LECTURES:
        for r in _entries(lecture)[0]:
            out.append(pytest.param(lecture, r["exercise"], r["route"], id=f"{lecture}:{r['exercise']}:{r['family']}"))
    return out


def _graded_copy(graded, lecture, exercise, route, accept):
    """The route's (or correct answer's) own graded copy of its exercise: (its entry, the grade)."""
    made, rows = graded
    def same(r):
        return r["exercise"] == exercise and r["route"] == route and bool(r.get("accept")) == accept
    name = next(n for n, group in made.items() if n.startswith(lecture + "__") and any(map(same, group)))
    mine = next(r for r in made[name] if same(r))
    return mine, next(e for e in rows[name]["exercises"] if e["grade_id"] == mine["grade_id"])


def _answer_notes(graded, lecture, mine):
    """The grader's notes on the route's own answer cells (an error it raised as the cell ran)."""
    made, rows = graded
    name = next(n for n, group in made.items() if n.startswith(lecture + "__") and any(r is mine for r in group))
    suffix = mine["grade_id"][len(mine["exercise"]):]
    ids = [a + suffix for a in mine["answers"]]
    return [n for n in rows[name]["notes"] if any(n.startswith(f"answer cell '{i}'") for i in ids)]


@pytest.mark.slow
@pytest.mark.parametrize("lecture,exercise,route", _cases())
def test_the_route_scores_zero_for_its_own_reason(graded, lecture, exercise, route):
    mine, result = _graded_copy(graded, lecture, exercise, route, accept=False)
    expect = mine["expect"]
    if expect == "longer than" and result["reason"].startswith("timed out after"):
        # a time budget (seconds=) interrupts Python, not one long compiled call: a brute-force route inside
        # jit runs to the cell limit instead. Either way it failed for running too long, its own reason.
        expect = "timed out after"
    assert result["points"] == 0, f"{lecture} {exercise}: the route {route!r} scored {result['points']}: {result}"
    # its reason: the test's failure, or the grader's refusal as its answer cell ran (the test then
    # finds nothing defined)
    why = " | ".join([result["reason"], *_answer_notes(graded, lecture, mine)])
    assert expect.lower() in why.lower(), (
        f"{lecture} {exercise}: the route {route!r} failed, but not for its own reason: expected {expect!r} in "
        f"{why!r}")


def _accept_cases():
    return [pytest.param(lecture, a["exercise"], a["route"], id=f"{lecture}:{a['exercise']}:{k}")
            for lecture in LECTURES for k, a in enumerate(_entries(lecture)[1], start=1)]


@pytest.mark.slow
@pytest.mark.parametrize("lecture,exercise,answer", _accept_cases())
def test_the_correct_answer_written_otherwise_keeps_full_marks(graded, lecture, exercise, answer):
    """A test that refuses a correct answer (another algorithm, another formula) is as wrong as one
    that takes a shortcut: each ``[[accept]]`` answer gets every point of its exercise."""
    _, result = _graded_copy(graded, lecture, exercise, answer, accept=True)
    assert result["points"] == result["max_points"], (
        f"{lecture} {exercise}: the correct answer {answer!r} was refused: {result['reason']}")


SOLUTION_FILES = sorted(shortcuts.SOLUTIONS.glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("path", SOLUTION_FILES, ids=lambda p: p.stem)
def test_bans_go_through_the_one_check(path):
    """No test cell writes its own ban: mock.patch misses aliases, default arguments and library calls."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    for k, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert "mock" not in cell.source, (
                f"{path.name} cell {k}: a ban written with unittest.mock; use course.integrity.forbid (CONTRIBUTING.md)")


@pytest.mark.parametrize("path", SOLUTION_FILES, ids=lambda p: p.stem)
def test_every_graded_exercise_has_a_route_that_scores_zero(path):
    """Each auto-graded exercise was attacked at least once (REVIEW.md's families)."""
    import nbformat

    exercises = shortcuts.exercises_of(nbformat.read(path, as_version=4))
    assert path.stem in LECTURES, f"no tests/data/course/shortcuts/{path.stem}.toml"
    tried = {r["exercise"] for r in shortcuts.load_routes(path.stem)}
    assert set(exercises) <= tried, f"{path.stem}: no shortcut route tried on {sorted(set(exercises) - tried)}"


def _answer_names(nb) -> set[str]:
    """Names an answer cell defines at its top level (its functions, classes and values)."""
    import ast

    names = set()
    for cell in nb.cells:
        meta = shortcuts._nbg(cell)
        if cell.cell_type == "code" and meta.get("solution") and not meta.get("grade"):
            for node in ast.parse(cell.source).body:
                if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                    names.add(node.name)
                elif isinstance(node, ast.Assign):
                    names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def _unread_answers(source: str, names: set[str]) -> list[str]:
    """Calls of the answer's functions in a banning test cell that run outside a ``forbid`` block,
    or inside one without ``concrete(...)`` around them. Calls inside a function or lambda of the
    test cell are judged where that function runs (``run_traced``, say), not here."""
    import ast

    def called(call):
        f = call.func
        return f.id if isinstance(f, ast.Name) else (f.attr if isinstance(f, ast.Attribute) else None)

    found = []

    def visit(node, block, read):
        if isinstance(node, ast.With) and any(
                isinstance(i.context_expr, ast.Call) and called(i.context_expr) == "forbid" for i in node.items):
            for child in node.body:
                visit(child, True, False)
            return
        if isinstance(node, (ast.FunctionDef, ast.Lambda)):
            return
        if isinstance(node, ast.Call):
            if isinstance(node.func, ast.Name) and node.func.id in names:
                if not block:
                    found.append(f"line {node.lineno}: {node.func.id}(...) runs outside every forbid block")
                elif not read:
                    found.append(f"line {node.lineno}: {node.func.id}(...) is not read with concrete(...) in its block")
            read = read or called(node) == "concrete"
        for child in ast.iter_child_nodes(node):
            visit(child, block, read)

    visit(ast.parse(source), False, False)
    return found


@pytest.mark.parametrize("path", SOLUTION_FILES, ids=lambda p: p.stem)
def test_every_banning_test_reads_the_answer_inside_its_block(path):
    """A test that bans a route reads what the answer returns inside the block, with concrete():
    read after the block, an answer's own __array__, __int__ or pytree flatten would do the banned
    work unchecked (the "lazy" family in tests/data/course/shortcuts/)."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    names = _answer_names(nb)
    bad = []
    for k, cell in enumerate(nb.cells):
        meta = shortcuts._nbg(cell)
        if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution") and "forbid(" in cell.source:
            bad += [f"cell {k} ({meta['grade_id']}) {msg}" for msg in _unread_answers(cell.source, names)]
    assert not bad, f"{path.name}: read each answer as `got = concrete(answer(...))` inside its forbid block:\n  " + \
        "\n  ".join(bad)
