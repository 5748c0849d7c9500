"""Run one graded notebook in a kernel and record each code cell's fate (a grader subprocess).

Usage (by :mod:`course.grading.run` only): ``python -m course.grading.worker JOB.json``. The job names
the notebook to run (already built by the grader), the kernel's working directory, environment,
sandbox command line (``bwrap ...``, prefixed to the kernel's command) and connection folder
(kernels talk over Unix sockets there, so a kernel without a network still reaches this process),
the limits, and two files this process writes: the results (rewritten after every cell, so a parent that
has to kill this process still gets what finished) and the process groups of the kernels it
started (so the parent can kill those too).

Each code cell ends ``ok``, ``error`` (with the exception's name, message, and the line of the cell
where it was raised), ``timeout``,
``dead`` (the kernel died) or ``not run`` (with the reason). After a timeout or a kernel death the
kernel is replaced by a fresh one, the cells that had finished (tests excepted) are replayed
without recording, and execution goes on with the next cell. When the very first kernel cannot
start, the results say so (``kernel_start_failed``), so the grader can stop instead of scoring.
"""

from __future__ import annotations

import copy
import hmac
import json
import os
import re
import secrets
import shutil
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from jupyter_client.manager import AsyncKernelManager

MAX_RESTARTS = 4
TRUNCATED = "\n[... output truncated by the grader ...]\n"
#: What the guard prints after a test cell's last statement when its checks passed: an HMAC, with this
#: run's key, of the cell's text (taken out of the cell's output here).
_REPORT = re.compile(r"\[course-grader:([0-9a-f]{64})\]\n?")
NO_REPORT = ("the grader's check after this test cell's last statement did not report: the cell did not run "
             "to its end (or something of the submission's stood in the way of the check); this exercise scores 0")


def report_token(key: str, source: str) -> str:
    """What the guard prints for a test cell that passed its checks (see course/_guard.py's _report)."""
    return hmac.new(key.encode("ascii"), source.encode("utf-8"), "sha256").hexdigest()


def _kernel_manager_class(prefix: list[str]):
    """A kernel manager whose kernels start under ``prefix`` (the sandbox's command line, or nothing)."""

    class _KernelManager(AsyncKernelManager):
        def format_kernel_cmd(self, extra_arguments=None):
            return list(prefix) + super().format_kernel_cmd(extra_arguments)

    return _KernelManager


class _CappedClient(NotebookClient):
    """A notebook client that keeps at most ``max_output`` characters of output per cell."""

    def __init__(self, nb, *, max_output: int, **kw):
        super().__init__(nb, **kw)
        self._max_output = max_output
        self._out_size: dict[int, int] = {}
        self.truncated: set[int] = set()
        self.last_reply = None
        self.reports: dict[int, set[str]] = {}  # cell index -> the guard's reports it printed

    def output(self, outs, msg, display_id, cell_index):  # noqa: D401 (nbclient hook)
        msg_type = msg["msg_type"]
        if msg_type == "error":
            return super().output(outs, msg, display_id, cell_index)
        content = msg.get("content", {})
        if msg_type == "stream" and "[course-grader:" in content.get("text", ""):
            text = content["text"]
            self.reports.setdefault(cell_index, set()).update(_REPORT.findall(text))
            content = dict(content, text=_REPORT.sub("", text))
            msg = dict(msg, content=content)
            if not content["text"]:
                return None
        size = len(content.get("text", "")) if msg_type == "stream" else len(json.dumps(content.get("data", {})))
        used = self._out_size.get(cell_index, 0)
        self._out_size[cell_index] = used + size
        if used + size <= self._max_output:
            return super().output(outs, msg, display_id, cell_index)
        if cell_index not in self.truncated:
            self.truncated.add(cell_index)
            outs.append(nbformat.v4.new_output("stream", name="stderr", text=TRUNCATED))
        return None


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_CELL_FRAME = re.compile(r"(?:Cell In\s*\[\d*\]|Input In \[\d+\]|<ipython-input-[\d-]+[^>]*>),? (?:line )?(\d+)")


