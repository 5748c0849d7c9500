"""``course grade`` under bubblewrap: a submission cannot read the answers, by any route, nor write.

Each crafted submission is the released tiny notebook whose answer cells call ``_cheat()``: it
looks for the solution notebook by one route (the kernel's working directory, a search up from it,
``gradtools.__file__``'s checkout, the other submissions' folder, the grader's processes in
/proc, the environment's paths) and runs the solution's answer cells. Under the sandbox every
route finds nothing and the submission scores zero; with ``--sandbox off`` the routes that only
the sandbox closes do find the answers (so the attacks are real). A last submission tries to
write to the solution, the other submissions, the library and the home folder.

The sandbox also works when the course's environment is reached through a symbolic link
(``.venv -> /elsewhere/.venv``, as on clusters with shared software trees), and when no kernel can
start at all, in the sandbox or not, ``course grade`` grades nobody: one line says why and what
to do, and it exits 2.

Without ``bwrap`` the sandbox tests skip: ``apt-get install bubblewrap``.
"""

import contextlib
import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course import grading as grade
from course.grading import run as grading_run
from course.grading import sandbox
from course import notebooks as nbk
from course.cli import main
from course.release import release_notebook

DATA = Path(__file__).parent / "data" / "course"
SOLUTION = DATA / "solutions" / "01_tiny.ipynb"
AUTO = ("ex1_tests", "ex2_tests", "ex3_tests")
NEEDS_BWRAP = pytest.mark.skipif(grade.bwrap_problem() is not None,
                                 reason=f"no sandbox here: {grade.bwrap_problem()}; apt-get install bubblewrap")

CHEAT = r'''
import json, os
from pathlib import Path

def _answers_from(path):
    nb = json.loads(Path(path).read_text())
    out = []
    for c in nb["cells"]:
        text = "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
        if c["cell_type"] == "code" and c.get("metadata", {}).get("nbgrader", {}).get("solution") and "BEGIN SOLUTION" in text:
            out.append(text)
    return out if any("def square_norm" in t for t in out) else []

def _walk(root, depth):
    """Notebooks under root, at most depth folders down (skipping system and environment folders)."""
    skip = {"proc", "sys", "dev", "usr", "lib", "lib64", "bin", "sbin", "etc", "var", "boot", "run", "snap",
            ".venv", ".git", "node_modules", "site-packages", ".cache", ".library", ".mirror"}
    stack = [(Path(root), 0)]
    while stack:
        d, k = stack.pop()
        try:
            entries = list(os.scandir(d))
        except OSError:
            continue
        for e in entries:
            try:
                if e.is_file() and e.name.endswith(".ipynb"):
                    yield Path(e.path)
                elif e.is_dir(follow_symlinks=False) and k < depth and e.name not in skip:
                    stack.append((Path(e.path), k + 1))
            except OSError:
                continue

def _works(found):  # an attacker tries what it found first (this machine may hold other notebooks)
    import numpy as np
    ns = {"np": np}
    try:
        for s in found:
            exec(s, ns)
        X = np.arange(6.0).reshape(3, 2)
        return (ns["square_norm"](np.array([3.0, 4.0])) == 25.0 and np.allclose(ns["gram"](X), X.T @ X)
                and np.all(np.isfinite(ns["stable_softmax"](np.array([1000.0, 1001.0])))))
    except Exception:
        return False

def _cheat():
    for p in _candidates():
        try:
            found = _answers_from(p)
        except Exception:
            continue
        if found and _works(found):
            for s in found:
                try:
                    exec(s, globals())
                except Exception:
                    pass
            return str(p)
    raise RuntimeError("no answers found")
'''

