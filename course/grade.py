"""Grade submitted notebooks against the hidden tests of their solution notebooks.

How a submission is graded:

1. **Matching.** A submission is matched to ``solutions/STEM.ipynb`` (see :func:`match_solution`):
   by its file name (``01_linear_regression.ipynb``, ``alice_01_linear_regression.ipynb``,
   ``01_linear_regression-alice.ipynb``, or any name inside a folder ``01_linear_regression/``),
   else by the ``metadata.course.exercise`` that release wrote into the notebook.
   ``--solution PATH`` forces one solution for every submission.
2. **Building.** The graded notebook is the submission's code cells, in the student's order,
   with every test cell (found by cell id or grade id) replaced by the solution's full test cell
   (visible and hidden tests). A test cell the student deleted is put back after its exercise's
   answer cells; a test cell the student moved above its answer cells runs after them. Cells the
   student added run where they are. A first cell, invisible to the student, installs the guard
   of :mod:`course._guard`, which restores the names tests use before each test cell.
3. **Running.** A subprocess (:mod:`course._grade_worker`) runs the notebook in a fresh kernel of
   this environment (``JAX_PLATFORMS=cpu``) from an empty scratch working directory, with a clean
   environment, and, where bubblewrap works (``sandbox="auto"``), in a sandbox where the solutions,
   the submissions, homes and this checkout are not visible (see :func:`sandbox_prefix`); with a
   per-cell and a total time limit, keeping at most ``max_output`` characters of output per cell.
   A cell that raises does not stop later cells. After a timeout or a kernel death, a fresh kernel
   replays the cells that had finished and execution goes on. If the subprocess itself outlives
   the total limit it is killed, with its kernels.
4. **Scoring.** A test cell that runs without error scores its points; any other outcome scores
   zero, with the reason. A written answer (graded by hand) scores 0 when left as released and is
   otherwise ``pending`` until a hand-given score is merged (:func:`apply_manual_scores`). A file
   that is not a valid notebook scores zero everywhere.
5. **A class.** :func:`grade_paths` grades ``jobs`` submissions at once and rewrites the JSON
   report and CSV gradebook as each finishes; a rerun reuses the results of unchanged files
   (:class:`ResultStore`).

The submission file is only read, never written.
"""

from __future__ import annotations

import ast
import concurrent.futures
import csv
import dataclasses
import hashlib
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Sequence

import nbformat

from course import notebooks as nbk

DEFAULT_CELL_TIMEOUT = 60.0
DEFAULT_TOTAL_TIMEOUT = 600.0
DEFAULT_MAX_OUTPUT = 100_000
#: Top-level packages whose modules are not snapshotted by the guard.
UNGUARDED = {"matplotlib", "IPython", "ipywidgets", "ipykernel", "__future__"}
_SEPARATORS = "_-. "


@dataclasses.dataclass
class ExerciseResult:
    """The outcome of one graded item: an exercise's test cell, or a written answer graded by hand.

    ``status`` is one of passed | failed | timeout | kernel died | not run | invalid (test cells),
    pending | not answered | graded by hand (written answers). ``points`` is ``None`` while pending.
    """

    grade_id: str
    points: float | None
    max_points: float
    status: str
    reason: str = ""


