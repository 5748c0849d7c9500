"""``python -m course grade``: matching, building, and one real crafted submission per robustness case.

The crafted submissions live in tests/data/course/submissions/ (one per case, named after it).
One folder run grades them all, plus the solution and the untouched released exercise, in the
same run, writing feedback pages too: each case's test then reads its row (and its page), which
also shows the cases do not affect each other. ``course stats`` reads the same run's report.
"""

import csv
import json
import re
import shutil
import time
from pathlib import Path

import nbformat
import pytest

from course import grading as grade
from course.grading import build
from course.grading import run as grading_run
from course.grading import score as grading_score
from course import notebooks as nbk
from course.cli import main
from course.release import release_notebook
from feedback_leaks import leaks, secret_lines

DATA = Path(__file__).parent / "data" / "course"
SOLUTIONS = DATA / "solutions"
SOLUTION = SOLUTIONS / "01_tiny.ipynb"
SUBMISSIONS = DATA / "submissions"
# a crafted case runs into the cell limit; a test cell of the tiny fixture takes well under a second alone, and up
# to 5 s on two cores loaded 4 times over (12 failed at 5 s beside two graders and make test, 2026-12-07)
CELL_TIMEOUT = 15
TOTAL_TIMEOUT = 60
FULL = {"ex1_tests": 2, "ex2_tests": 3, "ex3_tests": 1}  # autograded; ex3_written (1 point) is graded by hand


def _limits():
    return ["--cell-timeout", str(CELL_TIMEOUT), "--timeout", str(TOTAL_TIMEOUT)]


@pytest.fixture(scope="module")
def folder_run(tmp_path_factory):
    """Grade every crafted submission, the solution and the untouched exercise in one folder run.

    One at a time: the crafted cases run into 15-second cell limits, which a loaded machine
    running two kernels at once can reach by itself (test_grade_resume.py covers --jobs 2)."""
    folder = tmp_path_factory.mktemp("submissions")
    shutil.copytree(SUBMISSIONS, folder, dirs_exist_ok=True)
    shutil.copy(SOLUTION, folder / "solution_01_tiny.ipynb")
    released = release_notebook(nbformat.read(SOLUTION, as_version=4), "01_tiny")
    (folder / "untouched_01_tiny.ipynb").write_text(nbk.dumps(released), encoding="utf-8")
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.rglob("*.ipynb")}
    gradebook = folder.parent / "gradebook.csv"
    feedback = folder.parent / "feedback"
    import contextlib
    import io

    out = io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(out):
        status = main(["grade", str(folder), "--solutions", str(SOLUTIONS), *_limits(), "--jobs", "1", "--json",
                       "--csv", str(gradebook), "--feedback", str(feedback)])
    wall = time.perf_counter() - t0
    report = json.loads(out.getvalue())
    return {
        "status": status, "report": report, "by_name": {r["submission"]: r for r in report},
        "folder": folder, "before": before, "csv": gradebook, "wall": wall, "feedback": feedback,
        "json": gradebook.with_suffix(".json"),
    }


def _row(folder_run, name):
    r = folder_run["by_name"][name]
    return r, {e["grade_id"]: e for e in r["exercises"]}


def _points(ex, written=False):
    return {g: e["points"] for g, e in ex.items() if written or g in FULL}


@pytest.mark.slow
def test_folder_run_exits_zero_and_grades_everything(folder_run):
    assert folder_run["status"] == 0
    names = set(folder_run["by_name"])
    assert {"solution_01_tiny.ipynb", "untouched_01_tiny.ipynb", "bob/01_tiny.ipynb", "loop_01_tiny.ipynb"} <= names
    assert len(names) == len(list(folder_run["folder"].rglob("*.ipynb")))
    for r in folder_run["report"]:
        assert r["max_total"] == sum(FULL.values()) + 1
        assert r["seconds"] < TOTAL_TIMEOUT + 30, r["submission"]  # each within its time limit
        for e in r["exercises"]:
            assert set(e) == {"grade_id", "points", "max_points", "status", "reason", "message", "line", "hidden",
                              "seconds"}
            if e["grade_id"] == "ex3_written":
                assert e["status"] in ("pending", "not answered", "invalid"), e
                assert e["seconds"] is None, e  # graded by hand: nothing ran
                continue
            if e["status"] == "passed":  # the test cell ran: its wall time, within the cell limit
                assert 0 < e["seconds"] < CELL_TIMEOUT + 5, e
            assert (e["points"] == e["max_points"]) == (e["status"] == "passed")
            assert e["status"] == "passed" or e["reason"], e