ROUTES = {
    "cwd": '''
def _candidates():
    here = Path.cwd()
    yield from here.glob("*.ipynb")
    yield from here.parent.glob("solutions/*.ipynb")
    yield from here.parent.glob("*.ipynb")
''',
    "parents": '''
def _candidates():
    for parent in Path.cwd().parents:
        yield from _walk(parent, 7)
''',
    "checkout": '''
def _candidates():
    import gradtools
    root = Path(gradtools.__file__).resolve().parents[1]
    yield from (root / "solutions").glob("*.ipynb")
    yield from _walk(root, 5)
''',
    "others": '''
def _candidates():
    yield from _walk(Path(FOLDER), 3)
    yield from _walk(Path(FOLDER).parent, 3)
''',
    "proc": '''
def _candidates():
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        for link in ("cwd", "root"):
            try:
                where = Path(os.readlink(f"/proc/{pid}/{link}"))
            except OSError:
                continue
            if link == "cwd" or where != Path("/"):
                yield from _walk(where, 4)
        try:
            args = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\\0")
        except OSError:
            continue
        for a in args:
            p = Path(a.decode(errors="replace"))
            if p.suffix in (".ipynb", ".json") and p.is_file():
                yield p
            if p.is_dir():
                yield from _walk(p, 3)
''',
    "environ": '''
def _candidates():
    for value in os.environ.values():
        for part in value.split(os.pathsep):
            if part.startswith("/") and Path(part).is_dir() and part not in ("/", "/usr/bin", "/bin"):
                yield from _walk(Path(part), 2)
''',
}

WRITER = r'''
import os
from pathlib import Path
import gradtools
wrote = []
targets = [Path(SOLUTION_COPY), Path(FOLDER) / "cheat_cwd_01_tiny.ipynb", Path(FOLDER) / "new_file.txt",
           Path(gradtools.__file__).parent / "sandbox_probe.txt", Path(SOLUTIONS_DIR) / "sandbox_probe.txt",
           Path(CHECKOUT) / "sandbox_probe.txt"]
for t in targets:
    try:
        with open(t, "a") as fh:
            fh.write("# cheated\n")
        wrote.append(str(t))
    except OSError:
        pass
for t in targets[:2]:
    try:
        os.remove(t)
        wrote.append("removed " + str(t))
    except OSError:
        pass
if wrote:
    raise RuntimeError("wrote " + ", ".join(wrote))
'''


def _released():
    return release_notebook(nbformat.read(SOLUTION, as_version=4), "01_tiny")


def _cheater(route: str, folder: Path) -> nbformat.NotebookNode:
    nb = _released()
    setup = CHEAT + ROUTES[route].replace("FOLDER", repr(str(folder)))
    for cell in nb.cells:
        if nbk.is_answer_cell(cell) and cell.cell_type == "code":
            cell.source = "_cheat()"
    nb.cells.insert(2, nbformat.v4.new_code_cell(setup, id="cheat-setup"))
    return nb


def _writer(folder: Path, solutions: Path) -> nbformat.NotebookNode:
    nb = nbformat.read(SOLUTION, as_version=4)  # full answers: it loses points only if grading breaks
    src = (WRITER.replace("SOLUTION_COPY", repr(str(solutions / "01_tiny.ipynb"))).replace("FOLDER", repr(str(folder)))
           .replace("SOLUTIONS_DIR", repr(str(solutions))).replace("CHECKOUT", repr(str(Path(__file__).parents[1]))))
    nb.cells.insert(2, nbformat.v4.new_code_cell(src, id="writer"))
    return nb


def _run(folder: Path, solutions: Path, sandbox: str, monkeypatch) -> dict:
    monkeypatch.setenv("COURSE_SECRET_SOLUTIONS", str(solutions))  # the environment route's bait
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        # (limits with room: the /proc route walks every process's folders, and beside the rest of the suite and
        # other grading it once ran past 20 s a cell, so an attack that is real scored 4 of 6)
        status = main(["grade", str(folder), "--solutions", str(solutions), "--cell-timeout", "60", "--timeout", "300",
                       "--jobs", "2", "--sandbox", sandbox, "--json"])
    assert status == 0
    return {r["submission"]: r for r in json.loads(out.getvalue())}


@pytest.fixture(scope="module")
def classroom(tmp_path_factory):
    """A solutions folder (a copy), and a folder of cheating submissions next to an honest one."""
    root = tmp_path_factory.mktemp("class")
    solutions = root / "solutions"
    solutions.mkdir()
    shutil.copy(SOLUTION, solutions / "01_tiny.ipynb")
    folder = root / "submissions"
    folder.mkdir()
    shutil.copy(SOLUTION, folder / "honest_01_tiny.ipynb")  # another student's full answers, next door
    for route in ROUTES:
        nbformat.write(_cheater(route, folder), folder / f"cheat_{route}_01_tiny.ipynb")
    return root, solutions, folder