def error_line(traceback: list) -> int | None:
    """The line of the running cell where an error was raised, from IPython's traceback (``Cell In[3], line 2``).

    The first cell frame is the cell that ran (an error inside a function defined in another cell
    shows that cell's frame after it).
    """
    for entry in traceback or []:
        match = _CELL_FRAME.search(_ANSI.sub("", str(entry)))
        if match:
            return int(match.group(1))
    return None


def _empty(folders) -> None:
    """Empty each folder (a fresh home gets matplotlib's font list again)."""
    for d in folders:
        for p in list(d.iterdir()) if d.is_dir() else []:
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
        if d.name == "home":
            from course.grading.run import _seed_matplotlib_cache

            _seed_matplotlib_cache(d / ".matplotlib")


def _write_new(path: Path, text: str) -> None:
    """Write a new file, never through a link or into one that exists (what is at the path goes first)."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(text)


class _TotalLimit(Exception):
    """The total time limit ran out (not a kernel's own timeout)."""


def _seconds(x: float) -> int:
    """nbclient wants whole seconds: round up, at least 1."""
    return max(1, int(-(-x // 1)))


def _reply_hook(client):
    async def hook(cell, cell_index, execute_reply):
        client.last_reply = execute_reply

    return hook


def run(job: dict) -> dict:
    """Execute the job's notebook; return (and keep writing) the per-cell results."""
    nb = nbformat.read(job["notebook"], as_version=4)
    results_path = Path(job["results"])
    kernels_path = Path(job["kernels"])
    tests = set(job.get("tests", []))
    cell_timeout = float(job["cell_timeout"])
    total_timeout = float(job["total_timeout"])
    os.environ["JAX_PLATFORMS"] = "cpu"
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    start = time.monotonic()
    deadline = start + total_timeout
    prefix = list(job.get("sandbox_prefix") or [])
    kernel_env = job.get("kernel_env") or dict(os.environ)
    conn_dir = Path(job["conn_dir"]) if job.get("conn_dir") else None
    # the key of the guard's reports (see report_token): made here for each kernel, known to this process
    # and to that kernel's guard only
    key_file = Path(job["key_file"]) if job.get("key_file") else None
    key = ""
    fresh = [Path(d) for d in job.get("fresh") or []]
    kernel_count = 0
    starts = 0  # kernels started so far
    started = False  # has any kernel of this run started?
    code = [k for k, c in enumerate(nb.cells) if c.cell_type == "code" and c.source.strip()]
    state = {"cells": {}, "restarts": 0, "events": [], "seconds": 0.0, "finished": False}

    def save():
        state["seconds"] = round(time.monotonic() - start, 3)
        tmp = results_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state), encoding="utf-8")
        tmp.replace(results_path)

    def record(k, status, **info):
        state["cells"][str(k)] = {"status": status, **info}
        save()

    def not_run(from_pos, reason):
        for k in code[from_pos:]:
            record(k, "not run", reason=reason)

    done: list[int] = []  # cells that finished (ok or error), replayed after a restart
    pos = 0
    while pos < len(code):
        client = _CappedClient(
            nb,
            max_output=int(job["max_output"]),
            timeout=_seconds(cell_timeout),
            kernel_name=job.get("kernel_name", "python3"),
            allow_errors=True,
            record_timing=False,
            shutdown_kernel="immediate",
            interrupt_on_timeout=False,
            startup_timeout=max(30, min(120, int(total_timeout))),
            resources={"metadata": {"path": job["cwd"]}},
        )
        client.on_cell_executed = _reply_hook(client)
        if conn_dir is not None:  # kernels talk over Unix sockets: they work across network namespaces
            client.kernel_manager_class = _kernel_manager_class(prefix)
            client.km = client.create_kernel_manager()
            client.km.transport = "ipc"
            client.km.ip = str(conn_dir / f"k{kernel_count}")
            client.km.connection_file = str(conn_dir / f"k{kernel_count}.json")
            kernel_count += 1
        restart_reason = None
        if starts and fresh:  # a replacement kernel: nothing the previous one left (see run.py)
            _empty(fresh)
        starts += 1
        if key_file is not None:  # the guard of the kernel about to start reads it, and deletes it
            key = secrets.token_hex(32)
            _write_new(key_file, key)
        try:
            with client.setup_kernel(env=dict(kernel_env)):
                started = True
                prov = getattr(client.km, "provisioner", None)
                pgid = getattr(prov, "pgid", None) or getattr(prov, "pid", None)
                if pgid:
                    with kernels_path.open("a") as fh:
                        fh.write(f"{pgid}\n")
                if state["restarts"]:
                    for k in list(done):
                        remaining = deadline - time.monotonic()
                        if remaining <= 0:
                            raise _TotalLimit
                        client.timeout = _seconds(min(cell_timeout, remaining))
                        client.execute_cell(copy.deepcopy(nb.cells[k]), k)
                while pos < len(code):
                    k = code[pos]
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise _TotalLimit
                    limit = _seconds(min(cell_timeout, remaining))
                    client.timeout = limit
                    client.last_reply = None
                    t0 = time.monotonic()
                    try:
                        client.execute_cell(nb.cells[k], k)
                    except CellTimeoutError:
                        which = "per-cell" if limit >= cell_timeout else "total"
                        record(k, "timeout", reason=f"timed out after {limit} s ({which} time limit)",
                               seconds=round(time.monotonic() - t0, 3))
                        pos += 1
                        restart_reason = f"cell #{k} timed out"
                        break
                    except DeadKernelError:
                        record(k, "dead", reason="the kernel died while running this cell",
                               seconds=round(time.monotonic() - t0, 3))
                        pos += 1
                        restart_reason = f"the kernel died in cell #{k}"
                        break
                    content = (client.last_reply or {}).get("content", {})
                    info = {"seconds": round(time.monotonic() - t0, 3)}
                    if k in client.truncated:
                        info["truncated"] = True
                    if content.get("status") == "error":
                        line = error_line(content.get("traceback", []))
                        if line is not None:
                            info["line"] = line
                        record(k, "error", ename=str(content.get("ename", "Error")),
                               evalue=str(content.get("evalue", ""))[:500], **info)
                    elif content.get("status") == "aborted":
                        record(k, "error", ename="Aborted", evalue="the kernel aborted this cell", **info)
                    elif key and k in tests and report_token(key, nb.cells[k].source) \
                            not in client.reports.get(k, ()):
                        record(k, "error", ename="GraderCheck", evalue=NO_REPORT, **info)
                    else:
                        record(k, "ok", **info)
                    if k not in tests:
                        done.append(k)
                    pos += 1
        except _TotalLimit:
            not_run(pos, f"total time limit of {total_timeout:.0f} s reached")
            break
        except (CellTimeoutError, DeadKernelError) as exc:  # during the replay
            if isinstance(exc, CellTimeoutError) and time.monotonic() >= deadline - 1:  # cut by the total limit
                not_run(pos, f"total time limit of {total_timeout:.0f} s reached")
                break
            state["events"].append(f"the fresh kernel could not replay the earlier cells: {type(exc).__name__}")
            not_run(pos, "the kernel could not be restored after an earlier failure")
            break
        except Exception as exc:  # kernel failed to start, zmq trouble, ...
            if not started:
                state["kernel_start_failed"] = f"{type(exc).__name__}: {str(exc)[:300]}"
            state["events"].append(f"kernel error: {type(exc).__name__}: {str(exc)[:200]}")
            not_run(pos, f"kernel error ({type(exc).__name__})")
            break
        if restart_reason is not None and pos < len(code):
            state["restarts"] += 1
            if state["restarts"] > MAX_RESTARTS:
                state["events"].append(f"{restart_reason}; gave up after {MAX_RESTARTS} restarts")
                not_run(pos, f"the kernel was restarted {MAX_RESTARTS} times already")
                break
            state["events"].append(f"{restart_reason}; restarted the kernel and replayed {len(done)} earlier cells")
    if key_file is not None:
        key_file.unlink(missing_ok=True)
    state["finished"] = True
    save()
    return state


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    job = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    run(job)
    return 0


if __name__ == "__main__":
    sys.exit(main())
