"""A whole class: :func:`grade_paths` grades a plan ``jobs`` at a time (or one shard of it), keeps the
report, gradebook and feedback pages up to date as each submission finishes, and prints progress.

The results, in the order of the submissions, are the same whatever ``jobs`` is, and the shards
of ``--shard K/N`` merged together (:mod:`.merge`) equal one serial run.
"""

from __future__ import annotations

import concurrent.futures
import os
import sys
import threading
import time
from pathlib import Path
from typing import Sequence

from course.grading.find import plan as make_plan
from course.grading.find import shard_of
from course.grading.results import SubmissionResult, file_sha256, fmt, summary
from course.grading.run import DEFAULT_CELL_TIMEOUT, DEFAULT_MAX_OUTPUT, DEFAULT_TOTAL_TIMEOUT, kill_live_runs
from course.grading.sandbox import INSTALL_BWRAP, resolve_sandbox
from course.grading.score import grade_notebook
from course.grading.store import ResultStore, apply_manual_scores


def default_jobs() -> int:
    """Submissions graded at once by default: one per two cores (each kernel uses several threads)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, cores // 2)


class Progress:
    """A progress line on stderr: done/total, rate, time left (one line per result when not a terminal)."""

    def __init__(self, total: int, stream=None, *, reused: int = 0):
        self.total, self.reused, self.count = total, reused, reused
        self.stream = stream if stream is not None else sys.stderr
        self.t0 = time.monotonic()
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.lock = threading.Lock()

    def line(self, last: str = "") -> str:
        graded = self.count - self.reused
        elapsed = time.monotonic() - self.t0
        rate = graded / elapsed if elapsed > 0 and graded else 0.0
        left = (self.total - self.count) / rate if rate else None
        eta = "" if left is None or self.count >= self.total else f", about {_duration(left)} left"
        reused = f" ({self.reused} unchanged since the last run)" if self.reused else ""
        return (f"graded {self.count}/{self.total}{reused}, {rate * 60:.1f}/min{eta}"
                + (f": {last}" if last else ""))

    def update(self, result: SubmissionResult) -> None:
        with self.lock:
            self.count += 1
            text = self.line(f"{result.submission} {summary(result)}")
            if self.tty:
                end = "\n" if self.count == self.total else ""
                print("\r\033[K" + text, end=end, file=self.stream, flush=True)
            else:
                print(text, file=self.stream, flush=True)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def grade_paths(
    paths: Sequence[str | Path],
    *,
    solutions_dir: str | Path = "solutions",
    solution: str | Path | None = None,
    cell_timeout: float = DEFAULT_CELL_TIMEOUT,
    total_timeout: float = DEFAULT_TOTAL_TIMEOUT,
    max_output: int = DEFAULT_MAX_OUTPUT,
    progress=None,
    jobs: int = 1,
    sandbox: str = "auto",
    report: str | Path | None = None,
    gradebook: str | Path | None = None,
    force: bool = False,
    manual: dict[str, dict[str, float]] | None = None,
    manual_source: str = "hand-given",
    shard: tuple[int, int] | None = None,
    feedback: str | Path | None = None,
) -> list[SubmissionResult]:
    """Grade files and folders of submissions, ``jobs`` at a time, each in its own kernel.

    Every submission is matched to its solution first, so a bad name fails before any grading.
    With ``report`` (JSON) and/or ``gradebook`` (CSV), both files are rewritten as each submission
    finishes, and results already in ``report`` for unchanged files are reused (see
    :class:`ResultStore`).

    Args:
        progress: a stream for the progress line (done, rate, time left), e.g. ``sys.stderr``;
            ``None`` for none.
        manual: hand-given scores ``{submission: {grade_id: points}}`` merged into the results.
        shard: ``(K, N)``: grade only the K-th of N slices of the submissions (:func:`shard_of`);
            each result records its place in the whole plan, for :mod:`.merge`.
        feedback: a folder for one HTML feedback page per submission (:mod:`.feedback`).

    Raises:
        FileNotFoundError, ValueError: a path is missing, a submission matches no solution, or
            the sandbox is required but unavailable.
        KernelStartError: no kernel could start (what finished before is saved).
        KeyboardInterrupt: after ending every grading process; what finished is saved.
    """
    if jobs < 1:
        raise ValueError(f"expected --jobs to be at least 1, got {jobs}")
    used = resolve_sandbox(sandbox)
    everything = make_plan(paths, solutions_dir=solutions_dir, solution=solution)
    if manual:
        unknown = sorted(set(manual) - {p.name for p in everything})
        if unknown:
            raise ValueError(f"hand-given scores for {unknown[0]!r}, which is not among the submissions graded")
    places = {p.name: {"k": shard[0], "n": shard[1], "index": i, "of": len(everything)}
              for i, p in enumerate(everything)} if shard else {}
    planned = [p for i, p in enumerate(everything) if shard is None or shard_of(i, shard[1]) == shard[0]]
    order = [p.name for p in planned]
    store = ResultStore(Path(report) if report else None, Path(gradebook) if gradebook else None, force=force,
                        only_planned=shard is not None)
    hide = sorted({(p.root or p.path.parent).resolve() for p in everything} | {Path(solutions_dir).resolve()}
                  | {p.solution.parent.resolve() for p in everything}, key=str)
    sol_sha = {p.solution: file_sha256(p.solution) for p in planned}
    pages = None
    if feedback is not None:
        from course.grading.feedback import FeedbackWriter

        pages = FeedbackWriter(Path(feedback))
    todo = []
    for p in planned:
        hit = store.cached(p.name, file_sha256(p.path), sol_sha[p.solution])
        if hit is not None:
            hit.shard = places.get(p.name)
            store.done[p.name] = hit
        else:
            todo.append(p)
    reporter = Progress(len(planned), progress, reused=len(planned) - len(todo))

    def merge(result: SubmissionResult) -> None:
        if manual and result.submission in manual:
            apply_manual_scores(result, manual[result.submission], manual_source)

    if progress is not None and reporter.reused:
        print(reporter.line("the rest to grade" if todo else "nothing to grade again"), file=progress, flush=True)
    for name in list(store.done):
        merge(store.done[name])
        if pages is not None:
            pages.write(store.done[name])
    if store.report is not None or store.gradebook is not None:
        store.write(order)
    cancelled = threading.Event()

    def work(p):
        result = grade_notebook(p.path, p.solution, cell_timeout=cell_timeout, total_timeout=total_timeout,
                                max_output=max_output, name=p.name, sandbox=used, hide=hide)
        if cancelled.is_set():
            return None
        result.shard = places.get(p.name)
        before = store.previous.get(p.name, {}).get("exercises", [])
        if any(e.get("status") == "graded by hand" for e in before if isinstance(e, dict)):
            result.notes.append("the file changed since it was graded: its hand-given scores were dropped (pending again)")
        merge(result)
        store.record(result, order)
        if pages is not None:
            pages.write(result)
        if progress is not None:
            reporter.update(result)
        return result

    pool = concurrent.futures.ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="course-grade")
    try:
        futures = [pool.submit(work, p) for p in todo]
        pending_f = set(futures)
        while pending_f:
            finished, pending_f = concurrent.futures.wait(pending_f, timeout=0.5,
                                                          return_when=concurrent.futures.FIRST_EXCEPTION)
            for f in finished:
                if f.exception() is not None:
                    raise f.exception()
    except BaseException:
        cancelled.set()
        pool.shutdown(wait=False, cancel_futures=True)
        kill_live_runs()
        pool.shutdown(wait=True)
        raise
    pool.shutdown(wait=True)
    return [store.done[name] for name in order]


def format_table(results: Sequence[SubmissionResult]) -> str:
    """A readable report: one block per submission, one row per graded item, then notes."""
    lines = []
    for r in results:
        lines.append(f"{r.submission}  (solution {r.solution}, {r.seconds:.1f} s, sandbox: {r.sandbox})")
        width = max([len(e.grade_id) for e in r.exercises] + [8])
        for e in r.exercises:
            got = "-" if e.points is None else fmt(e.points)
            pts = f"{got}/{fmt(e.max_points)}"
            lines.append(f"  {e.grade_id:<{width}}  {pts:>7}  {e.status:<11}  {e.reason}".rstrip())
        pending = f"  ({fmt(r.pending)} pending: graded by hand)" if r.pending else ""
        lines.append(f"  {'total':<{width}}  {fmt(r.total) + '/' + fmt(r.max_total):>7}{pending}")
        for note in r.notes:
            lines.append(f"  note: {note}")
        lines.append("")
    if any(r.sandbox == "none" for r in results):
        lines.append("warning: graded without a sandbox: submissions ran with your permissions and could read the "
                     f"solutions (install bubblewrap: {INSTALL_BWRAP}; see the README, For instructors)")
    return "\n".join(lines)