@pytest.mark.slow
def test_solution_gets_full_marks(folder_run):
    r, ex = _row(folder_run, "solution_01_tiny.ipynb")
    assert _points(ex, written=True) == {**FULL, "ex3_written": None} and r["total"] == 6
    assert r["pending"] == 1 and ex["ex3_written"]["status"] == "pending"


@pytest.mark.slow
def test_untouched_exercise_gets_zero_without_crashing(folder_run):
    r, ex = _row(folder_run, "untouched_01_tiny.ipynb")
    assert r["total"] == 0 and r["pending"] == 0  # as nbgrader: an unanswered written answer scores 0
    assert ex["ex3_written"]["status"] == "not answered"
    for g in FULL:
        assert ex[g]["status"] == "failed" and ex[g]["reason"].startswith("NotImplementedError"), ex[g]


@pytest.mark.slow
def test_infinite_loop_times_out_and_the_rest_is_graded(folder_run):
    r, ex = _row(folder_run, "loop_01_tiny.ipynb")
    assert _points(ex) == {"ex1_tests": 2, "ex2_tests": 0, "ex3_tests": 1}
    assert f"timed out after {CELL_TIMEOUT} s" in ex["ex2_tests"]["reason"]
    assert any("restarted the kernel" in n for n in r["notes"])


@pytest.mark.slow
def test_sys_exit_is_an_ordinary_error(folder_run):
    r, ex = _row(folder_run, "sysexit_01_tiny.ipynb")
    assert _points(ex) == {"ex1_tests": 0, "ex2_tests": 3, "ex3_tests": 1}
    assert ex["ex1_tests"]["reason"] == "SystemExit: giving up"
    assert any("SystemExit" in n and "grading went on" in n for n in r["notes"])


@pytest.mark.slow
def test_os_exit_kills_the_kernel_and_grading_goes_on(folder_run):
    r, ex = _row(folder_run, "osexit_01_tiny.ipynb")
    assert _points(ex) == {"ex1_tests": 2, "ex2_tests": 0, "ex3_tests": 1}
    assert "the kernel died" in ex["ex2_tests"]["reason"]


@pytest.mark.slow
def test_kernel_crash_in_a_test_scores_zero_there_only(folder_run):
    r, ex = _row(folder_run, "crash_01_tiny.ipynb")
    assert _points(ex) == {"ex1_tests": 0, "ex2_tests": 3, "ex3_tests": 1}
    assert ex["ex1_tests"]["status"] == "kernel died"
    assert any("the kernel died" in n and "restarted" in n for n in r["notes"])


@pytest.mark.slow
def test_errors_in_non_exercise_cells_are_recorded_and_do_not_stop_grading(folder_run):
    r, ex = _row(folder_run, "raises_01_tiny.ipynb")
    assert _points(ex) == FULL
    assert any("ZeroDivisionError: division by zero" in n for n in r["notes"])
    assert any("ValueError: student scratch" in n for n in r["notes"])


@pytest.mark.slow
def test_deleted_test_cell_is_put_back_after_its_answer(folder_run):
    # The submission redefines gram() wrongly at the very end: only a test put back right after
    # the answer cell (not at the end) sees the right gram.
    r, ex = _row(folder_run, "deleted_01_tiny.ipynb")
    assert _points(ex) == FULL
    assert any("'ex2_tests' was missing" in n for n in r["notes"])


@pytest.mark.slow
def test_edited_visible_test_is_replaced_by_the_solution_tests(folder_run):
    r, ex = _row(folder_run, "edited_01_tiny.ipynb")
    assert _points(ex) == {"ex1_tests": 0, "ex2_tests": 3, "ex3_tests": 1}
    assert ex["ex1_tests"]["reason"].startswith("AssertionError")


@pytest.mark.slow
def test_patching_the_grading_names_does_not_help(folder_run):
    r, ex = _row(folder_run, "patched_01_tiny.ipynb")
    assert _points(ex) == {"ex1_tests": 0, "ex2_tests": 0, "ex3_tests": 1}
    assert ex["ex1_tests"]["reason"].startswith("AssertionError")


def _unreported(graded, cwd=None, **kw):
    """course grade's run of a built notebook without its check that the guard reported after each test cell."""
    return grading_run.run_notebook(graded.nb, tests=sorted(graded.test_index.values()), cwd=cwd, **kw)


