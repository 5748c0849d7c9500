"""Every shortcut route scores zero on its exercise, for the reason the route names.

The routes are in ``tests/data/course/shortcuts/NN_topic.toml`` (see ``tests/shortcuts.py``): an
import alias of a banned function, an equivalent the statement did not name, the library doing the
exercise in one call, a trace cached before the ban, a host callback, brute force, a dense route at
a size it cannot finish, a wrong answer... Each is an answer a student could hand in, in its own
copy of its exercise's cells (a lecture's routes share a notebook; tampering ones get their own).
All of them are graded in one ``python -m course grade --jobs 2`` run, against the solutions
reduced to the same copies, and each must lose all the exercise's points with a failure that
contains the route's ``expect`` text (the integrity check's message, or the assertion that a
generic input exposes). Each cell gets 180 s instead of the grader's 60: this run shares two cores
with the rest of the suite, and a route that ran into the cell limit would fail for no reason of
its own (a brute-force route still stops at its test's ``seconds=`` budget).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import shortcuts  # noqa: E402

LECTURES = shortcuts.lectures_with_routes()

# pytest-timeout counts a fixture's setup in the first test that uses it: the grading run below takes
# about ten minutes on two shared cores (its own limit is the subprocess's 1800 s), more than
# make test's 900 s per test.
pytestmark = pytest.mark.timeout(2000)


def test_every_lecture_has_routes_and_each_route_is_well_formed():
    # load_routes checks each route against its solution notebook (exercise and answer ids exist)
    assert LECTURES, "no routes in tests/data/course/shortcuts/"
    for lecture in LECTURES:
        assert shortcuts.load_routes(lecture), lecture


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    out = tmp_path_factory.mktemp("shortcuts")
    made = shortcuts.build_submissions(out)
    proc = subprocess.run(
        [sys.executable, "-m", "course", "grade", str(out / "submissions"), "--solutions", str(out / "solutions"),
         "--json", "-q", "--jobs", "2", "--timeout", "1500", "--cell-timeout", "180"],
        capture_output=True, text=True, timeout=1800, cwd=shortcuts.ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = {Path(r["submission"]).stem: r for r in json.loads(proc.stdout)}
    return made, rows


def _cases():
    out = []
    for lecture in LECTURES:
        for r in shortcuts.load_routes(lecture):
            out.append(pytest.param(lecture, r["exercise"], r["route"], id=f"{lecture}:{r['exercise']}:{r['family']}"))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("lecture,exercise,route", _cases())
def test_the_route_scores_zero_for_its_own_reason(graded, lecture, exercise, route):
    made, rows = graded
    name = next(n for n, group in made.items() if n.startswith(lecture + "__")
                and any(r["exercise"] == exercise and r["route"] == route for r in group))
    mine = next(r for r in made[name] if r["exercise"] == exercise and r["route"] == route)
    expect = mine["expect"]
    row = rows[name]
    result = next(e for e in row["exercises"] if e["grade_id"] == mine["grade_id"])  # the route's own copy
    assert result["points"] == 0, f"{lecture} {exercise}: the route {route!r} scored {result['points']}: {result}"
    assert expect.lower() in result["reason"].lower(), (
        f"{lecture} {exercise}: the route {route!r} failed, but not for its own reason: expected {expect!r} in "
        f"{result['reason']!r}")


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
