"""Printing numbers so that notebook outputs are stable (nbval compares them as text).

Three helpers:

- :func:`fmt` rounds a number, array or pytree to a few significant digits;
- :func:`fmt_bound` prints round-off as a bound (``"< 1e-12"``), checking that it holds: the
  digits of round-off differ between CPUs, the bound does not;
- :func:`progress` wraps a long loop in a progress bar in JupyterLab, and prints nothing when
  ``GRADTOOLS_PROGRESS=0`` (set by the test suite and by ``python -m course execute``, so stored
  outputs never hold a bar).
"""

from __future__ import annotations

import os
from typing import Any, Iterable, TypeVar

import numpy as np

__all__ = ["fmt", "fmt_bound", "progress"]

T = TypeVar("T")


def _round_sig(x: float, sig: int) -> str:
    if not np.isfinite(x):
        return str(float(x))
    if x == 0:
        return "0"
    out = f"{float(x):.{sig}g}"
    return "0" if float(out) == 0 else out  # no "-0"


def fmt(x: Any, sig: int = 4) -> str:
    """Format a number, array or pytree of them with ``sig`` significant digits.

    Use it for every number a lecture prints: raw array reprs change with the last bits of
    floating point and break nbval's text comparison. Round-off (a residual, the difference of two
    nearly equal numbers) is not stable even to one digit: print it with :func:`fmt_bound`.

    Example:
        >>> fmt(3.14159265)
        '3.142'
        >>> fmt([1e-3, 2.0, -0.0])
        '[0.001, 2, 0]'
    """
    if isinstance(x, dict):
        return "{" + ", ".join(f"{k}: {fmt(v, sig)}" for k, v in x.items()) + "}"
    if isinstance(x, (list, tuple)) and not np.isscalar(x):
        return "[" + ", ".join(fmt(v, sig) for v in x) + "]"
    a = np.asarray(x)
    if a.dtype == bool:
        return str(a.tolist())
    if np.issubdtype(a.dtype, np.integer):
        return str(a.tolist())
    if a.ndim == 0:
        return _round_sig(float(a), sig)
    return "[" + ", ".join(fmt(v, sig) for v in a) + "]"


def fmt_bound(x: Any, bound: float) -> str:
    """Print a quantity that is round-off as the bound it satisfies, after checking the bound.

    ``x`` is a number, an array or a pytree of them; the check is on the largest absolute value
    (NaN fails). The printed text, ``"< 1e-12"``, is the same on every machine, while the digits of
    ``x`` itself are not.

    Args:
      x: the quantity (an error, a residual, a difference of nearly equal numbers).
      bound: a positive float that every ``|x|`` must be below.

    Returns:
      ``"< {bound:g}"``.

    Raises:
      ValueError: if some ``|x|`` is not below ``bound`` (or is NaN): the claim the printed bound
        makes is false, so the notebook must stop there.

    Example:
        >>> fmt_bound(3.3e-15, 1e-12)
        '< 1e-12'
        >>> fmt_bound([1e-16, -2e-14], 1e-12)
        '< 1e-12'
    """
    if not (isinstance(bound, (int, float, np.floating)) and bound > 0):
        raise ValueError(f"bound must be a positive number such as 1e-12, got {bound!r}.")
    import jax  # local: display is imported before JAX is configured in some tests

    leaves = [np.abs(np.asarray(leaf, dtype=float)).ravel() for leaf in jax.tree_util.tree_leaves(x)]
    worst = max((float(np.max(v)) if v.size else 0.0) for v in leaves) if leaves else 0.0
    if not worst < bound:  # also catches NaN
        raise ValueError(
            f"expected every |x| below {bound:g}, got max |x| = {worst:.3g}. The printed bound "
            f"would be false: find why the quantity is this large, or print it with fmt() if it "
            f"is not round-off."
        )
    return f"< {bound:g}"


def progress(iterable: Iterable[T], **kwargs: Any) -> Iterable[T]:
    """``iterable`` with a progress bar (``tqdm.auto``), or unchanged when bars are switched off.

    Bars are off when the environment variable ``GRADTOOLS_PROGRESS`` is ``0``: the test suite
    and ``python -m course execute`` set it, so a stored notebook output never contains a bar and
    nbval has nothing unstable to compare. Keyword arguments go to ``tqdm`` (``total``, ``desc``).

    Example:
        >>> sum(progress(range(4), desc="sum"))
        6
    """
    if os.environ.get("GRADTOOLS_PROGRESS", "1") == "0":
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, **kwargs)
