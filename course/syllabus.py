"""The syllabus: lectures, their seeds and papers, and the exercises of their solution notebooks.

The one source is ``course/syllabus.toml`` (one ``[[lecture]]`` table per lecture). Exercise names
and points are not repeated there: they are read from ``solutions/SLUG.ipynb``.
"""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

from course import notebooks as nbk

SYLLABUS = Path(__file__).with_name("syllabus.toml")
STATUSES = ("ready", "planned")


@dataclasses.dataclass(frozen=True)
class Lecture:
    """One lecture of the syllabus.

    Attributes:
        number: lecture number (the ``NN`` of the slug).
        slug: stem of ``lectures/SLUG.ipynb``, ``solutions/SLUG.ipynb`` and ``exercises/SLUG.ipynb``.
        title: the lecture's title.
        seed: file name of its source material in ``shared/seeds/``.
        papers: works it draws on.
        status: ``"ready"`` or ``"planned"``.
    """

    number: int
    slug: str
    title: str
    seed: str
    papers: tuple[str, ...]
    status: str


def load_syllabus(path: str | Path = SYLLABUS) -> list[Lecture]:
    """Read and check the syllabus.

    Args:
        path: a TOML file with ``[[lecture]]`` tables (default: the course's own).

    Returns:
        The lectures in file order.

    Raises:
        ValueError: a field is missing or has the wrong type, a status is unknown, numbers or
            slugs repeat, or a slug does not start with its two-digit number.

    Example:
        >>> [lec.slug for lec in load_syllabus()][:1]
        ['01_linear_regression']
    """
    path = Path(path)
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    tables = data.get("lecture")
    if not isinstance(tables, list) or not tables:
        raise ValueError(f"{path}: expected [[lecture]] tables, got none")
    fields = {"number": int, "slug": str, "title": str, "seed": str, "papers": list, "status": str}
    lectures = []
    for k, table in enumerate(tables):
        for name, kind in fields.items():
            if not isinstance(table.get(name), kind):
                raise ValueError(f"{path}: lecture {k + 1}: expected {name} of type {kind.__name__}, got {table.get(name)!r}")
        if table["status"] not in STATUSES:
            raise ValueError(f"{path}: lecture {table['slug']}: expected status in {STATUSES}, got {table['status']!r}")
        if not nbk.NOTEBOOK_PATTERN.match(table["slug"] + ".ipynb") or int(table["slug"][:2]) != table["number"]:
            raise ValueError(f"{path}: lecture {table['slug']!r}: expected a slug 'NN_topic' with NN = number {table['number']}")
        lectures.append(Lecture(table["number"], table["slug"], table["title"], table["seed"], tuple(table["papers"]), table["status"]))
    for attr in ("number", "slug"):
        values = [getattr(lec, attr) for lec in lectures]
        dup = {v for v in values if values.count(v) > 1}
        if dup:
            raise ValueError(f"{path}: expected unique lecture {attr}s, got {sorted(dup)} more than once")
    return lectures


def format_syllabus(lectures: list[Lecture], root: str | Path = ".") -> str:
    """The listing printed by ``python -m course list``.

    One line per lecture (number, title, status, notebook); under each lecture whose solution
    notebook exists in ``root/solutions``, its graded items (test cells, and written answers graded
    by hand) with their points and the total.
    """
    root = Path(root)
    lines = []
    for lec in lectures:
        lines.append(f"{lec.number:02d}  {lec.title:<55} {lec.status:<8} lectures/{lec.slug}.ipynb")
        sol = root / "solutions" / f"{lec.slug}.ipynb"
        if sol.is_file():
            try:
                items = nbk.graded_items(nbk.read_notebook(sol))
            except ValueError as exc:
                lines.append(f"    exercises: cannot read {sol}: {exc}")
                continue
            parts = ", ".join(
                f"{e.grade_id} ({e.points:g} pt{'s' if e.points != 1 else ''}{', by hand' if manual else ''})"
                for e, manual in items
            )
            total = sum(e.points for e, _ in items)
            by_hand = sum(e.points for e, manual in items if manual)
            note = f" ({by_hand:g} graded by hand)" if by_hand else ""
            lines.append(f"    exercises/{lec.slug}.ipynb: {parts or 'none'}; total {total:g} points{note}")
    return "\n".join(lines)
