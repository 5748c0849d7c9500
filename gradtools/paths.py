r"""Paths in weight space (lectures 5 and 6): lines, Bezier curves, discrete length and energy, geodesics.

A *path* is a map :math:`t \mapsto w(t)` from :math:`[0, 1]` into weight space; a *discrete path*
is a stacked pytree ``ws`` whose leaves carry a leading axis of points :math:`w_0, \dots, w_K` at
evenly spaced :math:`t_k = k / K`. Measured through a map :math:`f` (a network on a batch, say),
with segment lengths :math:`d_k = \|f(w_{k+1}) - f(w_k)\|`,

.. math::
    L = \sum_{k=0}^{K-1} d_k, \qquad E = K \sum_{k=0}^{K-1} d_k^2 \;\ge\; L^2,

the discrete length and energy (Cauchy-Schwarz, with equality exactly when all :math:`d_k` are
equal). They are the Riemann sums of :math:`\int_0^1 \|\dot u\|\,dt` and
:math:`\int_0^1 \|\dot u\|^2 dt` for the output path :math:`u(t) = f(w(t))`, i.e. the length and
energy of :math:`w(t)` under the pullback metric :math:`g = J^\top J`. A :func:`geodesic` minimises
the energy with both end points fixed.

Lecture 5 (mode connectivity) uses :func:`linear`, :func:`bezier`, :func:`train_bezier` (Garipov
et al. 2018) and :func:`bezier_expected_loss`; lecture 6 (geodesics and functionally invariant
paths) uses the rest.

References:
    T. Garipov, P. Izmailov, D. Podoprikhin, D. Vetrov, A. G. Wilson, *Loss surfaces, mode
    connectivity, and fast ensembling of DNNs* (NeurIPS 2018), https://arxiv.org/abs/1802.10026;
    G. Raghavan, M. Thomson, *Solving hybrid machine learning tasks by traversing weight space
    geodesics* (2021), https://arxiv.org/abs/2106.02793; G. Raghavan, B. Tharwat, S. N. Hari,
    D. Satani, R. Liu, M. Thomson, *Engineering flexible machine learning systems by traversing
    functionally invariant paths*, Nature Machine Intelligence (2024),
    https://doi.org/10.1038/s42256-024-00902-x.
"""

from __future__ import annotations

import operator
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax
import optax.tree_utils as otu
from jax.flatten_util import ravel_pytree

from gradtools._checks import check_callable, check_same_tree, check_scalar_fn
from gradtools._checks import concrete as _concrete
from gradtools.steps import _check_w, _jit_bound

PyTree = Any

__all__ = [
    "linear",
    "bezier",
    "path_points",
    "segment_lengths",
    "path_length",
    "path_energy",
    "GeodesicInfo",
    "geodesic",
    "bezier_expected_loss",
    "BezierInfo",
    "train_bezier",
]


# --------------------------------------------------------------------------------------------
# input checks (trace time: shapes and structure only)


def _check_t(t: Any, name: str = "t") -> None:
    if jnp.ndim(t) != 0:
        raise ValueError(
            f"{name} must be a scalar (shape ()), got shape {jnp.shape(t)}. To evaluate a curve at "
            f"many values, jax.vmap over {name} or use path_points(curve, num_points)."
        )
    if not jnp.issubdtype(jnp.result_type(t), jnp.number) or jnp.issubdtype(jnp.result_type(t), jnp.complexfloating):
        raise TypeError(f"{name} must be a real number, got dtype {jnp.result_type(t)}.")


def _check_int(value: Any, name: str, minimum: int) -> int:
    try:
        n = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int, got {type(value).__name__}: {value!r:.60}.") from None
    if n < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {n}.")
    return n


def _check_positive(value: Any, name: str) -> None:
    if jnp.ndim(value) != 0:
        raise ValueError(f"{name} must be a scalar, expected shape (), got shape {jnp.shape(value)}.")
    v = _concrete(value)
    if v is not None and not (v > 0):
        raise ValueError(f"{name} must be > 0, got {float(v)!r}.")


