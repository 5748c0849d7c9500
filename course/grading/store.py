"""Stage 5a, write: the JSON report and the CSV gradebook, kept as a run goes, and hand-given scores.

- :class:`ResultStore` rewrites both files as each submission finishes and, on a rerun, reuses the
  results of files whose content (and solution) did not change;
- :func:`read_report` and :func:`write_report` read and write the JSON report (a list of
  :meth:`SubmissionResult.to_dict`);
- :func:`write_csv` writes the gradebook;
- :func:`read_manual_scores` and :func:`apply_manual_scores` merge the scores of written answers
  that were graded by hand.
"""

from __future__ import annotations

import csv
import json
import os
import threading
from pathlib import Path
from typing import Sequence

from course.grading.results import SubmissionResult, fmt, notebook_stem


def atomic_write(path: Path, text: str) -> None:
    """Replace ``path`` by ``text`` at once (a reader never sees half a file)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def write_report(results: Sequence[SubmissionResult], path: str | Path) -> None:
    """Write the full JSON report: one object per submission (see :meth:`SubmissionResult.to_dict`)."""
    atomic_write(Path(path), json.dumps([r.to_dict() for r in results], indent=1) + "\n")


def read_report(path: str | Path) -> list[SubmissionResult]:
    """Read a JSON report back.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not a report written by ``course grade`` (the message says why).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such report: {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, list):
            raise TypeError("not a list of submissions")
        return [SubmissionResult.from_dict(d) for d in data]
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"{path} is not a report of course grade ({type(exc).__name__}: {str(exc)[:100]}); "
                         "pass the JSON written by --report or next to --csv") from None


class ResultStore:
    """The JSON report and CSV gradebook of a run, rewritten as each submission finishes.

    A rerun reads the report back and reuses each result whose submission and solution have the
    same content hash as before (unless ``force``): an interrupted run loses nothing graded, and
    running the same command again grades only what is missing or changed. Hand-given scores
    stay with their result while its submission is unchanged. Results of earlier runs for files
    not in this run are kept, except in a shard (``only_planned``), whose report holds its own
    slice only.
    """

    def __init__(self, report: Path | None, gradebook: Path | None, *, force: bool = False, only_planned: bool = False):
        self.report, self.gradebook = report, gradebook
        self.only_planned = only_planned
        self.previous: dict[str, dict] = {}
        self.done: dict[str, SubmissionResult] = {}
        self.lock = threading.Lock()
        if report is not None and report.is_file() and not force:
            try:
                data = json.loads(report.read_text(encoding="utf-8"))
                self.previous = {d["submission"]: d for d in data if isinstance(d, dict) and "submission" in d}
            except (OSError, ValueError, TypeError):
                self.previous = {}

    def cached(self, name: str, sub_sha: str, sol_sha: str) -> SubmissionResult | None:
        d = self.previous.get(name)
        if d and d.get("sha256") == sub_sha and d.get("solution_sha256") == sol_sha:
            try:
                return SubmissionResult.from_dict(d)
            except (KeyError, TypeError):
                return None
        return None

    def ordered(self, order: Sequence[str]) -> list[SubmissionResult]:
        """Results in ``order``, then earlier results of submissions not in this run."""
        out = [self.done[n] for n in order if n in self.done]
        if not self.only_planned:
            out += [SubmissionResult.from_dict(d) for n, d in self.previous.items() if n not in order and n not in self.done]
        return out

    def record(self, result: SubmissionResult, order: Sequence[str]) -> None:
        with self.lock:
            self.done[result.submission] = result
            self.write(order)

    def write(self, order: Sequence[str]) -> None:
        results = self.ordered(order)
        if self.report is not None:
            write_report(results, self.report)
        if self.gradebook is not None:
            write_csv(results, self.gradebook)


def gradebook_column(r: SubmissionResult, grade_id: str, several: bool) -> str:
    """A graded item's gradebook column: its grade id, or ``STEM:grade_id`` when several notebooks mix."""
    return f"{notebook_stem(r)}:{grade_id}" if several else grade_id


def write_csv(results: Sequence[SubmissionResult], path: str | Path) -> list[str]:
    """Write a gradebook: one row per submission, one column per graded item, then totals.

    Columns are ``submission``, ``solution``, one per graded item (its grade id; ``STEM:grade_id``
    when the submissions answer several solution notebooks), ``total``, ``pending`` and
    ``max_total``. A written answer not graded by hand yet reads ``pending``. The file is
    replaced atomically.

    Returns:
        The header row.
    """
    several = len({notebook_stem(r) for r in results}) > 1
    columns: list[str] = []
    rows = []
    for r in results:
        row = {"submission": r.submission, "solution": r.solution, "total": fmt(r.total),
               "pending": fmt(r.pending), "max_total": fmt(r.max_total)}
        for e in r.exercises:
            col = gradebook_column(r, e.grade_id, several)
            if col not in columns:
                columns.append(col)
            row[col] = "pending" if e.points is None else fmt(e.points)
        rows.append(row)
    header = ["submission", "solution", *columns, "total", "pending", "max_total"]
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=header, restval="")
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)
    return header


def read_manual_scores(path: str | Path) -> dict[str, dict[str, float]]:
    """Hand-given scores from a CSV: ``{submission: {grade_id: points}}``.

    The CSV has a ``submission`` column (names as in the gradebook) and one column per written
    answer, named by its grade id (or ``STEM:grade_id``, as in a gradebook mixing notebooks):
    a copy of the gradebook with its ``pending`` cells filled in works. Empty cells and the
    word ``pending`` are skipped; other columns are ignored when they are not written answers.

    Raises:
        FileNotFoundError: no such file.
        ValueError: no ``submission`` column, or a score that is not a number (naming row and column).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file of hand-given scores: {path}")
    out: dict[str, dict[str, float]] = {}
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or "submission" not in reader.fieldnames:
            raise ValueError(f"{path}: expected a 'submission' column, got {reader.fieldnames}")
        for row_no, row in enumerate(reader, start=2):
            scores = {}
            for col, value in row.items():
                if col in (None, "submission", "solution", "total", "pending", "max_total") or value is None:
                    continue
                value = value.strip()
                if not value or value.lower() == "pending":
                    continue
                try:
                    scores[col.split(":")[-1]] = float(value)
                except ValueError:
                    raise ValueError(f"{path}: line {row_no}, column {col!r}: expected a number of points, got {value!r}") from None
            out[row["submission"]] = scores
    return out


def apply_manual_scores(result: SubmissionResult, scores: dict[str, float], source: str = "hand-given") -> list[str]:
    """Give ``result``'s written answers their hand-given points (in place).

    Only written answers (pending, not answered or already graded by hand) take a score;
    autograded columns in ``scores`` are ignored.

    Returns:
        The grade ids that changed.

    Raises:
        ValueError: a score outside ``[0, max_points]``.
    """
    changed = []
    for e in result.exercises:
        if e.grade_id not in scores or e.status not in ("pending", "not answered", "graded by hand"):
            continue
        pts = scores[e.grade_id]
        if not 0 <= pts <= e.max_points:
            raise ValueError(f"{result.submission}: {e.grade_id}: expected 0 to {fmt(e.max_points)} points, got {fmt(pts)}")
        if e.points != pts or e.status != "graded by hand":
            e.points, e.status, e.reason = pts, "graded by hand", f"graded by hand ({source})"
            changed.append(e.grade_id)
    return changed
