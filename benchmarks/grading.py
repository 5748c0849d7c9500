"""How fast ``course grade`` gets through a class: a folder of submissions at ``--jobs 1`` and ``--jobs 2``,
and cut into ``--shard K/N`` slices graded by N processes at once (as a cluster's job array would,
here on one machine) and joined by ``course merge``.

The submissions are copies of the tests' tiny notebook (tests/data/course): full answers, the
untouched release, and crafted ones (errors, edited tests, patching), so the numbers measure the
grader (a kernel per submission, the sandbox, the bookkeeping), not a lecture. Each run is checked
to give the same gradebook as the serial one.

    .venv/bin/python benchmarks/grading.py            # 20 submissions, --jobs 1 and 2
    .venv/bin/python benchmarks/grading.py -n 8 --jobs 1 2 4 --sandbox off
    .venv/bin/python benchmarks/grading.py -n 8 --jobs 1 --shards 2   # serial beside 2 shards in 2 processes
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "course"
KINDS = ["solution", "untouched", "raises", "edited", "patched"]


def make_class(folder: Path, n: int) -> None:
    """``n`` submissions of the tiny notebook, cycling through a few kinds of student."""
    sys.path.insert(0, str(ROOT))
    from course import notebooks as nbk
    from course.release import release_notebook

    import nbformat

    solution = DATA / "solutions" / "01_tiny.ipynb"
    released = nbk.dumps(release_notebook(nbformat.read(solution, as_version=4), "01_tiny"))
    folder.mkdir(parents=True)
    for i in range(n):
        kind = KINDS[i % len(KINDS)]
        target = folder / f"student{i:03d}_{kind}_01_tiny.ipynb"
        if kind == "solution":
            shutil.copy(solution, target)
        elif kind == "untouched":
            target.write_text(released, encoding="utf-8")
        else:
            shutil.copy(DATA / "submissions" / f"{kind}_01_tiny.ipynb", target)


def grade_folder(folder: Path, jobs: int, sandbox: str, out: Path) -> tuple[float, float, list[dict]]:
    """Wall seconds, CPU seconds (grader and kernels) and gradebook rows of one ``course grade`` run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "course", "grade", str(folder), "--solutions", str(DATA / "solutions"),
                    "--jobs", str(jobs), "--sandbox", sandbox, "--csv", str(out), "--force", "-q"],
                   cwd=ROOT, check=True, stdout=subprocess.DEVNULL, env=dict(os.environ, JAX_PLATFORMS="cpu"))
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    return wall, cpu, rows


def grade_shards(folder: Path, shards: int, sandbox: str, out: Path) -> tuple[float, float, list[dict]]:
    """Wall and CPU seconds of ``shards`` processes grading one slice each (``--jobs 1``), then ``course merge``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    procs = [subprocess.Popen([sys.executable, "-m", "course", "grade", str(folder), "--solutions", str(DATA / "solutions"),
                               "--jobs", "1", "--sandbox", sandbox, "--shard", f"{k}/{shards}", "--force", "-q",
                               "--report", str(out.with_name(f"shard{k}.json"))], cwd=ROOT, stdout=subprocess.DEVNULL, env=env)
             for k in range(1, shards + 1)]
    if any(p.wait() != 0 for p in procs):
        raise RuntimeError("a shard failed")
    subprocess.run([sys.executable, "-m", "course", "merge", *(str(out.with_name(f"shard{k}.json")) for k in range(1, shards + 1)),
                    "--csv", str(out)], cwd=ROOT, check=True, stdout=subprocess.DEVNULL, env=env)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    return wall, cpu, rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=20, help="submissions in the folder (default 20)")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2], help="values of --jobs to try (default 1 2)")
    parser.add_argument("--sandbox", default="auto", choices=["auto", "require", "off"])
    parser.add_argument("--shards", type=int, nargs="*", default=[], help="also: N shard processes, then course merge")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        tmp = Path(tmp)
        make_class(tmp / "class", args.n)
        print(f"{args.n} submissions of the tiny notebook; {platform.machine()}, {os.cpu_count()} cores, sandbox {args.sandbox}")
        print("| run | wall (s) | CPU (s) | submissions/min | same gradebook as the first |")
        print("|---|---|---|---|---|")
        reference = None
        for jobs in args.jobs:
            wall, cpu, rows = grade_folder(tmp / "class", jobs, args.sandbox, tmp / f"gradebook{jobs}.csv")
            reference = rows if reference is None else reference
            print(f"| --jobs {jobs} | {wall:.1f} | {cpu:.1f} | {60 * args.n / wall:.1f} | {'yes' if rows == reference else 'NO'} |",
                  flush=True)
            if rows != reference:
                return 1
        for shards in args.shards:
            wall, cpu, rows = grade_shards(tmp / "class", shards, args.sandbox, tmp / f"merged{shards}.csv")
            reference = rows if reference is None else reference
            print(f"| {shards} shards at once (--jobs 1 each) + merge | {wall:.1f} | {cpu:.1f} | {60 * args.n / wall:.1f} | "
                  f"{'yes' if rows == reference else 'NO'} |", flush=True)
            if rows != reference:
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
