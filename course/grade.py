"""Grade submitted notebooks against the hidden tests of their solution notebooks.

How a submission is graded:

1. **Matching.** A submission is matched to ``solutions/STEM.ipynb`` (see :func:`match_solution`):
   by its file name (``01_linear_regression.ipynb``, ``alice_01_linear_regression.ipynb``,
   ``01_linear_regression-alice.ipynb``, or any name inside a folder ``01_linear_regression/``),
   else by the ``metadata.course.exercise`` that release wrote into the notebook.
   ``--solution PATH`` forces one solution for every submission.
2. **Building.** The graded notebook is the submission's code cells, in the student's order,
   with every test cell (found by cell id or grade id) replaced by the solution's full test cell
   (visible and hidden tests). A test cell the student deleted is put back after its exercise's
   answer cells; a test cell the student moved above its answer cells runs after them. Cells the
   student added run where they are. A first cell, invisible to the student, installs the guard
   of :mod:`course._guard`, which restores the names tests use before each test cell.
3. **Running.** A subprocess (:mod:`course._grade_worker`) runs the notebook in a fresh kernel of
   this environment (``JAX_PLATFORMS=cpu``, working directory the solution's folder) with a
   per-cell and a total time limit, keeping at most ``max_output`` characters of output per cell.
   A cell that raises does not stop later cells. After a timeout or a kernel death, a fresh kernel
   replays the cells that had finished and execution goes on. If the subprocess itself outlives
   the total limit it is killed, with its kernels.
4. **Scoring.** A test cell that runs without error scores its points; any other outcome scores
   zero, with the reason. A file that is not a valid notebook scores zero everywhere.

The submission file is only read, never written.
"""

from __future__ import annotations

import ast
import csv
import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

import nbformat

from course import notebooks as nbk

DEFAULT_CELL_TIMEOUT = 60.0
DEFAULT_TOTAL_TIMEOUT = 600.0
DEFAULT_MAX_OUTPUT = 100_000
#: Top-level packages whose modules are not snapshotted by the guard.
UNGUARDED = {"matplotlib", "IPython", "ipywidgets", "ipykernel", "__future__"}
_SEPARATORS = "_-. "


@dataclasses.dataclass
class ExerciseResult:
    """The outcome of one exercise (one test cell)."""

    grade_id: str
    points: float
    max_points: float
    status: str  # passed | failed | timeout | kernel died | not run | invalid
    reason: str = ""


@dataclasses.dataclass
class SubmissionResult:
    """The outcome of one submission."""

    submission: str
    solution: str
    exercises: list[ExerciseResult]
    notes: list[str]
    seconds: float

    @property
    def total(self) -> float:
        return sum(e.points for e in self.exercises)

    @property
    def max_total(self) -> float:
        return sum(e.max_points for e in self.exercises)

    def to_dict(self) -> dict:
        """JSON-ready form: exercises with grade_id, points, max_points, status, reason; total."""
        return {
            "submission": self.submission,
            "solution": self.solution,
            "exercises": [dataclasses.asdict(e) for e in self.exercises],
            "total": self.total,
            "max_total": self.max_total,
            "notes": self.notes,
            "seconds": round(self.seconds, 2),
        }


# ----------------------------------------------------------------------------- matching


def match_solution(submission: str | Path, solutions_dir: str | Path) -> Path:
    """The solution notebook a submission answers.

    Rules, in order (the longest matching solution name wins):

    1. the file's stem is a solution's stem: ``01_linear_regression.ipynb``;
    2. the stem starts or ends with a solution's stem, joined by ``_``, ``-``, ``.`` or a space:
       ``alice_01_linear_regression.ipynb``, ``01_linear_regression-alice.ipynb``;
    3. a parent folder is named like a solution: ``01_linear_regression/alice.ipynb``;
    4. the notebook's ``metadata.course.exercise`` (written by release) names a solution.

    Args:
        submission: path of the submitted notebook.
        solutions_dir: folder of ``NN_topic.ipynb`` solution notebooks.

    Returns:
        The path of the solution notebook.

    Raises:
        FileNotFoundError: the folder holds no solutions.
        ValueError: nothing matches (the message says how to name the file or to pass --solution).

    Example:
        >>> match_solution("subs/alice_01_linear_regression.ipynb", "solutions")  # doctest: +SKIP
        PosixPath('solutions/01_linear_regression.ipynb')
    """
    submission = Path(submission)
    solutions = {p.stem: p for p in nbk.exercise_notebooks(solutions_dir)}
    if not solutions:
        raise FileNotFoundError(f"no NN_topic.ipynb solution notebooks in {solutions_dir} (pass --solutions DIR or --solution PATH)")
    stem = submission.stem
    if stem in solutions:
        return solutions[stem]
    hits = [s for s in solutions if any(stem.startswith(s + c) or stem.endswith(c + s) for c in _SEPARATORS)]
    if hits:
        return solutions[max(hits, key=len)]
    for parent in submission.parent.parts[::-1]:
        if parent in solutions:
            return solutions[parent]
    try:
        meta = json.loads(submission.read_text(encoding="utf-8", errors="replace"))["metadata"]["course"]["exercise"]
        if meta in solutions:
            return solutions[meta]
    except Exception:
        pass
    raise ValueError(
        f"{submission}: no matching solution in {solutions_dir} (name it like "
        f"{next(iter(solutions))}.ipynb or NAME_{next(iter(solutions))}.ipynb, or pass --solution PATH)"
    )


