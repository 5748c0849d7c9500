"""Notebook helpers shared by ``release`` and ``grade``: nbgrader markers, cell roles, exact output.

Solution notebooks follow nbgrader's conventions (schema 3), so they stay usable with nbgrader
itself:

- an *answer cell* has ``metadata.nbgrader.solution == True``; its solution sits between lines
  containing ``BEGIN SOLUTION`` and ``END SOLUTION`` (written ``### BEGIN SOLUTION``);
- a *test cell* has ``metadata.nbgrader.grade == True`` and ``points``; hidden checks sit between
  lines containing ``BEGIN HIDDEN TESTS`` and ``END HIDDEN TESTS``;
- a *written answer* (graded by hand) is nbgrader's manually graded answer: a markdown cell with
  ``solution == True``, ``grade == True`` and ``points``; its answer sits between the solution
  markers. (nbgrader refuses a markdown solution cell that is not a grade cell.)
- every such cell's ``id`` equals its ``grade_id``, and grade ids are unique in a notebook.

As in nbgrader, a marker is recognised anywhere in a line, and the whole line is replaced.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from pathlib import Path
from typing import Iterator

import nbformat

BEGIN_SOLUTION = "BEGIN SOLUTION"
END_SOLUTION = "END SOLUTION"
BEGIN_HIDDEN = "BEGIN HIDDEN TESTS"
END_HIDDEN = "END HIDDEN TESTS"
MARKERS = (BEGIN_SOLUTION, END_SOLUTION, BEGIN_HIDDEN, END_HIDDEN)

CODE_STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
TEXT_STUB = "YOUR ANSWER HERE"

#: Exercise notebooks are named like ``01_linear_regression.ipynb``.
NOTEBOOK_PATTERN = re.compile(r"^\d\d_[A-Za-z0-9_]+\.ipynb$")

#: Cell metadata that depends on who ran the notebook, when, or how it was displayed.
VOLATILE_CELL_METADATA = ("execution", "ExecuteTime", "collapsed", "scrolled", "heading_collapsed")
#: Notebook metadata that depends on who ran the notebook.
VOLATILE_NOTEBOOK_METADATA = ("widgets", "toc", "varInspector", "vscode", "colab")


@dataclasses.dataclass(frozen=True)
class Exercise:
    """One graded exercise of a solution notebook: a test cell and the answer cells before it.

    Attributes:
        grade_id: the test cell's grade id (also its cell id).
        points: points the test cell is worth.
        answer_ids: grade ids of the answer cells between the previous test cell and this one.
    """

    grade_id: str
    points: float
    answer_ids: tuple[str, ...]


def nbgrader_meta(cell: nbformat.NotebookNode) -> dict:
    """Return the cell's ``metadata.nbgrader`` dict, or ``{}`` when it has none."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def grade_id(cell: nbformat.NotebookNode) -> str | None:
    """Return the cell's nbgrader grade id, or ``None`` for an ordinary cell."""
    gid = nbgrader_meta(cell).get("grade_id")
    return gid if isinstance(gid, str) and gid else None


def is_answer_cell(cell: nbformat.NotebookNode) -> bool:
    """True for an nbgrader solution cell (``solution: true``)."""
    return bool(nbgrader_meta(cell).get("solution", False))


def is_test_cell(cell: nbformat.NotebookNode) -> bool:
    """True for an autograded test cell: a code cell with ``grade: true`` and no solution."""
    meta = nbgrader_meta(cell)
    return bool(meta.get("grade", False)) and not meta.get("solution", False) and cell.cell_type == "code"


def is_manual_cell(cell: nbformat.NotebookNode) -> bool:
    """True for a cell graded by hand: a grade cell that is also an answer cell, or a markdown grade cell."""
    meta = nbgrader_meta(cell)
    return bool(meta.get("grade", False)) and (bool(meta.get("solution", False)) or cell.cell_type == "markdown")


def cell_points(cell: nbformat.NotebookNode) -> float:
    """Points of a graded cell (0 when absent)."""
    pts = nbgrader_meta(cell).get("points", 0)
    return float(pts) if isinstance(pts, (int, float)) else 0.0


