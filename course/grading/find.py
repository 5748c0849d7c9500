"""Stage 1, find: which files are submissions, which solution each answers, who wrote it, and which shard grades it.

- :func:`collect_submissions` expands files and folders into submissions;
- :func:`match_solution` matches a submission to ``solutions/STEM.ipynb`` by its name (or the
  ``metadata.course.exercise`` that release wrote);
- :func:`plan` names each submission (its path relative to the folder given) and pairs it with its
  solution, failing before any grading when one does not match;
- :func:`parse_shard` and :func:`shard_of` cut the plan into N deterministic slices;
- :func:`student_key` reads the student out of a submission's name (for the Canvas export).
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Sequence

from course import notebooks as nbk

_SEPARATORS = "_-. "


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


@dataclasses.dataclass(frozen=True)
class Planned:
    """One submission to grade: its file, its solution, and its name in the gradebook."""

    path: Path
    solution: Path
    name: str
    root: Path | None


def plan(paths: Sequence[str | Path], *, solutions_dir: str | Path = "solutions",
         solution: str | Path | None = None) -> list[Planned]:
    """Every submission under ``paths`` with its solution and name, in the order they are graded.

    The name is the path relative to the folder given (``bob/01_tiny.ipynb``), or the path as
    given for a file; two files that would get the same name keep their full paths.

    Raises:
        FileNotFoundError, ValueError: a path is missing or a submission matches no solution.
    """
    subs = collect_submissions(paths)
    out = []
    for sub, root in subs:
        sol = Path(solution) if solution is not None else match_solution(sub, solutions_dir)
        if not sol.is_file():
            raise FileNotFoundError(f"no such solution notebook: {sol}")
        out.append(Planned(sub, sol, str(sub.relative_to(root)) if root is not None else str(sub), root))
    names = [p.name for p in out]
    return [dataclasses.replace(p, name=str(p.path)) if names.count(p.name) > 1 else p for p in out]


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/4"`` -> ``(2, 4)``: the K-th of N slices, counted from 1.

    Raises:
        ValueError: not ``K/N`` with ``1 <= K <= N`` (the message says how schedulers count).
    """
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text))
    if not match:
        raise ValueError(f"expected --shard K/N (e.g. 2/4), got {text!r}")
    k, n = int(match.group(1)), int(match.group(2))
    if n < 1 or not 1 <= k <= n:
        raise ValueError(f"expected --shard K/N with 1 <= K <= N, got {text!r} (shards count from 1: "
                         "a Kubernetes indexed Job's JOB_COMPLETION_INDEX counts from 0, so pass $((JOB_COMPLETION_INDEX + 1)))")
    return k, n


def shard_of(index: int, n: int) -> int:
    """The shard (1..n) of the submission at ``index`` in the plan: round robin.

    The plan is sorted by path, so the slices depend only on the files, not on ``--jobs`` or on
    the machine, and each shard gets every n-th submission (about as many of each notebook).
    """
    return index % n + 1


def student_key(name: str, stem: str) -> str | None:
    """The student a submission's name points to, as the instructor named the files.

    ``alice_01_tiny.ipynb``, ``01_tiny-alice.ipynb``, ``alice/01_tiny.ipynb`` and
    ``01_tiny/alice.ipynb`` all give ``alice`` (for solution ``01_tiny``); a bare
    ``01_tiny.ipynb`` gives ``None``.

    Example:
        >>> student_key("alice_01_tiny.ipynb", "01_tiny"), student_key("bob/01_tiny.ipynb", "01_tiny")
        ('alice', 'bob')
    """
    path = Path(name)
    file_stem = path.stem
    if file_stem != stem:
        for c in _SEPARATORS:
            if file_stem.startswith(stem + c) and len(file_stem) > len(stem) + 1:
                return file_stem[len(stem) + 1:]
            if file_stem.endswith(c + stem) and len(file_stem) > len(stem) + 1:
                return file_stem[: -len(stem) - 1]
    parents = [p for p in path.parent.parts if p not in ("", ".", "/")]
    if parents and parents[-1] == stem:
        return file_stem if file_stem != stem else (parents[-2] if len(parents) > 1 else None)
    if file_stem == stem:
        return parents[-1] if parents else None
    return file_stem