def _num_points(ws: PyTree, name: str = "ws") -> int:
    """Check a stacked pytree (one leading axis of points, >= 2) and return the number of points."""
    _check_w(ws, name)
    leaves = jax.tree_util.tree_leaves(ws)
    shapes = [jnp.shape(a) for a in leaves]
    if any(len(s) == 0 for s in shapes):
        raise ValueError(
            f"{name} must be a stacked pytree whose leaves have a leading axis of points, got a leaf "
            f"of shape (): leaf shapes {shapes}. Build it with path_points(curve, num_points)."
        )
    counts = {s[0] for s in shapes}
    if len(counts) != 1:
        raise ValueError(
            f"every leaf of {name} must have the same leading axis (the points of the path), got "
            f"leading sizes {[s[0] for s in shapes]} (leaf shapes {shapes}). Stack whole points, "
            f"e.g. with path_points or jax.tree_util.tree_map(lambda *a: jnp.stack(a), *points)."
        )
    k = counts.pop()
    if k < 2:
        raise ValueError(f"{name} must hold at least 2 points (a path has two end points), got {k}.")
    return k


def _check_like_point(ws: PyTree, w: PyTree, name: str, wname: str) -> None:
    """Raise unless the stacked ``ws`` has ``w``'s structure with one extra leading axis."""
    point = jax.tree_util.tree_map(lambda a: jax.ShapeDtypeStruct(jnp.shape(a)[1:], jnp.result_type(a)), ws)
    check_same_tree(w, point, wname=wname, vname=f"one point of {name}")


def _check_outputs(f: Callable, w: PyTree, name: str = "f") -> None:
    """Raise unless ``f(w)`` is a non-empty pytree of floating arrays."""
    try:
        out = jax.eval_shape(f, w)
    except TypeError as e:
        raise TypeError(
            f"{name} must map a point to a pytree of arrays (its outputs), but calling it failed: {e}"
        ) from e
    leaves = jax.tree_util.tree_leaves(out)
    if not leaves or not all(isinstance(a, jax.ShapeDtypeStruct) for a in leaves):
        raise TypeError(f"{name} must return a non-empty pytree of arrays, got {out!r:.100}.")
    for i, a in enumerate(leaves):
        if not jnp.issubdtype(a.dtype, jnp.floating):
            raise TypeError(
                f"output leaf {i} of {name} has dtype {a.dtype}, expected a floating dtype "
                f"(lengths are measured between real outputs: return logits or probabilities, not labels)."
            )


# --------------------------------------------------------------------------------------------
# curves


def linear(w0: PyTree, w1: PyTree, t: Any) -> PyTree:
    r"""The straight line :math:`(1-t)\, w_0 + t\, w_1` between two pytrees, at a scalar ``t``.

    Args:
        w0: the start (``t = 0``), any pytree of floating arrays.
        w1: the end (``t = 1``), same structure and shapes as ``w0``.
        t: a scalar; ``jax.vmap`` over it for many points (or use :func:`path_points`).

    Returns:
        The point, structure and dtypes of ``w0``.

    Example:
        >>> import jax.numpy as jnp
        >>> linear(jnp.array([0.0, 2.0]), jnp.array([4.0, 2.0]), 0.25)
        Array([1., 2.], dtype=float32)
    """
    _check_w(w0, "w0")
    check_same_tree(w0, w1, wname="w0", vname="w1")
    _check_t(t)
    return jax.tree_util.tree_map(lambda a, b: ((1 - t) * a + t * b).astype(jnp.result_type(a)), w0, w1)


