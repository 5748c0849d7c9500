"""Command line of the course: ``python -m course <command>`` (also installed as ``course``).

Commands (run from the repository root):

  execute NB...        run notebooks in a fresh kernel and store their outputs (nbval reference)
  release              regenerate exercises/ from solutions/;  --check: fail if stale or leaking
  check NOTEBOOK       run a notebook's visible tests in a fresh kernel (for students, before handing in)
  grade SUB... [DIR]   grade submissions with the hidden tests; --csv PATH, --jobs N, --sandbox,
                       --manual SCORES.csv (hand-given scores of written answers), --feedback DIR,
                       --canvas PATH [--roster CSV], --shard K/N (one slice, for a cluster)
  merge REPORT...      join the reports of --shard runs into one gradebook and report (--csv PATH)
  stats REPORT         what the class got right and wrong, per exercise, from a JSON report
  list                 the syllabus: lectures, status, exercises and points
  gpu-size [NB...]     run lectures 2, 4, 5, 6 in their GPU configuration (COURSE_SIZE=gpu), on copies
  hosted [--check]     write the install cell of every lecture and solution, and lectures 5 and 6's GPU metadata

Exit status: 0 on success (for grade: grading ran, whatever the scores; for check: every visible
test passed), 1 when release --check finds a problem, release refuses to overwrite an edited file,
or check finds a visible test failing, 2 on a user error or when no kernel can start, 130 when
grading was interrupted (what finished is saved; the same command resumes).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Sequence


class _UserError(Exception):
    """A mistake in the command line or the files it names: one line on stderr, exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse would exit itself; we return 2 from main
        raise _UserError(f"{self.prog}: error: {message}")


def _cmd_execute(args: argparse.Namespace) -> int:
    from course.execute import execute_notebook

    for path in args.notebooks:
        t0 = time.perf_counter()
        execute_notebook(path, timeout=args.timeout)
        print(f"executed {path} in {time.perf_counter() - t0:.1f} s")
    return 0


def _cmd_release(args: argparse.Namespace) -> int:
    from course import release

    if args.check:
        problems = release.check(args.source, args.dest)
        for line in problems:
            print(line, file=sys.stderr)
        if problems:
            print(f"course release --check: {len(problems)} problem(s); run `python -m course release` "
                  "and make sure no solution code is outside the markers", file=sys.stderr)
            return 1
        print(f"{args.dest} is up to date with {args.source}, and leaks no solution")
        return 0
    result = release.release(args.source, args.dest, force=args.force)
    for path, why in result.refused:
        print(f"course release: refusing to overwrite {path}: {why}; pass --force to overwrite it "
              "(or move the file away first)", file=sys.stderr)
    if result.refused:
        return 1
    for path in result.written:
        print(f"wrote {path}")
    for path in result.removed:
        print(f"removed {path} (its solution notebook is gone)")
    for path in result.kept:
        print(f"kept {path}: it has no solution notebook but was edited; remove it by hand", file=sys.stderr)
    print(f"released {len(result.written) + len(result.unchanged)} notebook(s) "
          f"({len(result.written)} written, {len(result.unchanged)} unchanged)")
    return 0


def _canvas_options(args: argparse.Namespace):
    """The roster and assignment titles of --canvas (read before grading, so a bad file fails first)."""
    from course.grading import export

    if not args.canvas:
        if args.roster or args.canvas_assignment:
            raise _UserError(f"course {args.command}: error: --roster and --canvas-assignment need --canvas PATH")
        return None, None
    roster = export.read_roster(args.roster) if args.roster else None
    return roster, export.parse_titles(args.canvas_assignment or [])


def _write_canvas(args: argparse.Namespace, results, roster, titles) -> None:
    from course.grading import export

    info = export.write_canvas(results, args.canvas, roster, titles)
    for line in export.describe_export(info, args.canvas):
        print(line, file=sys.stderr if line.startswith("warning") else sys.stdout)


