"""A whole class: ``--jobs``, a gradebook written as each submission finishes, Ctrl-C and resume,
only changed files graded again, hand-given scores merged, the progress line, and the class cut
into shards graded by separate processes (as a cluster's job array would) then merged."""

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from course import grading as grade
from course import notebooks as nbk
from course.cli import main
from course.release import release_notebook

ROOT = Path(__file__).parents[1]
DATA = Path(__file__).parent / "data" / "course"
SOLUTIONS = DATA / "solutions"
SOLUTION = SOLUTIONS / "01_tiny.ipynb"
FAST = ["raises", "edited", "patched"]  # crafted cases that need no timeout


def _class_folder(path: Path) -> Path:
    path.mkdir(parents=True)
    shutil.copy(SOLUTION, path / "ann_01_tiny.ipynb")
    (path / "ben_01_tiny.ipynb").write_text(nbk.dumps(release_notebook(nbformat.read(SOLUTION, as_version=4), "01_tiny")))
    for case in FAST:
        shutil.copy(DATA / "submissions" / f"{case}_01_tiny.ipynb", path / f"{case}_01_tiny.ipynb")
    return path


def _cli(*args, check=True, **kw):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "-m", "course", "grade", *map(str, args), "--solutions", str(SOLUTIONS),
                           "--cell-timeout", "20", "--timeout", "60"], cwd=ROOT, env=env, capture_output=True,
                          text=True, check=check, **kw)


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _report(path):
    """A report without its timings (the submission's and each test cell's), which differ between runs."""
    return [{k: ([{f: x for f, x in e.items() if f != "seconds"} for e in v] if k == "exercises" else v)
             for k, v in r.items() if k != "seconds"} for r in json.loads(Path(path).read_text())]


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    """The reference: the class graded in one uninterrupted run, one submission at a time."""
    tmp = tmp_path_factory.mktemp("serial")
    folder = _class_folder(tmp / "subs")
    t0 = time.perf_counter()
    proc = _cli(folder, "--jobs", "1", "--csv", tmp / "gradebook.csv")
    return {"folder": folder, "csv": tmp / "gradebook.csv", "json": tmp / "gradebook.json", "proc": proc,
            "wall": time.perf_counter() - t0}


@pytest.mark.slow
def test_serial_run_writes_gradebook_report_and_progress(serial):
    rows = _rows(serial["csv"])
    assert [r["submission"] for r in rows] == sorted(p.name for p in serial["folder"].iterdir())
    assert {r["submission"]: r["total"] for r in rows}["ann_01_tiny.ipynb"] == "6"
    assert {r["submission"]: r["ex3_written"] for r in rows}["ann_01_tiny.ipynb"] == "pending"
    assert len(_report(serial["json"])) == len(rows)
    err = serial["proc"].stderr
    assert f"graded 1/{len(rows)}" in err and f"graded {len(rows)}/{len(rows)}" in err and "/min" in err
    assert "left" in err


@pytest.mark.slow
def test_interrupted_parallel_run_resumes_to_the_same_gradebook(serial, tmp_path):
    folder = _class_folder(tmp_path / "subs")
    gradebook, report = tmp_path / "gradebook.csv", tmp_path / "gradebook.json"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "course", "grade", str(folder), "--solutions", str(SOLUTIONS), "--cell-timeout", "20",
           "--timeout", "60", "--jobs", "2", "--csv", str(gradebook)]
    # Ctrl-C reaches the grader even when these tests run in the background (where a shell ignores SIGINT)
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:  # wait for the first results, then Ctrl-C
        if report.exists() and len(json.loads(report.read_text() or "[]")) >= 1:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "run the same command again" in err
    saved = _rows(gradebook)
    total = len(FAST) + 2
    assert 1 <= len(saved) < total, saved  # part-way: what finished is saved
    assert {r["submission"] for r in saved} == {r["submission"] for r in _report(report)}
    # resume: only what is missing is graded; the result equals the uninterrupted serial run's
    again = _cli(folder, "--jobs", "2", "--csv", gradebook)
    assert f"({len(saved)} unchanged since the last run)" in again.stderr
    assert gradebook.read_text() == serial["csv"].read_text().replace(str(serial["folder"]), str(folder))
    assert _report(report) == _report(serial["json"])


@pytest.mark.slow
def test_only_changed_files_are_graded_again_unless_forced(serial, tmp_path):
    folder = tmp_path / "subs"
    shutil.copytree(serial["folder"], folder)
    gradebook = tmp_path / "gradebook.csv"
    shutil.copy(serial["csv"], gradebook)
    shutil.copy(serial["json"], tmp_path / "gradebook.json")
    n = len(_rows(gradebook))
    t0 = time.perf_counter()
    same = _cli(folder, "--csv", gradebook)
    assert f"graded {n}/{n} ({n} unchanged since the last run)" in same.stderr
    assert time.perf_counter() - t0 < 30  # no kernel started
    # ben answers exercise 1 now: only ben is graded again
    nb = nbformat.read(folder / "ben_01_tiny.ipynb", as_version=4)
    sol = nbformat.read(SOLUTION, as_version=4)
    next(c for c in nb.cells if c.id == "ex1_answer").source = next(c for c in sol.cells if c.id == "ex1_answer").source
    nbformat.write(nb, folder / "ben_01_tiny.ipynb")
    changed = _cli(folder, "--csv", gradebook)
    assert f"({n - 1} unchanged since the last run)" in changed.stderr
    assert {r["submission"]: r["total"] for r in _rows(gradebook)}["ben_01_tiny.ipynb"] == "2"
    before = _rows(gradebook)
    forced = _cli(folder, "--csv", gradebook, "--force", "--jobs", "2")
    assert "unchanged since the last run" not in forced.stderr and f"graded {n}/{n}" in forced.stderr
    assert _rows(gradebook) == before