@dataclasses.dataclass
class SubmissionResult:
    """The outcome of one submission."""

    submission: str
    solution: str
    exercises: list[ExerciseResult]
    notes: list[str]
    seconds: float
    sandbox: str = "none"
    sha256: str = ""
    solution_sha256: str = ""

    @property
    def total(self) -> float:
        """Points given so far (pending answers count nothing yet)."""
        return sum(e.points for e in self.exercises if e.points is not None)

    @property
    def pending(self) -> float:
        """Points of the answers still to be graded by hand."""
        return sum(e.max_points for e in self.exercises if e.points is None)

    @property
    def max_total(self) -> float:
        return sum(e.max_points for e in self.exercises)

    def to_dict(self) -> dict:
        """JSON-ready form: exercises with grade_id, points, max_points, status, reason; totals."""
        return {
            "submission": self.submission,
            "solution": self.solution,
            "exercises": [dataclasses.asdict(e) for e in self.exercises],
            "total": self.total,
            "pending": self.pending,
            "max_total": self.max_total,
            "notes": self.notes,
            "sandbox": self.sandbox,
            "seconds": round(self.seconds, 2),
            "sha256": self.sha256,
            "solution_sha256": self.solution_sha256,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "SubmissionResult":
        """The inverse of :meth:`to_dict` (for results read back from a report)."""
        return cls(d["submission"], d["solution"], [ExerciseResult(**e) for e in d["exercises"]], list(d.get("notes", [])),
                   float(d.get("seconds", 0.0)), d.get("sandbox", "none"), d.get("sha256", ""), d.get("solution_sha256", ""))


# ----------------------------------------------------------------------------- matching


def match_solution(submission: str | Path, solutions_dir: str | Path) -> Path:
    """The solution notebook a submission answers.

    Rules, in order (the longest matching solution name wins):

    1. the file's stem is a solution's stem: ``01_linear_regression.ipynb``;
    2. the stem starts or ends with a solution's stem, joined by ``_``, ``-``, ``.`` or a space:
       ``alice_01_linear_regression.ipynb``, ``01_linear_regression-alice.ipynb``;
    3. a parent folder is named like a solution: ``01_linear_regression/alice.ipynb``;
    4. the notebook's ``metadata.course.exercise`` (written by release) names a solution.

    Args:
        submission: path of the submitted notebook.
        solutions_dir: folder of ``NN_topic.ipynb`` solution notebooks.

    Returns:
        The path of the solution notebook.

    Raises:
        FileNotFoundError: the folder holds no solutions.
        ValueError: nothing matches (the message says how to name the file or to pass --solution).

    Example:
        >>> match_solution("subs/alice_01_linear_regression.ipynb", "solutions")  # doctest: +SKIP
        PosixPath('solutions/01_linear_regression.ipynb')
    """
    submission = Path(submission)
    solutions = {p.stem: p for p in nbk.exercise_notebooks(solutions_dir)}
    if not solutions:
        raise FileNotFoundError(f"no NN_topic.ipynb solution notebooks in {solutions_dir} (pass --solutions DIR or --solution PATH)")
    stem = submission.stem
    if stem in solutions:
        return solutions[stem]
    hits = [s for s in solutions if any(stem.startswith(s + c) or stem.endswith(c + s) for c in _SEPARATORS)]
    if hits:
        return solutions[max(hits, key=len)]
    for parent in submission.parent.parts[::-1]:
        if parent in solutions:
            return solutions[parent]
    try:
        meta = json.loads(submission.read_text(encoding="utf-8", errors="replace"))["metadata"]["course"]["exercise"]
        if meta in solutions:
            return solutions[meta]
    except Exception:
        pass
    raise ValueError(
        f"{submission}: no matching solution in {solutions_dir} (name it like "
        f"{next(iter(solutions))}.ipynb or NAME_{next(iter(solutions))}.ipynb, or pass --solution PATH)"
    )


def collect_submissions(paths: Sequence[str | Path]) -> list[tuple[Path, Path | None]]:
    """Expand files and folders into ``(submission, folder it came from or None)`` pairs.

    Folders are searched recursively for ``*.ipynb``, skipping ``.ipynb_checkpoints``.

    Raises:
        FileNotFoundError: a path does not exist, or a folder holds no notebook.
    """
    out: list[tuple[Path, Path | None]] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(q for q in p.rglob("*.ipynb") if ".ipynb_checkpoints" not in q.parts and q.is_file())
            if not found:
                raise FileNotFoundError(f"no .ipynb files in {p}")
            out.extend((q, p) for q in found)
        elif p.is_file():
            out.append((p, None))
        else:
            raise FileNotFoundError(f"no such file or folder: {p}")
    return out


# ----------------------------------------------------------------------------- building


def _loaded_names(source: str) -> list[str]:
    """Names a cell reads (via ``ast``; every identifier when the cell is not plain Python)."""
    try:
        tree = ast.parse(_strip_magics(source))
    except SyntaxError:
        return sorted(set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", source)))
    return sorted({n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)})


def _strip_magics(source: str) -> str:
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.split("\n"))


def solution_imports(solution: nbformat.NotebookNode) -> tuple[list[str], dict[str, list]]:
    """Modules the solution imports, and its import aliases ``{name: [module, attribute|None]}``."""
    modules: list[str] = []
    aliases: dict[str, list] = {}
    for _, cell in nbk.iter_code_cells(solution):
        try:
            tree = ast.parse(_strip_magics(cell.source))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    modules.append(a.name)
                    if a.asname:
                        aliases[a.asname] = [a.name, None]
                    else:
                        top = a.name.split(".")[0]
                        aliases[top] = [top, None]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules.append(node.module)
                for a in node.names:
                    if a.name != "*":
                        aliases[a.asname or a.name] = [node.module, a.name]
    keep = [m for m in dict.fromkeys(modules) if m.split(".")[0] not in UNGUARDED]
    aliases = {k: v for k, v in aliases.items() if v[0].split(".")[0] not in UNGUARDED}
    return keep, aliases


def _prologue(solution: nbformat.NotebookNode, tests: list[str]) -> str:
    modules, aliases = solution_imports(solution)
    config = {"modules": modules, "aliases": aliases, "tests": {src: _loaded_names(src) for src in tests}}
    guard = (Path(__file__).with_name("_guard.py")).read_text(encoding="utf-8")
    boot = (
        "import sys, types\n"
        "m = types.ModuleType('_course_grader')\n"
        f"exec(compile({guard!r}, '<course grader guard>', 'exec'), m.__dict__)\n"
        "sys.modules['_course_grader'] = m\n"
        f"m.install(**__import__('json').loads({json.dumps(config)!r}))\n"
    )
    return f"__import__('builtins').exec({boot!r}, {{'__name__': '_course_grader_boot'}})"


def _cell_key(cell: nbformat.NotebookNode) -> set[str]:
    keys = set()
    if cell.get("id"):
        keys.add(cell["id"])
    if nbk.grade_id(cell):
        keys.add(nbk.grade_id(cell))
    return keys


@dataclasses.dataclass
class GradedNotebook:
    """A notebook ready to run, with where each exercise's test cell and answers sit."""

    nb: nbformat.NotebookNode
    test_index: dict[str, int]  # grade id -> cell index in nb
    answer_index: dict[str, list[int]]  # grade id of test -> indices of its answer cells in nb
    origin: dict[int, str]  # cell index -> what the cell is, for the report
    notes: list[str]