def _points_without(guard_lines, submission, monkeypatch, tmp_path, report=False):
    """Points per exercise when the grader's guard runs without some of its lines (what they stop: one
    line, or the lines of the layers that each stop the same route). The grader's own check that the
    guard reported at the end of each test cell (``report``) is left out unless asked for: it would
    stop every route whose guard lines are removed with the end-of-cell check."""
    guard = build.GUARD.read_text(encoding="utf-8")
    for guard_line in (guard_lines,) if isinstance(guard_lines, str) else guard_lines:
        assert guard.count(guard_line) == 1, guard_line
        guard = guard.replace(guard_line, "")
    (tmp_path / "_guard.py").write_text(guard, encoding="utf-8")
    monkeypatch.setattr(build, "GUARD", tmp_path / "_guard.py")
    if not report:
        monkeypatch.setattr(grading_score, "run_graded_notebook", _unreported)
    r = grade.grade_notebook(SUBMISSIONS / submission, SOLUTION, cell_timeout=CELL_TIMEOUT, total_timeout=TOTAL_TIMEOUT)
    return {e.grade_id: e.points for e in r.exercises}


@pytest.mark.slow
def test_patching_while_the_test_runs_scores_zero_there(folder_run):
    """An answer that patches numpy when it is called (inside its test cell, after the guard restored
    everything) fails that test cell, also when the patch undoes itself; the other exercises keep
    their points."""
    r, ex = _row(folder_run, "incall_01_tiny.ipynb")
    assert _points(ex) == {"ex1_tests": 2, "ex2_tests": 0, "ex3_tests": 0}
    # the guard compares numpy with its genuine functions after each call of the answer and puts them back
    # at once, so the test's own assert runs genuine and fails on the wrong value (before the end-of-cell
    # check, which would name the patch: test_without_the_end_of_cell_check_the_in_call_patch_would_cheat)
    for grade_id in ("ex2_tests", "ex3_tests"):
        assert ex[grade_id]["reason"].startswith(("AssertionError: Not equal to tolerance",
                                                  "AssertionError: tampering: numpy.testing.assert_allclose"))


@pytest.mark.slow
def test_without_the_end_of_cell_check_the_in_call_patch_would_cheat(monkeypatch, tmp_path):
    """incall_01_tiny.ipynb scores full marks with the guard's restore alone: the check at the end of
    each test cell, and the comparison after each call of the answer, are what stop it."""
    points = _points_without(("    ip.ast_transformers.append(_AppendCheck())\n", "    _CALL_WATCH[:] = _watch_list(names)\n"),
                             "incall_01_tiny.ipynb", monkeypatch, tmp_path)
    assert {g: p for g, p in points.items() if g in FULL} == FULL


@pytest.mark.slow
def test_a_test_cell_without_the_guards_report_scores_zero(monkeypatch, tmp_path):
    """The grader counts a test cell as passed only if the guard printed, after its last statement, an
    HMAC of the cell with a key made for the run: a guard whose end-of-cell check never ran (here,
    taken out) reports nothing, and every test cell fails, the solution's too."""
    points = _points_without("    ip.ast_transformers.append(_AppendCheck())\n", "incall_01_tiny.ipynb",
                             monkeypatch, tmp_path, report=True)
    assert {g: p for g, p in points.items() if g in FULL} == {g: 0 for g in FULL}
    r = grade.grade_notebook(SOLUTION, SOLUTION, cell_timeout=CELL_TIMEOUT, total_timeout=TOTAL_TIMEOUT)
    assert {e.grade_id: e.points for e in r.exercises if e.grade_id in FULL} == {g: 0 for g in FULL}
    assert all("did not report" in e.reason for e in r.exercises if e.grade_id in FULL)


def test_a_forged_report_or_none_fails_the_test_cell():
    """What the worker counts: a test cell whose reply is "ok" passes only with the report made with
    the run's key; none, or one in the right form made without the key, fails it."""
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_code_cell("print('[course-grader:' + '0' * 64 + ']')"),
        nbformat.v4.new_code_cell("y = 2"),
    ])
    state = grading_run.run_notebook(nb, tests=[0, 1], guarded=True, cell_timeout=60, total_timeout=120)
    cells = state["cells"]
    assert [cells[k]["status"] for k in "012"] == ["error", "error", "ok"], cells
    assert cells["0"]["ename"] == cells["1"]["ename"] == "GraderCheck"


