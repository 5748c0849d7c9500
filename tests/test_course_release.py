"""``python -m course release``: stubs, hidden tests, exact output, edit protection, --check."""

import copy
import json
import shutil
import time
from pathlib import Path

import nbformat
import pytest

from course import notebooks as nbk
from course import release as rel
from course.cli import main

DATA = Path(__file__).parent / "data" / "course"
SOLUTION = DATA / "solutions" / "01_tiny.ipynb"


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A scratch repository root with solutions/01_tiny.ipynb, as the current directory."""
    (tmp_path / "solutions").mkdir()
    shutil.copy(SOLUTION, tmp_path / "solutions" / "01_tiny.ipynb")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _solution():
    return nbformat.read(SOLUTION, as_version=4)


def _cell(nb, cid):
    return next(c for c in nb.cells if c.id == cid)


def test_answers_become_stubs_and_hidden_tests_vanish():
    sol = _solution()
    out = rel.release_notebook(sol, "01_tiny")
    assert [c.id for c in out.cells] == [c.id for c in sol.cells]
    for cid in ("ex1_answer", "ex2_answer", "ex3_answer"):
        src = _cell(out, cid).source
        assert "    # YOUR CODE HERE\n    raise NotImplementedError()" in src
        assert _cell(out, cid).metadata.nbgrader == _cell(sol, cid).metadata.nbgrader
    assert _cell(out, "ex1_answer").source.startswith('def square_norm(v):\n    """The squared')
    assert _cell(out, "ex3_written").source == "YOUR ANSWER HERE"
    for cid in ("ex1_tests", "ex2_tests", "ex3_tests"):
        released, full = _cell(out, cid), _cell(sol, cid)
        visible = full.source.split("### BEGIN HIDDEN TESTS")[0].rstrip()
        number, points = cid[2], full.metadata.nbgrader.points
        header = f"# Tests for exercise {number} ({points} point{'s' * (points != 1)}): run this cell after your answer.\n"
        assert released.source == header + visible
        assert released.metadata.nbgrader == full.metadata.nbgrader
        assert released.metadata.editable is False and released.metadata.deletable is False
    text = nbk.dumps(out)
    for marker in nbk.MARKERS:
        assert marker not in text
    assert "np.einsum" not in text and "X.T @ X" not in text
    assert out.metadata.kernelspec == sol.metadata.kernelspec
    assert out.metadata.course["exercise"] == "01_tiny"


def test_answer_cell_without_markers_is_replaced_whole():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "secret = 42", id="a1",
        metadata={"nbgrader": {"grade": False, "solution": True, "locked": False, "grade_id": "a1", "schema_version": 3}})])
    assert rel.release_notebook(nb, "01_x").cells[0].source == "# YOUR CODE HERE\nraise NotImplementedError()"


def test_outputs_and_volatile_metadata_do_not_change_the_release():
    sol = _solution()
    noisy = copy.deepcopy(sol)
    noisy.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    noisy.metadata["language_info"] = {"name": "python", "version": "3.11.7", "mimetype": "text/x-python"}
    for k, cell in enumerate(noisy.cells):
        cell.metadata["execution"] = {"iopub.status.busy": f"2024-01-0{k % 9 + 1}T00:00:00Z"}
        cell.metadata["scrolled"] = True
        if cell.cell_type == "code":
            cell.execution_count = k + 1
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"run {k}\n")]
    a, b = nbk.dumps(rel.release_notebook(sol, "01_tiny")), nbk.dumps(rel.release_notebook(noisy, "01_tiny"))
    assert a == b
    out = json.loads(b)
    assert all(c.get("outputs", []) == [] and c.get("execution_count") is None for c in out["cells"] if c["cell_type"] == "code")
    assert "widgets" not in out["metadata"] and out["metadata"]["language_info"] == sol.metadata.language_info


