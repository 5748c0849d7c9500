"""Grading submitted notebooks, one file per stage, in the order a submission goes through them.

1. :mod:`.find`     which files are submissions, which solution each answers, who wrote it, its shard;
2. :mod:`.build`    the notebook that runs: the submission with the solution's full test cells and a guard;
3. :mod:`.sandbox`  the ``bwrap`` command line a kernel starts under;
   :mod:`.run`      a built notebook in a fresh kernel, in a worker subprocess (:mod:`.worker`);
4. :mod:`.score`    points per exercise, with the reason, message and line of each failure;
5. the outputs:     :mod:`.store` (JSON report, CSV gradebook, resume, hand-given scores),
                    :mod:`.feedback` (an HTML page per submission), :mod:`.export` (Canvas),
                    :mod:`.stats` (what the class failed), :mod:`.merge` (shards joined).

:mod:`.results` holds the records they pass along, and :mod:`.batch` grades a whole class (jobs
at a time, or one shard). The names below are what the command line and the tests use.
"""

from course.grading.batch import Progress, default_jobs, format_table, grade_paths
from course.grading.build import GradedNotebook, build_graded_notebook, hidden_lines, solution_imports, visible_test_source
from course.grading.export import read_roster, write_canvas
from course.grading.feedback import FeedbackWriter, render_page
from course.grading.find import collect_submissions, match_solution, parse_shard, plan, shard_of, student_key
from course.grading.merge import merge_reports
from course.grading.results import ExerciseResult, SubmissionResult, file_sha256, summary
from course.grading.run import KernelStartError, kill_live_runs, run_graded_notebook
from course.grading.sandbox import bwrap_problem, resolve_sandbox, sandbox_prefix
from course.grading.score import grade_notebook
from course.grading.stats import class_stats, format_stats
from course.grading.store import apply_manual_scores, read_manual_scores, read_report, write_csv, write_report

__all__ = [
    "ExerciseResult", "FeedbackWriter", "GradedNotebook", "KernelStartError", "Progress", "SubmissionResult",
    "apply_manual_scores", "build_graded_notebook", "bwrap_problem", "class_stats", "collect_submissions",
    "default_jobs", "file_sha256", "format_stats", "format_table", "grade_notebook", "grade_paths", "hidden_lines",
    "kill_live_runs", "match_solution", "merge_reports", "parse_shard", "plan", "read_manual_scores", "read_report",
    "read_roster", "render_page", "resolve_sandbox", "run_graded_notebook", "sandbox_prefix", "shard_of",
    "solution_imports", "student_key", "summary", "visible_test_source", "write_canvas", "write_csv", "write_report",
]
