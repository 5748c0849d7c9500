"""Stage 2, build: the notebook that actually runs, from a submission and its solution.

The graded notebook is the submission's code cells, in the student's order, with every test cell
(found by cell id or grade id) replaced by the solution's full test cell (visible and hidden
tests). A test cell the student deleted is put back after its exercise's answer cells; a test cell
the student moved above its answer cells runs after them. Cells the student added run where they
are. A first cell, invisible to the student, installs the guard of :mod:`course._guard`, which
restores the names tests use before each test cell.

Also here: which lines of a test cell are hidden (:func:`hidden_lines`) and what a student sees of
it (:func:`visible_test_source`), for the feedback pages and ``course check``.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import re
from pathlib import Path

import nbformat

from course import notebooks as nbk

#: Top-level packages whose modules are not snapshotted by the guard.
UNGUARDED = {"matplotlib", "IPython", "ipywidgets", "ipykernel", "__future__"}
GUARD = Path(__file__).resolve().parents[1] / "_guard.py"


def _loaded_names(source: str) -> list[str]:
    """Names a cell reads (via ``ast``; every identifier when the cell is not plain Python)."""
    try:
        tree = ast.parse(_strip_magics(source))
    except SyntaxError:
        return sorted(set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", source)))
    return sorted({n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)})


def _strip_magics(source: str) -> str:
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.split("\n"))


def solution_imports(solution: nbformat.NotebookNode) -> tuple[list[str], dict[str, list]]:
    """Modules the solution imports, and its import aliases ``{name: [module, attribute|None]}``."""
    modules: list[str] = []
    aliases: dict[str, list] = {}
    for _, cell in nbk.iter_code_cells(solution):
        try:
            tree = ast.parse(_strip_magics(cell.source))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    modules.append(a.name)
                    if a.asname:
                        aliases[a.asname] = [a.name, None]
                    else:
                        top = a.name.split(".")[0]
                        aliases[top] = [top, None]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules.append(node.module)
                for a in node.names:
                    if a.name != "*":
                        aliases[a.asname or a.name] = [node.module, a.name]
    keep = [m for m in dict.fromkeys(modules) if m.split(".")[0] not in UNGUARDED]
    aliases = {k: v for k, v in aliases.items() if v[0].split(".")[0] not in UNGUARDED}
    return keep, aliases


def prologue(solution: nbformat.NotebookNode, tests: list[str]) -> str:
    modules, aliases = solution_imports(solution)
    config = {"modules": modules, "aliases": aliases, "tests": {src: _loaded_names(src) for src in tests}}
    guard = GUARD.read_text(encoding="utf-8")
    # The guard runs in a namespace of its own that nothing the submission can reach refers to (not a
    # module in sys.modules), with builtins of its own (a submission that rebinds builtins.list cannot
    # change what the guard's checks compute): what IPython, the modules and the test cells call are
    # trampolines that raise an audit event, handled by the guard's audit hook (see course/_guard.py).
    boot = (
        "g = {'__name__': '_course_grader', '__builtins__': dict(vars(__import__('builtins')))}\n"
        f"exec(compile({guard!r}, '<course grader guard>', 'exec'), g)\n"
        f"g['install'](**__import__('json').loads({json.dumps(config)!r}))\n"
    )
    return f"__import__('builtins').exec({boot!r}, {{'__name__': '_course_grader_boot'}})"


def cell_key(cell: nbformat.NotebookNode) -> set[str]:
    keys = set()
    if cell.get("id"):
        keys.add(cell["id"])
    if nbk.grade_id(cell):
        keys.add(nbk.grade_id(cell))
    return keys


@dataclasses.dataclass
class GradedNotebook:
    """A notebook ready to run, with where each exercise's test cell and answers sit."""

    nb: nbformat.NotebookNode
    test_index: dict[str, int]  # grade id -> cell index in nb
    answer_index: dict[str, list[int]]  # grade id of test -> indices of its answer cells in nb
    origin: dict[int, str]  # cell index -> what the cell is, for the report
    notes: list[str]


