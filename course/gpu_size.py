"""Run the GPU-size lectures in their GPU configuration, on copies: ``python -m course gpu-size``.

Lectures 2, 4, 5 and 6 switch to their GPU sizes when ``COURSE_SIZE=gpu``
(:func:`gradtools.course_size`): lectures 2 and 4 run larger problems and more seeds, lectures 5
and 6 switch to float32 and larger networks. This command executes copies of them that way, on whatever
backend JAX has (a CPU here and in CI: a rehearsal of what a GPU will run; a GPU where there is
one), so every cell and every assert is exercised at GPU size before anyone has a GPU. The stored
notebooks are never touched.

For each lecture it prints the backend, the dtype, the number of parameters (the lecture's
``N_PARAMS``) and the wall time, and with ``--json PATH`` writes them. A cell that raises stops
that lecture and makes the command fail, naming the cell.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Sequence

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]
GPU_LECTURES = ("02_taylor_autodiff", "04_behavior_manifolds", "05_rashomon_manifold", "06_geodesics")
MARK = "__course_gpu_size__ "

#: Appended to each copy: what the run used (each lecture defines N_PARAMS, its largest model).
REPORT_CELL = (
    "import json as _json, jax as _jax, jax.numpy as _jnp\n"
    "print(" + repr(MARK) + " + _json.dumps({'backend': _jax.default_backend(),"
    " 'device': str(_jax.devices()[0].device_kind), 'dtype': str(_jnp.zeros(()).dtype),"
    " 'params': int(N_PARAMS) if 'N_PARAMS' in globals() else None}))\n"
)


def _peak_rss_mib() -> float | None:
    try:
        import resource

        return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    except Exception:  # not on every platform
        return None


def run_lecture(path: Path, *, timeout: int = 1800, workdir: Path | None = None, keep: Path | None = None) -> dict:
    """Execute a copy of ``path`` with ``COURSE_SIZE=gpu``; return what it ran on and how long it took.

    With ``keep`` (a folder), the executed copy is written there, outputs and all, also when a cell
    raised: what the GPU configuration printed, to read (the stored lecture is not touched).

    Raises:
        RuntimeError: a cell raised (the message names the cell and the error).
    """
    path = Path(path)
    with tempfile.TemporaryDirectory(prefix="course-gpu-size-") as tmp:
        copy = Path(tmp) / path.name
        shutil.copy(path, copy)
        nb = nbformat.read(copy, as_version=4)
        nb.cells.append(nbformat.v4.new_code_cell(REPORT_CELL))
        env_before = {k: os.environ.get(k) for k in ("COURSE_SIZE", "GRADTOOLS_PROGRESS")}
        os.environ["COURSE_SIZE"] = "gpu"
        os.environ["GRADTOOLS_PROGRESS"] = "0"
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                                resources={"metadata": {"path": str(workdir or tmp)}})
        t0 = time.perf_counter()
        try:
            client.execute()
        except CellExecutionError as exc:
            failed = next((k for k, c in enumerate(nb.cells) if c.cell_type == "code"
                           and any(o.get("output_type") == "error" for o in c.get("outputs", []))), None)
            lines = [ln for ln in str(exc).splitlines() if ln.strip()]
            raise RuntimeError(f"{path.name} at GPU size: cell {failed} raised: {lines[-1] if lines else exc}") from None
        finally:
            if keep is not None:
                Path(keep).mkdir(parents=True, exist_ok=True)
                nbformat.write(nb, Path(keep) / path.name)
            for k, v in env_before.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        seconds = time.perf_counter() - t0
        info = {}
        for out in nb.cells[-1].get("outputs", []):
            for line in "".join(out.get("text", "")).splitlines():
                if line.startswith(MARK):
                    info = json.loads(line[len(MARK):])
        return {"lecture": path.stem, **info, "seconds": round(seconds, 1)}


def format_row(r: dict) -> str:
    params = f"{r['params']:,} parameters" if r.get("params") else "parameters unknown (no N_PARAMS)"
    return (f"{r['lecture']}: backend {r.get('backend')} ({r.get('device')}), {r.get('dtype')}, {params}, "
            f"{r['seconds']:.0f} s")


def main(notebooks: Sequence[str] = (), *, json_path: str | None = None, timeout: int = 1800,
         keep: str | None = None) -> int:
    """Run each GPU-size lecture (default: lectures 2, 4, 5 and 6); 0 when every cell passed, 1 otherwise."""
    paths = [Path(p) for p in notebooks] or [ROOT / "lectures" / f"{s}.ipynb" for s in GPU_LECTURES]
    for p in paths:
        if not p.is_file():
            raise FileNotFoundError(f"no such notebook: {p}")
        if keep is not None and (Path(keep) / p.name).resolve() == p.resolve():
            raise ValueError(f"--keep {keep} would overwrite the lecture {p} with its GPU-size run; "
                             "give a folder of its own (for example test-artifacts/gpu-size).")
    rows, failed = [], []
    t_all = time.perf_counter()
    for p in paths:
        print(f"running {p.name} at GPU size (COURSE_SIZE=gpu) ...", flush=True)
        try:
            row = run_lecture(p, timeout=timeout, keep=None if keep is None else Path(keep))
        except RuntimeError as exc:
            print(f"FAILED {exc}", flush=True)
            failed.append(p.name)
            continue
        rows.append(row)
        print(format_row(row), flush=True)
    total = time.perf_counter() - t_all
    peak = _peak_rss_mib()
    summary = f"gpu-size: {len(rows)} of {len(paths)} lecture(s) passed in {total:.0f} s"
    if peak:
        summary += f" (largest kernel's peak resident memory {peak:,.0f} MiB)"
    print(summary)
    if json_path:
        Path(json_path).write_text(json.dumps({"lectures": rows, "failed": failed, "seconds": round(total, 1),
                                               "peak_rss_mib": peak}, indent=1) + "\n", encoding="utf-8")
    return 1 if failed else 0