def collect_submissions(paths: Sequence[str | Path]) -> list[tuple[Path, Path | None]]:
    """Expand files and folders into ``(submission, folder it came from or None)`` pairs.

    Folders are searched recursively for ``*.ipynb``, skipping ``.ipynb_checkpoints``.

    Raises:
        FileNotFoundError: a path does not exist, or a folder holds no notebook.
    """
    out: list[tuple[Path, Path | None]] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(q for q in p.rglob("*.ipynb") if ".ipynb_checkpoints" not in q.parts and q.is_file())
            if not found:
                raise FileNotFoundError(f"no .ipynb files in {p}")
            out.extend((q, p) for q in found)
        elif p.is_file():
            out.append((p, None))
        else:
            raise FileNotFoundError(f"no such file or folder: {p}")
    return out


# ----------------------------------------------------------------------------- building


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


def _prologue(solution: nbformat.NotebookNode, tests: list[str]) -> str:
    modules, aliases = solution_imports(solution)
    config = {"modules": modules, "aliases": aliases, "tests": {src: _loaded_names(src) for src in tests}}
    guard = (Path(__file__).with_name("_guard.py")).read_text(encoding="utf-8")
    boot = (
        "import sys, types\n"
        "m = types.ModuleType('_course_grader')\n"
        f"exec(compile({guard!r}, '<course grader guard>', 'exec'), m.__dict__)\n"
        "sys.modules['_course_grader'] = m\n"
        f"m.install(**__import__('json').loads({json.dumps(config)!r}))\n"
    )
    return f"__import__('builtins').exec({boot!r}, {{'__name__': '_course_grader_boot'}})"


def _cell_key(cell: nbformat.NotebookNode) -> set[str]:
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
    sub_answers = {g for c in submission.cells for g in _cell_key(c) if g in test_of_answer}
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
        keys = sorted(_cell_key(cell))
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
    prologue = _prologue(solution, [entries[i][2] for i in test_index.values()])
    cells = [nbformat.v4.new_code_cell(prologue, id="course-grader-guard")]
    for i, (kind, key, source, _) in enumerate(entries[1:], start=1):
        meta = {"nbgrader": dict(nbk.nbgrader_meta(sol_tests[key]))} if kind == "test" else {}
        cells.append(nbformat.v4.new_code_cell(source, id=f"graded-{i}", metadata=meta))
    nb = nbformat.v4.new_notebook(
        cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    )
    return GradedNotebook(nb, test_index, answer_index, origin, notes)


# ----------------------------------------------------------------------------- running


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, OSError):
        pass