def build_graded_notebook(submission: nbformat.NotebookNode, solution: nbformat.NotebookNode) -> GradedNotebook:
    """Merge a submission with its solution's full test cells (see the module docstring).

    Args:
        submission: the student's notebook (not modified).
        solution: the solution notebook.

    Returns:
        A :class:`GradedNotebook`; cell 0 is the grader's guard.
    """
    exercises = {ex.grade_id: ex for ex in nbk.exercises(solution)}
    sol_tests = {nbk.grade_id(c): c for c in solution.cells if nbk.is_test_cell(c) and nbk.grade_id(c)}
    test_of_answer = {a: ex.grade_id for ex in exercises.values() for a in ex.answer_ids}
    sub_answers = {g for c in submission.cells for g in _cell_key(c) if g in test_of_answer}
    notes: list[str] = []
    # entries: (kind, key, source, description); kind is "guard", "test", "answer" or "cell"
    entries: list[tuple[str, str, str, str]] = [("guard", "", "", "grader guard")]
    placed: set[str] = set()  # answer cells already placed
    tests_placed: set[str] = set()
    pending: dict[str, set[str]] = {}  # test id -> its answer cells still to come

    def add_test(gid: str) -> None:
        entries.append(("test", gid, sol_tests[gid].source, f"test cell {gid!r}"))
        tests_placed.add(gid)

    for k, cell in enumerate(submission.cells):
        keys = sorted(_cell_key(cell))
        test_ids = [g for g in keys if g in sol_tests]
        if test_ids:
            gid = test_ids[0]
            if gid in tests_placed or gid in pending:
                notes.append(f"a copy of test cell {gid!r} (submission cell #{k}) was ignored")
                continue
            outstanding = {a for a in exercises[gid].answer_ids if a in sub_answers} - placed
            if outstanding:
                pending[gid] = outstanding
                notes.append(f"test cell {gid!r} sits above its answer cells; it runs after them")
            else:
                add_test(gid)
            continue
        answer_ids = [g for g in keys if g in test_of_answer]
        source = cell.get("source", "")
        source = source if isinstance(source, str) else ""
        if cell.get("cell_type") == "code":
            if answer_ids:
                entries.append(("answer", answer_ids[0], source, f"answer cell {answer_ids[0]!r}"))
            else:
                entries.append(("cell", "", source, f"cell #{k} of the submission"))
        if answer_ids:
            placed.add(answer_ids[0])
            gid = test_of_answer[answer_ids[0]]
            if gid in pending:
                pending[gid].discard(answer_ids[0])
                if not pending[gid]:
                    del pending[gid]
                    add_test(gid)
    for gid in list(pending):
        add_test(gid)
    # Test cells the student deleted: after the exercise's last answer cell, else at the end.
    for gid, ex in exercises.items():
        if gid in tests_placed:
            continue
        notes.append(f"test cell {gid!r} was missing from the submission; it was put back")
        last = [i for i, e in enumerate(entries) if e[0] == "answer" and e[1] in ex.answer_ids]
        entry = ("test", gid, sol_tests[gid].source, f"test cell {gid!r}")
        if last:
            entries.insert(last[-1] + 1, entry)
        else:
            entries.append(entry)
        tests_placed.add(gid)

    test_index = {e[1]: i for i, e in enumerate(entries) if e[0] == "test"}
    answer_index = {gid: [i for i, e in enumerate(entries) if e[0] == "answer" and e[1] in ex.answer_ids]
                    for gid, ex in exercises.items()}
    origin = {i: e[3] for i, e in enumerate(entries)}
    prologue = _prologue(solution, [entries[i][2] for i in test_index.values()])
    cells = [nbformat.v4.new_code_cell(prologue, id="course-grader-guard")]
    for i, (kind, key, source, _) in enumerate(entries[1:], start=1):
        meta = {"nbgrader": dict(nbk.nbgrader_meta(sol_tests[key]))} if kind == "test" else {}
        cells.append(nbformat.v4.new_code_cell(source, id=f"graded-{i}", metadata=meta))
    nb = nbformat.v4.new_notebook(
        cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    )
    return GradedNotebook(nb, test_index, answer_index, origin, notes)


# ----------------------------------------------------------------------------- running


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, OSError):
        pass


#: Live grading subprocesses (worker pid -> kernels file), so an interrupted run can end them all.
_LIVE: dict[int, Path] = {}
_LIVE_LOCK = threading.Lock()


def kill_live_runs() -> None:
    """Kill every grading subprocess still running, with its kernels (after Ctrl-C)."""
    with _LIVE_LOCK:
        live = list(_LIVE.items())
    for pid, kernels in live:
        _kill_group(pid)
        try:
            for line in kernels.read_text().split():
                if line.strip().isdigit():
                    _kill_group(int(line))
        except OSError:
            pass


# ----------------------------------------------------------------------------- sandbox

SANDBOX_MODES = ("auto", "require", "off")
INSTALL_BWRAP = "apt-get install bubblewrap"
#: Environment variables a kernel inherits from the grader; everything else is dropped.
PASSED_ENV = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "PYTHONDONTWRITEBYTECODE")
_BWRAP_PROBE: dict[str, str | None] = {}


def bwrap_problem() -> str | None:
    """Why bubblewrap cannot sandbox kernels here (``None`` when it can). Probed once per process."""
    if "result" not in _BWRAP_PROBE:
        exe = shutil.which("bwrap")
        if exe is None:
            why = f"bubblewrap (bwrap) is not installed ({INSTALL_BWRAP})"
        else:
            try:
                proc = subprocess.run([exe, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-pid",
                                       "--unshare-net", "--die-with-parent", "true"], capture_output=True, timeout=30)
                why = None if proc.returncode == 0 else (
                    f"bwrap cannot create namespaces here: {proc.stderr.decode(errors='replace').strip()[:200]}")
            except (OSError, subprocess.TimeoutExpired) as exc:
                why = f"bwrap failed to start: {exc}"
        _BWRAP_PROBE["result"] = why
    return _BWRAP_PROBE["result"]


