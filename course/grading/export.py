"""Stage 5c, write: the gradebook in the CSV form Canvas imports (``--canvas PATH``).

Canvas documents its gradebook import in "How do I import grades in the Gradebook?"
(https://community.canvaslms.com/t5/Instructor-Guide/How-do-I-import-grades-in-the-Gradebook/ta-p/807):
the file has the columns of a gradebook export, ``Student``, ``ID``, ``SIS User ID``,
``SIS Login ID``, ``Section``, then one column per assignment named ``Title (assignment id)``, a
second row whose first cell is ``Points Possible``, then one row per student. Canvas's importer
(``GradebookImporter`` in canvas-lms) finds a student by ``ID``, else ``SIS User ID``, else
``SIS Login ID``, else by name; an assignment by the id in parentheses, else by its title, else it
creates a new assignment. An empty cell changes nothing.

Who wrote a submission comes from its name (:func:`course.grading.find.student_key`:
``alice_01_tiny.ipynb`` and ``alice/01_tiny.ipynb`` are ``alice``), looked up in a roster:

- a roster (``--roster roster.csv``) is best a gradebook exported from Canvas itself, so the
  students' Canvas ``ID`` and ``Section`` are right; a key matches a row's ``submission`` or ``key``
  column when there is one, else its ``SIS Login ID`` (or the part before ``@``), ``SIS User ID``
  or ``ID``, ignoring case;
- without a roster, the key is written as the student's name and ``SIS Login ID`` (right when
  students named their files with their login);
- a submission whose student is not in the roster is left out of the file and reported, never
  guessed (:attr:`CanvasExport.unknown`).

One column per notebook (assignment) holds the student's points on it. A submission with written
answers still to grade by hand gets an empty cell (Canvas keeps what it has) and is reported:
merge the hand-given scores (``--manual``) and export again.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re
from pathlib import Path
from typing import Sequence

from course.grading.find import student_key
from course.grading.results import SubmissionResult, notebook_stem
from course.grading.store import atomic_write

CANVAS_DOC = "https://community.canvaslms.com/t5/Instructor-Guide/How-do-I-import-grades-in-the-Gradebook/ta-p/807"
STUDENT_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
POINTS_POSSIBLE = "    Points Possible"  # as Canvas's own export writes it


@dataclasses.dataclass
class Student:
    """A row of the roster: the five student columns Canvas reads."""

    name: str
    id: str = ""
    sis_user_id: str = ""
    sis_login_id: str = ""
    section: str = ""
    key: str = ""

    def cells(self) -> list[str]:
        return [self.name, self.id, self.sis_user_id, self.sis_login_id, self.section]


@dataclasses.dataclass
class CanvasExport:
    """What :func:`write_canvas` wrote and what it left out."""

    rows: int
    unknown: list[tuple[str, str | None]]  # (submission, its student key or None)
    pending: list[str]  # submissions whose cell was left empty: answers still to grade by hand
    columns: list[str]


def read_roster(path: str | Path) -> list[Student]:
    """Students from a CSV: a gradebook exported from Canvas, or any CSV with those columns.

    Needs a ``Student`` column and at least one of ``ID``, ``SIS User ID``, ``SIS Login ID``,
    ``submission`` or ``key``. The ``Points Possible`` row of an export and Canvas's
    "Muted"/"Manual Posting" row are skipped.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the columns are missing (the message lists what was found).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such roster: {path}")
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        fields = [f.strip() for f in reader.fieldnames or []]
        ids = {"ID", "SIS User ID", "SIS Login ID", "submission", "key"}
        if "Student" not in fields or not ids & set(fields):
            raise ValueError(f"{path}: expected a roster with a 'Student' column and one of {sorted(ids)} "
                             f"(a gradebook exported from Canvas has them), got {fields}")
        out = []
        for row in reader:
            row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
            name = row.get("Student", "")
            if "Points Possible" in name or all(re.fullmatch(r"(Muted|Manual Posting.*)?", v, re.I) for v in row.values()):
                continue
            out.append(Student(name, row.get("ID", ""), row.get("SIS User ID", ""), row.get("SIS Login ID", ""),
                               row.get("Section", ""), row.get("submission", "") or row.get("key", "")))
    return out


def _lookup(roster: Sequence[Student]) -> dict[str, Student]:
    """Roster rows by every key a submission's name may carry (lower case)."""
    table: dict[str, Student] = {}
    for s in roster:  # weakest first: later (stronger) keys overwrite
        for key in (s.id, s.sis_user_id, s.sis_login_id.split("@")[0], s.sis_login_id, s.key):
            if key:
                table[key.lower()] = s
    return table


