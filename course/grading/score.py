"""Stage 4, score: one submission graded against its solution (:func:`grade_notebook`).

A test cell that runs without error scores its points; any other outcome scores zero, with the
reason (the exception and its message, a timeout, the kernel dying, a cell that never ran), the
exception's full message, and the line of the test cell that raised it (in the visible or the
hidden tests). A written answer (graded by hand) scores 0 when left as released and is otherwise
``pending`` until a hand-given score is merged (:mod:`.store`). A file that is not a valid
notebook scores zero everywhere. The submission file is only read, never written.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Sequence

import nbformat

from course import notebooks as nbk
from course.grading.build import build_graded_notebook, cell_key, hidden_lines
from course.grading.results import ExerciseResult, SubmissionResult, file_sha256, fmt
from course.grading.run import (DEFAULT_CELL_TIMEOUT, DEFAULT_MAX_OUTPUT, DEFAULT_TOTAL_TIMEOUT, KernelStartError,
                                kernel_start_error, run_graded_notebook)
from course.grading.sandbox import bwrap_problem, resolve_sandbox


def describe(res: dict | None) -> tuple[str, str]:
    """``(status, reason)`` of one cell's record from the worker."""
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


_STUBS: dict[str, dict[str, str]] = {}


def released_sources(sol_nb: nbformat.NotebookNode, key: str) -> dict[str, str]:
    """Source of each cell of the solution's release, by cell id (what an unanswered cell holds)."""
    if key not in _STUBS:
        from course.release import release_notebook

        _STUBS[key] = {c.get("id"): c.source for c in release_notebook(sol_nb, "x").cells}
    return _STUBS[key]


def manual_result(ex: nbk.Exercise, sub_nb: nbformat.NotebookNode | None, stubs: dict[str, str],
                  task: bool = False) -> ExerciseResult:
    """A written answer: 0 when left as released (as nbgrader does), otherwise pending a hand grade.

    An nbgrader *task* (a markdown grade cell that is not an answer) is always pending, as in nbgrader.
    """
    if task:
        return ExerciseResult(ex.grade_id, None, ex.points, "pending", f"graded by hand: {fmt(ex.points)} point(s) pending")
    if sub_nb is None:
        return ExerciseResult(ex.grade_id, 0.0, ex.points, "invalid", "not a valid notebook")
    cell = next((c for c in sub_nb.cells if ex.grade_id in cell_key(c)), None)
    if cell is None:
        return ExerciseResult(ex.grade_id, 0.0, ex.points, "not answered", "the answer cell was deleted")
    source = cell.get("source", "")
    source = source if isinstance(source, str) else ""
    if not source.strip() or source.strip() == stubs.get(ex.grade_id, nbk.TEXT_STUB).strip():
        return ExerciseResult(ex.grade_id, 0.0, ex.points, "not answered", "left as released (no answer)")
    return ExerciseResult(ex.grade_id, None, ex.points, "pending", f"graded by hand: {fmt(ex.points)} point(s) pending")


def test_result(ex: nbk.Exercise, record: dict | None, test_source: str, trouble: list[str]) -> ExerciseResult:
    """An autograded exercise from its test cell's record; ``trouble`` names answer cells that timed out or died."""
    status, reason = describe(record)
    seconds = record.get("seconds") if record is not None else None
    if status == "passed":
        return ExerciseResult(ex.grade_id, ex.points, ex.points, status, reason, seconds=seconds)
    if trouble:
        reason += " [" + "; ".join(trouble) + "]"
    message, line, hidden = "", None, None
    if record is not None and record.get("status") == "error":
        message = f"{record.get('ename', 'Error')}: {record.get('evalue', '').strip()}".strip().rstrip(":")[:500]
        line = record.get("line")
        if isinstance(line, int):
            hidden = line in hidden_lines(test_source)
        else:
            line = None
    return ExerciseResult(ex.grade_id, 0.0, ex.points, status, reason, message, line, hidden, seconds)