def resolve_sandbox(mode: str) -> str:
    """``"bwrap"`` or ``"none"`` for ``--sandbox {auto,require,off}``.

    Raises:
        ValueError: an unknown mode, or ``require`` where bubblewrap cannot run.
    """
    mode = {"none": "off", "bwrap": "require"}.get(mode, mode)  # already resolved
    if mode not in SANDBOX_MODES:
        raise ValueError(f"expected --sandbox to be one of {', '.join(SANDBOX_MODES)}, got {mode!r}")
    if mode == "off":
        return "none"
    problem = bwrap_problem()
    if problem is None:
        return "bwrap"
    if mode == "require":
        raise ValueError(f"--sandbox require: {problem}; or pass --sandbox off to grade without one")
    return "none"


def _inside(path: Path, parent: Path) -> bool:
    return path == parent or parent in path.parents


def _hidden_paths(extra: Sequence[Path]) -> list[Path]:
    """Folders a sandboxed kernel must not see: homes, the course checkout, the grader's folders."""
    spec = importlib.util.find_spec("gradtools")
    checkouts = [Path(__file__).resolve().parents[1]]
    if spec is not None and spec.origin:
        checkouts.append(Path(spec.origin).resolve().parents[1])
    hide = [Path.home(), Path("/root"), Path("/home"), Path.cwd(), Path(tempfile.gettempdir()), *checkouts, *extra]
    out: list[Path] = []
    for p in hide:
        try:
            p = Path(p).resolve()
        except OSError:
            continue
        if p.is_dir() and p != Path("/") and p not in out:
            out.append(p)
    return out


def _visible_paths() -> list[Path]:
    """What a kernel needs, read-only: the Python installation, the environment, ``gradtools`` and ``course``.

    ``course`` holds the exercises' integrity check (:mod:`course.integrity`), which test cells
    import; it holds no solution (those live in the hidden ``solutions/`` folder).
    """
    keep = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix), Path(sys.executable).parent}
    for package in ("gradtools", "course"):  # the library, and the exercises' integrity check
        spec = importlib.util.find_spec(package)
        if spec is not None and spec.origin:
            keep.add(Path(spec.origin).resolve().parent)
    for entry in sys.path:
        if entry and Path(entry).is_dir() and ("site-packages" in entry or "dist-packages" in entry or "lib/python" in entry):
            keep.add(Path(entry))
    return sorted({p.resolve() for p in keep if p.exists()}, key=lambda p: len(p.parts))


# The system folders a kernel needs, read-only (those missing on a machine are skipped).
SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/sys")


def sandbox_prefix(run_dir: Path, work: Path, env: dict, hide: Sequence[Path]) -> list[str]:
    """The ``bwrap`` command line a kernel starts under.

    The kernel's file system is an allowlist: an empty root, onto which go, read-only, the system
    folders (``SYSTEM_PATHS``), the Python installation and environment, and the ``gradtools``
    package; ``run_dir`` (its working directory, home and connection files) writable; fresh
    ``/dev``, ``/proc`` and ``/tmp``. Nothing else of the host exists in it: not the course
    checkout, its solutions, other submissions, homes, the grader's temporary files, nor any other
    copy of the course elsewhere on the machine. The folders of ``hide`` (plus homes, the checkout
    and the grader's folders) that lie inside something bound are covered by empty read-only
    folders. It also gets its own PID, network, IPC and UTS namespaces and only the variables of
    ``env``.
    """
    args = [shutil.which("bwrap") or "bwrap", "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-net",
            "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--dev", "/dev", "--tmpfs", "/dev/shm", "--proc", "/proc", "--tmpfs", "/tmp"]
    system = [Path(p) for p in SYSTEM_PATHS]
    for p in system:
        args += ["--ro-bind-try", str(p), str(p)]
    # A hidden folder inside a system folder (a checkout in /usr/local, say) is covered first; what
    # the kernel needs inside it is bound again below.
    covered: list[Path] = []
    for p in sorted(_hidden_paths(hide), key=lambda p: len(p.parts)):
        if any(_inside(p, d) for d in system) and not any(_inside(p, c) for c in covered):
            args += ["--tmpfs", str(p)]
            covered.append(p)
    for p in _visible_paths():
        if not any(_inside(p, d) for d in system) or any(_inside(p, c) for c in covered):
            args += ["--ro-bind", str(p), str(p)]
    args += ["--bind", str(run_dir), str(run_dir)]
    if not _inside(Path(work), Path(run_dir)):
        args += ["--ro-bind", str(work), str(work)]
    for p in covered:
        args += ["--remount-ro", str(p)]
    # The empty root and /tmp themselves are read-only: nothing can be created beside the binds
    # (the kernel's TMPDIR is in its run folder).
    args += ["--remount-ro", "/", "--remount-ro", "/tmp"]
    args += ["--chdir", str(work), "--clearenv"]
    for k, v in env.items():
        args += ["--setenv", k, v]
    return args + ["--"]


