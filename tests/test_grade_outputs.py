"""What grading writes, built from results without running a kernel: the Canvas import file, the
class statistics, the merge of shards, feedback pages (no hidden test or solution on any of them,
for every solution notebook), shards and student names.

The Canvas fixture (tests/data/course/canvas/) is a roster in the form Canvas exports a gradebook,
and the import file the grader must write from it. Canvas's rules for reading that file are those
of its importer (canvas-lms ``app/models/gradebook_importer.rb``), restated in :func:`_canvas_reads`.
"""

import csv
import io
import json
import re
from pathlib import Path

import nbformat
import pytest

from course import grading
from course import notebooks as nbk
from course.cli import main
from course.grading import export, find, stats
from course.grading.results import ExerciseResult, SubmissionResult
from feedback_leaks import leaks, secret_lines

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data" / "course"
CANVAS = DATA / "canvas"
TINY = DATA / "solutions" / "01_tiny.ipynb"
SOLUTIONS = [TINY, *nbk.exercise_notebooks(ROOT / "solutions")]


def _result(name, solution="solutions/01_tiny.ipynb", items=(("ex1_tests", 2, 2, "passed"),), sha="s1", shard=None):
    exercises = [ExerciseResult(g, p, m, st, "" if st == "passed" else f"{st}") for g, p, m, st in items]
    return SubmissionResult(name, solution, exercises, [], 1.0, "bwrap", "h-" + name, sha, shard)


# ----------------------------------------------------------------------------- Canvas


def _canvas_reads(path: Path) -> dict:
    """The file as Canvas's gradebook importer reads it: students by their columns, assignments by title and id.

    Header: ``Student`` then ``ID``; then ``SIS User ID`` and ``SIS Login ID`` (or only the login);
    the last student column is ``Section``; a row whose first cell holds ``Points Possible`` gives
    the points; an assignment header is ``Title (id)`` or a bare title.
    """
    rows = list(csv.reader(io.StringIO(path.read_text())))
    header = rows[0]
    assert len(header) > 3 and "Student" in header[0] and "ID" in header[1]
    columns = 3
    if re.search(r"SIS\s+Login\s+ID", header[2]):
        columns += 1
    elif re.search(r"SIS\s+User\s+ID", header[2]) and re.search(r"SIS\s+Login\s+ID", header[3]):
        columns += 2
    assert "Section" in header[columns - 1], header
    assignments = []
    for title in header[columns:]:
        match = re.fullmatch(r"(.*)\s+\((\d+)\)", title)
        assignments.append((match.group(1), match.group(2)) if match else (title, None))
    assert "Points Possible" in rows[1][0]
    points = dict(zip([a for a, _ in assignments], rows[1][columns:]))
    students = {r[3]: dict(zip([a for a, _ in assignments], r[columns:])) for r in rows[2:]}
    return {"assignments": assignments, "points": points, "students": students, "rows": rows}


def _class_results():
    written = ("ex3_written", 1, 1, "graded by hand")
    return [
        _result("ann_01_tiny.ipynb", items=(("ex1_tests", 6, 6, "passed"), written)),
        _result("ben_01_tiny.ipynb", items=(("ex1_tests", 4.5, 6, "failed"), ("ex3_written", None, 1, "pending"))),
        _result("S003/01_tiny.ipynb", items=(("ex1_tests", 7 / 3, 7, "failed"),)),
        _result("01_tiny-504.ipynb", items=(("ex1_tests", 0, 7, "failed"),)),
        _result("zoe_01_tiny.ipynb"),
        _result("01_tiny.ipynb"),
        _result("02_tiny/ann.ipynb", solution="solutions/02_tiny.ipynb", items=(("ex1_tests", 3, 4, "failed"),)),
    ]