def bezier(w0: PyTree, theta: PyTree, w1: PyTree, t: Any) -> PyTree:
    r"""The quadratic Bezier curve with end points ``w0``, ``w1`` and control point ``theta``.

    .. math::
        \phi_\theta(t) = (1-t)^2\, w_0 + 2t(1-t)\, \theta + t^2\, w_1, \qquad t \in [0, 1].

    It passes through ``w0`` at ``t = 0`` and ``w1`` at ``t = 1``; at ``t = 1/2`` it is
    :math:`(w_0 + 2\theta + w_1)/4`, so it passes through ``theta`` only when ``theta`` is the
    midpoint of the end points (then the curve is the straight line). Its tangent is
    :math:`2(1-t)(\theta - w_0) + 2t(w_1 - \theta)`. This is the curve of Garipov et al. (2018).

    Args:
        w0: the start, any pytree of floating arrays.
        theta: the control point, same structure and shapes as ``w0``.
        w1: the end, same structure and shapes as ``w0``.
        t: a scalar; ``jax.vmap`` over it for many points (or use :func:`path_points`).

    Returns:
        The point, structure and dtypes of ``w0``.

    Example:
        >>> import jax.numpy as jnp
        >>> bezier(jnp.array([0.0, 0.0]), jnp.array([1.0, 2.0]), jnp.array([2.0, 0.0]), 0.5)
        Array([1., 1.], dtype=float32)

    References:
        T. Garipov et al., *Loss surfaces, mode connectivity, and fast ensembling of DNNs* (2018),
        https://arxiv.org/abs/1802.10026, section 3.2.
    """
    _check_w(w0, "w0")
    check_same_tree(w0, theta, wname="w0", vname="theta")
    check_same_tree(w0, w1, wname="w0", vname="w1")
    _check_t(t)
    a, b, c = (1 - t) ** 2, 2 * t * (1 - t), t**2
    return jax.tree_util.tree_map(lambda x, y, z: (a * x + b * y + c * z).astype(jnp.result_type(x)), w0, theta, w1)


def path_points(curve: Callable[[Any], PyTree], num_points: int) -> PyTree:
    """The points of a curve at ``num_points`` evenly spaced ``t`` in [0, 1], stacked.

    Equals ``jax.vmap(curve)(jnp.linspace(0, 1, num_points))``: every leaf gets a leading axis of
    length ``num_points``, the form :func:`path_length`, :func:`path_energy` and :func:`geodesic`
    take.

    Args:
        curve: ``t -> point`` (a pytree), e.g. ``lambda t: bezier(w0, theta, w1, t)``.
        num_points: the number of points, ``>= 2`` (so ``num_points - 1`` segments).

    Returns:
        The stacked pytree of points.

    Example:
        >>> import jax.numpy as jnp
        >>> ws = path_points(lambda t: linear(jnp.zeros(2), jnp.ones(2), t), 3)
        >>> ws
        Array([[0. , 0. ],
               [0.5, 0.5],
               [1. , 1. ]], dtype=float32)
    """
    check_callable(curve, "curve")
    n = _check_int(num_points, "num_points", 2)
    return jax.vmap(curve)(jnp.linspace(0.0, 1.0, n))


# --------------------------------------------------------------------------------------------
# length and energy


def _segments_sq(f: Callable, ws: PyTree) -> jax.Array:
    """Squared output distances between consecutive points, shape ``(K,)`` (no checks)."""
    out = jax.vmap(f)(ws)
    leaves = jax.tree_util.tree_leaves(out)
    k = leaves[0].shape[0]
    flat = jnp.concatenate([jnp.reshape(a, (k, -1)) for a in leaves], axis=1)
    diff = flat[1:] - flat[:-1]
    return jnp.sum(diff * diff, axis=1)


def _safe_sqrt(s: jax.Array) -> jax.Array:
    """``sqrt(s)`` with gradient 0 (not NaN) at ``s = 0``."""
    pos = s > 0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, s, 1.0)), 0.0)


def _check_path_fn(f: Callable, ws: PyTree) -> None:
    check_callable(f, "f")
    _num_points(ws)
    point = jax.tree_util.tree_map(lambda a: jax.ShapeDtypeStruct(jnp.shape(a)[1:], jnp.result_type(a)), ws)
    _check_outputs(f, point)


