"""Stage 3b, run: a built notebook in a fresh kernel, in a worker subprocess, under the sandbox.

:func:`run_notebook` writes the notebook and a job file, starts :mod:`course.grading.worker` in
its own process group, and reads back each code cell's fate. The kernel runs in an empty scratch
working directory with a clean environment (only :data:`PASSED_ENV`), on the CPU, and under
bubblewrap when ``sandbox == "bwrap"`` (:mod:`.sandbox`). Past the total time limit plus a margin
for starting kernels, the worker and its kernels are killed and unfinished cells count as not run.

When the very first kernel of a run cannot start (no cell of the submission has run, so it is
never the student's doing), the grader must not score anyone: :func:`kernel_start_error` turns the
worker's record and log into one line saying why and how to fix it, and the caller raises
:class:`KernelStartError`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Sequence

import nbformat

from course.grading.build import GradedNotebook
from course.grading.sandbox import sandbox_prefix

# a test cell of the course takes 10 to 45 s alone on two cores, and a grader runs one kernel per two cores
# beside other work: the limit stops a runaway cell; brute force is stopped by the tests' budgets of
# processor time (course.integrity.forbid(seconds=)), which a busy machine does not use up
DEFAULT_CELL_TIMEOUT = 120.0
DEFAULT_TOTAL_TIMEOUT = 600.0
DEFAULT_MAX_OUTPUT = 100_000
#: Environment variables a kernel inherits from the grader; everything else is dropped.
PASSED_ENV = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "PYTHONDONTWRITEBYTECODE")
CHECKOUT = Path(__file__).resolve().parents[2]


class KernelStartError(RuntimeError):
    """No kernel could start at all, so nothing can be graded (the message says why and what to do)."""


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


def kernel_env(run_dir: Path) -> dict[str, str]:
    """The whole environment of a grading kernel: :data:`PASSED_ENV`, a home in ``run_dir``, the CPU."""
    home = run_dir / "home"
    env = {k: os.environ[k] for k in PASSED_ENV if k in os.environ}
    env.setdefault("PATH", os.defpath)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env["PATH"]])
    env.update(
        HOME=str(home), IPYTHONDIR=str(home / ".ipython"), MPLCONFIGDIR=str(home / ".matplotlib"),
        JAX_PLATFORMS="cpu", PYTHONUNBUFFERED="1", MPLBACKEND="module://matplotlib_inline.backend_inline",
        PYDEVD_DISABLE_FILE_VALIDATION="1", TMPDIR=str(run_dir / "tmp"),
        PYTHONSAFEPATH="1",  # (the kernel's folder is not on its path: a module left there would shadow ipykernel's)
    )
    return env


def run_notebook(
    nb: nbformat.NotebookNode,
    *,
    tests: Sequence[int] = (),
    cwd: Path | None = None,
    cell_timeout: float = DEFAULT_CELL_TIMEOUT,
    total_timeout: float = DEFAULT_TOTAL_TIMEOUT,
    max_output: int = DEFAULT_MAX_OUTPUT,
    sandbox: str = "none",
    hide: Sequence[Path] = (),
    clean_env: bool = True,
    guarded: bool = False,
) -> dict:
    """Run ``nb`` in a worker subprocess; return its per-cell results.

    Args:
        tests: indices of test cells (not replayed after a kernel restart).
        cwd: the kernel's working directory (default: an empty scratch folder).
        sandbox: ``"bwrap"`` or ``"none"`` (already resolved).
        hide: more folders the kernel must not see under the sandbox.
        clean_env: give the kernel only :func:`kernel_env`; ``False`` keeps this process's
            environment (``course check``, on a student's own machine).
        guarded: the notebook's first cell boots the grader's guard (:mod:`course._guard`): a test
            cell passes only if the guard's check after its last statement reported, with a key
            made for this run that only the guard reads (a test cell that did not run to its end,
            or whose reply said "ok" without having passed, fails).

    Returns:
        ``{"cells": {index: {"status", ...}}, "events": [...], "finished": bool, "log": [...]}``,
        and ``"kernel_start_failed"`` when the first kernel never started.
    """
    with tempfile.TemporaryDirectory(prefix="course-grade-") as tmp, \
            tempfile.TemporaryDirectory(prefix="course-run-") as run_dir:
        tmp, run_dir = Path(tmp), Path(run_dir)
        work, home, conn = run_dir / "work", run_dir / "home", run_dir / "conn"
        for d in (work, home, conn, run_dir / "tmp"):
            d.mkdir()
        nb_path, results, kernels = tmp / "graded.ipynb", tmp / "results.json", tmp / "kernels.txt"
        nbformat.write(nb, nb_path)
        env_k = kernel_env(run_dir) if clean_env else dict(os.environ)
        key_file = run_dir / "tmp" / "course-grader-key"  # the worker makes the key and writes it there before
        if guarded:  # each kernel starts; the guard reads and deletes it before any cell of the submission runs
            env_k["COURSE_GRADER_KEY"] = str(key_file)
        if clean_env:
            _seed_matplotlib_cache(home / ".matplotlib")
        kernel_cwd = Path(cwd) if cwd is not None else work
        prefix = sandbox_prefix(run_dir, kernel_cwd, env_k, [*hide, tmp]) if sandbox == "bwrap" else []
        job = {
            "notebook": str(nb_path), "cwd": str(kernel_cwd), "results": str(results), "kernels": str(kernels),
            "cell_timeout": cell_timeout, "total_timeout": total_timeout, "max_output": max_output,
            "tests": sorted(tests), "kernel_name": "python3",
            "kernel_env": env_k, "conn_dir": str(conn), "sandbox_prefix": prefix,
            "key_file": str(key_file) if guarded else None,
            # emptied before a replacement kernel starts (what the first left there, an IPython startup
            # file, a module named like the kernel's, a link at the key's path, would run or leak first)
            "fresh": [str(d) for d in (work, home, run_dir / "tmp")] if guarded and cwd is None and clean_env else [],
        }
        (tmp / "job.json").write_text(json.dumps(job), encoding="utf-8")
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        if clean_env:
            env["JAX_PLATFORMS"] = "cpu"
        with (tmp / "worker.log").open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "course.grading.worker", str(tmp / "job.json")],
                stdout=subprocess.DEVNULL, stderr=log, start_new_session=True, env=env, cwd=str(CHECKOUT),
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
        log = (tmp / "worker.log").read_text(errors="replace").strip().splitlines()
        if killed:
            state.setdefault("events", []).append("the grader killed the run: it outlived the total time limit")
        elif not state.get("finished"):
            state.setdefault("events", []).append(
                f"the grading process stopped early (exit {proc.returncode})" + (f": {log[-1][:200]}" if log else "")
            )
        if state.get("kernel_start_failed"):
            state["log"] = log[-40:]
        return state


def run_graded_notebook(graded: GradedNotebook, cwd: Path | None = None, **kw) -> dict:
    """Run a built notebook (see :func:`run_notebook`); its test cells are not replayed after a restart."""
    return run_notebook(graded.nb, tests=sorted(graded.test_index.values()), cwd=cwd, guarded=True, **kw)


_NOISE = re.compile(r"^\s*(\[[A-Z] |\d{4}-\d\d-\d\d|Traceback|File \"|\^+$|~+$)")


def _log_cause(log: Sequence[str]) -> str:
    """The line of a worker log that says why the kernel died (``bwrap: execvp ...``, ``ModuleNotFoundError: ...``)."""
    lines = [ln.strip() for ln in log if ln.strip() and not _NOISE.match(ln)]
    for ln in reversed(lines):
        if ln.startswith("bwrap:") or re.match(r"^[A-Za-z_.]*(Error|Exception)\b", ln) or "Fatal Python error" in ln:
            return ln[:300]
    return ""


def probe_kernel(sandbox: str, hide: Sequence[Path] = ()) -> dict:
    """Start one kernel (under the sandbox when ``sandbox == "bwrap"``) and run ``1 + 1``."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1", id="probe")])
    return run_notebook(nb, cell_timeout=60, total_timeout=120, sandbox=sandbox, hide=hide)


