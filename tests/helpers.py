"""Shared test helpers: ``from helpers import tree_allclose, flat`` (tests/ is on sys.path)."""

import jax
import numpy as np
from jax.flatten_util import ravel_pytree


def tree_allclose(a, b, *, rtol=1e-7, atol=1e-9):
    """Assert two pytrees have the same structure and allclose leaves (with a useful message)."""
    sa, sb = jax.tree_util.tree_structure(a), jax.tree_util.tree_structure(b)
    assert sa == sb, f"pytree structures differ: {sa} vs {sb}"
    for i, (x, y) in enumerate(zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b))):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol, err_msg=f"leaf {i}")


def flat(tree):
    """Flatten a pytree to one vector, in ravel_pytree order."""
    return ravel_pytree(tree)[0]


def jit_once(fn):
    """``jax.jit`` for a test program that runs once: compiled without XLA's backend optimizations,
    which halves the compile time of these small programs (results agree to rounding)."""

    def run(*args):
        return jax.jit(fn).lower(*args).compile({"xla_backend_optimization_level": 0})(*args)

    return run