def segment_lengths(f: Callable[[PyTree], PyTree], ws: PyTree) -> jax.Array:
    r"""The output distances :math:`d_k = \|f(w_{k+1}) - f(w_k)\|` of a discrete path, shape ``(K,)``.

    Divided by :math:`1/K` they are the speeds of the output path; a path has constant speed when
    they are all equal. See :func:`path_length` for the arguments.

    Example:
        >>> import jax.numpy as jnp
        >>> segment_lengths(lambda w: w, jnp.array([[0.0, 0.0], [3.0, 4.0], [3.0, 5.0]]))
        Array([5., 1.], dtype=float32)
    """
    _check_path_fn(f, ws)
    return _safe_sqrt(_segments_sq(f, ws))


def path_length(f: Callable[[PyTree], PyTree], ws: PyTree) -> jax.Array:
    r"""Length of a discrete path measured in output space, :math:`L = \sum_k \|f(w_{k+1}) - f(w_k)\|`.

    .. math::
        L = \sum_{k=0}^{K-1} d_k, \qquad d_k = \| f(w_{k+1}) - f(w_k) \|_2,

    with the Euclidean norm over all outputs flattened (every leaf of ``f``'s pytree, every
    example of a batch). As the points get dense it tends to the length of :math:`w(t)` under
    the pullback metric :math:`g = J^\top J`, :math:`\int_0^1 \sqrt{\dot w^\top g\, \dot w}\,dt`;
    it does not depend on how the points are spaced along the curve.

    For the root-mean-square distance over ``N`` inputs of lecture 6,
    :math:`\sqrt{\tfrac1N \sum_i \|f(x_i; w') - f(x_i; w)\|^2}` (metric
    :math:`\tfrac1N \sum_i J_i^\top J_i`), pass ``f = lambda w: model(w, x) / jnp.sqrt(N)``.

    Args:
        f: ``point -> outputs``, any pytree of floating arrays (e.g. ``lambda w: apply(w, x)``).
        ws: the path, a stacked pytree: every leaf has the leading axis of points
            :math:`w_0, \dots, w_K` (``K >= 1``), as :func:`path_points` returns.

    Returns:
        The length, a scalar.

    Example:
        >>> import jax.numpy as jnp
        >>> ws = jnp.array([[0.0, 0.0], [3.0, 4.0], [3.0, 5.0]])
        >>> path_length(lambda w: w, ws)
        Array(6., dtype=float32)
    """
    _check_path_fn(f, ws)
    return jnp.sum(_safe_sqrt(_segments_sq(f, ws)))


def path_energy(f: Callable[[PyTree], PyTree], ws: PyTree) -> jax.Array:
    r"""Energy of a discrete path measured in output space, :math:`E = K \sum_k \|f(w_{k+1}) - f(w_k)\|^2`.

    .. math::
        E = K \sum_{k=0}^{K-1} d_k^2 \;\ge\; \Big(\sum_k d_k\Big)^2 = L^2,

    the Riemann sum of :math:`\int_0^1 \|\tfrac{d}{dt} f(w(t))\|^2 dt` with :math:`\Delta t = 1/K`
    (:math:`d_k / \Delta t` is the speed on segment :math:`k`). The inequality is Cauchy-Schwarz,
    with equality exactly when every :math:`d_k` is the same (constant speed). Unlike the length,
    the energy changes when the points are moved along the curve; its minimisers with fixed end
    points are the constant-speed shortest paths (:func:`geodesic`). (Some texts put a factor
    :math:`\tfrac12` in front of the energy; then :math:`L^2 \le 2E`.)

    For the RMS-over-inputs distance of lecture 6 pass ``f = lambda w: model(w, x) / jnp.sqrt(N)``
    (see :func:`path_length`).

    Args:
        f: ``point -> outputs``, any pytree of floating arrays.
        ws: the path, a stacked pytree with a leading axis of ``K + 1 >= 2`` evenly spaced points.

    Returns:
        The energy, a scalar.

    Example:
        >>> import jax.numpy as jnp
        >>> ws = jnp.array([[0.0, 0.0], [3.0, 4.0], [3.0, 5.0]])
        >>> path_energy(lambda w: w, ws)        # 2 * (25 + 1) >= 6 ** 2
        Array(52., dtype=float32)
    """
    _check_path_fn(f, ws)
    s = _segments_sq(f, ws)
    return s.shape[0] * jnp.sum(s)