@pytest.mark.slow
def test_the_key_is_gone_before_the_submission_runs(tmp_path):
    """The guard reads the run's key and deletes its file before the submission's first cell: the
    submission finds neither the file nor its name in the environment, nor the guard's own cell (which
    holds every test cell's text) in the input history; and the solution keeps full marks."""
    nb = nbformat.read(SOLUTION, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(
        "import glob, os\n"
        "assert 'COURSE_GRADER_KEY' not in os.environ\n"
        "assert not glob.glob(os.path.join(os.environ.get('TMPDIR', '/tmp'), 'course-grader-key*'))\n"
        "boot = '_course_grader' + '_boot'  # the guard's cell holds every test cell's text: not in the history\n"
        "assert not any(boot in str(v) for v in [*In, *_ih, *(v for k, v in globals().items() if k.startswith('_i'))])"))
    sub = tmp_path / "keyless_01_tiny.ipynb"
    nbformat.write(nb, sub)
    r = grade.grade_notebook(sub, SOLUTION, cell_timeout=60, total_timeout=300)
    assert {e.grade_id: e.points for e in r.exercises if e.grade_id in FULL} == FULL
    assert not r.notes or not any("AssertionError" in n for n in r.notes), r.notes


@pytest.mark.slow
def test_a_self_restoring_code_patch_is_caught(folder_run):
    """codepatch_01_tiny.ipynb gives numpy's assert_allclose code that checks nothing and puts the
    genuine code back on its one call: by the end of the cell nothing looks replaced, but the write
    to __code__ during the cell was recorded."""
    r, ex = _row(folder_run, "codepatch_01_tiny.ipynb")
    assert _points(ex)["ex2_tests"] == 0
    assert ex["ex2_tests"]["reason"].startswith("AssertionError: tampering: the __code__ of numpy.testing")


@pytest.mark.slow
def test_without_the_audit_hook_the_self_restoring_code_patch_would_cheat(monkeypatch, tmp_path):
    points = _points_without("    _sys.addaudithook(_audit)\n", "codepatch_01_tiny.ipynb", monkeypatch, tmp_path)
    assert points["ex2_tests"] == FULL["ex2_tests"]


@pytest.mark.slow
def test_reading_the_running_test_cell_does_not_help(folder_run):
    """source_01_tiny.ipynb's answer reads the test cell it runs in (In, _ih, _i<n>, the history cache,
    the line cache, the kernel's request) and evaluates the reference next to its own call: while a
    test cell runs, the guard has blanked all of them."""
    r, ex = _row(folder_run, "source_01_tiny.ipynb")
    # (it also reads its caller's frame, now refused: either stops it)
    reason = ex["ex1_tests"]["reason"]
    assert _points(ex)["ex1_tests"] == 0
    assert reason.startswith("AssertionError") or "the grader refuses the submission's code sys._getframe" in reason


@pytest.mark.slow
def test_without_hiding_the_source_the_reading_answer_would_cheat(monkeypatch, tmp_path):
    # the answer reads its caller's frame too: called through the guard's watch, that is the watch's; and
    # the guard refuses it a frame
    points = _points_without(("    _hide_source(_RAW[0])\n", "            ns[name] = _wrap_answer(f)\n",
                              "            why = _refusal(event, args)\n"), "source_01_tiny.ipynb", monkeypatch, tmp_path)
    assert points["ex1_tests"] == FULL["ex1_tests"]


@pytest.mark.slow
def test_megabytes_of_output_are_truncated(folder_run):
    r, ex = _row(folder_run, "bigprint_01_tiny.ipynb")
    assert _points(ex) == FULL
    assert any("truncated" in n for n in r["notes"])
    assert len(json.dumps(r)) < 10_000


@pytest.mark.slow
def test_a_failure_records_its_message_and_line(folder_run):
    """The report holds, per test cell, the full message and where in the cell it failed (visible or hidden)."""
    _, ex = _row(folder_run, "edited_01_tiny.ipynb")
    e = ex["ex1_tests"]
    assert (e["line"], e["hidden"]) == (1, False)  # the visible assert_allclose
    assert "Mismatched elements" in e["message"] and e["reason"].startswith("AssertionError: Not equal")
    r, ex = _row(folder_run, "hidden_01_tiny.ipynb")  # right for 2-vectors: the visible test passes
    assert _points(ex) == {"ex1_tests": 0, "ex2_tests": 3, "ex3_tests": 1}
    assert (ex["ex1_tests"]["line"], ex["ex1_tests"]["hidden"]) == (5, True)
    _, ex = _row(folder_run, "untouched_01_tiny.ipynb")
    assert ex["ex2_tests"]["message"].startswith("NotImplementedError") and ex["ex2_tests"]["hidden"] is False