def test_canvas_import_file_matches_the_documented_form(tmp_path):
    out = tmp_path / "canvas.csv"
    roster = export.read_roster(CANVAS / "roster.csv")
    assert [s.name for s in roster] == ["Lee, Ann", "Okafor, Ben", "Diaz, Cara", "Ng, Dev", "Brown, Eve"]
    info = export.write_canvas(_class_results(), out, roster, {"01_tiny": "Tiny exercises (1001)"})
    assert out.read_text() == (CANVAS / "expected_import.csv").read_text()
    read = _canvas_reads(out)
    assert read["assignments"] == [("Tiny exercises", "1001"), ("Lecture 2 exercises", None)]
    assert read["points"] == {"Tiny exercises": "7", "Lecture 2 exercises": "4"}
    assert read["students"]["ann"] == {"Tiny exercises": "7", "Lecture 2 exercises": "3"}
    assert read["students"]["cara"]["Tiny exercises"] == "2.33"  # two decimals, as Canvas exports
    assert read["students"]["ben@uni.example"]["Tiny exercises"] == ""  # pending: Canvas keeps what it has
    assert info.unknown == [("zoe_01_tiny.ipynb", "zoe"), ("01_tiny.ipynb", None)]
    assert info.pending == ["ben_01_tiny.ipynb"]
    lines = export.describe_export(info, out)
    assert "2 submission(s) left out" in lines[1] and "zoe_01_tiny.ipynb (zoe)" in lines[1]
    assert "01_tiny.ipynb (no student in the name)" in lines[1]
    assert "written answers still to grade by hand" in lines[2]


def test_canvas_without_a_roster_uses_the_names_as_logins(tmp_path):
    out = tmp_path / "canvas.csv"
    info = export.write_canvas(_class_results()[:2], out)
    read = _canvas_reads(out)
    assert set(read["students"]) == {"ann", "ben"} and read["rows"][2][:5] == ["ann", "", "", "ann", ""]
    assert read["assignments"] == [("Lecture 1 exercises", None)] and info.unknown == []


def test_canvas_refuses_two_submissions_of_one_student(tmp_path):
    twice = [_result("ann_01_tiny.ipynb"), _result("ann/01_tiny.ipynb")]
    with pytest.raises(ValueError, match="two submissions of Lee, Ann for 01_tiny"):
        export.write_canvas(twice, tmp_path / "c.csv", export.read_roster(CANVAS / "roster.csv"))


def test_canvas_options_are_checked_before_grading(tmp_path, capsys):
    sub = tmp_path / "01_tiny.ipynb"
    sub.write_text("{}")
    cases = [
        (["--roster", str(CANVAS / "roster.csv")], "--roster and --canvas-assignment need --canvas PATH"),
        (["--canvas", "c.csv", "--roster", str(tmp_path / "none.csv")], "no such roster"),
        (["--canvas", "c.csv", "--canvas-assignment", "01_tiny"], "expected --canvas-assignment STEM=TITLE"),
        (["--shard", "0/2", "--csv", "g.csv"], "shards count from 1"),
        (["--shard", "1/2"], "--shard needs --report PATH"),
    ]
    for extra, expected in cases:
        capsys.readouterr()
        assert main(["grade", str(sub), "--solutions", str(TINY.parent), *extra]) == 2, extra
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and expected in err[0], (extra, err)


# ----------------------------------------------------------------------------- statistics


def test_stats_normalise_messages_and_count_failures():
    assert stats.normalise("AssertionError: Not equal to tolerance rtol=1e-09, atol=0") == \
        "AssertionError: Not equal to tolerance rtol=#, atol=#"
    fail = ExerciseResult("ex1_tests", 0.0, 2.0, "failed", "AssertionError: got 3.5, expected 4", "", 5, True)
    fail2 = ExerciseResult("ex1_tests", 0.0, 2.0, "failed", "AssertionError: got -1, expected 4", "", 5, True)
    dead = ExerciseResult("ex1_tests", 0.0, 2.0, "kernel died", "the kernel died while running this cell")
    ok = ExerciseResult("ex1_tests", 2.0, 2.0, "passed")
    results = [SubmissionResult(f"s{i}.ipynb", "x/01_tiny.ipynb", [e], [], 1.0) for i, e in enumerate([fail, fail2, dead, ok])]
    s = stats.class_stats(results)["01_tiny"]
    item = s["items"]["ex1_tests"]
    assert (item["mean"], item["full"], item["graded"]) == (0.5, 1, 4)
    assert item["failures"][0] == ("AssertionError: got #, expected # [hidden tests, line 5]", 2)
    assert s["did_not_run"] == [("s2.ipynb", "ex1_tests: the kernel died while running this cell")]
    text = stats.format_stats(results)
    assert "ex1_tests" in text and "0.50" in text and "1/4 (25%)" in text and "  2 x  AssertionError" in text


