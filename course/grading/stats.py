"""Stage 5d, write: what a class got right and wrong, from a JSON report (``course stats REPORT.json``).

For each notebook and each graded item: the mean points and the share of full marks; the most
common reasons for losing points, with their counts (messages normalised so that the same failure
with different numbers counts once, and labelled with where in the test cell it failed); and the
submissions that failed to run (not a notebook, a cell that timed out, a kernel that died, cells
never run), which are often worth a look by hand.
"""

from __future__ import annotations

import collections
import re
from typing import Sequence

from course.grading.results import RUN_FAILURES, SubmissionResult, fmt, notebook_stem

#: Notes of a run that say it did not go through cleanly (a kernel restarted, killed, or gone).
_RUN_TROUBLE = ("restarted the kernel", "gave up after", "kernel error", "the grader killed", "stopped early",
                "could not replay")
_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w])")


def normalise(message: str) -> str:
    """One failure, whatever its numbers: ``Not equal to tolerance rtol=1e-09`` -> ``Not equal to tolerance rtol=#``.

    Example:
        >>> normalise("AssertionError: 3 != 4.5e-3   (at  step 10, in ex2_answer)")
        'AssertionError: # != # (at step #, in ex2_answer)'
    """
    return re.sub(r"\s+", " ", _NUMBER.sub("#", message)).strip()[:160]


def failure_key(e) -> str:
    """How a failed item is counted: its normalised reason, and where it failed in the test cell."""
    where = ""
    if e.line is not None:
        where = f" [{'hidden' if e.hidden else 'visible'} tests, line {e.line}]"
    return normalise(e.reason or e.status) + where


def run_trouble(r: SubmissionResult) -> str:
    """Why a submission failed to run through (empty when it ran): an item that did not finish, else a note."""
    for e in r.exercises:
        if e.status in RUN_FAILURES:
            return f"{e.grade_id}: {e.reason or e.status}"
    return next((n for n in r.notes if any(t in n for t in _RUN_TROUBLE)), "")


def class_stats(results: Sequence[SubmissionResult], top: int = 3) -> dict:
    """Per notebook, per graded item: count, mean, full marks, pending and the ``top`` failures.

    Returns:
        ``{stem: {"submissions": n, "items": {grade_id: {...}}, "did_not_run": [(submission, why)]}}``.
    """
    out: dict[str, dict] = {}
    for r in results:
        nb = out.setdefault(notebook_stem(r), {"submissions": 0, "items": {}, "did_not_run": []})
        nb["submissions"] += 1
        why = run_trouble(r)
        if why:
            nb["did_not_run"].append((r.submission, why))
        for e in r.exercises:
            item = nb["items"].setdefault(e.grade_id, {"max": e.max_points, "scores": [], "pending": 0,
                                                       "failures": collections.Counter()})
            if e.points is None:
                item["pending"] += 1
                continue
            item["scores"].append(e.points)
            if e.points < e.max_points and e.status not in ("graded by hand", "invalid"):  # invalid: see failed to run
                item["failures"][failure_key(e)] += 1
    for nb in out.values():
        for item in nb["items"].values():
            scores = item.pop("scores")
            item["graded"] = len(scores)
            item["mean"] = sum(scores) / len(scores) if scores else None
            item["full"] = sum(s >= item["max"] for s in scores)
            item["failures"] = item["failures"].most_common(top)
    return out


def format_stats(results: Sequence[SubmissionResult], top: int = 3) -> str:
    """The text ``course stats`` prints (see the module docstring)."""
    lines = []
    for stem, nb in class_stats(results, top).items():
        n = nb["submissions"]
        lines.append(f"{stem}: {n} submission(s)")
        width = max([len(g) for g in nb["items"]] + [8])
        lines.append(f"  {'item':<{width}}  {'points':>6}  {'mean':>6}  full marks")
        for gid, item in nb["items"].items():
            mean = "-" if item["mean"] is None else f"{item['mean']:.2f}"
            full = f"{item['full']}/{item['graded']}" if item["graded"] else "-"
            share = f" ({100 * item['full'] / item['graded']:.0f}%)" if item["graded"] else ""
            pend = f", {item['pending']} pending (graded by hand)" if item["pending"] else ""
            lines.append(f"  {gid:<{width}}  {fmt(item['max']):>6}  {mean:>6}  {full}{share}{pend}")
            for text, count in item["failures"]:
                lines.append(f"  {'':<{width}}    {count:>3} x  {text}")
        if nb["did_not_run"]:
            lines.append(f"  failed to run ({len(nb['did_not_run'])}): timeouts, dead kernels, invalid files")
            for sub, why in nb["did_not_run"]:
                lines.append(f"    {sub}: {why}")
        else:
            lines.append("  every submission ran through")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
