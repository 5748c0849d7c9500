"""What grading produces: one :class:`ExerciseResult` per graded item, one :class:`SubmissionResult` per file.

These are the records every later stage reads: the table, the gradebook and the JSON report
(:mod:`.store`), the feedback pages (:mod:`.feedback`), the Canvas export (:mod:`.export`), the
class statistics (:mod:`.stats`) and the merge of shards (:mod:`.merge`). A report read back from
JSON (:meth:`SubmissionResult.from_dict`) is as good as a fresh result, so every output can be
rebuilt from a report without running anything again.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

#: Statuses of an autograded test cell, and of a written answer graded by hand.
TEST_STATUSES = ("passed", "failed", "timeout", "kernel died", "not run", "invalid")
MANUAL_STATUSES = ("pending", "not answered", "graded by hand")
#: Statuses that say the submission did not run to the end (not a wrong answer).
RUN_FAILURES = ("timeout", "kernel died", "not run", "invalid")


@dataclasses.dataclass
class ExerciseResult:
    """The outcome of one graded item: an exercise's test cell, or a written answer graded by hand.

    Attributes:
        grade_id: the test cell's (or written answer's) grade id.
        points: points given; ``None`` while a written answer is pending.
        max_points: points it is worth.
        status: one of :data:`TEST_STATUSES` (test cells) or :data:`MANUAL_STATUSES` (written answers).
        reason: one line saying why points were lost (``AssertionError: ...``), empty when passed.
        message: the exception's full message (several lines, at most 500 characters), for feedback.
        line: the line of the full test cell (visible and hidden tests, from 1) where it failed.
        hidden: whether that line lies in the hidden tests (``None`` when unknown).
        seconds: how long the test cell ran (wall clock), ``None`` for a written answer or a cell
            that did not run: the slow tests of an exercise show here.
    """

    grade_id: str
    points: float | None
    max_points: float
    status: str
    reason: str = ""
    message: str = ""
    line: int | None = None
    hidden: bool | None = None
    seconds: float | None = None

    @classmethod
    def from_dict(cls, d: dict) -> "ExerciseResult":
        """Read one back from a report (older reports lack ``message``, ``line``, ``hidden`` and ``seconds``)."""
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in fields})


@dataclasses.dataclass
class SubmissionResult:
    """The outcome of one submission.

    ``shard`` is set when the submission was graded as part of ``--shard K/N``:
    ``{"k": K, "n": N, "index": position among all submissions, "of": number of all submissions}``,
    which lets :mod:`.merge` put shards back together in the serial run's order and check that
    none is missing.
    """

    submission: str
    solution: str
    exercises: list[ExerciseResult]
    notes: list[str]
    seconds: float
    sandbox: str = "none"
    sha256: str = ""
    solution_sha256: str = ""
    shard: dict | None = None

    @property
    def total(self) -> float:
        """Points given so far (pending answers count nothing yet)."""
        return sum(e.points for e in self.exercises if e.points is not None)

    @property
    def pending(self) -> float:
        """Points of the answers still to be graded by hand."""
        return sum(e.max_points for e in self.exercises if e.points is None)

    @property
    def max_total(self) -> float:
        return sum(e.max_points for e in self.exercises)

    def to_dict(self) -> dict:
        """JSON-ready form: exercises (grade_id, points, max_points, status, reason, message, line,
        hidden, seconds), totals, notes, sandbox, seconds, content hashes, and the shard when there is one."""
        out = {
            "submission": self.submission,
            "solution": self.solution,
            "exercises": [dataclasses.asdict(e) for e in self.exercises],
            "total": self.total,
            "pending": self.pending,
            "max_total": self.max_total,
            "notes": self.notes,
            "sandbox": self.sandbox,
            "seconds": round(self.seconds, 2),
            "sha256": self.sha256,
            "solution_sha256": self.solution_sha256,
        }
        if self.shard is not None:
            out["shard"] = dict(self.shard)
        return out

    @classmethod
    def from_dict(cls, d: dict) -> "SubmissionResult":
        """The inverse of :meth:`to_dict` (for results read back from a report)."""
        return cls(d["submission"], d["solution"], [ExerciseResult.from_dict(e) for e in d["exercises"]],
                   list(d.get("notes", [])), float(d.get("seconds", 0.0)), d.get("sandbox", "none"),
                   d.get("sha256", ""), d.get("solution_sha256", ""), d.get("shard"))


def fmt(x: float) -> str:
    """Points as people write them: ``2``, ``0.5``."""
    return f"{x:g}"


def summary(r: SubmissionResult) -> str:
    """``6/7 (1 pending)``: points, out of, and points still to grade by hand."""
    text = f"{fmt(r.total)}/{fmt(r.max_total)}"
    return text + (f" ({fmt(r.pending)} pending)" if r.pending else "")


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def notebook_stem(r: SubmissionResult) -> str:
    """The solution notebook's stem (``01_linear_regression``): which assignment a result is for."""
    return Path(r.solution).stem