# --------------------------------------------------------------------------------------------
# geodesics by energy minimisation


class GeodesicInfo(NamedTuple):
    """How :func:`geodesic`'s minimisation went.

    Attributes:
        energy: :func:`path_energy` of the returned path.
        length: :func:`path_length` of the returned path.
        init_energy: the energy of the initial path.
        init_length: the length of the initial path.
        iterations: L-BFGS iterations run (an int array).
        grad_norm: the norm of the energy's gradient over the interior points, at the end.
        converged: ``grad_norm <= tol * (gradient norm at the initial path)``.
    """

    energy: jax.Array
    length: jax.Array
    init_energy: jax.Array
    init_length: jax.Array
    iterations: jax.Array
    grad_norm: jax.Array
    converged: jax.Array


def _with_ends(w0: PyTree, inner: PyTree, w1: PyTree) -> PyTree:
    return jax.tree_util.tree_map(lambda a, b, c: jnp.concatenate([a[None], b.astype(a.dtype), c[None]]), w0, inner, w1)


def geodesic(
    f: Callable[[PyTree], PyTree],
    w0: PyTree,
    w1: PyTree,
    *,
    num_points: int,
    init: PyTree | None = None,
    max_iter: int = 500,
    tol: float = 1e-6,
) -> tuple[PyTree, GeodesicInfo]:
    r"""The discrete path from ``w0`` to ``w1`` of least :func:`path_energy` through ``f``.

    .. math::
        \min_{w_1, \dots, w_{K-1}} \; K \sum_{k=0}^{K-1} \|f(w_{k+1}) - f(w_k)\|^2,
        \qquad w_0,\ w_K \text{ fixed},

    a discrete geodesic of the pullback metric :math:`g = J^\top J`: its output path is as short
    as possible and runs at constant speed (where the energy equals the squared length). The
    interior points are optimised by L-BFGS (``optax.lbfgs`` with its zoom line search), the whole
    loop in one compiled ``lax.while_loop``. It stops after ``max_iter`` iterations, when the
    gradient norm falls to ``tol`` times its value at the initial path, or when an iteration
    no longer lowers the energy. The end points of the returned path are ``w0`` and ``w1``
    exactly. The problem need not be convex: the result is a local minimum near ``init``.

    For the RMS-over-inputs metric of lecture 6, pass ``f = lambda w: model(w, x) / jnp.sqrt(N)``.

    Args:
        f: ``point -> outputs`` (any pytree of floating arrays).
        w0: the start, any pytree of floating arrays.
        w1: the end, same structure and shapes.
        num_points: the number of points ``K + 1 >= 2`` of the path, end points included.
        init: an initial path, stacked with ``num_points`` points (its end points are replaced
            by ``w0`` and ``w1``); default the evenly spaced straight line.
        max_iter: the most L-BFGS iterations (``>= 0``).
        tol: the relative gradient norm to reach (``> 0``).

    Returns:
        ``(ws, info)``: the stacked path (``num_points`` points) and a :class:`GeodesicInfo`.

    Example:
        >>> import jax.numpy as jnp
        >>> polar = lambda w: w[0] * jnp.array([jnp.cos(w[1]), jnp.sin(w[1])])
        >>> ws, info = geodesic(polar, jnp.array([1.0, 0.0]), jnp.array([1.0, 1.5]), num_points=9)
        >>> bool(info.energy < info.init_energy), bool(ws[4, 0] < 0.8)   # cuts the corner
        (True, True)

    References:
        G. Raghavan, M. Thomson (2021), https://arxiv.org/abs/2106.02793 (the energy functional);
        J. Nocedal, S. Wright, *Numerical Optimization* (2006), chapter 7 (L-BFGS).
    """
    check_callable(f, "f")
    _check_w(w0, "w0")
    check_same_tree(w0, w1, wname="w0", vname="w1")
    n = _check_int(num_points, "num_points", 2)
    max_iter = _check_int(max_iter, "max_iter", 0)
    _check_positive(tol, "tol")
    _check_outputs(f, w0)
    if init is None:
        init = path_points(lambda t: linear(w0, w1, t), n)
    else:
        k = _num_points(init, "init")
        _check_like_point(init, w0, "init", "w0")
        if k != n:
            raise ValueError(f"init must have num_points={n} points (its leading axis), got {k}.")
    return _jit_bound(_geodesic_jit, f, max_iter=max_iter)(w0, w1, init, tol)