def test_stats_command_errors(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"not": "a report"}')
    assert main(["stats", str(bad)]) == 2
    assert "is not a report of course grade" in capsys.readouterr().err
    assert main(["stats", str(tmp_path / "missing.json")]) == 2
    assert "no such report" in capsys.readouterr().err


# ----------------------------------------------------------------------------- shards and merge


def test_shards_are_deterministic_round_robin_slices():
    assert find.parse_shard("2/4") == (2, 4) and find.parse_shard(" 1 / 1 ") == (1, 1)
    for bad in ("0/4", "5/4", "2", "a/b", "1/0"):
        with pytest.raises(ValueError):
            find.parse_shard(bad)
    slices = {k: [i for i in range(10) if find.shard_of(i, 3) == k] for k in (1, 2, 3)}
    assert slices == {1: [0, 3, 6, 9], 2: [1, 4, 7], 3: [2, 5, 8]}


def _shards(names, n):
    of = len(names)
    return {k: [_result(nm, shard={"k": k, "n": n, "index": i, "of": of}) for i, nm in enumerate(names)
                if find.shard_of(i, n) == k] for k in range(1, n + 1)}


def test_merge_restores_the_serial_order_and_refuses_what_does_not_fit(tmp_path):
    names = [f"s{i}_01_tiny.ipynb" for i in range(5)]
    paths = {}
    for k, results in _shards(names, 2).items():
        paths[k] = tmp_path / f"shard{k}.json"
        grading.write_report(results, paths[k])
    merged = grading.merge_reports([paths[2], paths[1]])
    assert [r.submission for r in merged] == names and all(r.shard is None for r in merged)
    with pytest.raises(ValueError, match="shard\\(s\\) 2/2 missing"):
        grading.merge_reports([paths[1]])
    assert len(grading.merge_reports([paths[1]], partial=True)) == 3
    with pytest.raises(ValueError, match="is in both"):
        grading.merge_reports([paths[1], paths[1]])
    other = tmp_path / "other.json"  # shard 2 graded against another version of the solution
    grading.write_report([_result(r.submission, sha="s2", shard=r.shard) for r in _shards(names, 2)[2]], other)
    with pytest.raises(ValueError, match="against different solution notebooks"):
        grading.merge_reports([paths[1], other])
    three = tmp_path / "three.json"
    grading.write_report([r for r in _shards(names, 3)[2] if r.submission == names[1]], three)
    with pytest.raises(ValueError, match="different splits"):
        grading.merge_reports([paths[1], three])


def test_merge_command(tmp_path, capsys):
    names = [f"s{i}_01_tiny.ipynb" for i in range(4)]
    for k, results in _shards(names, 2).items():
        grading.write_report(results, tmp_path / f"shard{k}.json")
    out = tmp_path / "gradebook.csv"
    assert main(["merge", str(tmp_path / "shard1.json"), str(tmp_path / "shard2.json"), "--csv", str(out),
                 "--feedback", str(tmp_path / "fb")]) == 0
    assert "merged 2 report(s), 4 submission(s)" in capsys.readouterr().out
    assert [r["submission"] for r in csv.DictReader(out.open())] == names
    assert [r["submission"] for r in json.loads(out.with_suffix(".json").read_text())] == names
    assert len(list((tmp_path / "fb").glob("*.html"))) == 4
    assert main(["merge", str(tmp_path / "shard1.json"), "--csv", str(out)]) == 2
    assert "missing (pass --partial" in capsys.readouterr().err
    assert main(["merge", str(tmp_path / "shard1.json"), "--csv", str(tmp_path / "shard1.csv"), "--partial"]) == 2
    assert "would overwrite" in capsys.readouterr().err


