"""Printing numbers so that notebook outputs are stable (nbval compares them as text)."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["fmt"]


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
    floating point and break nbval's text comparison.

    Example:
        >>> fmt(3.14159265)
        '3.142'
        >>> fmt([1e-12, 2.0, -0.0])
        '[1e-12, 2, 0]'
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