@pytest.mark.slow
def test_hand_given_scores_are_merged_and_kept(serial, tmp_path, capsys):
    gradebook, scores = tmp_path / "gradebook.csv", tmp_path / "scores.csv"
    shutil.copy(serial["csv"], gradebook)
    shutil.copy(serial["json"], tmp_path / "gradebook.json")
    rows = _rows(gradebook)
    pending = [r["submission"] for r in rows if r["ex3_written"] == "pending"]
    assert "ann_01_tiny.ipynb" in pending
    with open(scores, "w", newline="") as fh:  # a copy of the gradebook with the pending cells filled in
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        for r in rows:
            w.writerow({**r, "ex3_written": "0.5" if r["submission"] == "ann_01_tiny.ipynb" else r["ex3_written"]})
    base = [str(serial["folder"]), "--solutions", str(SOLUTIONS), "--csv", str(gradebook), "-q"]
    assert main(["grade", *base, "--manual", str(scores)]) == 0
    out = capsys.readouterr().out
    ann = {r["submission"]: r for r in _rows(gradebook)}["ann_01_tiny.ipynb"]
    assert (ann["ex3_written"], ann["total"]) == ("0.5", "6.5")
    assert ann["pending"] == "0"  # nothing left to grade by hand
    assert "graded by hand (scores.csv)" in out
    assert main(["grade", *base]) == 0  # kept without --manual
    assert {r["submission"]: r for r in _rows(gradebook)}["ann_01_tiny.ipynb"]["total"] == "6.5"
    report = {r["submission"]: r for r in json.loads((tmp_path / "gradebook.json").read_text())}
    e = {e["grade_id"]: e for e in report["ann_01_tiny.ipynb"]["exercises"]}["ex3_written"]
    assert (e["points"], e["status"]) == (0.5, "graded by hand")
    # mistakes in the scores file are one-line user errors
    scores.write_text("submission,ex3_written\nann_01_tiny.ipynb,5\n")
    assert main(["grade", *base, "--manual", str(scores)]) == 2
    assert "expected 0 to 1 points, got 5" in capsys.readouterr().err
    scores.write_text("submission,ex3_written\nzoe_01_tiny.ipynb,1\n")
    assert main(["grade", *base, "--manual", str(scores)]) == 2
    assert "'zoe_01_tiny.ipynb', which is not among the submissions" in capsys.readouterr().err
    scores.write_text("submission,ex3_written\nann_01_tiny.ipynb,good\n")
    assert main(["grade", *base, "--manual", str(scores)]) == 2
    assert "line 2, column 'ex3_written': expected a number of points, got 'good'" in capsys.readouterr().err


@pytest.mark.slow
def test_two_shards_in_two_processes_merge_to_the_serial_gradebook(serial, tmp_path):
    """``--shard 1/2`` and ``--shard 2/2`` run at once, as two tasks of a job array would; ``course merge``
    joins their reports into the serial run's gradebook and report."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    base = [sys.executable, "-m", "course", "grade", str(serial["folder"]), "--solutions", str(SOLUTIONS),
            "--cell-timeout", "20", "--timeout", "60", "--jobs", "1", "-q"]
    t0 = time.perf_counter()
    procs = [subprocess.Popen([*base, "--shard", f"{k}/2", "--report", str(tmp_path / f"shard{k}.json")], cwd=ROOT,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for k in (1, 2)]
    outs = [p.communicate(timeout=600) for p in procs]
    wall = time.perf_counter() - t0
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in outs]
    shards = [json.loads((tmp_path / f"shard{k}.json").read_text()) for k in (1, 2)]
    assert sorted(len(s) for s in shards) == [2, 3]  # 5 submissions, every other one
    assert not {r["submission"] for r in shards[0]} & {r["submission"] for r in shards[1]}
    assert "shard 1/2: 3 submission(s)" in outs[0][0]
    merged = tmp_path / "gradebook.csv"
    done = subprocess.run([sys.executable, "-m", "course", "merge", str(tmp_path / "shard2.json"), str(tmp_path / "shard1.json"),
                           "--csv", str(merged)], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert merged.read_text() == serial["csv"].read_text()
    assert _report(merged.with_suffix(".json")) == _report(serial["json"])
    print(f"| tiny class of {len(_rows(merged))} | serial, --jobs 1: {serial['wall']:.1f} s | "
          f"2 shards in 2 processes (--jobs 1 each): {wall:.1f} s |")


def test_progress_line_and_default_jobs():
    import io

    stream = io.StringIO()
    p = grade.Progress(4, stream, reused=1)
    r = grade.SubmissionResult("a.ipynb", "s.ipynb", [grade.ExerciseResult("ex1", None, 2.0, "pending")], [], 1.0)
    p.update(r)
    line = stream.getvalue()
    assert line.startswith("graded 2/4 (1 unchanged since the last run), ") and "/min" in line and "left" in line
    assert line.rstrip().endswith("a.ipynb 0/2 (2 pending)")
    assert grade.default_jobs() >= 1
    assert main(["grade", "x.ipynb", "--jobs", "0"]) == 2