def _geodesic_jit(f, w0, w1, init, tol, *, max_iter: int):
    def energy(inner):
        s = _segments_sq(f, _with_ends(w0, inner, w1))
        return s.shape[0] * jnp.sum(s)

    def length(ws):
        return jnp.sum(_safe_sqrt(_segments_sq(f, ws)))

    init = _with_ends(w0, jax.tree_util.tree_map(lambda a: a[1:-1], init), w1)
    # L-BFGS runs on one flat vector: optax's tree operations on a many-leaf pytree multiply the
    # size of the compiled program (and its compile time) by the number of leaves.
    flat0, unravel = ravel_pytree(jax.tree_util.tree_map(lambda a: a[1:-1], init))
    e0, g0 = jax.value_and_grad(lambda z: energy(unravel(z)))(flat0)
    gn0 = jnp.linalg.norm(g0)
    if flat0.size == 0:  # two points: nothing to optimise
        info = GeodesicInfo(e0, length(init), e0, length(init), jnp.zeros((), jnp.int32), gn0, jnp.array(True))
        return init, info

    opt = optax.lbfgs()
    flat_energy = lambda z: energy(unravel(z))  # noqa: E731
    value_and_grad = optax.value_and_grad_from_state(flat_energy)
    target = tol * gn0

    def cond(c):
        k, _, _, gn, stalled = c
        return (k < max_iter) & (gn > target) & ~stalled

    def body(c):
        k, inner, state, _, _ = c
        value, grad = value_and_grad(inner, state=state)
        updates, state = opt.update(grad, state, inner, value=value, grad=grad, value_fn=flat_energy)
        inner = optax.apply_updates(inner, updates)
        new_value = otu.tree_get(state, "value")
        gn = otu.tree_norm(otu.tree_get(state, "grad"))
        return k + 1, inner, state, gn, ~(new_value < value)

    init_c = (jnp.zeros((), jnp.int32), flat0, opt.init(flat0), gn0, ~jnp.isfinite(e0))
    k, flat, _, gn, _ = jax.lax.while_loop(cond, body, init_c)
    ws = _with_ends(w0, unravel(flat), w1)
    e = flat_energy(flat)
    info = GeodesicInfo(e, length(ws), e0, length(init), k, gn, jnp.isfinite(e) & (gn <= target))
    return ws, info


# --------------------------------------------------------------------------------------------
# Bezier curves trained for low loss (Garipov et al. 2018)


