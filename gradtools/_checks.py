"""Input checks shared by gradtools' public functions.

Each check runs at trace time (on shapes and pytree structure, never on values), so it costs
nothing under ``jit`` and fails with a message that says what was expected, what was got and how
to fix it.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

_LIKELIHOODS = ("categorical", "gaussian", "bernoulli")


def _describe(tree: Any) -> str:
    shapes = jax.tree_util.tree_map(lambda a: tuple(jnp.shape(a)), tree)
    return f"{jax.tree_util.tree_structure(tree)} with shapes {shapes}"


def check_same_tree(w: Any, v: Any, *, wname: str = "w", vname: str = "v") -> None:
    """Raise unless ``v`` has the pytree structure and leaf shapes of ``w``."""
    sw, sv = jax.tree_util.tree_structure(w), jax.tree_util.tree_structure(v)
    if sw != sv:
        raise ValueError(
            f"{vname} must have the same pytree structure as {wname}.\n"
            f"  expected: {_describe(w)}\n  got:      {_describe(v)}\n"
            f"Build {vname} from {wname}, e.g. jax.tree_util.tree_map(jnp.ones_like, {wname})."
        )
    for i, (a, b) in enumerate(zip(jax.tree_util.tree_leaves(w), jax.tree_util.tree_leaves(v))):
        if jnp.shape(a) != jnp.shape(b):
            raise ValueError(
                f"leaf {i} of {vname} has shape {jnp.shape(b)}, expected {jnp.shape(a)} "
                f"(the shape of the same leaf of {wname}).\n"
                f"  expected: {_describe(w)}\n  got:      {_describe(v)}"
            )


def check_scalar_fn(f: Callable, *args: Any, name: str = "f") -> None:
    """Raise unless ``f(*args)`` returns a real scalar (checked by ``jax.eval_shape``)."""
    out = jax.eval_shape(f, *args)
    leaves = jax.tree_util.tree_leaves(out)
    if len(leaves) != 1 or leaves[0].shape != ():
        got = jax.tree_util.tree_map(lambda s: f"{s.dtype}{list(s.shape)}", out)
        raise TypeError(
            f"{name} must return a scalar (shape ()), got {got}. "
            f"Reduce the output first, e.g. with jnp.sum or jnp.mean, or use gnvp / "
            f"pullback_mvp for a vector-valued function."
        )
    if not jnp.issubdtype(leaves[0].dtype, jnp.floating):
        raise TypeError(f"{name} must return a real floating-point scalar, got dtype {leaves[0].dtype}.")


def check_callable(fn: Any, name: str) -> None:
    if not callable(fn):
        raise TypeError(f"{name} must be a callable, got {type(fn).__name__}: {fn!r:.60}")


def check_likelihood(likelihood: str) -> None:
    if likelihood not in _LIKELIHOODS:
        raise ValueError(
            f"unknown likelihood {likelihood!r}: expected one of {', '.join(map(repr, _LIKELIHOODS))}. "
            f"'categorical' takes logits, 'gaussian' a mean (with a given variance), "
            f"'bernoulli' a logit."
        )


def concrete(x: Any) -> np.ndarray | None:
    """The value of ``x`` as a NumPy array, or ``None`` when it is traced (inside jit/vmap/grad).

    Value checks (NaN, ranges, the simplex) run only on concrete values; shape checks always run.
    """
    try:
        return np.asarray(x)
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        return None