def default_title(stem: str) -> str:
    """``01_linear_regression`` -> ``Lecture 1 exercises`` (how the course names its assignments)."""
    match = re.match(r"(\d+)_", stem)
    return f"Lecture {int(match.group(1))} exercises" if match else stem


def parse_titles(pairs: Sequence[str]) -> dict[str, str]:
    """``["01_tiny=Tiny exercises (12345)"]`` -> ``{"01_tiny": "Tiny exercises (12345)"}``.

    Raises:
        ValueError: a pair without ``=``.
    """
    out = {}
    for pair in pairs:
        stem, sep, title = pair.partition("=")
        if not sep or not stem.strip() or not title.strip():
            raise ValueError(f"expected --canvas-assignment STEM=TITLE (e.g. 01_linear_regression=\"Lecture 1 exercises "
                             f"(12345)\", the number being the Canvas assignment id), got {pair!r}")
        out[stem.strip()] = title.strip()
    return out


def _points(x: float) -> str:
    """Points as Canvas's export writes them: at most two decimals."""
    return f"{round(x, 2):g}"


def canvas_rows(results: Sequence[SubmissionResult], roster: Sequence[Student] | None = None,
                titles: dict[str, str] | None = None) -> tuple[list[list[str]], CanvasExport]:
    """The rows of the Canvas import file (header, points possible, students) and what was left out.

    Raises:
        ValueError: two submissions of the same student for the same notebook.
    """
    titles = titles or {}
    stems: list[str] = []
    possible: dict[str, float] = {}
    for r in results:
        stem = notebook_stem(r)
        if stem not in stems:
            stems.append(stem)
        possible[stem] = max(possible.get(stem, 0.0), r.max_total)
    table = _lookup(roster) if roster is not None else {}
    students: dict[int, Student] = {}  # id(Student) -> Student, in first-seen order
    cells: dict[int, dict[str, tuple[str, str]]] = {}  # id(Student) -> stem -> (cell, submission)
    unknown, pending = [], []
    for r in results:
        stem = notebook_stem(r)
        key = student_key(r.submission, stem)
        if roster is None:
            student = Student(key, sis_login_id=key) if key else None
            if student is not None:
                student = next((s for s in students.values() if s.sis_login_id == key), student)
        else:
            student = table.get(key.lower()) if key else None
        if student is None:
            unknown.append((r.submission, key))
            continue
        students.setdefault(id(student), student)
        mine = cells.setdefault(id(student), {})
        if stem in mine:
            raise ValueError(f"two submissions of {student.name or key} for {stem}: {mine[stem][1]} and {r.submission}; "
                             "keep one of them and export again")
        if r.pending:
            pending.append(r.submission)
        mine[stem] = ("" if r.pending else _points(r.total), r.submission)
    order = list(students)
    if roster is not None:  # the roster's order, as Canvas exported it
        rank = {id(s): i for i, s in enumerate(roster)}
        order.sort(key=lambda k: rank.get(k, len(rank)))
    columns = [titles.get(stem, default_title(stem)) for stem in stems]
    rows = [[*STUDENT_COLUMNS, *columns], [POINTS_POSSIBLE, "", "", "", "", *(_points(possible[s]) for s in stems)]]
    for k in order:
        rows.append([*students[k].cells(), *(cells[k].get(stem, ("", ""))[0] for stem in stems)])
    return rows, CanvasExport(len(rows) - 2, unknown, pending, columns)


def write_canvas(results: Sequence[SubmissionResult], path: str | Path, roster: Sequence[Student] | None = None,
                 titles: dict[str, str] | None = None) -> CanvasExport:
    """Write the Canvas import CSV (see the module docstring); return what was written and left out."""
    rows, info = canvas_rows(results, roster, titles)
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    atomic_write(Path(path), buf.getvalue())
    return info


def describe_export(info: CanvasExport, path: str | Path) -> list[str]:
    """Lines for the instructor: what went into the file and what did not, and why."""
    lines = [f"Canvas gradebook written to {path}: {info.rows} student(s), assignment column(s) "
             + ", ".join(repr(c) for c in info.columns) + f" (import it in Canvas: Grades > Import; {CANVAS_DOC})"]
    if info.unknown:
        shown = ", ".join(f"{sub} ({key or 'no student in the name'})" for sub, key in info.unknown[:5])
        more = f" and {len(info.unknown) - 5} more" if len(info.unknown) > 5 else ""
        lines.append(f"warning: {len(info.unknown)} submission(s) left out of {path}, their student is not in the roster: "
                     f"{shown}{more}; add them to the roster (or rename the files) and run again")
    if info.pending:
        lines.append(f"warning: {len(info.pending)} submission(s) have written answers still to grade by hand: their "
                     f"cells in {path} are empty (Canvas keeps what it has); merge the scores with --manual and export again")
    return lines