def bezier_expected_loss(
    loss: Callable[[PyTree, Any], jax.Array], w0: PyTree, theta: PyTree, w1: PyTree, batch: Any, ts: Any
) -> jax.Array:
    r"""The loss averaged along a Bezier curve, :math:`\frac1m \sum_j \ell(\phi_\theta(t_j), \text{batch})`.

    With ``ts`` uniform samples (or a fine grid) on [0, 1] it estimates Garipov et al.'s training
    objective :math:`\mathbb{E}_{t \sim U[0,1]}\, \ell(\phi_\theta(t))`; differentiate it with
    respect to ``theta`` for the gradient. The loss is ``vmap``-ped over ``ts``.

    Args:
        loss: ``loss(w, batch) -> scalar``.
        w0, theta, w1: the curve's end points and control point (see :func:`bezier`).
        batch: whatever ``loss`` takes as its second argument.
        ts: a 1-D array of curve parameters.

    Returns:
        The mean loss, a scalar.

    Example:
        >>> import jax.numpy as jnp
        >>> loss = lambda w, b: jnp.sum(w ** 2)
        >>> z = jnp.zeros(1)
        >>> bezier_expected_loss(loss, z, jnp.ones(1), z, None, jnp.array([0.0, 0.5, 1.0]))
        Array(0.08333334, dtype=float32)
    """
    check_callable(loss, "loss")
    _check_w(w0, "w0")
    check_same_tree(w0, theta, wname="w0", vname="theta")
    check_same_tree(w0, w1, wname="w0", vname="w1")
    if jnp.ndim(ts) != 1 or jnp.shape(ts)[0] == 0:
        raise ValueError(f"ts must be a non-empty 1-D array of curve parameters, got shape {jnp.shape(ts)}.")
    check_scalar_fn(lambda w: loss(w, batch), w0, name="loss")
    return jnp.mean(jax.vmap(lambda t: loss(bezier(w0, theta, w1, t), batch))(jnp.asarray(ts)))


class BezierInfo(NamedTuple):
    """The record of :func:`train_bezier`.

    Attributes:
        losses: the minibatch loss at the sampled point of the curve, per step, shape ``(num_steps,)``
            (before that step's update; noisy, since ``t`` and the batch change every step).
        ts: the sampled curve parameters, shape ``(num_steps,)``.
    """

    losses: jax.Array
    ts: jax.Array


def _num_examples(data: Any, name: str = "data") -> int:
    leaves = jax.tree_util.tree_leaves(data)
    if not leaves:
        raise ValueError(f"{name} must be a pytree of arrays with a leading example axis, got an empty pytree.")
    shapes = [jnp.shape(a) for a in leaves]
    if any(len(s) == 0 for s in shapes) or len({s[0] for s in shapes}) != 1:
        raise ValueError(
            f"every leaf of {name} must have the same leading axis (the examples), got leaf shapes {shapes}. "
            f"Pass e.g. (x, y) with x.shape[0] == y.shape[0]."
        )
    return shapes[0][0]


