"""``python -m course check NOTEBOOK``: a student runs an exercise notebook's visible tests before handing it in.

The notebook is read, never written: a copy runs top to bottom in a fresh kernel of the course's
environment (the student's own machine, so no sandbox and the student's own environment), from
an empty scratch folder, with a per-cell and a total time limit. A cell that raises does not stop
the next ones. Then, per exercise (test cells and answers are found by their nbgrader metadata):

- ``passed``: the exercise's test cell ran without error;
- ``not answered yet``: an answer cell of the exercise still raises ``NotImplementedError``;
- ``failed``: the test cell raised, with the exception's message and the line that failed;
- ``timeout``, ``kernel died``, ``not run``: the cell did not finish;
- written answers are listed as ``graded by hand`` (or ``not answered yet`` when left as released).

Passing here is not a grade: the grader adds hidden tests at other inputs. The exit status is 0
when every visible test passes, 1 otherwise, 2 when the notebook cannot be read or no kernel starts.
"""

from __future__ import annotations

import dataclasses
import re
import time
from pathlib import Path

from course import notebooks as nbk
from course.grading.results import fmt
from course.grading.run import KernelStartError, kernel_start_error, kill_live_runs, run_notebook

__all__ = ["CheckItem", "CheckReport", "KernelStartError", "check_notebook", "format_check"]

HIDDEN = "Hidden tests are added when your notebook is graded: passing these visible tests is not a grade."


@dataclasses.dataclass
class CheckItem:
    """One exercise's test cell (``kind == "test"``) or one written answer (``kind == "written"``)."""

    grade_id: str
    kind: str
    number: str
    points: float
    status: str
    message: str = ""
    line: int | None = None
    line_text: str = ""


@dataclasses.dataclass
class CheckReport:
    """What ``course check`` found."""

    notebook: str
    items: list[CheckItem]
    notes: list[str]
    seconds: float

    @property
    def ok(self) -> bool:
        """Every visible test passed."""
        return all(i.status == "passed" for i in self.items if i.kind == "test")


def _number(grade_id: str, ordinal: int) -> str:
    match = re.match(r"ex(\d+)", grade_id)
    return match.group(1) if match else str(ordinal)


def _message(record: dict) -> str:
    return f"{record.get('ename', 'Error')}: {record.get('evalue', '').strip()}".strip().rstrip(":")


def check_notebook(path: str | Path, *, cell_timeout: float = 600.0, total_timeout: float = 1800.0) -> CheckReport:
    """Run a notebook's visible tests (see the module docstring).

    Raises:
        FileNotFoundError: no such notebook.
        ValueError: not a notebook, or one without test cells.
        KernelStartError: no kernel could start.
        KeyboardInterrupt: after ending the kernel.
    """
    t0 = time.monotonic()
    path = Path(path)
    nb = nbk.read_notebook(path)
    cells = nb.cells
    tests = [k for k, c in enumerate(cells) if nbk.is_test_cell(c) and nbk.grade_id(c)]
    if not tests:
        raise ValueError(f"{path} has no test cells (cells with nbgrader metadata grade: true): check runs the "
                         "tests of an exercise notebook from exercises/")
    try:
        state = run_notebook(nb, tests=tests, cell_timeout=cell_timeout, total_timeout=total_timeout,
                             sandbox="none", clean_env=False)
    except KeyboardInterrupt:
        kill_live_runs()
        raise
    if state.get("kernel_start_failed"):
        raise KernelStartError(kernel_start_error(state, "none"))
    records = state.get("cells", {})
    items: list[CheckItem] = []
    answers: list[int] = []  # answer cells since the previous test cell
    for k, cell in enumerate(cells):
        gid = nbk.grade_id(cell)
        if nbk.is_manual_cell(cell) and gid:
            source = cell.source.strip()
            answered = source and source != nbk.TEXT_STUB
            items.append(CheckItem(gid, "written", _number(gid, len(items) + 1), nbk.cell_points(cell), "graded by hand",
                                   "" if answered else "not answered yet"))
        elif nbk.is_answer_cell(cell) and cell.cell_type == "code":
            answers.append(k)
        elif k in tests:
            rec = records.get(str(k)) or {"status": "not run", "reason": "the notebook stopped before this cell"}
            item = CheckItem(gid, "test", _number(gid, sum(i.kind == "test" for i in items) + 1), nbk.cell_points(cell), "")
            stubs = [a for a in answers if (records.get(str(a)) or {}).get("ename") == "NotImplementedError"
                     or "raise NotImplementedError" in cells[a].source]
            if rec["status"] == "ok":
                item.status = "passed"
            elif rec.get("ename") == "NotImplementedError" or (stubs and rec.get("ename") == "NameError"):
                item.status = "not answered yet"
                which = nbk.grade_id(cells[stubs[0]]) if stubs else None
                item.message = (f"answer cell {which!r} still raises NotImplementedError" if which
                                else "your answer still raises NotImplementedError")
            elif rec["status"] == "error":
                item.status, item.message = "failed", _message(rec)
                item.line = rec.get("line")
                lines = cell.source.split("\n")
                if isinstance(item.line, int) and 1 <= item.line <= len(lines):
                    item.line_text = lines[item.line - 1].strip()
            else:
                item.status = {"timeout": "timeout", "dead": "kernel died"}.get(rec["status"], "not run")
                item.message = rec.get("reason", "")
            items.append(item)
            answers = []
    notes = [e for e in state.get("events", [])]
    return CheckReport(str(path), items, notes, time.monotonic() - t0)


def format_check(report: CheckReport) -> str:
    """The text ``course check`` prints: one line per exercise, then a summary and the hidden-test warning."""
    rows = []
    for i in report.items:
        pts = f"{fmt(i.points)} point" + ("" if i.points == 1 else "s")
        label = f"exercise {i.number} ({pts})" if i.kind == "test" else f"exercise {i.number}, written ({pts})"
        rows.append((label, i))
    width = max([len(label) for label, _ in rows] + [10])
    out = [f"course check {report.notebook}: ran a copy in a fresh kernel ({report.seconds:.0f} s)", HIDDEN, ""]
    for label, i in rows:
        out.append(f"  {label:<{width}}  {i.status}")
        if i.message:
            msg = i.message.splitlines()
            out.extend(f"  {'':<{width}}    {m}" for m in msg[:8])
            if len(msg) > 8:
                out.append(f"  {'':<{width}}    ...")
        if i.line_text:
            out.append(f"  {'':<{width}}    at line {i.line} of the test cell: {i.line_text}")
    for note in report.notes:
        out.append(f"  note: {note}")
    tests = [i for i in report.items if i.kind == "test"]
    counts = {s: sum(i.status == s for i in tests) for s in dict.fromkeys(i.status for i in tests)}
    parts = [f"{counts.pop('passed', 0)} of {len(tests)} exercises pass their visible tests"]
    parts += [f"{n} {s}" for s, n in counts.items()]
    written = [i for i in report.items if i.kind == "written"]
    if written:
        parts.append(f"{len(written)} written answer(s) are graded by hand")
    out += ["", "; ".join(parts) + "."]
    if not report.ok:
        out.append("Fix what fails above, save, and run `python -m course check` again.")
    return "\n".join(out)