def cell_label(cell: nbformat.NotebookNode, index: int) -> str:
    """Human-readable name of a cell: its grade id or cell id, and its position."""
    name = grade_id(cell) or cell.get("id")
    return f"cell {name!r} (#{index})" if name else f"cell #{index}"


def regions(source: str, begin: str, end: str) -> list[tuple[int, int]]:
    """Line ranges ``(i, j)`` of the ``begin``/``end`` marker lines (inclusive) in ``source``.

    Args:
        source: cell source.
        begin: text that marks the first line of a region (e.g. ``"BEGIN SOLUTION"``).
        end: text that marks its last line.

    Returns:
        A list of ``(begin_line, end_line)`` pairs, in order.

    Raises:
        ValueError: a region is not closed, is nested, or an end marker has no begin.

    Example:
        >>> regions("a\\n### BEGIN SOLUTION\\nx = 1\\n### END SOLUTION", "BEGIN SOLUTION", "END SOLUTION")
        [(1, 3)]
    """
    out: list[tuple[int, int]] = []
    start = None
    for k, line in enumerate(source.split("\n")):
        if begin in line:
            if start is not None:
                raise ValueError(f"expected {end!r} before line {k + 1}, got a second {begin!r}")
            start = k
        elif end in line:
            if start is None:
                raise ValueError(f"expected {begin!r} before line {k + 1}, got {end!r} alone")
            out.append((start, k))
            start = None
    if start is not None:
        raise ValueError(f"expected {end!r} after line {start + 1}, got the end of the cell")
    return out


def region_texts(source: str, begin: str, end: str) -> list[str]:
    """The text strictly inside each ``begin``/``end`` region of ``source``."""
    lines = source.split("\n")
    return ["\n".join(lines[i + 1 : j]) for i, j in regions(source, begin, end)]


def replace_regions(source: str, begin: str, end: str, stub: tuple[str, ...] | None) -> tuple[str, bool]:
    """Replace every ``begin``/``end`` region (marker lines included) by ``stub``.

    Code stubs are indented like the ``begin`` line, as nbgrader does. ``stub=None`` removes the
    region. Returns the new source and whether anything was replaced.
    """
    spans = regions(source, begin, end)
    if not spans:
        return source, False
    lines = source.split("\n")
    out: list[str] = []
    prev = 0
    for i, j in spans:
        out.extend(lines[prev:i])
        if stub is not None:
            indent = re.match(r"\s*", lines[i]).group(0)
            out.extend(indent + s for s in stub)
        prev = j + 1
    out.extend(lines[prev:])
    return "\n".join(out), True


def exercises(nb: nbformat.NotebookNode) -> list[Exercise]:
    """The graded exercises of a solution (or released) notebook, in order.

    Args:
        nb: a notebook with nbgrader metadata.

    Returns:
        One :class:`Exercise` per test cell; its answer cells are the answer cells since the
        previous test cell.
    """
    out: list[Exercise] = []
    answers: list[str] = []
    for cell in nb.cells:
        if is_answer_cell(cell) and grade_id(cell):
            answers.append(grade_id(cell))
        elif is_test_cell(cell) and grade_id(cell):
            out.append(Exercise(grade_id(cell), cell_points(cell), tuple(answers)))
            answers = []
    return out


def manual_answers(nb: nbformat.NotebookNode) -> list[Exercise]:
    """The answers of a notebook graded by hand (written answers), in order, as exercises of their own.

    Each has its own grade id and points and no answer cells (the cell is its own answer).
    """
    return [Exercise(grade_id(c), cell_points(c), ()) for c in nb.cells if is_manual_cell(c) and grade_id(c)]


def graded_items(nb: nbformat.NotebookNode) -> list[tuple[Exercise, bool]]:
    """Every graded item of a notebook in notebook order: ``(exercise, graded_by_hand)``."""
    auto = {ex.grade_id: ex for ex in exercises(nb)}
    manual = {ex.grade_id: ex for ex in manual_answers(nb)}
    out = []
    for cell in nb.cells:
        gid = grade_id(cell)
        if gid in manual and is_manual_cell(cell):
            out.append((manual[gid], True))
        elif gid in auto and is_test_cell(cell):
            out.append((auto[gid], False))
    return out


