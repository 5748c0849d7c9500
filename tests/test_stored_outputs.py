"""Stored notebook outputs hold no round-off printed as digits.

nbval compares stored outputs as text, and round-off differs between CPUs: ``1.1e-14`` here is
``1e-14`` on another machine, and nbval fails there. The rule (CONTRIBUTING.md): a quantity that
is round-off is printed as a bound with ``gt.fmt_bound`` (``< 1e-12``), never as digits. This test
scans the stored outputs of ``lectures/`` and ``solutions/`` for numbers at rounding level
(|x| < 1e-9 in scientific notation) not written as a bound, outside ``NBVAL_IGNORE_OUTPUT`` cells.
"""

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "lectures").glob("*.ipynb")) + sorted((ROOT / "solutions").glob("*.ipynb"))

# 1e-09, 4.5e-15, -3.3e-16, 1E-12 (and 1e-9), not part of a longer word or number.
ROUNDOFF = re.compile(r"(?<![\w.])[-+]?\d+(?:\.\d+)?[eE]-0*(?:9|[1-9]\d+)(?![\w.])")
# ... unless written as a bound: "< 1e-12", "<= 1e-10", "below 1e-12", "tol 1e-9", "within 1e-10".
BOUND = re.compile(r"(?:<=?|≤|\bbelow|\bunder|\bthan|\btol(?:erance)?|\bwithin|\bto)\s*[=:]?\s*\(?\s*$", re.I)


def roundoff_digits(text: str) -> list[str]:
    """The rounding-level numbers in ``text`` that are printed as digits, not as a bound."""
    return [m.group(0) for m in ROUNDOFF.finditer(text) if not BOUND.search(text[max(0, m.start() - 16) : m.start()])]


def output_text(out) -> str:
    if out.output_type == "stream" and out.get("name") == "stdout":
        return out.get("text", "")
    if out.output_type in ("execute_result", "display_data"):
        data = out.get("data", {})
        return "".join(data.get(k, "") for k in ("text/plain", "text/html", "text/latex", "text/markdown"))
    return ""


@pytest.mark.parametrize(
    "text, found",
    [
        ("distance of end point from optimum 1e-14", ["1e-14"]),
        ("largest discrepancy 4.5e-15 and 3.3E-16", ["4.5e-15", "3.3E-16"]),
        ("residual -2e-09", ["-2e-09"]),
        ("residual < 1e-12, error <= 1e-10, tol 1e-9, below 1e-13", []),
        ("step 1e-3, lr 0.001, a 1e-08x5, id abc1e-12", []),
        ("loss 2.5e-06", []),
    ],
)
def test_the_scanner_finds_roundoff_digits_and_only_those(text, found):
    assert roundoff_digits(text) == found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_roundoff_printed_as_digits(path):
    nb = nbformat.read(path, as_version=4)
    bad = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or "NBVAL_IGNORE_OUTPUT" in cell.source:
            continue
        for out in cell.outputs:
            for number in roundoff_digits(output_text(out)):
                bad.append(f"cell {i} (id {cell.get('id', '?')}): {number!r}")
    assert not bad, (
        f"{path.parent.name}/{path.name} prints round-off as digits, which differ on another CPU and "
        f"fail nbval there; print it with gt.fmt_bound(x, 1e-12) instead:\n  " + "\n  ".join(bad)
    )