def run_graded_notebook(
    graded: GradedNotebook,
    cwd: Path,
    *,
    cell_timeout: float = DEFAULT_CELL_TIMEOUT,
    total_timeout: float = DEFAULT_TOTAL_TIMEOUT,
    max_output: int = DEFAULT_MAX_OUTPUT,
) -> dict:
    """Run a built notebook in a worker subprocess; return its per-cell results.

    The worker gets ``total_timeout`` plus a margin for starting kernels; past that, it and its
    kernels are killed and the cells it had not finished are reported as not run.
    """
    with tempfile.TemporaryDirectory(prefix="course-grade-") as tmp:
        tmp = Path(tmp)
        nb_path, results, kernels = tmp / "graded.ipynb", tmp / "results.json", tmp / "kernels.txt"
        nbformat.write(graded.nb, nb_path)
        job = {
            "notebook": str(nb_path), "cwd": str(cwd), "results": str(results), "kernels": str(kernels),
            "cell_timeout": cell_timeout, "total_timeout": total_timeout, "max_output": max_output,
            "tests": sorted(graded.test_index.values()), "kernel_name": "python3",
        }
        (tmp / "job.json").write_text(json.dumps(job), encoding="utf-8")
        env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONUNBUFFERED="1")
        proc = subprocess.Popen(
            [sys.executable, "-m", "course._grade_worker", str(tmp / "job.json")],
            stdout=subprocess.DEVNULL, stderr=(tmp / "worker.log").open("wb"),
            start_new_session=True, env=env, cwd=str(Path(__file__).resolve().parents[1]),
        )
        killed = False
        try:
            proc.wait(timeout=total_timeout + 30 + 10 * 4)
        except subprocess.TimeoutExpired:
            killed = True
            _kill_group(proc.pid)
            proc.wait()
        if kernels.exists():
            for line in kernels.read_text().split():
                if line.strip().isdigit():
                    _kill_group(int(line))
        try:
            state = json.loads(results.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            state = {"cells": {}, "events": [], "finished": False}
        if killed:
            state.setdefault("events", []).append("the grader killed the run: it outlived the total time limit")
        elif not state.get("finished"):
            log = (tmp / "worker.log").read_text(errors="replace").strip().splitlines()
            state.setdefault("events", []).append(
                f"the grading process stopped early (exit {proc.returncode})" + (f": {log[-1][:200]}" if log else "")
            )
        return state


# ----------------------------------------------------------------------------- scoring


def _describe(res: dict | None) -> tuple[str, str]:
    if res is None:
        return "not run", "not run: grading stopped before this cell"
    status = res["status"]
    if status == "ok":
        return "passed", ""
    if status == "error":
        evalue = res.get("evalue", "").strip().splitlines()
        return "failed", f"{res.get('ename', 'Error')}: {evalue[0][:200] if evalue else ''}".rstrip(": ")
    if status == "timeout":
        return "timeout", res.get("reason", "timed out")
    if status == "dead":
        return "kernel died", res.get("reason", "the kernel died")
    return "not run", "not run: " + res.get("reason", "grading stopped before this cell")


def grade_notebook(
    submission: str | Path,
    solution: str | Path,
    *,
    cell_timeout: float = DEFAULT_CELL_TIMEOUT,
    total_timeout: float = DEFAULT_TOTAL_TIMEOUT,
    max_output: int = DEFAULT_MAX_OUTPUT,
    name: str | None = None,
) -> SubmissionResult:
    """Grade one submission against one solution notebook.

    Args:
        submission: the submitted notebook (read only).
        solution: its solution notebook.
        cell_timeout: seconds allowed to each cell.
        total_timeout: seconds allowed to the whole notebook (kernel restarts included).
        max_output: characters of output kept per cell.
        name: how to name the submission in the report (default: its path).

    Returns:
        A :class:`SubmissionResult`: points per exercise, with a reason for each lost point.

    Raises:
        FileNotFoundError: the submission or solution is missing.
        ValueError: the solution notebook is malformed.

    Example:
        >>> grade_notebook("solutions/01_linear_regression.ipynb",
        ...                "solutions/01_linear_regression.ipynb").total  # doctest: +SKIP
    """
    t0 = time.monotonic()
    submission, solution = Path(submission), Path(solution)
    name = name or str(submission)
    sol_nb = nbk.read_notebook(solution)
    problems = nbk.check_solution_notebook(sol_nb, str(solution))
    if problems:
        raise ValueError(problems[0])
    exercises = nbk.exercises(sol_nb)
    if not submission.is_file():
        raise FileNotFoundError(f"no such submission: {submission}")
    text = submission.read_bytes().decode("utf-8", errors="replace")
    try:
        sub_nb = nbk.reads_notebook(text, submission.name)
    except ValueError as exc:
        results = [ExerciseResult(e.grade_id, 0.0, e.points, "invalid", str(exc)) for e in exercises]
        return SubmissionResult(name, str(solution), results, [str(exc)], time.monotonic() - t0)
    try:
        graded = build_graded_notebook(sub_nb, sol_nb)
    except Exception as exc:  # a notebook that parses but whose cells are malformed
        reason = f"{submission.name} is not a valid notebook: malformed cells ({type(exc).__name__}: {exc})"
        results = [ExerciseResult(e.grade_id, 0.0, e.points, "invalid", reason) for e in exercises]
        return SubmissionResult(name, str(solution), results, [reason], time.monotonic() - t0)
    state = run_graded_notebook(graded, solution.parent.resolve(), cell_timeout=cell_timeout,
                                total_timeout=total_timeout, max_output=max_output)
    cells = state.get("cells", {})
    notes = list(graded.notes)
    guard = cells.get("0")
    if guard and guard["status"] != "ok":
        notes.append(f"the grader guard failed: {_describe(guard)[1]}")
    skipped: dict[str, list[str]] = {}
    for k in sorted(int(i) for i in cells):
        what = graded.origin.get(k, f"cell #{k}")
        if k == 0 or k in graded.test_index.values():
            continue
        status, reason = _describe(cells[str(k)])
        if status == "not run":
            skipped.setdefault(reason, []).append(what)
        elif status != "passed":
            notes.append(f"{what}: {reason} (grading went on)")
        if cells[str(k)].get("truncated"):
            notes.append(f"{what}: output longer than {max_output} characters was truncated")
    for reason, whats in skipped.items():
        notes.append(f"{len(whats)} cell(s) {reason}")
    notes.extend(state.get("events", []))
    results = []
    for ex in exercises:
        k = graded.test_index[ex.grade_id]
        status, reason = _describe(cells.get(str(k)))
        if status != "passed":
            trouble = [graded.origin[i] + ": " + _describe(cells.get(str(i)))[1] for i in graded.answer_index.get(ex.grade_id, [])
                       if _describe(cells.get(str(i)))[0] in ("timeout", "kernel died")]
            if trouble:
                reason += " [" + "; ".join(trouble) + "]"
        results.append(ExerciseResult(ex.grade_id, ex.points if status == "passed" else 0.0, ex.points, status, reason))
    return SubmissionResult(name, str(solution), results, notes, time.monotonic() - t0)


def grade_paths(
    paths: Sequence[str | Path],
    *,
    solutions_dir: str | Path = "solutions",
    solution: str | Path | None = None,
    cell_timeout: float = DEFAULT_CELL_TIMEOUT,
    total_timeout: float = DEFAULT_TOTAL_TIMEOUT,
    max_output: int = DEFAULT_MAX_OUTPUT,
    progress=None,
) -> list[SubmissionResult]:
    """Grade files and folders of submissions, each in its own kernel, one after the other.

    Every submission is matched to its solution first, so a bad name fails before any grading.

    Raises:
        FileNotFoundError, ValueError: a path is missing or a submission matches no solution.
    """
    subs = collect_submissions(paths)
    plan = []
    for sub, root in subs:
        sol = Path(solution) if solution is not None else match_solution(sub, solutions_dir)
        if not sol.is_file():
            raise FileNotFoundError(f"no such solution notebook: {sol}")
        name = str(sub.relative_to(root)) if root is not None else str(sub)
        plan.append((sub, sol, name))
    out = []
    for sub, sol, name in plan:
        if progress:
            progress(name)
        out.append(grade_notebook(sub, sol, cell_timeout=cell_timeout, total_timeout=total_timeout,
                                  max_output=max_output, name=name))
    return out


# ----------------------------------------------------------------------------- reporting


def _fmt(x: float) -> str:
    return f"{x:g}"


def format_table(results: Sequence[SubmissionResult]) -> str:
    """A readable report: one block per submission, one row per exercise, then notes."""
    lines = []
    for r in results:
        lines.append(f"{r.submission}  (solution {r.solution}, {r.seconds:.1f} s)")
        width = max([len(e.grade_id) for e in r.exercises] + [8])
        for e in r.exercises:
            pts = f"{_fmt(e.points)}/{_fmt(e.max_points)}"
            lines.append(f"  {e.grade_id:<{width}}  {pts:>7}  {e.status:<11}  {e.reason}".rstrip())
        lines.append(f"  {'total':<{width}}  {_fmt(r.total) + '/' + _fmt(r.max_total):>7}")
        for note in r.notes:
            lines.append(f"  note: {note}")
        lines.append("")
    return "\n".join(lines)


def write_csv(results: Sequence[SubmissionResult], path: str | Path) -> list[str]:
    """Write a gradebook: one row per submission, one column per exercise, then total.

    Columns are ``submission``, ``solution``, one per exercise (its grade id; ``STEM:grade_id``
    when the submissions answer several solution notebooks), ``total`` and ``max_total``.

    Returns:
        The header row.
    """
    several = len({r.solution for r in results}) > 1
    columns: list[str] = []
    rows = []
    for r in results:
        stem = Path(r.solution).stem
        row = {"submission": r.submission, "solution": r.solution, "total": _fmt(r.total), "max_total": _fmt(r.max_total)}
        for e in r.exercises:
            col = f"{stem}:{e.grade_id}" if several else e.grade_id
            if col not in columns:
                columns.append(col)
            row[col] = _fmt(e.points)
        rows.append(row)
    header = ["submission", "solution", *columns, "total", "max_total"]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=header, restval="")
        writer.writeheader()
        writer.writerows(rows)
    return header