def build_graded_notebook(submission: nbformat.NotebookNode, solution: nbformat.NotebookNode) -> GradedNotebook:
    """Merge a submission with its solution's full test cells (see the module docstring).

    Args:
        submission: the student's notebook (not modified).
        solution: the solution notebook.

    Returns:
        A :class:`GradedNotebook`; cell 0 is the grader's guard.
    """
    exercises = {ex.grade_id: ex for ex in nbk.exercises(solution)}
    sol_tests = {nbk.grade_id(c): c for c in solution.cells if nbk.is_test_cell(c) and nbk.grade_id(c)}
    test_of_answer = {a: ex.grade_id for ex in exercises.values() for a in ex.answer_ids}
    sub_answers = {g for c in submission.cells for g in cell_key(c) if g in test_of_answer}
    notes: list[str] = []
    # entries: (kind, key, source, description); kind is "guard", "test", "answer" or "cell"
    entries: list[tuple[str, str, str, str]] = [("guard", "", "", "grader guard")]
    placed: set[str] = set()  # answer cells already placed
    tests_placed: set[str] = set()
    pending: dict[str, set[str]] = {}  # test id -> its answer cells still to come

    def add_test(gid: str) -> None:
        entries.append(("test", gid, sol_tests[gid].source, f"test cell {gid!r}"))
        tests_placed.add(gid)

    for k, cell in enumerate(submission.cells):
        keys = sorted(cell_key(cell))
        test_ids = [g for g in keys if g in sol_tests]
        if test_ids:
            gid = test_ids[0]
            if gid in tests_placed or gid in pending:
                notes.append(f"a copy of test cell {gid!r} (submission cell #{k}) was ignored")
                continue
            outstanding = {a for a in exercises[gid].answer_ids if a in sub_answers} - placed
            if outstanding:
                pending[gid] = outstanding
                notes.append(f"test cell {gid!r} sits above its answer cells; it runs after them")
            else:
                add_test(gid)
            continue
        answer_ids = [g for g in keys if g in test_of_answer]
        source = cell.get("source", "")
        source = source if isinstance(source, str) else ""
        if cell.get("cell_type") == "code":
            if answer_ids:
                entries.append(("answer", answer_ids[0], source, f"answer cell {answer_ids[0]!r}"))
            else:
                entries.append(("cell", "", source, f"cell #{k} of the submission"))
        if answer_ids:
            placed.add(answer_ids[0])
            gid = test_of_answer[answer_ids[0]]
            if gid in pending:
                pending[gid].discard(answer_ids[0])
                if not pending[gid]:
                    del pending[gid]
                    add_test(gid)
    for gid in list(pending):
        add_test(gid)
    # Test cells the student deleted: after the exercise's last answer cell, else at the end.
    for gid, ex in exercises.items():
        if gid in tests_placed:
            continue
        notes.append(f"test cell {gid!r} was missing from the submission; it was put back")
        last = [i for i, e in enumerate(entries) if e[0] == "answer" and e[1] in ex.answer_ids]
        entry = ("test", gid, sol_tests[gid].source, f"test cell {gid!r}")
        if last:
            entries.insert(last[-1] + 1, entry)
        else:
            entries.append(entry)
        tests_placed.add(gid)

    test_index = {e[1]: i for i, e in enumerate(entries) if e[0] == "test"}
    answer_index = {gid: [i for i, e in enumerate(entries) if e[0] == "answer" and e[1] in ex.answer_ids]
                    for gid, ex in exercises.items()}
    origin = {i: e[3] for i, e in enumerate(entries)}
    guard_source = prologue(solution, [entries[i][2] for i in test_index.values()])
    cells = [nbformat.v4.new_code_cell(guard_source, id="course-grader-guard")]
    for i, (kind, key, source, _) in enumerate(entries[1:], start=1):
        meta = {"nbgrader": dict(nbk.nbgrader_meta(sol_tests[key]))} if kind == "test" else {}
        cells.append(nbformat.v4.new_code_cell(source, id=f"graded-{i}", metadata=meta))
    nb = nbformat.v4.new_notebook(
        cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    )
    return GradedNotebook(nb, test_index, answer_index, origin, notes)



def hidden_lines(source: str) -> set[int]:
    """Line numbers (from 1) of a test cell that lie in its hidden tests, marker lines included.

    Example:
        >>> sorted(hidden_lines("a = 1\\n### BEGIN HIDDEN TESTS\\nb = 2\\n### END HIDDEN TESTS\\nc = 3"))
        [2, 3, 4]
    """
    try:
        spans = nbk.regions(source, nbk.BEGIN_HIDDEN, nbk.END_HIDDEN)
    except ValueError:
        return set(range(1, len(source.split("\n")) + 1))  # malformed: treat it all as hidden
    return {k + 1 for i, j in spans for k in range(i, j + 1)}


def visible_test_source(source: str) -> list[tuple[int, str]]:
    """The lines a student sees of a test cell, with their line numbers in the full cell (from 1)."""
    hidden = hidden_lines(source)
    return [(k, line) for k, line in enumerate(source.split("\n"), start=1) if k not in hidden]