def test_language_info_is_complete_so_jupyterlab_opens_the_notebook_unmodified():
    """JupyterLab rewrites an incomplete language_info when the kernel starts (the notebook then
    opens modified); release writes every field a Python kernel reports."""
    sol = _solution()
    sol.metadata["language_info"] = {"name": "python"}
    info = rel.release_notebook(sol, "01_tiny").metadata["language_info"]
    assert set(info) == {"codemirror_mode", "file_extension", "mimetype", "name", "nbconvert_exporter",
                         "pygments_lexer", "version"}
    assert info["codemirror_mode"] == {"name": "ipython", "version": 3} and info["pygments_lexer"] == "ipython3"
    sol.metadata["language_info"] = {"name": "python", "version": "3.12.1"}
    assert rel.release_notebook(sol, "01_tiny").metadata["language_info"]["version"] == "3.12.1"  # the solution's kernel


def test_test_cells_say_what_they_are_once():
    sol = _solution()
    out = rel.release_notebook(sol, "01_tiny")
    assert _cell(out, "ex2_tests").source.startswith("# Tests for exercise 2 (3 points): run this cell after your answer.\n")
    assert _cell(out, "ex3_tests").source.startswith("# Tests for exercise 3 (1 point): run this cell")
    _cell(sol, "ex1_tests").source = "# Tests for exercise 1 (2 points): my own words.\n" + _cell(sol, "ex1_tests").source
    again = rel.release_notebook(sol, "01_tiny")
    assert _cell(again, "ex1_tests").source.count("# Tests for exercise") == 1


def test_written_answer_is_graded_by_hand_and_the_old_convention_is_rejected(repo, capsys):
    out = rel.release_notebook(_solution(), "01_tiny")
    cell = _cell(out, "ex3_written")
    assert cell.source == "YOUR ANSWER HERE"
    assert cell.metadata.nbgrader["grade"] is True and cell.metadata.nbgrader["points"] == 1
    assert [(e.grade_id, e.points) for e in nbk.manual_answers(out)] == [("ex3_written", 1.0)]
    # the old convention (a markdown answer that is not a grade cell) breaks nbgrader: refused by name
    assert main(["release"]) == 0
    sol = nbformat.read(repo / "solutions" / "01_tiny.ipynb", as_version=4)
    _cell(sol, "ex3_written").metadata.nbgrader.update(grade=False)
    del _cell(sol, "ex3_written").metadata.nbgrader["points"]
    nbformat.write(sol, repo / "solutions" / "01_tiny.ipynb")
    capsys.readouterr()
    assert main(["release", "--check"]) == 1
    err = capsys.readouterr().err
    assert "cell 'ex3_written' (#10): a written answer (markdown solution cell) must be a grade cell" in err
    assert main(["release"]) == 2


def test_release_is_byte_for_byte_reproducible(repo):
    assert main(["release"]) == 0
    first = (repo / "exercises" / "01_tiny.ipynb").read_bytes()
    assert main(["release", "--dest", "again"]) == 0
    assert (repo / "again" / "01_tiny.ipynb").read_bytes() == first
    mtime = (repo / "exercises" / "01_tiny.ipynb").stat().st_mtime_ns
    assert main(["release"]) == 0  # unchanged files are not rewritten
    assert (repo / "exercises" / "01_tiny.ipynb").read_bytes() == first
    assert (repo / "exercises" / "01_tiny.ipynb").stat().st_mtime_ns == mtime
    assert first.endswith(b"}\n")
    assert first == nbk.dumps(nbformat.reads(first.decode(), as_version=4)).encode()


def test_recorded_hash_detects_edits():
    text = nbk.dumps(rel.release_notebook(_solution(), "01_tiny"))
    assert rel.is_pristine(text)
    nb = nbformat.reads(text, as_version=4)
    _cell(nb, "ex1_answer").source = "def square_norm(v):\n    return 1.0"
    assert not rel.is_pristine(nbk.dumps(nb))
    assert not rel.is_pristine("not json")
    nb = nbformat.reads(text, as_version=4)
    del nb.metadata["course"]
    assert not rel.is_pristine(nbk.dumps(nb))


