"""Shortcut fixtures: answers that skip what an exercise asks, each of which must score zero.

Each lecture's routes live in ``tests/data/course/shortcuts/NN_topic.toml``, one ``[[route]]``
table per route::

    [[route]]
    exercise = "ex3_tests"              # the test cell that must give 0 points
    family = "alias"                    # one of FAMILIES (REVIEW.md's list)
    route = "jax.jacrev under an import alias"
    expect = "jax.jacrev"               # text the failure must contain: it fails for this route
    alone = false                       # optional: grade it in a notebook of its own
    [route.answers]                     # answer grade id -> the shortcut's code
    ex3_answer = '''
    from jax import jacrev as _jr
    def jacobian_from_vjps(f, w):
        return _jr(f)(w)
    '''

:func:`build_submissions` turns them into submissions a student could hand in: the solution
notebook's ordinary code cells (imports, data) plus, for each route, its own copy of its
exercise's answer and test cells (ids ``ex3_answer__r2``, ``ex3_tests__r2`` for the second route of
``ex3_tests``) with the shortcut in place of the answers it names (the exercise's other answer cells
keep the solution's code). A lecture's routes share one notebook, so its kernel starts and its data
load once; tampering routes, routes that read the globals and routes marked ``alone`` get a
notebook of their own. Each notebook is graded against its solution reduced to the same copies.
The same file holds ``[[accept]]`` tables: correct answers written otherwise than the solution (another
algorithm, another formula) that must keep FULL points, since a test that refuses a correct answer is
as wrong as one that takes a shortcut::

    [[accept]]
    exercise = "ex6_tests"
    answer = "the thin SVD of the gradients instead of Woodbury"
    [accept.answers]
    ex6_answer = '''
    def ...
    '''

They are graded in the same notebooks as the routes, each in its own copy of its exercise.
``python tests/shortcuts.py [NN_topic ...] [--out DIR]`` writes them (default
``test-artifacts/shortcuts/``) to look at or grade by hand::

    python tests/shortcuts.py 02_taylor_autodiff --out /tmp/sc02
    python -m course grade /tmp/sc02/submissions --solutions /tmp/sc02/solutions
"""

from __future__ import annotations

import copy
import sys
import tomllib
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"
SHORTCUTS = ROOT / "tests" / "data" / "course" / "shortcuts"

#: The families of REVIEW.md: each route's "family".
FAMILIES = {
    "alias": "the banned function under another name (import alias, default argument, re-export, wrapper)",
    "equivalent": "an equivalent the ban did not name (jax.jacobian, vmap of jvp over the identity, scipy)",
    "library": "a gradtools function that does the whole exercise",
    "cached-trace": "a compiled trace cached before the ban",
    "callback": "a host callback around a Python loop",
    "brute-force": "simulation or brute force where a derivation is asked",
    "dense": "a dense route where a matrix-free one is asked, at a size it cannot finish",
    "transcribed": "a lecture cell transcribed with the names changed",
    "reference-copied": "the visible test's own reference copied",
    "hard-coded": "hard-coded numbers for the test's cases",
    "own-reference": "a wrong answer a test would accept if its reference came from the student's code",
    "tamper": "tampering with the check or with the functions it watches",
    "lazy": "a value that does the forbidden work only when the test reads it, after the check",
}
ROUTE_KEYS = {"exercise", "family", "route", "expect", "answers"}


def _nbg(cell) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def exercises_of(solution: nbformat.NotebookNode) -> dict[str, list[str]]:
    """``{test grade id: [answer grade ids]}``: each test cell and the answer cells above it."""
    out, pending = {}, []
    for cell in solution.cells:
        m = _nbg(cell)
        if m.get("solution") and not m.get("grade") and cell.cell_type == "code":
            pending.append(m["grade_id"])
        elif m.get("grade") and not m.get("solution"):
            out[m["grade_id"]] = pending
            pending = []
    return out


def _check_cells(where: str, lecture: str, entry: dict, exercises: dict) -> None:
    """A route's or accept's test cell exists in the solution, and its answers are that test's answer cells."""
    if entry["exercise"] not in exercises:
        raise ValueError(f"{where}: no test cell {entry['exercise']!r} in solutions/{lecture}.ipynb ({sorted(exercises)})")
    stray = set(entry["answers"]) - set(exercises[entry["exercise"]])
    if stray or not entry["answers"]:
        raise ValueError(f"{where}: answers must be answer cells of {entry['exercise']} "
                         f"({exercises[entry['exercise']]}), got {sorted(entry['answers'])}")