def check_solution_notebook(nb: nbformat.NotebookNode, name: str) -> list[str]:
    """Problems that stop a solution notebook from being released or used for grading.

    Checks: grade ids present and unique, cell id equal to grade id, markers well formed,
    solution markers only in answer cells, hidden-test markers only in test cells.

    Returns:
        One line per problem, each naming the notebook and the cell (empty when all is well).
    """
    problems: list[str] = []
    seen: set[str] = set()
    for k, cell in enumerate(nb.cells):
        where = f"{name}: {cell_label(cell, k)}"
        meta = nbgrader_meta(cell)
        if meta.get("solution") or meta.get("grade"):
            gid = grade_id(cell)
            if gid is None:
                problems.append(f"{where}: nbgrader cell without a grade_id; add metadata.nbgrader.grade_id")
            else:
                if gid in seen:
                    problems.append(f"{where}: grade_id {gid!r} is used twice; grade ids must be unique")
                seen.add(gid)
                if cell.get("id") not in (None, gid):
                    problems.append(f"{where}: cell id {cell.get('id')!r} differs from grade_id {gid!r}; set the cell id to the grade id")
            if cell.cell_type == "markdown" and meta.get("solution") and not meta.get("grade"):
                problems.append(
                    f"{where}: a written answer (markdown solution cell) must be a grade cell graded by hand: set "
                    f"metadata.nbgrader.grade = true and points = N (nbgrader rejects \"Markdown solution cell is not "
                    f"marked as a grade cell\")")
            elif meta.get("grade") and cell_points(cell) <= 0:
                problems.append(f"{where}: grade cell without points; set metadata.nbgrader.points to a positive number")
        for begin, end in ((BEGIN_SOLUTION, END_SOLUTION), (BEGIN_HIDDEN, END_HIDDEN)):
            try:
                found = regions(cell.source, begin, end)
            except ValueError as exc:
                problems.append(f"{where}: {exc}")
                continue
            if found and begin == BEGIN_SOLUTION and not is_answer_cell(cell):
                problems.append(f"{where}: solution region outside an answer cell; set metadata.nbgrader.solution = true")
            if found and begin == BEGIN_HIDDEN and not is_test_cell(cell):
                problems.append(f"{where}: hidden tests outside a test cell; set metadata.nbgrader.grade = true")
    return problems


def dumps(nb: nbformat.NotebookNode) -> str:
    """Serialise ``nb`` exactly as ``nbformat.write`` does (indent 1, sorted keys, final newline)."""
    text = nbformat.writes(nb, version=4)
    return text if text.endswith("\n") else text + "\n"


def sha256(text: str) -> str:
    """Hex SHA-256 of ``text`` encoded as UTF-8."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_notebook(path: str | Path) -> nbformat.NotebookNode:
    """Read a notebook as nbformat v4.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file is not a valid notebook (the message says why).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such notebook: {path}")
    return reads_notebook(path.read_text(encoding="utf-8", errors="replace"), str(path))


def reads_notebook(text: str, name: str = "<notebook>") -> nbformat.NotebookNode:
    """Parse notebook text as nbformat v4, raising ``ValueError`` (not a JSON traceback) if invalid."""
    try:
        json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{name} is not a valid notebook: not JSON ({exc})") from None
    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception as exc:  # JSONDecodeError, NotJSONError, validation errors, KeyError, ...
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ValueError(f"{name} is not a valid notebook: {msg[:200]}") from None
    if not isinstance(nb.get("cells"), list):
        raise ValueError(f"{name} is not a valid notebook: it has no list of cells")
    return nb


def exercise_notebooks(folder: str | Path) -> list[Path]:
    """The ``NN_topic.ipynb`` files directly in ``folder``, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and NOTEBOOK_PATTERN.match(p.name))


def iter_code_cells(nb: nbformat.NotebookNode) -> Iterator[tuple[int, nbformat.NotebookNode]]:
    """``(index, cell)`` for each code cell of ``nb``."""
    for k, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            yield k, cell