def _seed_matplotlib_cache(target: Path) -> None:
    """Copy matplotlib's font list into a fresh home, so each kernel does not rebuild it (seconds)."""
    cache = os.environ.get("MPLCONFIGDIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "matplotlib")
    try:
        fonts = [f for f in os.listdir(cache) if f.startswith("fontlist") and f.endswith(".json")]
    except OSError:
        return
    target.mkdir(parents=True, exist_ok=True)
    for f in fonts:
        try:
            shutil.copy(os.path.join(cache, f), target / f)
        except OSError:
            pass


def run_graded_notebook(
    graded: GradedNotebook,
    cwd: Path | None = None,
    *,
    cell_timeout: float = DEFAULT_CELL_TIMEOUT,
    total_timeout: float = DEFAULT_TOTAL_TIMEOUT,
    max_output: int = DEFAULT_MAX_OUTPUT,
    sandbox: str = "none",
    hide: Sequence[Path] = (),
) -> dict:
    """Run a built notebook in a worker subprocess; return its per-cell results.

    The kernel runs in an empty scratch working directory (``cwd`` only if given), with a clean
    environment, and under bubblewrap when ``sandbox == "bwrap"`` (see :func:`sandbox_prefix`).
    The worker gets ``total_timeout`` plus a margin for starting kernels; past that, it and its
    kernels are killed and the cells it had not finished are reported as not run.
    """
    with tempfile.TemporaryDirectory(prefix="course-grade-") as tmp, \
            tempfile.TemporaryDirectory(prefix="course-run-") as run_dir:
        tmp, run_dir = Path(tmp), Path(run_dir)
        work, home, conn = run_dir / "work", run_dir / "home", run_dir / "conn"
        for d in (work, home, conn, run_dir / "tmp"):
            d.mkdir()
        nb_path, results, kernels = tmp / "graded.ipynb", tmp / "results.json", tmp / "kernels.txt"
        nbformat.write(graded.nb, nb_path)
        kernel_env = {k: os.environ[k] for k in PASSED_ENV if k in os.environ}
        kernel_env.setdefault("PATH", os.defpath)
        kernel_env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), kernel_env["PATH"]])
        kernel_env.update(
            HOME=str(home), IPYTHONDIR=str(home / ".ipython"), MPLCONFIGDIR=str(home / ".matplotlib"),
            JAX_PLATFORMS="cpu", PYTHONUNBUFFERED="1", MPLBACKEND="module://matplotlib_inline.backend_inline",
            PYDEVD_DISABLE_FILE_VALIDATION="1", TMPDIR=str(run_dir / "tmp"),
        )
        _seed_matplotlib_cache(home / ".matplotlib")
        kernel_cwd = Path(cwd) if cwd is not None else work
        prefix = sandbox_prefix(run_dir, kernel_cwd, kernel_env, [*hide, tmp]) if sandbox == "bwrap" else []
        job = {
            "notebook": str(nb_path), "cwd": str(kernel_cwd), "results": str(results), "kernels": str(kernels),
            "cell_timeout": cell_timeout, "total_timeout": total_timeout, "max_output": max_output,
            "tests": sorted(graded.test_index.values()), "kernel_name": "python3",
            "kernel_env": kernel_env, "conn_dir": str(conn), "sandbox_prefix": prefix,
        }
        (tmp / "job.json").write_text(json.dumps(job), encoding="utf-8")
        env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONUNBUFFERED="1")
        proc = subprocess.Popen(
            [sys.executable, "-m", "course._grade_worker", str(tmp / "job.json")],
            stdout=subprocess.DEVNULL, stderr=(tmp / "worker.log").open("wb"),
            start_new_session=True, env=env, cwd=str(Path(__file__).resolve().parents[1]),
        )
        with _LIVE_LOCK:
            _LIVE[proc.pid] = kernels
        killed = False
        try:
            proc.wait(timeout=total_timeout + 30 + 10 * 4)
        except subprocess.TimeoutExpired:
            killed = True
            _kill_group(proc.pid)
            proc.wait()
        finally:
            with _LIVE_LOCK:
                _LIVE.pop(proc.pid, None)
        if kernels.exists():
            for line in kernels.read_text().split():
                if line.strip().isdigit():
                    _kill_group(int(line))
        try:
            state = json.loads(results.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            state = {"cells": {}, "events": [], "finished": False}
        if killed:
            state.setdefault("events", []).append("the grader killed the run: it outlived the total time limit")
        elif not state.get("finished"):
            log = (tmp / "worker.log").read_text(errors="replace").strip().splitlines()
            state.setdefault("events", []).append(
                f"the grading process stopped early (exit {proc.returncode})" + (f": {log[-1][:200]}" if log else "")
            )
        return state


# ----------------------------------------------------------------------------- scoring


def _describe(res: dict | None) -> tuple[str, str]:
    if res is None:
        return "not run", "not run: grading stopped before this cell"
    status = res["status"]
    if status == "ok":
        return "passed", ""
    if status == "error":
        evalue = res.get("evalue", "").strip().splitlines()
        return "failed", f"{res.get('ename', 'Error')}: {evalue[0][:200] if evalue else ''}".rstrip(": ")
    if status == "timeout":
        return "timeout", res.get("reason", "timed out")
    if status == "dead":
        return "kernel died", res.get("reason", "the kernel died")
    return "not run", "not run: " + res.get("reason", "grading stopped before this cell")


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


_STUBS: dict[str, dict[str, str]] = {}


def _released_sources(sol_nb: nbformat.NotebookNode, key: str) -> dict[str, str]:
    """Source of each cell of the solution's release, by cell id (what an unanswered cell holds)."""
    if key not in _STUBS:
        from course.release import release_notebook

        _STUBS[key] = {c.get("id"): c.source for c in release_notebook(sol_nb, "x").cells}
    return _STUBS[key]


def _manual_result(ex: nbk.Exercise, sub_nb: nbformat.NotebookNode | None, stubs: dict[str, str],
                   task: bool = False) -> ExerciseResult:
    """A written answer: 0 when left as released (as nbgrader does), otherwise pending a hand grade.

    An nbgrader *task* (a markdown grade cell that is not an answer) is always pending, as in nbgrader.
    """
    if task:
        return ExerciseResult(ex.grade_id, None, ex.points, "pending", f"graded by hand: {_fmt(ex.points)} point(s) pending")
    if sub_nb is None:
        return ExerciseResult(ex.grade_id, 0.0, ex.points, "invalid", "not a valid notebook")
    cell = next((c for c in sub_nb.cells if ex.grade_id in _cell_key(c)), None)
    if cell is None:
        return ExerciseResult(ex.grade_id, 0.0, ex.points, "not answered", "the answer cell was deleted")
    source = cell.get("source", "")
    source = source if isinstance(source, str) else ""
    if not source.strip() or source.strip() == stubs.get(ex.grade_id, nbk.TEXT_STUB).strip():
        return ExerciseResult(ex.grade_id, 0.0, ex.points, "not answered", "left as released (no answer)")
    return ExerciseResult(ex.grade_id, None, ex.points, "pending", f"graded by hand: {_fmt(ex.points)} point(s) pending")


def grade_notebook(
    submission: str | Path,
    solution: str | Path,
    *,
    cell_timeout: float = DEFAULT_CELL_TIMEOUT,
    total_timeout: float = DEFAULT_TOTAL_TIMEOUT,
    max_output: int = DEFAULT_MAX_OUTPUT,
    name: str | None = None,
    sandbox: str = "auto",
    hide: Sequence[str | Path] = (),
) -> SubmissionResult:
    """Grade one submission against one solution notebook.

    Args:
        submission: the submitted notebook (read only).
        solution: its solution notebook.
        cell_timeout: seconds allowed to each cell.
        total_timeout: seconds allowed to the whole notebook (kernel restarts included).
        max_output: characters of output kept per cell.
        name: how to name the submission in the report (default: its path).
        sandbox: ``"auto"`` (bubblewrap when it works here), ``"require"`` or ``"off"``.
        hide: more folders the kernel must not see under the sandbox (the solution's folder and
            the submission's are always hidden).

    Returns:
        A :class:`SubmissionResult`: points per exercise, with a reason for each lost point;
        written answers are ``pending`` (``points`` is ``None``) until graded by hand.

    Raises:
        FileNotFoundError: the submission or solution is missing.
        ValueError: the solution notebook is malformed, or ``sandbox="require"`` cannot be met.

    Example:
        >>> grade_notebook("solutions/01_linear_regression.ipynb",
        ...                "solutions/01_linear_regression.ipynb").total  # doctest: +SKIP
    """
    t0 = time.monotonic()
    submission, solution = Path(submission), Path(solution)
    name = name or str(submission)
    used = resolve_sandbox(sandbox)
    sol_nb = nbk.read_notebook(solution)
    problems = nbk.check_solution_notebook(sol_nb, str(solution))
    if problems:
        raise ValueError(problems[0])
    items = nbk.graded_items(sol_nb)
    tasks = {nbk.grade_id(c) for c in sol_nb.cells if nbk.is_manual_cell(c) and not nbk.is_answer_cell(c)}
    sol_sha = file_sha256(solution)
    stubs = _released_sources(sol_nb, sol_sha)
    if not submission.is_file():
        raise FileNotFoundError(f"no such submission: {submission}")
    raw = submission.read_bytes()
    sub_sha = hashlib.sha256(raw).hexdigest()
    notes: list[str] = []
    if used == "none":
        why = bwrap_problem() if sandbox in ("auto", "none") else None
        notes.append("no sandbox: the submission ran with your permissions and could read any file you can"
                     + (f" ({why})" if why else ""))

    def finish(results: list[ExerciseResult], extra: list[str]) -> SubmissionResult:
        return SubmissionResult(name, str(solution), results, extra + notes, time.monotonic() - t0, used, sub_sha, sol_sha)

    def invalid(reason: str) -> SubmissionResult:
        return finish([ExerciseResult(e.grade_id, 0.0, e.points, "invalid", reason) for e, _ in items], [reason])

    try:
        sub_nb = nbk.reads_notebook(raw.decode("utf-8", errors="replace"), submission.name)
    except ValueError as exc:
        return invalid(str(exc))
    try:
        graded = build_graded_notebook(sub_nb, sol_nb)
    except Exception as exc:  # a notebook that parses but whose cells are malformed
        return invalid(f"{submission.name} is not a valid notebook: malformed cells ({type(exc).__name__}: {exc})")
    hidden = [solution.parent.resolve(), submission.parent.resolve(), *map(Path, hide)]
    state = run_graded_notebook(graded, cell_timeout=cell_timeout, total_timeout=total_timeout,
                                max_output=max_output, sandbox=used, hide=hidden)
    cells = state.get("cells", {})
    run_notes = list(graded.notes)
    guard = cells.get("0")
    if guard and guard["status"] != "ok":
        run_notes.append(f"the grader guard failed: {_describe(guard)[1]}")
    skipped: dict[str, list[str]] = {}
    for k in sorted(int(i) for i in cells):
        what = graded.origin.get(k, f"cell #{k}")
        if k == 0 or k in graded.test_index.values():
            continue
        status, reason = _describe(cells[str(k)])
        if status == "not run":
            skipped.setdefault(reason, []).append(what)
        elif status != "passed":
            run_notes.append(f"{what}: {reason} (grading went on)")
        if cells[str(k)].get("truncated"):
            run_notes.append(f"{what}: output longer than {max_output} characters was truncated")
    for reason, whats in skipped.items():
        run_notes.append(f"{len(whats)} cell(s) {reason}")
    run_notes.extend(state.get("events", []))
    results = []
    for ex, manual in items:
        if manual:
            results.append(_manual_result(ex, sub_nb, stubs, ex.grade_id in tasks))
            continue
        k = graded.test_index[ex.grade_id]
        status, reason = _describe(cells.get(str(k)))
        if status != "passed":
            trouble = [graded.origin[i] + ": " + _describe(cells.get(str(i)))[1] for i in graded.answer_index.get(ex.grade_id, [])
                       if _describe(cells.get(str(i)))[0] in ("timeout", "kernel died")]
            if trouble:
                reason += " [" + "; ".join(trouble) + "]"
        results.append(ExerciseResult(ex.grade_id, ex.points if status == "passed" else 0.0, ex.points, status, reason))
    return finish(results, run_notes)


# ----------------------------------------------------------------------------- hand-given scores


def read_manual_scores(path: str | Path) -> dict[str, dict[str, float]]:
    """Hand-given scores from a CSV: ``{submission: {grade_id: points}}``.

    The CSV has a ``submission`` column (names as in the gradebook) and one column per written
    answer, named by its grade id (or ``STEM:grade_id``, as in a gradebook mixing notebooks):
    a copy of the gradebook with its ``pending`` cells filled in works. Empty cells and the
    word ``pending`` are skipped; other columns are ignored when they are not written answers.

    Raises:
        FileNotFoundError: no such file.
        ValueError: no ``submission`` column, or a score that is not a number (naming row and column).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file of hand-given scores: {path}")
    out: dict[str, dict[str, float]] = {}
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or "submission" not in reader.fieldnames:
            raise ValueError(f"{path}: expected a 'submission' column, got {reader.fieldnames}")
        for row_no, row in enumerate(reader, start=2):
            scores = {}
            for col, value in row.items():
                if col in (None, "submission", "solution", "total", "pending", "max_total") or value is None:
                    continue
                value = value.strip()
                if not value or value.lower() == "pending":
                    continue
                try:
                    scores[col.split(":")[-1]] = float(value)
                except ValueError:
                    raise ValueError(f"{path}: line {row_no}, column {col!r}: expected a number of points, got {value!r}") from None
            out[row["submission"]] = scores
    return out


def apply_manual_scores(result: SubmissionResult, scores: dict[str, float], source: str = "hand-given") -> list[str]:
    """Give ``result``'s written answers their hand-given points (in place).

    Only written answers (pending, not answered or already graded by hand) take a score;
    autograded columns in ``scores`` are ignored.

    Returns:
        The grade ids that changed.

    Raises:
        ValueError: a score outside ``[0, max_points]``.
    """
    changed = []
    for e in result.exercises:
        if e.grade_id not in scores or e.status not in ("pending", "not answered", "graded by hand"):
            continue
        pts = scores[e.grade_id]
        if not 0 <= pts <= e.max_points:
            raise ValueError(f"{result.submission}: {e.grade_id}: expected 0 to {_fmt(e.max_points)} points, got {_fmt(pts)}")
        if e.points != pts or e.status != "graded by hand":
            e.points, e.status, e.reason = pts, "graded by hand", f"graded by hand ({source})"
            changed.append(e.grade_id)
    return changed


# ----------------------------------------------------------------------------- a whole class


def default_jobs() -> int:
    """Submissions graded at once by default: one per two cores (each kernel uses several threads)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, cores // 2)


class ResultStore:
    """The JSON report and CSV gradebook of a run, rewritten as each submission finishes.

    A rerun reads the report back and reuses each result whose submission and solution have the
    same content hash as before (unless ``force``): an interrupted run loses nothing graded, and
    running the same command again grades only what is missing or changed. Hand-given scores
    stay with their result while its submission is unchanged.
    """

    def __init__(self, report: Path | None, gradebook: Path | None, *, force: bool = False):
        self.report, self.gradebook = report, gradebook
        self.previous: dict[str, dict] = {}
        self.done: dict[str, SubmissionResult] = {}
        self.lock = threading.Lock()
        if report is not None and report.is_file() and not force:
            try:
                data = json.loads(report.read_text(encoding="utf-8"))
                self.previous = {d["submission"]: d for d in data if isinstance(d, dict) and "submission" in d}
            except (OSError, ValueError, TypeError):
                self.previous = {}

    def cached(self, name: str, sub_sha: str, sol_sha: str) -> SubmissionResult | None:
        d = self.previous.get(name)
        if d and d.get("sha256") == sub_sha and d.get("solution_sha256") == sol_sha:
            try:
                return SubmissionResult.from_dict(d)
            except (KeyError, TypeError):
                return None
        return None

    def ordered(self, order: Sequence[str]) -> list[SubmissionResult]:
        """Results in ``order``, then earlier results of submissions not in this run."""
        out = [self.done[n] for n in order if n in self.done]
        out += [SubmissionResult.from_dict(d) for n, d in self.previous.items() if n not in order and n not in self.done]
        return out

    def record(self, result: SubmissionResult, order: Sequence[str]) -> None:
        with self.lock:
            self.done[result.submission] = result
            self.write(order)

    def write(self, order: Sequence[str]) -> None:
        results = self.ordered(order)
        if self.report is not None:
            _atomic_write(self.report, json.dumps([r.to_dict() for r in results], indent=1) + "\n")
        if self.gradebook is not None:
            write_csv(results, self.gradebook)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


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
) -> list[SubmissionResult]:
    """Grade files and folders of submissions, ``jobs`` at a time, each in its own kernel.

    Every submission is matched to its solution first, so a bad name fails before any grading.
    With ``report`` (JSON) and/or ``gradebook`` (CSV), both files are rewritten as each submission
    finishes, and results already in ``report`` for unchanged files are reused (see
    :class:`ResultStore`). The results, in the order of the submissions, are the same whatever
    ``jobs`` is.

    Args:
        progress: a stream for the progress line (done, rate, time left), e.g. ``sys.stderr``;
            ``None`` for none.
        manual: hand-given scores ``{submission: {grade_id: points}}`` merged into the results.

    Raises:
        FileNotFoundError, ValueError: a path is missing, a submission matches no solution, or
            the sandbox is required but unavailable.
        KeyboardInterrupt: after ending every grading process; what finished is saved.
    """
    if jobs < 1:
        raise ValueError(f"expected --jobs to be at least 1, got {jobs}")
    used = resolve_sandbox(sandbox)
    subs = collect_submissions(paths)
    plan = []
    for sub, root in subs:
        sol = Path(solution) if solution is not None else match_solution(sub, solutions_dir)
        if not sol.is_file():
            raise FileNotFoundError(f"no such solution notebook: {sol}")
        name = str(sub.relative_to(root)) if root is not None else str(sub)
        plan.append((sub, sol, name))
    names = [name for _, _, name in plan]
    plan = [(sub, sol, str(sub) if names.count(name) > 1 else name) for sub, sol, name in plan]  # a name per file
    order = [name for _, _, name in plan]
    if manual:
        unknown = sorted(set(manual) - set(order))
        if unknown:
            raise ValueError(f"hand-given scores for {unknown[0]!r}, which is not among the submissions graded")
    store = ResultStore(Path(report) if report else None, Path(gradebook) if gradebook else None, force=force)
    hide = sorted({(root or sub.parent).resolve() for sub, root in subs} | {Path(solutions_dir).resolve()}
                  | {sol.parent.resolve() for _, sol, _ in plan}, key=str)
    sol_sha = {sol: file_sha256(sol) for _, sol, _ in plan}
    todo = []
    for sub, sol, name in plan:
        hit = store.cached(name, file_sha256(sub), sol_sha[sol])
        if hit is not None:
            store.done[name] = hit
        else:
            todo.append((sub, sol, name))
    reporter = Progress(len(plan), progress, reused=len(plan) - len(todo))

    def merge(result: SubmissionResult) -> None:
        if manual and result.submission in manual:
            apply_manual_scores(result, manual[result.submission], manual_source)

    if progress is not None and reporter.reused:
        print(reporter.line("the rest to grade" if todo else "nothing to grade again"), file=progress, flush=True)
    for name in list(store.done):
        merge(store.done[name])
    if store.report is not None or store.gradebook is not None:
        store.write(order)
    cancelled = threading.Event()

    def work(item):
        sub, sol, name = item
        result = grade_notebook(sub, sol, cell_timeout=cell_timeout, total_timeout=total_timeout,
                                max_output=max_output, name=name, sandbox=used, hide=hide)
        if cancelled.is_set():
            return None
        before = store.previous.get(name, {}).get("exercises", [])
        if any(e.get("status") == "graded by hand" for e in before if isinstance(e, dict)):
            result.notes.append("the file changed since it was graded: its hand-given scores were dropped (pending again)")
        merge(result)
        store.record(result, order)
        if progress is not None:
            reporter.update(result)
        return result

    pool = concurrent.futures.ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="course-grade")
    try:
        futures = [pool.submit(work, item) for item in todo]
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