def load_routes(lecture: str, folder: Path = SHORTCUTS) -> list[dict]:
    """The routes of ``folder/LECTURE.toml``, checked against the lecture's solution notebook."""
    path = Path(folder) / f"{lecture}.toml"
    with path.open("rb") as fh:
        routes = tomllib.load(fh).get("route", [])
    sol = nbformat.read(SOLUTIONS / f"{lecture}.ipynb", as_version=4)
    exercises = exercises_of(sol)
    for k, r in enumerate(routes):
        where = f"{path.name}, route {k + 1} ({r.get('route', '?')})"
        missing = ROUTE_KEYS - set(r)
        if missing or set(r) - ROUTE_KEYS - {"alone"}:
            raise ValueError(f"{where}: a route has exactly {sorted(ROUTE_KEYS)} and optionally alone; got {sorted(r)}")
        if r["family"] not in FAMILIES:
            raise ValueError(f"{where}: family {r['family']!r} is not one of {sorted(FAMILIES)}")
        _check_cells(where, lecture, r, exercises)
        r["lecture"] = lecture
    return routes


ACCEPT_KEYS = {"exercise", "answer", "answers"}


def load_accepts(lecture: str, folder: Path = SHORTCUTS) -> list[dict]:
    """The correct answers (``[[accept]]``) of ``folder/LECTURE.toml``, each as a route-like dict
    (family ``"accept"``, its description as ``route``) that :func:`pack` and :func:`submission` take."""
    path = Path(folder) / f"{lecture}.toml"
    with path.open("rb") as fh:
        accepts = tomllib.load(fh).get("accept", [])
    exercises = exercises_of(nbformat.read(SOLUTIONS / f"{lecture}.ipynb", as_version=4))
    out = []
    for k, a in enumerate(accepts):
        where = f"{path.name}, accept {k + 1} ({a.get('answer', '?')})"
        if set(a) != ACCEPT_KEYS:
            raise ValueError(f"{where}: an accept has exactly {sorted(ACCEPT_KEYS)}; got {sorted(a)}")
        _check_cells(where, lecture, a, exercises)
        out.append({"exercise": a["exercise"], "family": "accept", "route": a["answer"], "expect": "",
                    "answers": a["answers"], "lecture": lecture, "accept": True})
    return out


def lectures_with_routes(folder: Path = SHORTCUTS) -> list[str]:
    return sorted(p.stem for p in Path(folder).glob("[0-9][0-9]_*.toml"))


def _alone(r: dict) -> bool:
    reads_globals = any(w in code for code in r["answers"].values() for w in ("globals(", "__main__", "vars("))
    return bool(r.get("alone")) or r["family"] in ("tamper", "reference-copied") or reads_globals


def pack(routes: list[dict]) -> list[list[dict]]:
    """Routes grouped into notebooks: every ordinary route of a lecture in one notebook (each in its
    own copy of its exercise's cells); alone: tampering routes, routes marked ``alone``, and routes
    that read the notebook's globals (an earlier copy of their test would have left its reference
    there, which a real submission does not meet)."""
    groups: list[list[dict]] = []
    shared: list[dict] = []
    for r in routes:
        if _alone(r):
            groups.append([r])
        else:
            shared.append(r)
    return ([shared] if shared else []) + groups


def _slots(group: list[dict]) -> dict[str, list[dict]]:
    """``{test grade id: [routes]}``, and each route's own copy of the test cell in ``route["grade_id"]``:
    the test's id itself when it is tried once, ``ID__rK`` for the K-th of several."""
    slots: dict[str, list[dict]] = {}
    for r in group:
        slots.setdefault(r["exercise"], []).append(r)
    for test, rs in slots.items():
        for k, r in enumerate(rs, start=1):
            r["grade_id"] = test if len(rs) == 1 else f"{test}__r{k}"
    return slots


def _renamed(cell, gid: str, source: str | None = None) -> nbformat.NotebookNode:
    meta = dict(_nbg(cell), grade_id=gid)
    return nbformat.v4.new_code_cell(cell.source if source is None else source, id=gid,
                                     metadata={"nbgrader": meta})


def _exercise_copies(solution: nbformat.NotebookNode, group: list[dict], answer_source) -> list:
    """The notebook's code cells with each targeted exercise's answer and test cells copied once per
    route, at its test cell's place (answer cells first, then the test), under the route's ids."""
    exercises, slots = exercises_of(solution), _slots(group)
    by_id = {_nbg(c).get("grade_id"): c for c in solution.cells if _nbg(c).get("grade_id")}
    targeted = {g for t in slots for g in [t, *exercises[t]]}
    cells = []
    for cell in solution.cells:
        m = _nbg(cell)
        gid = m.get("grade_id")
        if m.get("solution") and m.get("grade"):
            continue  # written answers are graded by hand: not here
        if gid in targeted and gid in slots:  # the test cell: one copy of the exercise per route
            for r in slots[gid]:
                suffix = r["grade_id"][len(gid):]
                for a in exercises[gid]:
                    cells.append(_renamed(by_id[a], a + suffix, answer_source(r, a)))
                cells.append(_renamed(cell, r["grade_id"]))
        elif gid in targeted or m.get("grade") or m.get("solution"):
            continue  # placed with its test, or an exercise this notebook does not try
        else:
            cells.append(cell)
    return cells