def _snapshot(*folders):
    return {p: (p.read_bytes(), p.stat().st_mtime_ns) for f in folders for p in Path(f).rglob("*") if p.is_file()}


@pytest.mark.slow
@NEEDS_BWRAP
def test_no_route_to_the_answers_under_the_sandbox(classroom, monkeypatch, tmp_path):
    root, solutions, folder = classroom
    run = tmp_path / "submissions"
    shutil.copytree(folder, run)
    nbformat.write(_writer(run, solutions), run / "writer_01_tiny.ipynb")
    checkout = Path(__file__).parents[1]
    before = _snapshot(run, solutions)
    report = _run(run, solutions, "require", monkeypatch)
    for route in ROUTES:
        r = report[f"cheat_{route}_01_tiny.ipynb"]
        assert r["sandbox"] == "bwrap"
        assert r["total"] == 0, (route, r)
        assert any("RuntimeError: no answers found" in n for n in r["notes"]), (route, r["notes"])
    w = report["writer_01_tiny.ipynb"]
    assert w["total"] == 6 and not any("wrote" in n for n in w["notes"]), w["notes"]
    assert report["honest_01_tiny.ipynb"]["total"] == 6
    assert _snapshot(run, solutions) == before  # nothing written, nothing removed
    for probe in (checkout / "sandbox_probe.txt", checkout / "gradtools" / "sandbox_probe.txt", solutions / "sandbox_probe.txt"):
        assert not probe.exists(), probe


@pytest.mark.slow
def test_without_the_sandbox_the_attacks_are_real(classroom, monkeypatch):
    """The same submissions with --sandbox off: the routes only the sandbox closes do find the answers.

    The scratch working directory and the clean environment hold in both modes."""
    root, solutions, folder = classroom
    report = _run(folder, solutions, "off", monkeypatch)
    totals = {route: report[f"cheat_{route}_01_tiny.ipynb"]["total"] for route in ROUTES}
    # (the proc route takes the first answers it finds in another process's memory: with other tests' kernels
    # running beside it (make test runs two workers) it can find another notebook's first and lose some points;
    # that it scores at all is the attack being real)
    proc = totals.pop("proc")
    assert totals == {"cwd": 0, "parents": 6, "checkout": 6, "others": 6, "environ": 0}
    assert proc > 0, report["cheat_proc_01_tiny.ipynb"]
    assert all(r["sandbox"] == "none" and any("no sandbox" in n for n in r["notes"]) for r in report.values())


def test_require_without_bwrap_is_a_user_error(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sandbox._BWRAP_PROBE, "result", "bubblewrap (bwrap) is not installed (apt-get install bubblewrap)")
    sub = tmp_path / "01_tiny.ipynb"
    shutil.copy(SOLUTION, sub)
    assert main(["grade", str(sub), "--solutions", str(SOLUTION.parent), "--sandbox", "require"]) == 2
    err = capsys.readouterr().err
    assert "apt-get install bubblewrap" in err and len(err.strip().splitlines()) == 1
    assert grade.resolve_sandbox("auto") == "none" and grade.resolve_sandbox("off") == "none"


@NEEDS_BWRAP
def test_sandbox_command_hides_the_checkout_and_keeps_the_library(tmp_path):
    run_dir, work = tmp_path / "run", tmp_path / "run" / "work"
    args = grade.sandbox_prefix(run_dir, work, {"HOME": "/x"}, [tmp_path / "solutions"])
    checkout = str(Path(grade.__file__).resolve().parents[2])
    pairs = list(zip(args, args[1:], args[2:]))
    bound = [src for flag, src, _ in pairs if flag in ("--bind", "--ro-bind", "--ro-bind-try")]
    # An allowlist: neither the root nor the checkout (nor anything above it) is bound, so no copy
    # of the solutions anywhere on the machine is visible; the library is bound back read-only.
    assert "/" not in bound
    assert not any(Path(checkout) == Path(b) or Path(b) in Path(checkout).parents for b in bound), bound
    assert ("--ro-bind", str(Path(checkout) / "gradtools"), str(Path(checkout) / "gradtools")) in pairs
    # course holds the exercises' integrity check, which test cells import (and no solution)
    assert ("--ro-bind", str(Path(checkout) / "course"), str(Path(checkout) / "course")) in pairs
    assert not any(Path(b) == Path(checkout) / "solutions" for b in bound)
    for flag in ("--unshare-pid", "--unshare-net", "--clearenv", "--die-with-parent"):
        assert flag in args
    assert args[-1] == "--"


