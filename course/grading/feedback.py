"""Stage 5b, write: one HTML feedback page per submission, for the student (``--feedback DIR``).

A page shows the points per exercise; for each test that did not pass, the exception's message
and the visible part of the test cell (the line that failed marked when it is a visible one, or
a sentence saying the failure is in the hidden tests); written answers as pending, not answered,
or with their hand-given points; and the grader's notes that concern the student's own cells.

What a page never shows: the source of a hidden test or of a solution. It is built from the
result (:class:`SubmissionResult`) and the visible lines of the solution's test cells
(:func:`course.grading.build.visible_test_source`) only; no cell of a solution's answers is ever
read. ``tests/test_grade_feedback.py`` and ``tests/test_nbgrader.py`` check every solution notebook.
Pages are plain HTML with inline CSS, readable offline and printable.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from course import notebooks as nbk
from course.grading.build import visible_test_source
from course.grading.results import ExerciseResult, SubmissionResult, fmt, notebook_stem
from course.grading.store import atomic_write

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 52rem; margin: 2rem auto;
       padding: 0 1rem; color: #1f2328; line-height: 1.45; }
h1 { font-size: 1.5rem; margin-bottom: .2rem; } h2 { font-size: 1.15rem; margin: 1.6rem 0 .4rem; }
.meta { color: #59636e; margin-top: 0; } .total { font-size: 1.2rem; font-weight: 600; }
table { border-collapse: collapse; width: 100%; margin: .8rem 0; }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid #d1d9e0; }
td.pts { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.passed { color: #1a7f37; } .failed, .timeout, .kernel-died, .not-run, .invalid, .not-answered { color: #cf222e; }
.pending, .graded-by-hand { color: #9a6700; }
pre { background: #f6f8fa; border: 1px solid #d1d9e0; border-radius: 6px; padding: .6rem .8rem; overflow-x: auto;
      font-size: .85rem; }
pre.message { background: #fff1f0; border-color: #ffcecb; white-space: pre-wrap; }
.code span { display: block; } .code .bad { background: #ffebe9; font-weight: 600; }
.code .num { color: #8c959f; user-select: none; display: inline-block; width: 2.5em; }
.note { color: #59636e; font-size: .9rem; }
"""

def _hidden_message(message: str) -> str:
    """What a page shows of a hidden test's failure: the error's first line when it holds no number.

    A hidden test's message may quote its expected values ("DESIRED: array(6.517...)"), which
    would let a resubmission hard-code them; the error's name and a number-free first line do not.
    """
    first = message.strip().splitlines()[0] if message.strip() else ""
    name = first.split(":", 1)[0].strip()
    if first and not re.search(r"\d", first):
        return first
    return f"{name} (the rest of the message is not shown: it may quote the hidden test's values)"


HIDDEN_NOTE = ("The failure is in the hidden tests, which check your answer at other inputs and are not shown: "
               "your answer passes the visible checks above but not all of them.")


def _number(grade_id: str) -> str:
    match = re.match(r"ex(\d+)", grade_id)
    return match.group(1) if match else ""


def _title(e: ExerciseResult, manual: bool) -> str:
    n = _number(e.grade_id)
    what = f"Exercise {n}" if n else e.grade_id
    return f"{what}, written answer" if manual else what


def _status_text(e: ExerciseResult) -> str:
    if e.status == "failed" and e.message.startswith("NotImplementedError"):
        return "not answered (the answer cell still raises NotImplementedError)"
    return {"passed": "passed (visible and hidden tests)", "pending": "to be graded by hand",
            "graded by hand": "graded by hand", "not answered": "not answered"}.get(e.status, e.status)


class FeedbackWriter:
    """Writes feedback pages into a folder, one per submission, named after the submission.

    ``alice_01_tiny.ipynb`` gives ``alice_01_tiny.html``; ``bob/01_tiny.ipynb`` gives
    ``bob/01_tiny.html``. The visible test lines of each solution are read once.
    """

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._tests: dict[str, dict[str, str]] = {}

    def path_for(self, r: SubmissionResult) -> Path:
        parts = [p for p in Path(r.submission).with_suffix(".html").parts if p not in ("/", "..", ".", "")]
        return self.folder.joinpath(*parts)

    def tests_of(self, solution: str) -> dict[str, str]:
        """``{grade id: full source}`` of a solution's test cells (only their visible lines are shown)."""
        if solution not in self._tests:
            try:
                nb = nbk.read_notebook(solution)
                self._tests[solution] = {nbk.grade_id(c): c.source for c in nb.cells if nbk.is_test_cell(c)}
            except (OSError, ValueError):
                self._tests[solution] = {}
        return self._tests[solution]

    def write(self, r: SubmissionResult) -> Path:
        path = self.path_for(r)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, render_page(r, self.tests_of(r.solution)))
        return path