def test_release_refuses_to_overwrite_an_edited_exercise(repo, capsys):
    assert main(["release"]) == 0
    target = repo / "exercises" / "01_tiny.ipynb"
    nb = nbformat.read(target, as_version=4)
    _cell(nb, "ex2_answer").source = "def gram(X):\n    return X.T @ X  # my work"
    nbformat.write(nb, target)
    edited = target.read_bytes()
    # the solution changes, so release has something new to write
    sol = nbformat.read(repo / "solutions" / "01_tiny.ipynb", as_version=4)
    sol.cells[0].source += "\n\nA new sentence."
    nbformat.write(sol, repo / "solutions" / "01_tiny.ipynb")
    capsys.readouterr()
    assert main(["release"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "exercises/01_tiny.ipynb" in err[0] and "--force" in err[0]
    assert target.read_bytes() == edited
    assert main(["release", "--force"]) == 0
    assert "A new sentence." in target.read_text() and "my work" not in target.read_text()


def test_release_regenerates_unedited_exercises_and_removes_orphans(repo):
    assert main(["release"]) == 0
    sol = nbformat.read(repo / "solutions" / "01_tiny.ipynb", as_version=4)
    sol.cells[0].source = "# Renamed title"
    nbformat.write(sol, repo / "solutions" / "01_tiny.ipynb")
    shutil.copy(repo / "exercises" / "01_tiny.ipynb", repo / "exercises" / "02_gone.ipynb")  # pristine orphan
    assert main(["release"]) == 0
    assert "# Renamed title" in (repo / "exercises" / "01_tiny.ipynb").read_text()
    assert not (repo / "exercises" / "02_gone.ipynb").exists()


def test_check_passes_on_a_fresh_release_and_is_fast(repo, capsys):
    assert main(["release"]) == 0
    t0 = time.perf_counter()
    assert rel.check("solutions", "exercises") == []
    assert time.perf_counter() - t0 < 5
    assert main(["release", "--check"]) == 0


@pytest.mark.parametrize("damage, expected", [
    ("missing", "exercises/01_tiny.ipynb: missing"),
    ("extra", "exercises/03_extra.ipynb: extra notebook"),
    ("stale-cell", "cell 'ex2_tests' (#7) differs"),
    ("deleted-cell", "cell 'ex3_tests' (#11) is missing"),
    ("metadata", "notebook metadata differs"),
])
def test_check_names_the_stale_notebook_and_cell(repo, capsys, damage, expected):
    assert main(["release"]) == 0
    target = repo / "exercises" / "01_tiny.ipynb"
    nb = nbformat.read(target, as_version=4)
    if damage == "missing":
        target.unlink()
    elif damage == "extra":
        shutil.copy(target, repo / "exercises" / "03_extra.ipynb")
    elif damage == "stale-cell":
        _cell(nb, "ex2_tests").source += "\nassert True"
        nbformat.write(nb, target)
    elif damage == "deleted-cell":
        nb.cells = nb.cells[:11]
        nbformat.write(nb, target)
    else:
        nb.metadata["author"] = "someone"
        nbformat.write(nb, target)
    before = {p: p.read_bytes() for p in (repo / "exercises").iterdir()}
    capsys.readouterr()
    assert main(["release", "--check"]) == 1
    err = capsys.readouterr().err
    assert expected in err
    assert {p: p.read_bytes() for p in (repo / "exercises").iterdir()} == before  # writes nothing


@pytest.mark.parametrize("leak, expected", [
    ("code", "cell 'ex2_answer' (#6) contains solution code"),
    ("marker", "cell 'ex1_tests' (#4) contains the marker 'BEGIN HIDDEN TESTS'"),
    ("markdown", "cell 'ex3_written' (#10) contains solution code"),
])
def test_check_detects_a_leak(repo, capsys, leak, expected):
    assert main(["release"]) == 0
    target = repo / "exercises" / "01_tiny.ipynb"
    nb = nbformat.read(target, as_version=4)
    sol = nbformat.read(repo / "solutions" / "01_tiny.ipynb", as_version=4)
    if leak == "code":  # the solution pasted back, re-indented
        _cell(nb, "ex2_answer").source = "def gram(X):\n  X = np.asarray(X)\n\n  return X.T @ X"
    elif leak == "marker":
        _cell(nb, "ex1_tests").source = _cell(sol, "ex1_tests").source
    else:
        _cell(nb, "ex3_written").source = _cell(sol, "ex3_written").source.split("\n")[1]
    nbformat.write(nb, target)
    capsys.readouterr()
    assert main(["release", "--check"]) == 1
    assert f"exercises/01_tiny.ipynb: {expected}" in capsys.readouterr().err


def _nbgrader_cell(gid, source, **meta):
    base = {"grade": False, "solution": True, "locked": False, "grade_id": gid, "schema_version": 3}
    return nbformat.v4.new_code_cell(source, id=gid, metadata={"nbgrader": {**base, **meta}})


@pytest.mark.filterwarnings("ignore:Non-unique cell id")
@pytest.mark.parametrize("cells, expected", [
    ([_nbgrader_cell("a", "x"), _nbgrader_cell("a", "y")], "grade_id 'a' is used twice"),
    ([nbformat.v4.new_code_cell("x", id="other", metadata={"nbgrader": {"solution": True, "grade_id": "a"}})],
     "cell id 'other' differs from grade_id 'a'"),
    ([_nbgrader_cell("a", "### BEGIN SOLUTION\nx = 1")], "expected 'END SOLUTION'"),
    ([nbformat.v4.new_code_cell("### BEGIN SOLUTION\nx\n### END SOLUTION", id="plain")], "solution region outside an answer cell"),
    ([_nbgrader_cell("a", "### BEGIN HIDDEN TESTS\nx\n### END HIDDEN TESTS")], "hidden tests outside a test cell"),
    ([nbformat.v4.new_code_cell("x", id="b", metadata={"nbgrader": {"grade": True, "points": 1}})], "without a grade_id"),
])
def test_malformed_solution_is_a_one_line_user_error(repo, capsys, cells, expected):
    with pytest.raises(ValueError, match=expected):
        rel.release_notebook(nbformat.v4.new_notebook(cells=cells), "01_bad")
    nbformat.write(nbformat.v4.new_notebook(cells=cells), repo / "solutions" / "02_bad.ipynb")
    capsys.readouterr()
    assert main(["release"]) == 2
    err = capsys.readouterr().err
    assert expected in err and "02_bad" in err and len(err.strip().splitlines()) == 1


def test_missing_solutions_folder_is_a_user_error(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["release"]) == 2
    assert main(["release", "--check"]) == 2
    assert "no solutions folder solutions" in capsys.readouterr().err


def test_duplicate_plain_cell_ids_get_stable_replacements():
    sol = _solution()
    sol.cells[2]["id"] = sol.cells[0]["id"]  # a copy-pasted markdown cell
    a = nbk.dumps(rel.release_notebook(sol, "01_tiny"))
    assert a == nbk.dumps(rel.release_notebook(sol, "01_tiny"))
    ids = [c["id"] for c in json.loads(a)["cells"]]
    assert len(set(ids)) == len(ids)


def test_regions():
    src = "a\n  ### BEGIN SOLUTION\n  b\n  ### END SOLUTION\nc\n# BEGIN SOLUTION\n# END SOLUTION"
    assert nbk.regions(src, nbk.BEGIN_SOLUTION, nbk.END_SOLUTION) == [(1, 3), (5, 6)]
    assert nbk.region_texts(src, nbk.BEGIN_SOLUTION, nbk.END_SOLUTION) == ["  b", ""]
    out, replaced = nbk.replace_regions(src, nbk.BEGIN_SOLUTION, nbk.END_SOLUTION, nbk.CODE_STUB)
    assert replaced and out.split("\n") == ["a", "  # YOUR CODE HERE", "  raise NotImplementedError()", "c",
                                            "# YOUR CODE HERE", "raise NotImplementedError()"]
    with pytest.raises(ValueError, match="got 'END SOLUTION' alone"):
        nbk.regions("### END SOLUTION", nbk.BEGIN_SOLUTION, nbk.END_SOLUTION)
    with pytest.raises(ValueError, match="got a second 'BEGIN SOLUTION'"):
        nbk.regions("### BEGIN SOLUTION\n### BEGIN SOLUTION", nbk.BEGIN_SOLUTION, nbk.END_SOLUTION)