@pytest.mark.slow
@NEEDS_BWRAP
def test_an_environment_reached_through_a_symlink_grades_in_the_sandbox(tmp_path):
    """``checkout/.venv -> the real environment``: the grader started through the link grades as usual."""
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / ".venv").symlink_to(Path(sys.prefix).resolve(), target_is_directory=True)
    python = checkout / ".venv" / "bin" / Path(sys.executable).name
    sub = tmp_path / "subs" / "ann_01_tiny.ipynb"
    sub.parent.mkdir()
    shutil.copy(SOLUTION, sub)
    proc = subprocess.run([str(python), "-m", "course", "grade", str(sub), "--solutions", str(SOLUTION.parent),
                           "--sandbox", "require", "--cell-timeout", "20", "--timeout", "60", "--json"],
                          cwd=Path(__file__).parents[1], capture_output=True, text=True, env=dict(os.environ, JAX_PLATFORMS="cpu"))
    assert proc.returncode == 0, proc.stderr
    (r,) = json.loads(proc.stdout)
    assert (r["total"], r["sandbox"]) == (6, "bwrap"), r["notes"]


def _class_of_two(tmp_path):
    folder = tmp_path / "subs"
    folder.mkdir()
    for name in ("ann_01_tiny.ipynb", "ben_01_tiny.ipynb"):
        shutil.copy(SOLUTION, folder / name)
    return folder


def _grade_expecting_exit_2(folder, tmp_path, capsys, *extra):
    gradebook = tmp_path / "gradebook.csv"
    capsys.readouterr()
    status = main(["grade", str(folder), "--solutions", str(SOLUTION.parent), "--cell-timeout", "20", "--timeout", "60",
                   "--csv", str(gradebook), "-q", *extra])
    out, err = capsys.readouterr()
    assert status == 2, (out, err)
    assert len(err.strip().splitlines()) == 1, err
    assert list(csv.DictReader(gradebook.open())) == []  # nobody was graded, not even with zeros
    return err


@pytest.mark.slow
def test_when_no_kernel_can_start_nobody_is_graded(monkeypatch, tmp_path, capsys):
    """A kernel that dies before it starts (here: a broken Python home) stops grading with exit 2."""
    clean = grading_run.kernel_env
    monkeypatch.setattr(grading_run, "kernel_env", lambda run_dir: {**clean(run_dir), "PYTHONHOME": "/nonexistent"})
    err = _grade_expecting_exit_2(_class_of_two(tmp_path), tmp_path, capsys, "--sandbox", "off")
    assert "course grade: error: no kernel could start, so nothing was graded" in err
    assert "ipykernel_launcher --help" in err and "run the same command again" in err


@pytest.mark.slow
@NEEDS_BWRAP
def test_when_the_sandbox_hides_the_environment_nobody_is_graded(monkeypatch, tmp_path, capsys):
    """What a symlinked environment did before the fix: the kernel starts outside the sandbox but not in it."""
    monkeypatch.setattr(sandbox, "_visible_paths", lambda: [])  # the environment is not bound inside
    monkeypatch.setattr(sandbox, "_symlinks", lambda: [])
    err = _grade_expecting_exit_2(_class_of_two(tmp_path), tmp_path, capsys, "--sandbox", "require")
    assert "no kernel could start inside the sandbox, so nothing was graded" in err
    assert "although one starts without it" in err and "--sandbox off" in err


@NEEDS_BWRAP
def test_links_on_the_way_to_the_environment_are_made_inside(monkeypatch, tmp_path):
    link = tmp_path / "venv-link"
    link.symlink_to(Path(sys.prefix).resolve(), target_is_directory=True)
    monkeypatch.setattr(sys, "prefix", str(link))
    assert (link, str(Path(link).resolve())) in sandbox._symlinks()
    args = sandbox.sandbox_prefix(tmp_path / "run", tmp_path / "run" / "work", {}, [])
    triples = list(zip(args, args[1:], args[2:]))
    assert ("--symlink", str(Path(sys.prefix).resolve()), str(link)) in triples
    assert ("--ro-bind", str(link.resolve()), str(link.resolve())) in triples