def grade_notebook(
    submission: str | Path,
    solution: str | Path,
    *,
    cell_timeout: float = DEFAULT_CELL_TIMEOUT,
    total_timeout: float = DEFAULT_TOTAL_TIMEOUT,
    max_output: int = DEFAULT_MAX_OUTPUT,
    name: str | None = None,
    sandbox: str = "auto",
    hide: Sequence[str | Path] = (),
) -> SubmissionResult:
    """Grade one submission against one solution notebook.

    Args:
        submission: the submitted notebook (read only).
        solution: its solution notebook.
        cell_timeout: seconds allowed to each cell.
        total_timeout: seconds allowed to the whole notebook (kernel restarts included).
        max_output: characters of output kept per cell.
        name: how to name the submission in the report (default: its path).
        sandbox: ``"auto"`` (bubblewrap when it works here), ``"require"`` or ``"off"``.
        hide: more folders the kernel must not see under the sandbox (the solution's folder and
            the submission's are always hidden).

    Returns:
        A :class:`SubmissionResult`: points per exercise, with a reason for each lost point;
        written answers are ``pending`` (``points`` is ``None``) until graded by hand.

    Raises:
        FileNotFoundError: the submission or solution is missing.
        ValueError: the solution notebook is malformed, or ``sandbox="require"`` cannot be met.
        KernelStartError: no kernel could start at all (nothing about the submission is known).

    Example:
        >>> grade_notebook("solutions/01_linear_regression.ipynb",
        ...                "solutions/01_linear_regression.ipynb").total  # doctest: +SKIP
    """
    t0 = time.monotonic()
    submission, solution = Path(submission), Path(solution)
    name = name or str(submission)
    used = resolve_sandbox(sandbox)
    sol_nb = nbk.read_notebook(solution)
    problems = nbk.check_solution_notebook(sol_nb, str(solution))
    if problems:
        raise ValueError(problems[0])
    items = nbk.graded_items(sol_nb)
    tasks = {nbk.grade_id(c) for c in sol_nb.cells if nbk.is_manual_cell(c) and not nbk.is_answer_cell(c)}
    sol_tests = {nbk.grade_id(c): c.source for c in sol_nb.cells if nbk.is_test_cell(c)}
    sol_sha = file_sha256(solution)
    stubs = released_sources(sol_nb, sol_sha)
    if not submission.is_file():
        raise FileNotFoundError(f"no such submission: {submission}")
    raw = submission.read_bytes()
    sub_sha = hashlib.sha256(raw).hexdigest()
    notes: list[str] = []
    if used == "none":
        why = bwrap_problem() if sandbox in ("auto", "none") else None
        notes.append("no sandbox: the submission ran with your permissions and could read any file you can"
                     + (f" ({why})" if why else ""))

    def finish(results: list[ExerciseResult], extra: list[str]) -> SubmissionResult:
        return SubmissionResult(name, str(solution), results, extra + notes, time.monotonic() - t0, used, sub_sha, sol_sha)

    def invalid(reason: str) -> SubmissionResult:
        return finish([ExerciseResult(e.grade_id, 0.0, e.points, "invalid", reason) for e, _ in items], [reason])

    try:
        sub_nb = nbk.reads_notebook(raw.decode("utf-8", errors="replace"), submission.name)
    except ValueError as exc:
        return invalid(str(exc))
    try:
        graded = build_graded_notebook(sub_nb, sol_nb)
    except Exception as exc:  # a notebook that parses but whose cells are malformed
        return invalid(f"{submission.name} is not a valid notebook: malformed cells ({type(exc).__name__}: {exc})")
    hidden = [solution.parent.resolve(), submission.parent.resolve(), *map(Path, hide)]
    state = run_graded_notebook(graded, cell_timeout=cell_timeout, total_timeout=total_timeout,
                                max_output=max_output, sandbox=used, hide=hidden)
    if state.get("kernel_start_failed"):
        raise KernelStartError(kernel_start_error(state, used, hidden))
    cells = state.get("cells", {})
    run_notes = list(graded.notes)
    guard = cells.get("0")
    if guard and guard["status"] != "ok":
        run_notes.append(f"the grader guard failed: {describe(guard)[1]}")
    skipped: dict[str, list[str]] = {}
    for k in sorted(int(i) for i in cells):
        what = graded.origin.get(k, f"cell #{k}")
        if k == 0 or k in graded.test_index.values():
            continue
        status, reason = describe(cells[str(k)])
        if status == "not run":
            skipped.setdefault(reason, []).append(what)
        elif status != "passed":
            run_notes.append(f"{what}: {reason} (grading went on)")
        if cells[str(k)].get("truncated"):
            run_notes.append(f"{what}: output longer than {max_output} characters was truncated")
    for reason, whats in skipped.items():
        run_notes.append(f"{len(whats)} cell(s) {reason}")
    run_notes.extend(state.get("events", []))
    results = []
    for ex, manual in items:
        if manual:
            results.append(manual_result(ex, sub_nb, stubs, ex.grade_id in tasks))
            continue
        k = graded.test_index[ex.grade_id]
        trouble = [graded.origin[i] + ": " + describe(cells.get(str(i)))[1] for i in graded.answer_index.get(ex.grade_id, [])
                   if describe(cells.get(str(i)))[0] in ("timeout", "kernel died")]
        results.append(test_result(ex, cells.get(str(k)), sol_tests[ex.grade_id], trouble))
    return finish(results, run_notes)