def kernel_start_error(state: dict, sandbox: str, hide: Sequence[Path] = ()) -> str:
    """One line: why no kernel could start, and how to fix it.

    Under the sandbox it starts one more kernel without the sandbox, to tell a sandbox that cannot
    see the environment from an environment that cannot start a kernel at all.
    """
    cause = _log_cause(state.get("log", [])) or state.get("kernel_start_failed", "unknown")
    exe, prefix = sys.executable, Path(sys.prefix)
    where = str(prefix) if prefix.resolve() == prefix else f"{prefix}, a link to {prefix.resolve()}"
    if sandbox == "bwrap":
        plain = probe_kernel("none", hide)
        if plain.get("cells", {}).get("0", {}).get("status") == "ok":
            return (f"no kernel could start inside the sandbox, so nothing was graded ({cause}), although one starts "
                    f"without it: the sandbox does not show the kernel its Python environment ({where}). Run the "
                    f"grader with the environment's real path ({prefix.resolve()}/bin/python -m course grade ...), "
                    "or pass --sandbox off to grade without a sandbox (submissions then run with your permissions)")
        cause = _log_cause(plain.get("log", [])) or cause
    return (f"no kernel could start, so nothing was graded ({cause}): check that `{exe} -m ipykernel_launcher "
            f"--help` runs in this environment ({where}); reinstall it with `{exe} -m pip install -e '.[test]'` "
            "(or make install), then run the same command again")