def train_bezier(
    loss: Callable[[PyTree, Any], jax.Array],
    w0: PyTree,
    w1: PyTree,
    data: Any,
    *,
    key: jax.Array,
    num_steps: int,
    batch_size: int,
    theta0: PyTree | None = None,
    learning_rate: float = 1e-2,
    optimizer: optax.GradientTransformation | None = None,
) -> tuple[PyTree, BezierInfo]:
    r"""Train the control point of a Bezier curve between two networks for low loss all along it.

    Garipov et al. (2018) minimise the loss averaged over the curve,

    .. math::
        \min_\theta \; \mathbb{E}_{t \sim U[0,1]}\; \ell\big(\phi_\theta(t)\big), \qquad
        \phi_\theta(t) = (1-t)^2 w_0 + 2t(1-t)\theta + t^2 w_1,

    by stochastic gradients: each step draws a fresh :math:`t \sim U[0, 1]` and a fresh minibatch
    (``batch_size`` examples without replacement) and updates :math:`\theta` with the gradient of
    :math:`\ell(\phi_\theta(t), \text{batch})`, an unbiased estimate of the objective's gradient.
    The end points stay fixed. All steps run in one compiled ``lax.scan``.

    Args:
        loss: ``loss(w, batch) -> scalar``, where ``batch`` has ``data``'s structure with
            ``batch_size`` examples.
        w0: one end point (a trained network), any pytree of floating arrays.
        w1: the other end point, same structure and shapes.
        data: a pytree of arrays with a common leading example axis, e.g. ``(x, y)``.
        key: a PRNG key (for ``t`` and the minibatches).
        num_steps: the number of steps (``>= 1``).
        batch_size: examples per step, ``1 <= batch_size <= N`` (``N`` uses all data every step).
        theta0: the initial control point; default the midpoint :math:`(w_0 + w_1)/2` (the
            straight line).
        learning_rate: Adam's step size when ``optimizer`` is not given.
        optimizer: an ``optax`` transformation (default ``optax.adam(learning_rate)``).

    Returns:
        ``(theta, info)``: the trained control point and a :class:`BezierInfo`.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> x = jnp.array([1.0, 2.0])                               # two examples
        >>> loss = lambda w, x: jnp.mean((w[0] * w[1] * x - x) ** 2)  # zero where w0 w1 = 1
        >>> w0, w1 = jnp.array([2.0, 0.5]), jnp.array([0.5, 2.0])
        >>> theta, info = train_bezier(loss, w0, w1, x, key=jax.random.key(0),
        ...                            num_steps=500, batch_size=1, learning_rate=0.02)
        >>> ts = jnp.linspace(0, 1, 11)
        >>> line = bezier_expected_loss(loss, w0, linear(w0, w1, 0.5), w1, x, ts)
        >>> curve = bezier_expected_loss(loss, w0, theta, w1, x, ts)
        >>> bool(line > 0.3), bool(curve < 1e-3)                    # the curve bends along w0 w1 = 1
        (True, True)

    References:
        T. Garipov et al., *Loss surfaces, mode connectivity, and fast ensembling of DNNs* (2018),
        https://arxiv.org/abs/1802.10026, section 3.
    """
    check_callable(loss, "loss")
    _check_w(w0, "w0")
    check_same_tree(w0, w1, wname="w0", vname="w1")
    if theta0 is None:
        theta0 = linear(w0, w1, 0.5)
    check_same_tree(w0, theta0, wname="w0", vname="theta0")
    num_steps = _check_int(num_steps, "num_steps", 1)
    batch_size = _check_int(batch_size, "batch_size", 1)
    n = _num_examples(data)
    if batch_size > n:
        raise ValueError(f"batch_size must be <= the number of examples {n}, got {batch_size}.")
    if optimizer is None:
        _check_positive(learning_rate, "learning_rate")
        optimizer = optax.adam(learning_rate)
    elif not (hasattr(optimizer, "init") and hasattr(optimizer, "update")):
        raise TypeError(f"optimizer must be an optax.GradientTransformation, got {type(optimizer).__name__}.")
    first = jax.tree_util.tree_map(lambda a: a[:batch_size], data)
    check_scalar_fn(lambda w: loss(w, first), w0, name="loss")
    return _jit_bound(_train_bezier_jit, loss, optimizer, num_steps=num_steps, batch_size=batch_size)(
        w0, w1, data, theta0, key
    )


def _train_bezier_jit(loss, optimizer, w0, w1, data, theta0, key, *, num_steps: int, batch_size: int):
    n = jax.tree_util.tree_leaves(data)[0].shape[0]
    dtype = jnp.result_type(jax.tree_util.tree_leaves(w0)[0])

    def step(carry, k):
        theta, state = carry
        kt, kb = jax.random.split(k)
        t = jax.random.uniform(kt, dtype=dtype)
        if batch_size == n:
            batch = data
        else:
            idx = jax.random.choice(kb, n, (batch_size,), replace=False)
            batch = jax.tree_util.tree_map(lambda a: a[idx], data)
        value, grad = jax.value_and_grad(lambda th: loss(bezier(w0, th, w1, t), batch))(theta)
        updates, state = optimizer.update(grad, state, theta)
        return (optax.apply_updates(theta, updates), state), (value, t)

    (theta, _), (losses, ts) = jax.lax.scan(step, (theta0, optimizer.init(theta0)), jax.random.split(key, num_steps))
    return theta, BezierInfo(losses, ts)
