"""What a feedback page must never show: the lines of a solution's hidden tests and solution regions.

``secret_lines(solution)`` is every line inside a ``BEGIN HIDDEN TESTS`` or ``BEGIN SOLUTION``
region (marker lines included) that students cannot see anyway: lines that also appear in the
released notebook, or inside one of its lines (a blank line, ``import numpy as np``, ``)``,
``rtol=1e-9)``), are not secrets. ``leaks(page,
secrets)`` lists the secrets found in a page, in its HTML or in its text after unescaping.
"""

import html
import re

import nbformat

from course import notebooks as nbk
from course.release import release_notebook


def secret_lines(solution: nbformat.NotebookNode, min_length: int = 8) -> set[str]:
    released = release_notebook(solution, "x")
    public = {line.strip() for c in released.cells for line in c.source.split("\n")}
    everything = "\n".join(public)
    out = set()
    for cell in solution.cells:
        lines = cell.source.split("\n")
        for begin, end in ((nbk.BEGIN_HIDDEN, nbk.END_HIDDEN), (nbk.BEGIN_SOLUTION, nbk.END_SOLUTION)):
            for i, j in nbk.regions(cell.source, begin, end):
                for line in lines[i : j + 1]:
                    text = line.strip()
                    if len(text) >= min_length and text not in everything:
                        out.add(text)
    return out


def leaks(page: str, secrets: set[str]) -> list[str]:
    text = html.unescape(re.sub(r"<[^>]+>", "", page))
    squashed = re.sub(r"\s+", " ", text)
    return sorted(s for s in secrets if s in page or s in text or re.sub(r"\s+", " ", s) in squashed)
