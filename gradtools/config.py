"""Which configuration a lecture runs in: CPU size (float64, small) or GPU size (float32, large).

Lectures 5 and 6 have two configurations. The CPU one is the default on a machine without a GPU:
float64, small networks, the whole notebook in about a minute. The GPU one is float32 at the size
a GPU makes worthwhile (over a million parameters in lecture 6). One setting chooses, on any
backend, so that a CPU-only machine can rehearse exactly what a GPU will run
(``make gpu-size``)::

    COURSE_SIZE=gpu   the GPU configuration, whatever the backend
    COURSE_SIZE=cpu   the CPU configuration, whatever the backend
    COURSE_SIZE=auto  (or unset) gpu when ``jax.default_backend() == "gpu"``, else cpu

Tolerances in those lectures follow the dtype the configuration uses (:func:`dtype_eps`).
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["course_size", "dtype_eps"]

SIZES = ("cpu", "gpu")


def course_size() -> str:
    """The configuration the GPU-capable lectures run in: ``"cpu"`` or ``"gpu"``.

    Read from the environment variable ``COURSE_SIZE`` (``gpu``, ``cpu`` or ``auto``); ``auto``, the
    default, is ``"gpu"`` exactly when JAX's default backend is a GPU.

    Raises:
        ValueError: ``COURSE_SIZE`` has another value.

    Example:
        >>> import os
        >>> os.environ["COURSE_SIZE"] = "gpu"; course_size()
        'gpu'
        >>> os.environ["COURSE_SIZE"] = "auto"; course_size() == ("gpu" if jax.default_backend() == "gpu" else "cpu")
        True
        >>> del os.environ["COURSE_SIZE"]
    """
    value = os.environ.get("COURSE_SIZE", "auto").strip().lower() or "auto"
    if value == "auto":
        return "gpu" if jax.default_backend() == "gpu" else "cpu"
    if value not in SIZES:
        raise ValueError(
            f"COURSE_SIZE must be 'gpu', 'cpu' or 'auto', got {os.environ['COURSE_SIZE']!r}: "
            "unset it, or run e.g. COURSE_SIZE=gpu make gpu-size"
        )
    return value


def dtype_eps(dtype=None) -> float:
    """Machine epsilon of ``dtype`` (default: JAX's current default float, float32 unless x64 is on).

    Tolerances derived from it hold in both configurations: ``rtol = 100 * dtype_eps()`` is
    about 2e-14 in float64 and 1e-5 in float32.

    Example:
        >>> dtype_eps(jnp.float32) > 1e-7 > dtype_eps(jnp.float64)
        True
    """
    dtype = jnp.zeros(()).dtype if dtype is None else jnp.dtype(dtype)
    return float(np.finfo(dtype).eps)