def _as_released(source: str) -> list[tuple[int, int, str]]:
    """``(line in the full cell, line in the student's notebook, text)`` of each visible line.

    Release removes the hidden tests and starts the cell with a ``# Tests for exercise ...`` line
    (unless it has one), so the student's line numbers differ from the full cell's.
    """
    from course.release import TEST_HEADER

    shift = 0 if source.lstrip().startswith(TEST_HEADER) else 1
    return [(k, i + shift, line) for i, (k, line) in enumerate(visible_test_source(source), start=1)]


def _code(source: str, bad_line: int | None) -> str:
    rows = []
    for k, mine, line in _as_released(source):
        cls = ' class="bad"' if k == bad_line else ""
        rows.append(f'<span{cls}><span class="num">{mine}</span>{html.escape(line) or " "}</span>')
    return '<pre class="code">' + "".join(rows) + "</pre>"


def _student_notes(r: SubmissionResult) -> list[str]:
    """The grader's notes about the student's own cells (not about the sandbox or the grader)."""
    internal = ("no sandbox", "the grader guard", "the grader killed", "the grading process")
    return [n for n in r.notes if not n.startswith(internal) and "restarted the kernel and replayed" not in n]


def render_page(r: SubmissionResult, tests: dict[str, str]) -> str:
    """The HTML of one feedback page (see the module docstring).

    Args:
        r: the submission's result.
        tests: ``{grade id: full test cell source}`` of its solution; only visible lines are used.
    """
    esc = html.escape
    manual_ids = {e.grade_id for e in r.exercises if e.status in ("pending", "not answered", "graded by hand")}
    out = [f"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
           f"<title>Feedback: {esc(r.submission)}</title><style>{CSS}</style></head><body>",
           f"<h1>Feedback on <code>{esc(r.submission)}</code></h1>",
           f"<p class=\"meta\">Exercises of <b>{esc(notebook_stem(r))}</b>, graded with the visible tests you ran "
           "and hidden tests at other inputs.</p>"]
    pending = f" ({fmt(r.pending)} still to be graded by hand)" if r.pending else ""
    out.append(f"<p class=\"total\">Total: {fmt(r.total)} / {fmt(r.max_total)} points{pending}</p>")
    out.append("<table><tr><th>exercise</th><th>points</th><th>result</th></tr>")
    for e in r.exercises:
        got = "&ndash;" if e.points is None else fmt(e.points)
        cls = e.status.replace(" ", "-")
        out.append(f"<tr><td>{esc(_title(e, e.grade_id in manual_ids))} <span class=\"note\">({esc(e.grade_id)})</span></td>"
                   f"<td class=\"pts\">{got} / {fmt(e.max_points)}</td><td class=\"{cls}\">{esc(_status_text(e))}</td></tr>")
    out.append("</table>")
    for e in r.exercises:
        if e.status == "passed":
            continue
        manual = e.grade_id in manual_ids
        out.append(f"<h2>{esc(_title(e, manual))}: {esc(_status_text(e))}</h2>")
        if manual:
            if e.status == "pending":
                out.append(f"<p>Your written answer is worth {fmt(e.max_points)} point(s); "
                           "your instructor grades it by hand.</p>")
            elif e.status == "graded by hand":
                out.append(f"<p>Graded by hand: {fmt(e.points or 0)} / {fmt(e.max_points)}.</p>")
            else:
                out.append("<p>The answer was left as released, so it scores 0.</p>")
            continue
        message = e.message or e.reason
        if message and e.hidden:
            message = _hidden_message(message)
        if message:
            out.append(f"<pre class=\"message\">{esc(message)}</pre>")
        trouble = re.search(r" \[(answer cell .*)\]$", e.reason)
        if trouble:  # the answer itself did not finish: that is what to fix first
            out.append(f"<p>Before the test ran: {esc(trouble.group(1))}.</p>")
        source = tests.get(e.grade_id)
        if e.hidden:
            out.append(f"<p>{HIDDEN_NOTE}</p>")
        elif e.line and source is not None:
            mine = next((m for k, m, _ in _as_released(source) if k == e.line), None)
            where = f"line {mine} of the test cell in your notebook" if mine else "the test cell"
            out.append(f"<p>It failed at {where} (marked below; the hidden tests are left out):</p>")
        if source is not None:
            out.append(_code(source, None if e.hidden else e.line))
    notes = _student_notes(r)
    if notes:
        out.append("<h2>Notes from the grader</h2><ul>" + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>")
    out.append("<p class=\"note\">Before you hand in a notebook, run its visible tests with "
               "<code>python -m course check NOTEBOOK</code>; passing them is not a grade.</p>")
    out.append("</body></html>\n")
    return "\n".join(out)
