"""Stage 3a, the sandbox: the ``bwrap`` command line a grading kernel starts under.

The kernel's file system is an allowlist: an empty root, onto which go, read-only, the system
folders (:data:`SYSTEM_PATHS`), the Python installation and environment, and the ``gradtools`` and
``course`` packages; its run folder (working directory, home, connection files) writable; fresh
``/dev``, ``/proc`` and ``/tmp``. Nothing else of the host exists in it: not the course checkout,
its solutions, other submissions, homes, the grader's temporary files, nor any other copy of the
course elsewhere on the machine. It also gets its own PID, network, IPC and UTS namespaces and
only the environment variables it is given.

Symbolic links on the way to the environment are recreated inside. A virtual environment reached
through a link (``.venv -> /shared/venvs/course``, as on clusters with shared software trees)
is started by the path with the link in it (``.venv/bin/python``), and Python finds its packages
from that path; binding only the link's target would leave the path the kernel is started by
missing, and every kernel would die before it starts.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Sequence

SANDBOX_MODES = ("auto", "require", "off")
INSTALL_BWRAP = "apt-get install bubblewrap"
# The system folders a kernel needs, read-only (those missing on a machine are skipped).
SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/sys")
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
    checkouts = [Path(__file__).resolve().parents[2]]
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


def _environment_paths() -> list[Path]:
    """The Python installation and environment, as this process names them (links not resolved)."""
    paths = [Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix), Path(sys.executable).parent]
    for package in ("gradtools", "course"):  # the library, and the exercises' integrity check
        spec = importlib.util.find_spec(package)
        if spec is not None and spec.origin:
            paths.append(Path(spec.origin).parent)
    for entry in sys.path:
        if entry and Path(entry).is_dir() and ("site-packages" in entry or "dist-packages" in entry or "lib/python" in entry):
            paths.append(Path(entry))
    return [Path(os.path.abspath(p)) for p in paths]


def _visible_paths() -> list[Path]:
    """What a kernel needs, read-only: the Python installation, the environment, ``gradtools`` and ``course``.

    ``course`` holds the exercises' integrity check (:mod:`course.integrity`), which test cells
    import; it holds no solution (those live in the hidden ``solutions/`` folder).
    """
    keep = {p.resolve() for p in _environment_paths() if p.exists()}
    return sorted(keep, key=lambda p: len(p.parts))


def _symlinks() -> list[tuple[Path, str]]:
    """Every symbolic link on the way to the environment's paths: ``(link, its target as written)``.

    Outermost first, so that a link inside a linked folder is made after the folder's own link.
    """
    out: list[tuple[Path, str]] = []
    for path in _environment_paths():
        prefix = Path("/")
        for part in path.parts[1:]:
            prefix = prefix / part
            if prefix.is_symlink() and all(prefix != link for link, _ in out):
                try:
                    out.append((prefix, os.readlink(prefix)))
                except OSError:
                    continue
                # what comes after the link is looked up in its target: go on from there
                prefix = prefix.resolve()
    return out


def sandbox_prefix(run_dir: Path, work: Path, env: dict, hide: Sequence[Path]) -> list[str]:
    """The ``bwrap`` command line a kernel starts under (see the module docstring).

    The folders of ``hide`` (plus homes, the checkout and the grader's folders) that lie inside
    something bound are covered by empty read-only folders. Links on the way to the environment
    (:func:`_symlinks`) are made again where nothing bound already has them.
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
    visible = _visible_paths()
    for p in visible:
        if not any(_inside(p, d) for d in system) or any(_inside(p, c) for c in covered):
            args += ["--ro-bind", str(p), str(p)]
    for link, target in _symlinks():
        bound = any(_inside(link, d) for d in system + visible) and not any(_inside(link, c) for c in covered)
        if not bound:
            args += ["--symlink", target, str(link)]
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