def reduce_solution(solution: nbformat.NotebookNode, group: list[dict]) -> nbformat.NotebookNode:
    """The solution reduced to the group's exercises, each copied once per route (see
    :func:`submission`); the other exercises and the written answers are dropped; ordinary cells stay."""
    out = copy.deepcopy(solution)
    out.cells = _exercise_copies(solution, group, lambda r, a: None)
    return out


def submission(solution: nbformat.NotebookNode, group: list[dict]) -> nbformat.NotebookNode:
    """A submission with the group's shortcuts: the solution's ordinary code cells, then for each
    route its own copy of its exercise, the shortcut in place of the answers it names (the
    exercise's other answer cells keep the solution's code)."""
    cells = [c if _nbg(c).get("grade_id") else nbformat.v4.new_code_cell(c.source)
             for c in _exercise_copies(solution, group, lambda r, a: r["answers"].get(a))
             if c.cell_type == "code"]
    return nbformat.v4.new_notebook(cells=cells, metadata={
        "kernelspec": solution.metadata.get("kernelspec", {}),
        "course": {"shortcuts": [{k: r[k] for k in ("exercise", "family", "route", "expect", "grade_id")} for r in group]},
    })


def sample(routes: list[dict], accepts: list[dict]) -> tuple[list[dict], list[dict]]:
    """``make test``'s share of a lecture's fixtures (``make test-long`` grades the others): for each
    exercise its first route that shares the lecture's notebook (its first, when none does) and its
    first correct answer, and the lecture's first tampering route (in a notebook of its own)."""
    out_r, out_a, seen_a = [], [], set()
    tamper = [r for r in routes if r["family"] == "tamper"][:1]
    for exercise in dict.fromkeys(r["exercise"] for r in routes):
        mine = [r for r in routes if r["exercise"] == exercise]
        shared = [r for r in mine if not _alone(r)]
        out_r.append((shared or mine)[0])  # one that shares the lecture's notebook, where there is one
    out_r += [r for r in tamper if not any(r is o for o in out_r)]
    for a in accepts:
        if a["exercise"] not in seen_a:
            seen_a.add(a["exercise"])
            out_a.append(a)
    return out_r, out_a


SHARES = ("all", "sample", "rest")


def share_of(routes: list[dict], accepts: list[dict], share: str) -> tuple[list[dict], list[dict]]:
    """A lecture's routes and correct answers to grade: ``all``, ``sample`` (:func:`sample`, what
    ``make test`` grades) or ``rest`` (the others, what ``make test-long`` adds to it)."""
    if share not in SHARES:
        raise ValueError(f"share must be one of {SHARES}, got {share!r}")
    if share == "all":
        return routes, accepts
    few_r, few_a = sample(routes, accepts)
    if share == "sample":
        return few_r, few_a
    return ([r for r in routes if not any(r is f for f in few_r)],
            [a for a in accepts if not any(a is f for f in few_a)])


def build_submissions(out: Path, lectures: list[str] | None = None,
                      share: str = "all") -> dict[str, list[dict]]:
    """Write ``out/submissions/NAME.ipynb`` and ``out/solutions/NAME.ipynb`` for every group of
    ``share`` (see :func:`share_of`) of each lecture's routes and correct answers.

    Returns:
        ``{NAME: routes}``; NAME is ``NN_topic__K`` (the solution it reduces, then a counter), a
        name the grader matches to the reduced solution of the same name.
    """
    subs, sols = Path(out) / "submissions", Path(out) / "solutions"
    subs.mkdir(parents=True, exist_ok=True)
    sols.mkdir(parents=True, exist_ok=True)
    made = {}
    for lecture in lectures or lectures_with_routes():
        solution = nbformat.read(SOLUTIONS / f"{lecture}.ipynb", as_version=4)
        routes, accepts = load_routes(lecture), load_accepts(lecture)
        routes, accepts = share_of(routes, accepts, share)
        for k, group in enumerate(pack(routes + accepts), start=1):
            name = f"{lecture}__{k:02d}"
            nbformat.write(submission(solution, group), subs / f"{name}.ipynb")
            nbformat.write(reduce_solution(solution, group), sols / f"{name}.ipynb")
            made[name] = group
    return made


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Write the shortcut submissions and reduced solutions to grade.")
    parser.add_argument("lectures", nargs="*", help="NN_topic stems (default: every lecture with routes)")
    parser.add_argument("--out", default=str(ROOT / "test-artifacts" / "shortcuts"), help="folder to write into")
    parser.add_argument("--share", choices=SHARES, default="all",
                        help="sample: make test's share (see sample()); rest: what make test-long adds; all (default)")
    args = parser.parse_args()
    made = build_submissions(Path(args.out), args.lectures or None, share=args.share)
    n_accept = sum(bool(r.get("accept")) for g in made.values() for r in g)
    print(f"wrote {len(made)} submission(s) with {sum(len(g) for g in made.values()) - n_accept} route(s) and {n_accept} "
          f"correct answer(s) to {args.out}; grade with\n"
          f"  python -m course grade {args.out}/submissions --solutions {args.out}/solutions")
