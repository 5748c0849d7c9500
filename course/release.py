"""Release student notebooks: ``solutions/NN_topic.ipynb`` -> ``exercises/NN_topic.ipynb``.

What release does to each cell of a solution notebook:

- answer cells: every ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` region becomes
  ``# YOUR CODE HERE`` and ``raise NotImplementedError()`` (indented like the marker; in markdown,
  ``YOUR ANSWER HERE``); an answer cell without markers is replaced whole, as nbgrader does;
- test cells: the ``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS`` regions disappear, the
  visible checks stay, and a first line says what the cell is
  (``# Tests for exercise 3 (2 points): run this cell after your answer.``) unless it has one;
- written answers (markdown cells graded by hand) read ``YOUR ANSWER HERE``;
- every cell: outputs and execution counts cleared, run-dependent metadata dropped; nbgrader
  metadata and cell ids kept; test cells locked (``editable``/``deletable`` false) and answer
  cells made undeletable, as nbgrader's ``LockCells`` does.

The notebook metadata keeps the kernelspec, gets a complete ``language_info`` (as a kernel writes
it, so JupyterLab does not mark a just-opened notebook modified) and gains
``metadata.course = {"exercise": stem, "release_sha256": ...}``, the SHA-256 of the released text
without that one field. Release uses it to tell its own output from a file someone edited, which
it never overwrites without ``force``. The output is byte-for-byte reproducible.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import platform
import re
from pathlib import Path

import nbformat

from course import notebooks as nbk

RELEASE_KEY = "release_sha256"


@dataclasses.dataclass
class ReleaseResult:
    """What :func:`release` did.

    Attributes:
        written: exercise notebooks written (new or changed).
        unchanged: exercise notebooks already up to date.
        removed: released notebooks whose solution is gone, deleted because nobody edited them.
        kept: extra notebooks in the destination left alone (edited, or not made by release).
        refused: ``(path, reason)`` for files release would have overwritten but did not.
    """

    written: list[Path] = dataclasses.field(default_factory=list)
    unchanged: list[Path] = dataclasses.field(default_factory=list)
    removed: list[Path] = dataclasses.field(default_factory=list)
    kept: list[Path] = dataclasses.field(default_factory=list)
    refused: list[tuple[Path, str]] = dataclasses.field(default_factory=list)


def release_notebook(solution: nbformat.NotebookNode, name: str) -> nbformat.NotebookNode:
    """Make the student version of a solution notebook (in memory).

    Args:
        solution: the solution notebook (not modified).
        name: the notebook's stem, e.g. ``"01_linear_regression"`` (recorded in the metadata).

    Returns:
        The released notebook, with ``metadata.course.release_sha256`` set.

    Raises:
        ValueError: the solution notebook is malformed (the message lists each problem).

    Example:
        >>> nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        ...     "x = 1\\n### BEGIN SOLUTION\\ny = 2\\n### END SOLUTION",
        ...     metadata={"nbgrader": {"solution": True, "grade": False, "grade_id": "a", "locked": False,
        ...                            "schema_version": 3}}, id="a")])
        >>> release_notebook(nb, "01_x").cells[0].source
        'x = 1\\n# YOUR CODE HERE\\nraise NotImplementedError()'
    """
    problems = nbk.check_solution_notebook(solution, name)
    if problems:
        raise ValueError("; ".join(problems))
    nb = copy.deepcopy(solution)
    nb.nbformat, nb.nbformat_minor = 4, max(5, int(nb.get("nbformat_minor", 5)))
    for key in nbk.VOLATILE_NOTEBOOK_METADATA:
        nb.metadata.pop(key, None)
    nb.metadata["language_info"] = language_info(nb.metadata.get("language_info"))
    nb.metadata.pop("course", None)
    seen: set[str] = set()
    tests_seen = 0
    for index, cell in enumerate(nb.cells):
        if not cell.get("id") or cell["id"] in seen:  # nbformat would pick a random one
            cell["id"] = f"cell-{index}-{nbk.sha256(cell.source)[:8]}"
        seen.add(cell["id"])
        for key in nbk.VOLATILE_CELL_METADATA:
            cell.metadata.pop(key, None)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        if nbk.is_answer_cell(cell):
            if cell.cell_type == "code":
                source, replaced = nbk.replace_regions(cell.source, nbk.BEGIN_SOLUTION, nbk.END_SOLUTION, nbk.CODE_STUB)
                cell.source = source if replaced else "\n".join(nbk.CODE_STUB)
            else:
                source, replaced = nbk.replace_regions(cell.source, nbk.BEGIN_SOLUTION, nbk.END_SOLUTION, (nbk.TEXT_STUB,))
                cell.source = source if replaced else nbk.TEXT_STUB
            cell.metadata["deletable"] = False
        if nbk.is_test_cell(cell):
            source, _ = nbk.replace_regions(cell.source, nbk.BEGIN_HIDDEN, nbk.END_HIDDEN, None)
            cell.source = test_header(cell, tests_seen + 1) + source.rstrip()
            tests_seen += 1
            cell.metadata["editable"] = False
            cell.metadata["deletable"] = False
    nb.metadata["course"] = {"exercise": name}
    nb.metadata["course"][RELEASE_KEY] = nbk.sha256(nbk.dumps(nb))
    return nb


#: ``language_info`` as the course's Python kernel reports it (without the version).
PYTHON_LANGUAGE_INFO = {
    "codemirror_mode": {"name": "ipython", "version": 3},
    "file_extension": ".py",
    "mimetype": "text/x-python",
    "name": "python",
    "nbconvert_exporter": "python",
    "pygments_lexer": "ipython3",
}
TEST_HEADER = "# Tests for exercise"


def language_info(stored) -> dict:
    """A complete ``language_info``, as a Python kernel writes it when it starts.

    JupyterLab replaces an incomplete ``language_info`` with the kernel's as soon as a notebook
    opens, which marks a just-opened notebook modified. The fields the solution notebook stored
    (from its last execution by the course kernel) are kept; missing ones are filled in, the
    version with this interpreter's.
    """
    stored = stored if isinstance(stored, dict) else {}
    if stored.get("name", "python") != "python":
        return dict(stored)
    info = {**PYTHON_LANGUAGE_INFO, **stored}
    info.setdefault("version", platform.python_version())
    return info


def test_header(cell: nbformat.NotebookNode, ordinal: int) -> str:
    """The first line of a released test cell, saying what it is (empty if it already has one).

    ``# Tests for exercise 3 (2 points): run this cell after your answer.`` The exercise number
    comes from a grade id like ``ex3_tests``, else from the test cell's position.
    """
    if cell.source.lstrip().startswith(TEST_HEADER):
        return ""
    match = re.match(r"ex(\d+)", nbk.grade_id(cell) or "")
    number = int(match.group(1)) if match else ordinal
    points = nbk.cell_points(cell)
    pts = f"{points:g} point" + ("" if points == 1 else "s")
    return f"{TEST_HEADER} {number} ({pts}): run this cell after your answer.\n"


def render(solution_path: str | Path) -> str:
    """The exact text ``release`` writes for one solution notebook."""
    solution_path = Path(solution_path)
    nb = nbk.read_notebook(solution_path)
    return nbk.dumps(release_notebook(nb, solution_path.stem))


def is_pristine(text: str) -> bool:
    """True when ``text`` is a released notebook that nobody edited since release wrote it.

    It re-serialises the notebook without ``metadata.course.release_sha256`` and compares the
    hash with the recorded one.
    """
    try:
        nb = nbformat.reads(text, as_version=4)
        recorded = nb.metadata["course"].pop(RELEASE_KEY)
    except Exception:
        return False
    return isinstance(recorded, str) and nbk.sha256(nbk.dumps(nb)) == recorded


def _plan(source: Path, dest: Path) -> tuple[dict[Path, str], list[Path]]:
    """Rendered text for every destination file, and the extra notebooks in ``dest``."""
    solutions = nbk.exercise_notebooks(source)
    if not source.is_dir():
        raise FileNotFoundError(f"no solutions folder {source} (run from the repository root or pass --source)")
    if not solutions:
        raise FileNotFoundError(f"no NN_topic.ipynb solution notebooks in {source}")
    rendered = {dest / p.name: render(p) for p in solutions}
    extra = [p for p in nbk.exercise_notebooks(dest) if p not in rendered]
    return rendered, extra


def release(source: str | Path = "solutions", dest: str | Path = "exercises", *, force: bool = False) -> ReleaseResult:
    """Regenerate ``dest`` from every ``NN_*.ipynb`` in ``source``.

    Nothing is written when any file would be refused: a destination file that differs from the
    new text and is not pristine release output (see :func:`is_pristine`) is only overwritten
    with ``force=True``. Extra released notebooks whose solution is gone are deleted when
    pristine, kept otherwise.

    Args:
        source: folder of solution notebooks.
        dest: folder of exercise notebooks (created if missing).
        force: overwrite edited files too.

    Returns:
        A :class:`ReleaseResult`.
    """
    source, dest = Path(source), Path(dest)
    rendered, extra = _plan(source, dest)
    result = ReleaseResult()
    for path, text in rendered.items():
        if not path.exists():
            continue
        old = path.read_text(encoding="utf-8", errors="replace")
        if old != text and not force and not is_pristine(old):
            result.refused.append((path, "edited since it was released"))
    if result.refused:
        return result
    dest.mkdir(parents=True, exist_ok=True)
    for path, text in rendered.items():
        if path.exists() and path.read_text(encoding="utf-8", errors="replace") == text:
            result.unchanged.append(path)
            continue
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
        result.written.append(path)
    for path in extra:
        if is_pristine(path.read_text(encoding="utf-8", errors="replace")):
            path.unlink()
            result.removed.append(path)
        else:
            result.kept.append(path)
    return result


def _first_difference(expected: nbformat.NotebookNode, actual_text: str, path: Path) -> str:
    """Describe where an exercise file differs from what release would write."""
    try:
        actual = nbformat.reads(actual_text, as_version=4)
    except Exception:
        return f"{path}: not a valid notebook"
    ids_e = [c.get("id") for c in expected.cells]
    ids_a = [c.get("id") for c in actual.cells]
    for k, cell in enumerate(expected.cells):
        if k >= len(actual.cells):
            return f"{path}: {nbk.cell_label(cell, k)} is missing"
        other = actual.cells[k]
        if json.dumps(cell, sort_keys=True) != json.dumps(other, sort_keys=True):
            if cell.get("id") in ids_a and ids_a.index(cell.get("id")) != k:
                return f"{path}: {nbk.cell_label(cell, k)} has moved"
            if other.get("id") not in ids_e:
                return f"{path}: {nbk.cell_label(other, k)} is not in the solution notebook"
            return f"{path}: {nbk.cell_label(cell, k)} differs from the solution's release"
    if len(actual.cells) > len(expected.cells):
        k = len(expected.cells)
        return f"{path}: {nbk.cell_label(actual.cells[k], k)} is not in the solution notebook"
    return f"{path}: notebook metadata differs from the solution's release"


def leaks(released: nbformat.NotebookNode, solution: nbformat.NotebookNode, name: str) -> list[str]:
    """Cells of a released notebook that contain a marker or the text of a solution region.

    A solution region leaks when its non-blank lines (stripped of indentation) appear, in order
    and contiguous, among the non-blank lines of any released cell.

    Args:
        released: the student notebook.
        solution: its solution notebook.
        name: the released notebook's path, used in the messages.

    Returns:
        One line per leaking cell, naming the notebook and cell.
    """
    def norm(text: str) -> list[str]:
        return [line.strip() for line in text.split("\n") if line.strip()]

    secrets: list[list[str]] = []
    for cell in solution.cells:
        if nbk.is_answer_cell(cell):
            try:
                texts = nbk.region_texts(cell.source, nbk.BEGIN_SOLUTION, nbk.END_SOLUTION)
            except ValueError:
                continue
            secrets.extend(s for s in map(norm, texts) if s)
    problems = []
    for k, cell in enumerate(released.cells):
        where = f"{name}: {nbk.cell_label(cell, k)}"
        found = [m for m in nbk.MARKERS if m in cell.source]
        if found:
            problems.append(f"{where} contains the marker {found[0]!r}")
            continue
        lines = norm(cell.source)
        for secret in secrets:
            n = len(secret)
            if any(lines[i : i + n] == secret for i in range(len(lines) - n + 1)):
                problems.append(f"{where} contains solution code: {secret[0][:60]!r}")
                break
    return problems


def check(source: str | Path = "solutions", dest: str | Path = "exercises") -> list[str]:
    """Problems with ``dest``: stale (missing, extra, different) or leaking notebooks.

    Writes nothing and starts no kernel.

    Returns:
        One line per problem, each naming the notebook (and the cell where there is one);
        empty when ``dest`` is exactly what :func:`release` would write and nothing leaks.
    """
    source, dest = Path(source), Path(dest)
    solutions = nbk.exercise_notebooks(source)
    if not source.is_dir():
        raise FileNotFoundError(f"no solutions folder {source} (run from the repository root or pass --source)")
    problems: list[str] = []
    names = set()
    for sol_path in solutions:
        target = dest / sol_path.name
        names.add(sol_path.name)
        try:
            solution = nbk.read_notebook(sol_path)
            expected = release_notebook(solution, sol_path.stem)
        except ValueError as exc:
            problems.append(str(exc))
            continue
        if not target.exists():
            problems.append(f"{target}: missing (the release of {sol_path})")
            continue
        text = target.read_text(encoding="utf-8", errors="replace")
        try:
            problems.extend(leaks(nbformat.reads(text, as_version=4), solution, str(target)))
        except Exception:
            pass  # reported as "not a valid notebook" below
        if text != nbk.dumps(expected):
            problems.append(_first_difference(expected, text, target) + " (stale)")
    for path in nbk.exercise_notebooks(dest):
        if path.name not in names:
            problems.append(f"{path}: extra notebook with no solution in {source}")
    return problems