@pytest.mark.slow
def test_invalid_json_scores_zero_with_a_reason(folder_run):
    r, ex = _row(folder_run, "invalid_01_tiny.ipynb")
    assert r["total"] == 0
    assert all(e["status"] == "invalid" and "not a valid notebook: not JSON" in e["reason"] for e in ex.values())


@pytest.mark.slow
def test_added_and_moved_cells(folder_run):
    r, ex = _row(folder_run, "bob/01_tiny.ipynb")
    assert _points(ex) == FULL
    assert any("'ex3_tests' sits above its answer cells" in n for n in r["notes"])


@pytest.mark.slow
def test_submissions_are_never_modified(folder_run):
    for path, (data, mtime) in folder_run["before"].items():
        assert path.read_bytes() == data and path.stat().st_mtime_ns == mtime, path
    assert sorted(folder_run["folder"].rglob("*")) == sorted(
        set(folder_run["before"]) | {p for p in folder_run["folder"].rglob("*") if p.is_dir()})


@pytest.mark.slow
def test_csv_gradebook_matches_the_report(folder_run):
    with open(folder_run["csv"], newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["submission", "solution", "ex1_tests", "ex2_tests", "ex3_written", "ex3_tests", "total",
                             "pending", "max_total"]
    assert [r["submission"] for r in rows] == [r["submission"] for r in folder_run["report"]]
    for row in rows:
        r, ex = _row(folder_run, row["submission"])
        written = 0.0 if row["ex3_written"] == "pending" else float(row["ex3_written"])
        assert float(row["total"]) == r["total"] == sum(float(row[g]) for g in FULL) + written
        assert {g: float(row[g]) for g in FULL} == _points(ex)
        assert float(row["pending"]) == r["pending"] == (1 if row["ex3_written"] == "pending" else 0)


@pytest.mark.slow
def test_feedback_pages_show_points_and_failures_and_no_secret(folder_run):
    pages = {p.relative_to(folder_run["feedback"]).as_posix(): p.read_text() for p in folder_run["feedback"].rglob("*.html")}
    assert set(pages) == {n.replace(".ipynb", ".html") for n in folder_run["by_name"]}  # one per submission, bob/ too
    secrets = secret_lines(nbformat.read(SOLUTION, as_version=4))
    assert len(secrets) >= 8
    for name, page in pages.items():
        assert not leaks(page, secrets), (name, leaks(page, secrets))
    sol = pages["solution_01_tiny.html"]
    assert "Total: 6 / 7 points (1 still to be graded by hand)" in sol and sol.count("passed (visible and hidden tests)") == 3
    edited = pages["edited_01_tiny.html"]
    assert "Mismatched elements: 1 / 1" in edited and "It failed at line 2 of the test cell in your notebook" in edited
    assert '<span class="bad"><span class="num">2</span>assert_allclose(square_norm(np.array([3.0, 4.0])), 25.0)' in edited
    hidden = pages["hidden_01_tiny.html"]
    assert "The failure is in the hidden tests" in hidden and 'class="bad"' not in hidden and "line 5" not in hidden
    # nor the hidden test's expected values, which a resubmission could hard-code
    assert "DESIRED" not in hidden and "Mismatched elements" not in hidden and "it may quote the hidden test" in hidden
    untouched = pages["untouched_01_tiny.html"]
    assert untouched.count("not answered (the answer cell still raises NotImplementedError)") == 6  # table and sections
    assert "The answer was left as released, so it scores 0." in untouched
    assert "no sandbox" not in "".join(pages.values())  # notes for the instructor stay out
    raises = pages["raises_01_tiny.html"]
    assert "ZeroDivisionError: division by zero" in raises  # the student's own cells


@pytest.mark.slow
def test_class_statistics_from_the_report(folder_run, capsys):
    capsys.readouterr()
    assert main(["stats", str(folder_run["json"]), "--top", "10"]) == 0
    out = capsys.readouterr().out
    n = len(folder_run["report"])
    assert out.startswith(f"01_tiny: {n} submission(s)\n")
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ex")}
    scores = [r_ex["points"] for r in folder_run["report"] for r_ex in r["exercises"] if r_ex["grade_id"] == "ex1_tests"]
    assert f"{sum(scores) / n:.2f}" in rows["ex1_tests"] and f"{scores.count(2)}/{n}" in rows["ex1_tests"]
    assert "pending (graded by hand)" in rows["ex3_written"]
    assert re.search(r"\d+ x  NotImplementedError \[visible tests, line 1\]", out)  # the untouched one, normalised
    assert "AssertionError: Not equal to tolerance rtol=#, atol=# [hidden tests, line 5]" in out
    failed_to_run = out.split("failed to run")[1]
    for name in ("invalid_01_tiny.ipynb", "loop_01_tiny.ipynb", "crash_01_tiny.ipynb", "osexit_01_tiny.ipynb"):
        assert name in failed_to_run
    for name in ("solution_01_tiny.ipynb", "edited_01_tiny.ipynb", "hidden_01_tiny.ipynb", "untouched_01_tiny.ipynb"):
        assert name not in failed_to_run


@pytest.mark.slow
def test_without_the_guard_the_patched_submission_would_cheat(monkeypatch):
    """The attack in patched_01_tiny.ipynb works when the guard is off: the guard is what stops it. (With
    no guard, nothing reports at the end of a test cell: the grader's check of that report is left out.)"""
    monkeypatch.setattr(build, "prologue", lambda solution, tests: "pass")
    monkeypatch.setattr(grading_score, "run_graded_notebook", _unreported)
    r = grade.grade_notebook(SUBMISSIONS / "patched_01_tiny.ipynb", SOLUTION, cell_timeout=CELL_TIMEOUT, total_timeout=TOTAL_TIMEOUT)
    assert {e.grade_id: e.points for e in r.exercises if e.grade_id in FULL} == FULL


@pytest.mark.slow
def test_total_time_limit(tmp_path):
    nb = nbformat.read(SUBMISSIONS / "loop_01_tiny.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.get("id") == "ex1_answer":
            cell.source = "while True:\n    pass"
    sub = tmp_path / "twoloops_01_tiny.ipynb"
    nbformat.write(nb, sub)
    t0 = time.perf_counter()
    r = grade.grade_notebook(sub, SOLUTION, cell_timeout=4, total_timeout=7)
    assert time.perf_counter() - t0 < 7 + 25
    status = {e.grade_id: e.status for e in r.exercises}
    assert r.total == 0 and status["ex3_tests"] == "not run"
    assert "not run: total time limit of 7 s reached" in r.exercises[-1].reason
    assert any(re.search(r"timed out after [1-4] s", n) for n in r.notes), r.notes  # 4 s, or less of the 7 s left


@pytest.mark.slow
def test_single_file_table_and_exit_status(tmp_path, capsys):
    sub = tmp_path / "01_tiny.ipynb"
    shutil.copy(SOLUTION, sub)
    assert main(["grade", str(sub), "--solutions", str(SOLUTIONS), *_limits(), "-q"]) == 0
    out = [" ".join(line.split()) for line in capsys.readouterr().out.splitlines()]
    assert "ex2_tests 3/3 passed" in out and "total 6/7 (1 pending: graded by hand)" in out
    assert "ex3_written -/1 pending graded by hand: 1 point(s) pending" in out


# ----------------------------------------------------------------------------- no kernel needed


@pytest.mark.parametrize("name", [
    "01_tiny.ipynb", "alice_01_tiny.ipynb", "01_tiny-alice.ipynb", "alice.01_tiny.ipynb",
    "01_tiny/alice.ipynb", "alice/01_tiny.ipynb",
])
def test_match_solution_by_name(tmp_path, name):
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{}")
    assert grade.match_solution(path, SOLUTIONS) == SOLUTION


def test_match_solution_longest_name_and_metadata(tmp_path):
    sols = tmp_path / "solutions"
    sols.mkdir()
    for stem in ("01_a", "01_a_b"):
        shutil.copy(SOLUTION, sols / f"{stem}.ipynb")
    sub = tmp_path / "x_01_a_b.ipynb"
    sub.write_text("{}")
    assert grade.match_solution(sub, sols).stem == "01_a_b"
    other = tmp_path / "homework.ipynb"
    other.write_text(json.dumps({"metadata": {"course": {"exercise": "01_a"}}}))
    assert grade.match_solution(other, sols).stem == "01_a"


def test_user_errors_exit_2_with_one_line(tmp_path, capsys):
    stray = tmp_path / "homework.ipynb"
    stray.write_text("{}")
    cases = [
        (["grade", str(tmp_path / "missing.ipynb"), "--solutions", str(SOLUTIONS)], "no such file or folder"),
        (["grade", str(stray), "--solutions", str(SOLUTIONS)], "no matching solution"),
        (["grade", str(stray), "--solution", str(tmp_path / "nope.ipynb")], "no such solution notebook"),
        (["grade", str(stray), "--solutions", str(tmp_path / "empty")], "no NN_topic.ipynb solution notebooks"),
        (["grade", str(stray), "--cell-timeout", "0"], "--cell-timeout must be positive"),
        (["grade"], "the following arguments are required"),
        (["grade", str(stray), "--timeout", "soon"], "invalid float value"),
        (["nonsense"], "invalid choice"),
    ]
    for argv, expected in cases:
        capsys.readouterr()
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and expected in err[0], (argv, err)


def _ids(graded):
    return [graded.origin[i] for i in range(len(graded.nb.cells))]


def test_build_puts_tests_after_their_answers():
    sol = nbformat.read(SOLUTION, as_version=4)
    released = release_notebook(sol, "01_tiny")
    full = {c.id: c.source for c in sol.cells}
    sub = nbformat.read(SUBMISSIONS / "bob" / "01_tiny.ipynb", as_version=4)
    g = grade.build_graded_notebook(sub, sol)
    order = _ids(g)
    assert order[0] == "grader guard"
    assert order.index("test cell 'ex3_tests'") == order.index("answer cell 'ex3_answer'") + 1
    assert order.index("test cell 'ex2_tests'") < order.index("test cell 'ex1_tests'")  # moved block kept
    for gid in FULL:
        assert g.nb.cells[g.test_index[gid]].source == full[gid]  # hidden tests re-inserted
    # deleted test cells come back after their answer cell, or at the end
    released.cells = [c for c in released.cells if c.id not in ("ex1_tests", "ex2_answer", "ex2_tests")]
    g = grade.build_graded_notebook(released, sol)
    order = _ids(g)
    assert order.index("test cell 'ex1_tests'") == order.index("answer cell 'ex1_answer'") + 1
    assert order[-1] == "test cell 'ex2_tests'"
    assert sum("was missing" in n for n in g.notes) == 2


def test_build_ignores_copies_of_a_test_cell():
    sol = nbformat.read(SOLUTION, as_version=4)
    sub = release_notebook(sol, "01_tiny")
    copy_cell = nbformat.v4.new_code_cell("print('copy')", id="copy-of-test", metadata={"nbgrader": {"grade_id": "ex1_tests"}})
    sub.cells.append(copy_cell)
    g = grade.build_graded_notebook(sub, sol)
    assert sum(c.source == "print('copy')" for c in g.nb.cells) == 0
    assert any("a copy of test cell 'ex1_tests'" in n for n in g.notes)


def test_solution_imports_give_the_guard_its_aliases():
    sol = nbformat.read(SOLUTION, as_version=4)
    modules, aliases = grade.solution_imports(sol)
    assert modules == ["numpy", "numpy.testing"]
    assert aliases == {"np": ["numpy", None], "assert_allclose": ["numpy.testing", "assert_allclose"]}


def test_the_key_file_is_written_new_never_through_a_link(tmp_path):
    """A kernel that dies can leave a link at the key's path (rv13): the worker writes a new file there
    and never writes through the link."""
    from course.grading.worker import _empty, _write_new

    target, key = tmp_path / "work" / "caught", tmp_path / "tmp" / "course-grader-key"
    target.parent.mkdir()
    key.parent.mkdir()
    key.symlink_to(target)
    _write_new(key, "abc")
    assert not target.exists() and not key.is_symlink() and key.read_text() == "abc"
    (tmp_path / "home" / ".ipython" / "profile_default" / "startup").mkdir(parents=True)
    (tmp_path / "work" / "ipykernel_launcher.py").write_text("print('first')")
    _empty([tmp_path / "work", tmp_path / "home", tmp_path / "tmp"])
    assert not any((tmp_path / "work").iterdir()) and not any((tmp_path / "tmp").iterdir())
    assert not (tmp_path / "home" / ".ipython").exists()
