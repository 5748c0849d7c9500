"""Stage 5e, write: the reports of ``--shard K/N`` runs joined into one (``course merge``).

Each shard's report records, per submission, ``{"k", "n", "index", "of"}``: its shard, the
number of shards, its place among all submissions and how many there are. :func:`merge_reports`
checks the reports belong together, puts the results back in the serial run's order and drops the
shard records, so the merged gradebook and report equal those of one serial run. It refuses:

- a submission in two reports (overlapping shards, or a report given twice);
- one solution notebook with two different contents (shards graded against different solutions);
- shards of different splits (``K/3`` beside ``K/4``) or of different sets of submissions;
- a missing shard (fewer submissions than the split had), unless ``partial`` is set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from course.grading.results import SubmissionResult, notebook_stem
from course.grading.store import read_report


def merge_reports(paths: Sequence[str | Path], *, partial: bool = False) -> list[SubmissionResult]:
    """Read and join shard reports (see the module docstring).

    Raises:
        FileNotFoundError: a report is missing.
        ValueError: the reports overlap, disagree, or a shard is missing (the message says which).
    """
    if not paths:
        raise ValueError("expected at least one report to merge")
    seen: dict[str, str] = {}  # submission -> report it came from
    solutions: dict[str, tuple[str, str]] = {}  # solution stem -> (sha, report)
    sharded: list[tuple[dict, SubmissionResult]] = []
    plain: list[SubmissionResult] = []
    for path in map(str, paths):
        for r in read_report(path):
            if r.submission in seen:
                raise ValueError(f"{r.submission} is in both {seen[r.submission]} and {path}: the shards overlap "
                                 "(or a report was given twice); merge each shard's report once")
            seen[r.submission] = path
            stem = notebook_stem(r)
            if stem in solutions and r.solution_sha256 and solutions[stem][0] != r.solution_sha256:
                raise ValueError(f"{path} and {solutions[stem][1]} graded {stem} against different solution notebooks "
                                 f"(sha256 {r.solution_sha256[:12]} vs {solutions[stem][0][:12]}): grade every shard "
                                 "with the same solutions/, then merge")
            solutions.setdefault(stem, (r.solution_sha256, path))
            if r.shard:
                sharded.append((r.shard, r))
            else:
                plain.append(r)
    if sharded:
        splits = {(s["n"], s["of"]) for s, _ in sharded}
        if len(splits) > 1:
            raise ValueError("the reports come from different splits: "
                             + ", ".join(f"{n} shards of {of} submissions" for n, of in sorted(splits))
                             + "; grade every shard with the same --shard K/N over the same files")
        n, of = splits.pop()
        indices = [s["index"] for s, _ in sharded]
        if len(set(indices)) < len(indices):
            raise ValueError("the reports share places in the split but not submissions: they come from different "
                             "sets of files; grade every shard over the same folder, then merge")
        if len(sharded) < of and not partial:
            have = sorted({s["k"] for s, _ in sharded})
            missing = [k for k in range(1, n + 1) if k not in have]
            raise ValueError(f"{len(sharded)} of {of} submissions are in these reports: shard(s) "
                             f"{', '.join(f'{k}/{n}' for k in missing) or '?'} missing (pass --partial to merge anyway)")
        sharded.sort(key=lambda pair: pair[0]["index"])
    out = [r for _, r in sharded] + plain
    for r in out:
        r.shard = None
    return out