def summary(r: SubmissionResult) -> str:
    """``6/7 (1 pending)``: points, out of, and points still to grade by hand."""
    text = f"{_fmt(r.total)}/{_fmt(r.max_total)}"
    return text + (f" ({_fmt(r.pending)} pending)" if r.pending else "")


# ----------------------------------------------------------------------------- reporting


def _fmt(x: float) -> str:
    return f"{x:g}"


def format_table(results: Sequence[SubmissionResult]) -> str:
    """A readable report: one block per submission, one row per graded item, then notes."""
    lines = []
    for r in results:
        lines.append(f"{r.submission}  (solution {r.solution}, {r.seconds:.1f} s, sandbox: {r.sandbox})")
        width = max([len(e.grade_id) for e in r.exercises] + [8])
        for e in r.exercises:
            got = "-" if e.points is None else _fmt(e.points)
            pts = f"{got}/{_fmt(e.max_points)}"
            lines.append(f"  {e.grade_id:<{width}}  {pts:>7}  {e.status:<11}  {e.reason}".rstrip())
        pending = f"  ({_fmt(r.pending)} pending: graded by hand)" if r.pending else ""
        lines.append(f"  {'total':<{width}}  {_fmt(r.total) + '/' + _fmt(r.max_total):>7}{pending}")
        for note in r.notes:
            lines.append(f"  note: {note}")
        lines.append("")
    if any(r.sandbox == "none" for r in results):
        lines.append("warning: graded without a sandbox: submissions ran with your permissions and could read the "
                     f"solutions (install bubblewrap: {INSTALL_BWRAP}; see the README, For instructors)")
    return "\n".join(lines)


def write_csv(results: Sequence[SubmissionResult], path: str | Path) -> list[str]:
    """Write a gradebook: one row per submission, one column per graded item, then totals.

    Columns are ``submission``, ``solution``, one per graded item (its grade id; ``STEM:grade_id``
    when the submissions answer several solution notebooks), ``total``, ``pending`` and
    ``max_total``. A written answer not graded by hand yet reads ``pending``. The file is
    replaced atomically.

    Returns:
        The header row.
    """
    several = len({Path(r.solution).stem for r in results}) > 1
    columns: list[str] = []
    rows = []
    for r in results:
        stem = Path(r.solution).stem
        row = {"submission": r.submission, "solution": r.solution, "total": _fmt(r.total),
               "pending": _fmt(r.pending), "max_total": _fmt(r.max_total)}
        for e in r.exercises:
            col = f"{stem}:{e.grade_id}" if several else e.grade_id
            if col not in columns:
                columns.append(col)
            row[col] = "pending" if e.points is None else _fmt(e.points)
        rows.append(row)
    header = ["submission", "solution", *columns, "total", "pending", "max_total"]
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=header, restval="")
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)
    return header