def _cmd_grade(args: argparse.Namespace) -> int:
    from pathlib import Path

    from course import grading

    for name in ("cell_timeout", "timeout"):
        if getattr(args, name) <= 0:
            raise _UserError(f"course grade: error: --{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    jobs = args.jobs if args.jobs is not None else grading.default_jobs()
    if jobs < 1:
        raise _UserError(f"course grade: error: --jobs must be at least 1, got {jobs}")
    shard = grading.parse_shard(args.shard) if args.shard else None
    report = args.report or (str(Path(args.csv).with_suffix(".json")) if args.csv else None)
    if shard and not report:
        raise _UserError("course grade: error: --shard needs --report PATH (or --csv PATH): each shard writes its own "
                         "report for `course merge`")
    manual = grading.read_manual_scores(args.manual) if args.manual else None
    roster, titles = _canvas_options(args)
    progress = None if args.json or args.quiet else sys.stderr
    try:
        results = grading.grade_paths(
            args.submissions,
            solutions_dir=args.solutions,
            solution=args.solution,
            cell_timeout=args.cell_timeout,
            total_timeout=args.timeout,
            max_output=args.max_output,
            progress=progress,
            jobs=jobs,
            sandbox=args.sandbox,
            report=report,
            gradebook=args.csv,
            force=args.force,
            manual=manual,
            manual_source=Path(args.manual).name if args.manual else "hand-given",
            shard=shard,
            feedback=args.feedback,
        )
    except KeyboardInterrupt:
        saved = f"; what finished is saved in {' and '.join(p for p in (args.csv, report) if p)}" if report else ""
        print(f"\ncourse grade: interrupted{saved}; run the same command again to grade the rest", file=sys.stderr)
        return 130
    except grading.KernelStartError as exc:
        raise _UserError(f"course grade: error: {exc}") from None
    if args.json:
        print(json.dumps([r.to_dict() for r in results], indent=1))
    else:
        print(grading.format_table(results))
        if args.csv:
            print(f"gradebook written to {args.csv} (full report: {report})")
        if shard:
            print(f"shard {shard[0]}/{shard[1]}: {len(results)} submission(s); join the shards' reports with "
                  f"`python -m course merge REPORT... --csv gradebook.csv`")
        if args.feedback:
            print(f"feedback pages written to {args.feedback}/ (one per submission)")
    if args.canvas:
        _write_canvas(args, results, roster, titles)
    return 0


def _cmd_merge(args: argparse.Namespace) -> int:
    from pathlib import Path

    from course import grading

    roster, titles = _canvas_options(args)
    results = grading.merge_reports(args.reports, partial=args.partial)
    report = args.report or str(Path(args.csv).with_suffix(".json"))
    if any(Path(report).resolve() == Path(p).resolve() for p in args.reports):
        raise _UserError(f"course merge: error: the merged report would overwrite {report}, one of the shards' "
                         "reports; pass --report PATH")
    grading.write_csv(results, args.csv)
    grading.write_report(results, report)
    if args.feedback:
        pages = grading.FeedbackWriter(Path(args.feedback))
        for r in results:
            pages.write(r)
    print(f"merged {len(args.reports)} report(s), {len(results)} submission(s): gradebook {args.csv}, report {report}"
          + (f", feedback pages in {args.feedback}/" if args.feedback else ""))
    if args.canvas:
        _write_canvas(args, results, roster, titles)
    return 0


def _cmd_stats(args: argparse.Namespace) -> int:
    from course import grading

    if args.top < 1:
        raise _UserError(f"course stats: error: --top must be at least 1, got {args.top}")
    results = grading.read_report(args.report)
    if not results:
        raise _UserError(f"course stats: error: {args.report} holds no submission")
    print(grading.format_stats(results, top=args.top), end="")
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from course import check

    for name in ("cell_timeout", "timeout"):
        if getattr(args, name) <= 0:
            raise _UserError(f"course check: error: --{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    try:
        report = check.check_notebook(args.notebook, cell_timeout=args.cell_timeout, total_timeout=args.timeout)
    except check.KernelStartError as exc:
        raise _UserError(f"course check: error: {exc}") from None
    except KeyboardInterrupt:
        print("\ncourse check: interrupted", file=sys.stderr)
        return 130
    print(check.format_check(report))
    return 0 if report.ok else 1


def _cmd_gpu_size(args: argparse.Namespace) -> int:
    from course import gpu_size

    return gpu_size.main(args.notebooks, json_path=args.json, timeout=args.timeout, keep=args.keep)


def _cmd_hosted(args: argparse.Namespace) -> int:
    from course import hosted

    changed = hosted.sync(args.notebooks, check=args.check)
    url = hosted.repository_url() or "(none configured)"
    if args.check:
        for path in changed:
            print(f"{path}: install cell or GPU metadata out of step with pyproject.toml (repository {url}); "
                  "run `python -m course hosted`", file=sys.stderr)
        return 1 if changed else 0
    for path in changed:
        print(f"wrote {path}")
    print(f"install cells and GPU metadata are in step with pyproject.toml (repository {url})")
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from course.syllabus import format_syllabus, load_syllabus

    print(format_syllabus(load_syllabus(), root=args.root))
    return 0


def _add_canvas_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--canvas", metavar="PATH", help="also write the gradebook as a CSV that Canvas imports (Grades > "
                   "Import): one row per student, one column per notebook")
    p.add_argument("--roster", metavar="CSV", help="students for --canvas: a gradebook exported from Canvas (or a CSV "
                   "with Student, ID, SIS User ID, SIS Login ID, Section); a submission's student comes from its name")
    p.add_argument("--canvas-assignment", metavar="STEM=TITLE", action="append",
                   help="the Canvas assignment of a notebook, e.g. 01_linear_regression='Lecture 1 exercises (12345)' "
                   "(12345: its id in Canvas); default 'Lecture N exercises'")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m course``."""
    parser = _Parser(prog="course", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("execute", help="execute notebooks in place and store their outputs (nbval reference)")
    p.add_argument("notebooks", nargs="+")
    p.add_argument("--timeout", type=int, default=600, help="seconds per cell (default 600)")
    p.set_defaults(func=_cmd_execute)

    p = sub.add_parser("release", help="regenerate exercises/ from solutions/ (or --check it)")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if exercises/ is stale or leaks a solution")
    p.add_argument("--force", action="store_true", help="overwrite exercise notebooks edited since their release")
    p.add_argument("--source", default="solutions", help="folder of solution notebooks (default solutions)")
    p.add_argument("--dest", default="exercises", help="folder of exercise notebooks (default exercises)")
    p.set_defaults(func=_cmd_release)

    p = sub.add_parser("grade", help="grade submitted notebooks with the hidden tests")
    p.add_argument("submissions", nargs="+", help="submitted notebooks and/or folders of them")
    p.add_argument("--solutions", default="solutions", help="folder of solution notebooks to match against (default solutions)")
    p.add_argument("--solution", help="grade every submission against this solution notebook")
    p.add_argument("--cell-timeout", type=float, default=120.0, help="seconds per cell (default 120)")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per submission, all cells (default 600)")
    p.add_argument("--max-output", type=int, default=100_000, help="characters of output kept per cell (default 100000)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--csv", metavar="PATH", help="also write a CSV gradebook (one row per submission), updated as each "
                   "submission finishes; the full report goes next to it (PATH with .json) unless --report says where")
    p.add_argument("--report", metavar="PATH", help="write the full JSON report to PATH as each submission finishes; "
                   "a rerun reuses its results for unchanged files")
    p.add_argument("--force", action="store_true", help="grade everything again, even files unchanged since the last run")
    p.add_argument("-j", "--jobs", type=int, default=None,
                   help="submissions graded at once, each in its own kernel (default: one per two cores)")
    p.add_argument("--sandbox", choices=["auto", "require", "off"], default="auto",
                   help="run kernels under bubblewrap: auto (when installed), require (fail without it), off")
    p.add_argument("--manual", metavar="SCORES.csv", help="merge hand-given scores of written answers (a CSV with a "
                   "submission column and one column per written answer's grade id) into the gradebook")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    p.add_argument("--feedback", metavar="DIR", help="write one HTML feedback page per submission into DIR (for the "
                   "students: points, failed tests with their message and visible part; never hidden tests or solutions)")
    p.add_argument("--shard", metavar="K/N", help="grade only the K-th of N slices of the submissions (K from 1; the "
                   "same slices on every machine), for a job array; join the shards with `course merge`")
    _add_canvas_options(p)
    p.set_defaults(func=_cmd_grade)

    p = sub.add_parser("check", help="run a notebook's visible tests in a fresh kernel, before handing it in")
    p.add_argument("notebook", help="your exercise notebook (it is copied, never changed)")
    p.add_argument("--cell-timeout", type=float, default=600.0, help="seconds per cell (default 600)")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds for the whole notebook (default 1800)")
    p.set_defaults(func=_cmd_check)

    p = sub.add_parser("merge", help="join the JSON reports of `grade --shard` runs into one gradebook and report")
    p.add_argument("reports", nargs="+", metavar="REPORT.json", help="the shards' reports")
    p.add_argument("--csv", metavar="PATH", required=True, help="the merged gradebook")
    p.add_argument("--report", metavar="PATH", help="the merged JSON report (default: next to --csv, with .json)")
    p.add_argument("--partial", action="store_true", help="merge even when a shard is missing")
    p.add_argument("--feedback", metavar="DIR", help="also write the feedback pages of every submission into DIR")
    _add_canvas_options(p)
    p.set_defaults(func=_cmd_merge)

    p = sub.add_parser("stats", help="per exercise: mean, full marks, the most common failures, what did not run")
    p.add_argument("report", metavar="REPORT.json", help="a report of course grade (--report, or next to --csv)")
    p.add_argument("--top", type=int, default=3, help="failure messages shown per exercise (default 3)")
    p.set_defaults(func=_cmd_stats)

    p = sub.add_parser("gpu-size", help="run lectures 2, 4, 5 and 6 at GPU size on copies, on any backend")
    p.add_argument("notebooks", nargs="*", help="lecture notebooks (default: lectures 2, 4, 5 and 6)")
    p.add_argument("--json", metavar="PATH", help="also write backend, dtype, parameters and times as JSON")
    p.add_argument("--timeout", type=int, default=1800, help="seconds per cell (default 1800)")
    p.add_argument("--keep", metavar="DIR", help="write the executed copies, with what they printed, to DIR")
    p.set_defaults(func=_cmd_gpu_size)

    p = sub.add_parser("hosted", help="write the hosted-notebook install cell (and lectures 5-6's GPU metadata) from pyproject.toml")
    p.add_argument("notebooks", nargs="*", help="notebooks (default: every lecture and solution NN_topic.ipynb)")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if a notebook is out of step")
    p.set_defaults(func=_cmd_hosted)

    p = sub.add_parser("list", help="the syllabus: lectures, status, exercises and points")
    p.add_argument("--root", default=".", help="repository root holding solutions/ (default .)")
    p.set_defaults(func=_cmd_list)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (0 ok, 1 check failed/refused, 2 user error)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except _UserError as exc:
        print(str(exc).splitlines()[0], file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else 0
    import signal
    import threading

    def _terminate(signum, frame):  # a polite kill (SIGTERM) stops like Ctrl-C: nothing graded is lost
        raise KeyboardInterrupt

    previous = None
    if args.command in ("grade", "check") and threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return args.func(args)
    except _UserError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except (FileNotFoundError, ValueError, IsADirectoryError, PermissionError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"course {args.command}: error: {message}", file=sys.stderr)
        return 2
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