# ----------------------------------------------------------------------------- feedback


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.stem)
def test_feedback_never_shows_hidden_tests_or_solutions(solution):
    """Every test cell fails, at every line of the cell (hidden ones included), with a message that
    quotes the line's own number: the page shows the visible lines only, and says a hidden failure is hidden."""
    nb = nbformat.read(solution, as_version=4)
    secrets = secret_lines(nb)
    assert secrets, solution
    tests = {nbk.grade_id(c): c.source for c in nb.cells if nbk.is_test_cell(c)}
    items = nbk.graded_items(nb)
    longest = max(len(s.split("\n")) for s in tests.values())
    for line in range(1, longest + 1):
        exercises = []
        for ex, manual in items:
            if manual:
                exercises.append(ExerciseResult(ex.grade_id, None, ex.points, "pending", "graded by hand"))
                continue
            hidden = line in grading.hidden_lines(tests[ex.grade_id])
            exercises.append(ExerciseResult(ex.grade_id, 0.0, ex.points, "failed", "AssertionError: wrong",
                                            f"AssertionError: wrong at {line}", line, hidden))
        page = grading.render_page(SubmissionResult("x.ipynb", str(solution), exercises, ["a note"], 1.0), tests)
        assert not leaks(page, secrets), (solution.stem, line, leaks(page, secrets))
        assert ("The failure is in the hidden tests" in page) == any(e.hidden for e in exercises)


def test_feedback_page_names(tmp_path):
    writer = grading.FeedbackWriter(tmp_path)
    for name, expected in [("alice_01_tiny.ipynb", "alice_01_tiny.html"), ("bob/01_tiny.ipynb", "bob/01_tiny.html"),
                           ("/abs/path/01_tiny.ipynb", "abs/path/01_tiny.html"), ("../up/01_tiny.ipynb", "up/01_tiny.html")]:
        assert writer.path_for(_result(name)) == tmp_path / expected


# ----------------------------------------------------------------------------- names and reports


@pytest.mark.parametrize("name, key", [
    ("alice_01_tiny.ipynb", "alice"), ("01_tiny-alice.ipynb", "alice"), ("alice.01_tiny.ipynb", "alice"),
    ("alice/01_tiny.ipynb", "alice"), ("01_tiny/alice.ipynb", "alice"), ("sec1/alice/01_tiny.ipynb", "alice"),
    ("01_tiny.ipynb", None), ("homework.ipynb", "homework"),
])
def test_student_key_from_the_name(name, key):
    assert find.student_key(name, "01_tiny") == key


def test_reports_without_the_new_fields_still_read(tmp_path):
    old = [{"submission": "a.ipynb", "solution": "s/01_tiny.ipynb", "sha256": "x", "solution_sha256": "y",
            "exercises": [{"grade_id": "ex1_tests", "points": 0, "max_points": 2, "status": "failed", "reason": "E"}]}]
    path = tmp_path / "old.json"
    path.write_text(json.dumps(old))
    (r,) = grading.read_report(path)
    assert r.exercises[0].line is None and r.exercises[0].message == "" and r.shard is None


def test_the_readme_commands_for_instructors_parse():
    """Every ``python -m course ...`` command in the README's "For instructors" section uses real commands and flags."""
    import shlex

    from course.cli import build_parser

    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("<!-- instructors:start -->"):readme.index("<!-- instructors:end -->")]
    section = re.sub(r"\\\n\s*", " ", section)  # continuation lines
    commands = [m.group(1) for m in re.finditer(r"^\s*(?:\.venv/bin/)?python -m course ([^\n`#>]+)", section, re.M)]
    assert len(commands) >= 12
    parser = build_parser()
    for command in commands:
        words = [w for w in shlex.split(command.replace("...", "x")) if w != "|"]
        parser.parse_args(words)  # raises on an unknown command or flag
