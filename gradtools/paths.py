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
import numpy as np
import optax
import optax.tree_utils as otu
from jax.flatten_util import ravel_pytree

from gradtools._checks import check_callable, check_same_tree, check_scalar_fn
from gradtools._checks import concrete as _concrete
from gradtools.steps import SolveInfo, _cg, _check_solver_args, _check_w, _jit_bound, _raise_if_nonfinite

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
    "output_metric_mvp",
    "christoffel",
    "geodesic_acceleration",
    "shoot",
    "FIPInfo",
    "fip_step",
    "shard_batch",
]


# --------------------------------------------------------------------------------------------
# input checks (trace time: shapes and structure only)


def _check_t(t: Any, name: str = "t") -> None:
    if not isinstance(t, (int, float, np.number, np.ndarray, jax.Array)) or isinstance(t, bool):
        raise TypeError(f"{name} must be a real number (a scalar), got {type(t).__name__}: {t!r:.60}.")
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
        converged: ``grad_norm <= tol * init_grad_norm``.
        init_grad_norm: the norm of the energy's gradient at the initial path.
    """

    energy: jax.Array
    length: jax.Array
    init_energy: jax.Array
    init_length: jax.Array
    iterations: jax.Array
    grad_norm: jax.Array
    converged: jax.Array
    init_grad_norm: jax.Array


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
    init = _with_ends(w0, jax.tree_util.tree_map(lambda a: a[1:-1], init), w1)
    # L-BFGS runs on one flat vector: optax's tree operations on a many-leaf pytree multiply the
    # size of the compiled program (and its compile time) by the number of leaves.
    flat0, unravel = ravel_pytree(jax.tree_util.tree_map(lambda a: a[1:-1], init))

    def energy_and_segments(z):
        s = _segments_sq(f, _with_ends(w0, unravel(z), w1))
        return s.shape[0] * jnp.sum(s), s

    def energy(z):
        return energy_and_segments(z)[0]

    (e0, s0), g0 = jax.value_and_grad(energy_and_segments, has_aux=True)(flat0)
    l0 = jnp.sum(_safe_sqrt(s0))
    gn0 = jnp.linalg.norm(g0)
    if flat0.size == 0:  # two points: nothing to optimise
        return init, GeodesicInfo(e0, l0, e0, l0, jnp.zeros((), jnp.int32), gn0, jnp.array(True), gn0)

    opt = optax.lbfgs()
    value_and_grad = optax.value_and_grad_from_state(energy)
    target = tol * gn0

    def cond(c):
        k, _, _, gn, stalled = c
        return (k < max_iter) & (gn > target) & ~stalled

    def body(c):
        k, z, state, _, _ = c
        value, grad = value_and_grad(z, state=state)
        updates, state = opt.update(grad, state, z, value=value, grad=grad, value_fn=energy)
        z = optax.apply_updates(z, updates)
        new_value = otu.tree_get(state, "value")
        gn = jnp.linalg.norm(otu.tree_get(state, "grad"))
        return k + 1, z, state, gn, ~(new_value < value)

    # the state starts with the initial value and gradient, so the first iteration reuses them
    state0 = otu.tree_set(opt.init(flat0), value=e0, grad=g0)
    init_c = (jnp.zeros((), jnp.int32), flat0, state0, gn0, ~jnp.isfinite(e0))
    k, z, state, gn, _ = jax.lax.while_loop(cond, body, init_c)
    ws = _with_ends(w0, unravel(z), w1)
    e = otu.tree_get(state, "value")  # the line search stores the energy at the accepted point
    length = jnp.sum(_safe_sqrt(_segments_sq(f, ws)))
    return ws, GeodesicInfo(e, length, e0, l0, k, gn, jnp.isfinite(e) & (gn <= target), gn0)


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


# --------------------------------------------------------------------------------------------
# the output-space metric and the geodesic equation (lecture 6)


def _batch_size_of(model: Callable, w: PyTree, x: Any) -> int:
    """Check ``model(w, x)`` (floating arrays, one leading batch axis) and return the batch size."""
    _check_outputs(lambda u: model(u, x), w, name="model")
    out = jax.eval_shape(lambda u: model(u, x), w)
    shapes = [a.shape for a in jax.tree_util.tree_leaves(out)]
    if any(len(sh) == 0 for sh in shapes) or len({sh[0] for sh in shapes}) != 1:
        raise ValueError(
            f"model(w, x) must return outputs with a leading batch axis (N examples) on every leaf, "
            f"got output shapes {shapes}. Apply the model to a batch x of shape (N, ...)."
        )
    return shapes[0][0]


def _scale(c: Any, tree: PyTree) -> PyTree:
    return jax.tree_util.tree_map(lambda a: (c * a).astype(jnp.result_type(a)), tree)


def _sq_norm(tree: PyTree) -> jax.Array:
    return sum(jnp.sum(jnp.square(a)) for a in jax.tree_util.tree_leaves(tree))


def _metric_parts(model: Callable, w: PyTree, x: Any, n: int):
    """``(z, jvp, mvp)``: outputs, ``u -> J u`` and ``u -> (1/N) J^T J u`` from one linearization."""
    z, f_jvp = jax.linearize(lambda u: model(u, x), w)
    f_vjp = jax.linear_transpose(f_jvp, w)

    def mvp(u):
        return _scale(1.0 / n, f_vjp(f_jvp(u))[0])

    return z, f_jvp, mvp


def output_metric_mvp(model: Callable[[PyTree, Any], PyTree], w: PyTree, x: Any, v: PyTree) -> PyTree:
    r"""Product with the output-space metric :math:`g(w) = \frac1N \sum_i J_i^\top J_i` on a batch.

    .. math::
        g(w)\, v = \frac1N \sum_{i=1}^N J_i^\top J_i\, v, \qquad
        J_i = \frac{\partial f(x_i; w)}{\partial w},

    so that :math:`v^\top g\, v` is, to first order, the mean squared change of the outputs when
    the weights move by :math:`v`: the RMS output distance of Raghavan and Thomson is
    :math:`\sqrt{dw^\top g\, dw}`. One linearization of the model, then a JVP and its transpose
    (about the cost of two gradients). Equals ``J.T @ J @ v / N`` with ``J = jax.jacfwd`` of the
    flattened outputs. ``x`` may be sharded over devices (:func:`shard_batch`): under ``jit`` the
    sum over the batch becomes an all-reduce.

    Args:
        model: ``model(w, x) -> outputs`` with a leading batch axis ``N`` on every output leaf.
        w: parameters, any pytree of floating arrays.
        x: the batch of inputs (any pytree ``model`` takes).
        v: the direction, same structure and shapes as ``w``.

    Returns:
        :math:`g(w)\, v`, structure of ``w``.

    Example:
        >>> import jax.numpy as jnp
        >>> model = lambda w, x: x @ w                     # linear: g = X^T X / N
        >>> x = jnp.array([[1.0, 0.0], [1.0, 2.0]])
        >>> output_metric_mvp(model, jnp.zeros(2), x, jnp.array([1.0, 0.0]))
        Array([1., 1.], dtype=float32)

    References:
        G. Raghavan, M. Thomson (2021), https://arxiv.org/abs/2106.02793, equations 6-8.
    """
    check_callable(model, "model")
    _check_w(w)
    check_same_tree(w, v)
    n = _batch_size_of(model, w, x)
    return _metric_parts(model, w, x, n)[2](v)


def _flat_fn(f: Callable, w: PyTree):
    flat, unravel = ravel_pytree(w)
    return flat, (lambda u: ravel_pytree(f(unravel(u)))[0])


def christoffel(f: Callable[[PyTree], PyTree], w: PyTree, *, damping: float = 0.0) -> jax.Array:
    r"""Dense Christoffel symbols ``Gamma[k, i, j]`` of the pullback metric :math:`g = J^\top J` of ``f``.

    .. math::
        \Gamma^k_{ij} = \tfrac12\, g^{kl} \big(\partial_i g_{jl} + \partial_j g_{il} - \partial_l g_{ij}\big)
        = \big(g^{-1} J^\top\big)_{ka}\, \frac{\partial^2 f_a}{\partial w_i \partial w_j},

    the second form because :math:`\partial_i g_{jl} = H^a_{ij} J_{al} + J_{aj} H^a_{il}` for
    :math:`g = J^\top J` (:math:`H^a` the Hessian of output :math:`a`); it is computed that way,
    from ``jax.jacfwd`` and ``jax.hessian`` of the flattened outputs and one dense solve. The
    geodesic equation is :math:`\ddot w^k + \Gamma^k_{ij} \dot w^i \dot w^j = 0`. Indices are in
    ``ravel_pytree(w)`` order. For small models only: it forms the ``n x n x n`` tensor; for
    networks use :func:`geodesic_acceleration`. :math:`g` must be invertible (full column rank
    ``J``: no more parameters than outputs), unless ``damping`` :math:`\delta > 0` replaces
    :math:`g^{-1}` by :math:`(g + \delta I)^{-1}`.

    Args:
        f: ``w -> outputs`` (any pytree of floating arrays).
        w: the point, any pytree of floating arrays (``n`` entries in all).
        damping: :math:`\delta \ge 0`.

    Returns:
        ``Gamma``, shape ``(n, n, n)``, symmetric in its last two indices.

    Example:
        >>> import jax.numpy as jnp
        >>> polar = lambda w: w[0] * jnp.array([jnp.cos(w[1]), jnp.sin(w[1])])
        >>> G = christoffel(polar, jnp.array([2.0, 0.3]))   # r: -r at (phi, phi); phi: 1/r at (r, phi)
        >>> jnp.round(G[0, 1, 1], 4), jnp.round(G[1, 0, 1], 4), jnp.round(G[1, 1, 0], 4)
        (Array(-2., dtype=float32), Array(0.5, dtype=float32), Array(0.5, dtype=float32))
    """
    check_callable(f, "f")
    _check_w(w)
    _check_outputs(f, w)
    _check_solver_args(None, w, damping, 1, 1.0, "f")
    return _jit_bound(_christoffel_jit, f)(w, damping)


def _christoffel_jit(f, w, damping):
    flat, F = _flat_fn(f, w)
    n = flat.shape[0]
    J = jax.jacfwd(F)(flat)
    H = jax.hessian(F)(flat)
    g = J.T @ J + damping * jnp.eye(n, dtype=J.dtype)
    rhs = jnp.einsum("al,aij->lij", J, H).reshape(n, n * n)
    return jnp.linalg.solve(g, rhs).reshape(n, n, n)


def geodesic_acceleration(
    f: Callable[[PyTree], PyTree],
    w: PyTree,
    v: PyTree,
    *,
    damping: float = 0.0,
    tol: float = 1e-10,
    maxiter: int = 100,
) -> tuple[PyTree, SolveInfo]:
    r"""The geodesic acceleration :math:`-\Gamma(w)[v, v]` of the pullback metric of ``f``, matrix-free.

    .. math::
        a = -(g + \delta I)^{-1} J^\top\, (D^2 f)(w)[v, v], \qquad g = J^\top J,

    which for :math:`\delta = 0` and invertible :math:`g` equals
    :math:`-\Gamma^k_{ij} v^i v^j` (contract :func:`christoffel`): a geodesic solves
    :math:`\ddot w = a(w, \dot w)`. The second directional derivative
    :math:`(D^2 f)[v, v] = \tfrac{d^2}{ds^2} f(w + s v)|_{s=0}` is a JVP of a JVP; :math:`J^\top`
    is a VJP; the solve is conjugate gradients (:func:`gradtools.cg_solve`) with products
    :math:`u \mapsto J^\top J u` from one linearization. No ``n x n`` matrix, no ``n^3`` tensor:
    the cost is a few forward passes per CG iteration.

    For an over-parameterised model :math:`g` is singular. The right-hand side
    :math:`J^\top (D^2 f)[v, v]` lies in the range of :math:`g`, so in exact arithmetic CG from zero
    converges to the minimum-norm solution (the pseudo-inverse) even at ``damping=0``; in floating
    point a small ``damping`` relative to :math:`g`'s scale keeps the solve stable.

    For the RMS-over-inputs metric :math:`\frac1N \sum_i J_i^\top J_i`, pass
    ``f = lambda w: model(w, x) / jnp.sqrt(N)`` (the acceleration is the same for any constant
    scale of ``f`` at ``damping=0``).

    Args:
        f: ``w -> outputs`` (any pytree of floating arrays).
        w: the point, any pytree of floating arrays.
        v: the velocity, same structure and shapes as ``w``.
        damping: :math:`\delta \ge 0`.
        tol: CG's relative residual.
        maxiter: the most CG iterations.

    Returns:
        ``(a, info)``: the acceleration (structure of ``w``) and the CG solve's :class:`SolveInfo`.

    Example:
        >>> import jax.numpy as jnp
        >>> polar = lambda w: w[0] * jnp.array([jnp.cos(w[1]), jnp.sin(w[1])])
        >>> a, info = geodesic_acceleration(polar, jnp.array([2.0, 0.3]), jnp.array([0.0, 1.0]))
        >>> jnp.round(a, 4)                               # (r phi'^2, -2 r' phi' / r)
        Array([ 2., -0.], dtype=float32)

    References:
        G. Raghavan, M. Thomson (2021), https://arxiv.org/abs/2106.02793, equations 25-26;
        M. do Carmo, *Riemannian Geometry* (1992), chapter 3.
    """
    check_callable(f, "f")
    _check_w(w)
    check_same_tree(w, v)
    _check_outputs(f, w)
    _check_solver_args(None, w, damping, maxiter, tol, "f")
    a, info, rhs = _jit_bound(_accel_jit, f, maxiter=int(maxiter))(w, v, damping, tol)
    _raise_if_nonfinite(rhs, a, info.residual_norm)
    return a, info


def _accel(f, w, v, damping, tol, maxiter):
    _, d2 = jax.jvp(lambda u: jax.jvp(f, (u,), (v,))[1], (w,), (v,))
    _, f_jvp = jax.linearize(f, w)
    f_vjp = jax.linear_transpose(f_jvp, w)
    rhs = _scale(-1.0, f_vjp(d2)[0])
    a, info = _cg(lambda u: f_vjp(f_jvp(u))[0], rhs, jax.tree_util.tree_map(jnp.zeros_like, rhs), damping, tol, maxiter)
    return a, info, rhs


def _accel_jit(f, w, v, damping, tol, *, maxiter: int):
    return _accel(f, w, v, damping, tol, maxiter)


def shoot(
    f: Callable[[PyTree], PyTree],
    w0: PyTree,
    v0: PyTree,
    *,
    t1: float = 1.0,
    num_steps: int = 100,
    damping: float = 0.0,
    rtol: float = 1e-8,
    atol: float = 1e-8,
    cg_tol: float = 1e-10,
    cg_maxiter: int = 100,
    max_steps: int = 4096,
) -> tuple[PyTree, PyTree]:
    r"""Shoot a geodesic: integrate :math:`\ddot w = a(w, \dot w)` from :math:`w(0) = w_0`, :math:`\dot w(0) = v_0`.

    .. math::
        \frac{d}{dt}\begin{pmatrix} w \\ v \end{pmatrix}
        = \begin{pmatrix} v \\ -(g + \delta I)^{-1} J^\top (D^2 f)(w)[v, v] \end{pmatrix},

    the geodesic equation :math:`\ddot w^k + \Gamma^k_{ij}\dot w^i \dot w^j = 0` of the pullback
    metric :math:`g = J^\top J` of ``f`` as a first-order system, with the right-hand side from
    :func:`geodesic_acceleration` (matrix-free). It is solved by ``diffrax`` (Tsit5, an adaptive
    5th-order Runge-Kutta method, with ``rtol``/``atol`` step-size control) and sampled at
    ``num_steps + 1`` evenly spaced times in ``[0, t1]``. Along the result the output speed
    :math:`\|J \dot w\|` is constant (a geodesic has constant speed), a useful check. The result can be
    differentiated in forward mode (``jax.jacfwd``/``jax.jvp`` with respect to ``w0`` and ``v0``,
    e.g. for Newton's method on the end point of a shooting method), not in reverse mode (the CG
    solve is a while loop).

    Args:
        f: ``w -> outputs`` (any pytree of floating arrays).
        w0: the start, any pytree of floating arrays.
        v0: the initial velocity, same structure and shapes as ``w0``.
        t1: the end time (``> 0``); the geodesic with velocity ``v0`` reaches ``w(t1)``.
        num_steps: the number of intervals of the returned samples (``>= 1``).
        damping: :math:`\delta \ge 0` of the acceleration's solve.
        rtol, atol: the ODE solver's tolerances.
        cg_tol, cg_maxiter: the CG solve's relative residual and most iterations.
        max_steps: the most ODE steps.

    Returns:
        ``(ws, vs)``: positions and velocities, stacked pytrees with ``num_steps + 1`` points
        (leading axis) at ``t = jnp.linspace(0, t1, num_steps + 1)``.

    Example:
        >>> import jax.numpy as jnp
        >>> polar = lambda w: w[0] * jnp.array([jnp.cos(w[1]), jnp.sin(w[1])])
        >>> ws, vs = shoot(polar, jnp.array([1.0, 0.0]), jnp.array([0.0, 1.0]), num_steps=4)
        >>> u = jax.vmap(polar)(ws)                        # a straight line x = 1 in the plane
        >>> jnp.round(u, 2)
        Array([[1.  , 0.  ],
               [1.  , 0.25],
               [1.  , 0.5 ],
               [1.  , 0.75],
               [1.  , 1.  ]], dtype=float32)

    References:
        P. Kidger, *On neural differential equations* (2021), https://arxiv.org/abs/2202.02435
        (diffrax); G. Raghavan, M. Thomson (2021), https://arxiv.org/abs/2106.02793.
    """
    check_callable(f, "f")
    _check_w(w0, "w0")
    check_same_tree(w0, v0, wname="w0", vname="v0")
    _check_outputs(f, w0)
    _check_positive(t1, "t1")
    num_steps = _check_int(num_steps, "num_steps", 1)
    max_steps = _check_int(max_steps, "max_steps", 1)
    _check_positive(rtol, "rtol")
    _check_positive(atol, "atol")
    _check_solver_args(None, w0, damping, cg_maxiter, cg_tol, "f")
    return _jit_bound(_shoot_jit, f, num_steps=num_steps, cg_maxiter=int(cg_maxiter), max_steps=max_steps)(
        w0, v0, t1, damping, rtol, atol, cg_tol
    )


def _shoot_jit(f, w0, v0, t1, damping, rtol, atol, cg_tol, *, num_steps: int, cg_maxiter: int, max_steps: int):
    import diffrax  # imported here: equinox/diffrax take a second to import and only shoot needs them

    def field(t, y, args):
        w, v = y
        return v, _accel(f, w, v, damping, cg_tol, cg_maxiter)[0]

    dtype = jnp.result_type(jax.tree_util.tree_leaves(w0)[0])
    t1 = jnp.asarray(t1, dtype)
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(field),
        diffrax.Tsit5(),
        t0=jnp.zeros((), dtype),
        t1=t1,
        dt0=t1 / num_steps,
        y0=(w0, v0),
        saveat=diffrax.SaveAt(ts=jnp.linspace(0.0, 1.0, num_steps + 1, dtype=dtype) * t1),
        stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
        max_steps=max_steps,
        adjoint=diffrax.ForwardMode(),  # jax.jacfwd works through it (reverse mode cannot: CG is a while loop)
    )
    return sol.ys


# --------------------------------------------------------------------------------------------
# functionally invariant paths (Raghavan et al.)


class FIPInfo(NamedTuple):
    """How one :func:`fip_step` went.

    Attributes:
        secondary_before: the secondary loss at ``w``.
        secondary_after: the secondary loss at ``w_new``.
        output_movement: the first-order RMS output movement :math:`\\sqrt{du^\\top g\\, du}` of the
            step taken.
        output_change: the actual RMS output change
            :math:`\\sqrt{\\frac1N \\sum_i \\|f(x_i; w_{new}) - f(x_i; w)\\|^2}`.
        scale: the factor applied to ``step_size * d`` (1 unless ``max_output_step`` or
            ``max_output_change`` cut it).
        cg_iterations: CG iterations of the solve.
        cg_residual: the solve's relative residual.
        cg_converged: whether CG reached ``tol``.
    """

    secondary_before: jax.Array
    secondary_after: jax.Array
    output_movement: jax.Array
    output_change: jax.Array
    scale: jax.Array
    cg_iterations: jax.Array
    cg_residual: jax.Array
    cg_converged: jax.Array


def fip_step(
    model: Callable[[PyTree, Any], PyTree],
    w: PyTree,
    x: Any,
    secondary_loss: Callable[[PyTree], jax.Array],
    *,
    step_size: float,
    damping: float,
    max_output_step: float | None = None,
    max_output_change: float | None = None,
    maxiter: int = 100,
    tol: float = 1e-8,
) -> tuple[PyTree, FIPInfo]:
    r"""One step along a functionally invariant path: lower a secondary loss, keep the outputs on ``x``.

    The step minimises the first-order change of the secondary loss :math:`s` plus the output
    movement it costs, measured by the output metric :math:`g = \frac1N \sum_i J_i^\top J_i` on the
    batch ``x`` (:func:`output_metric_mvp`) plus a damping :math:`\delta`:

    .. math::
        d = \arg\min_u\; \nabla s(w)^\top u + \tfrac12\, u^\top (g + \delta I)\, u
          = -(g + \delta I)^{-1} \nabla s(w), \qquad
        du = \eta\, c\, d, \qquad w_{new} = w + du,

    a damped natural-gradient step under the output metric, solved by CG (matrix-free). Directions
    that leave the outputs unchanged (the null space of :math:`g`) cost only :math:`\delta`, so the
    step moves mostly along them. The output movement of the step is
    :math:`m = \sqrt{du^\top g\, du}` (first order; the actual RMS change is reported too).
    The scale :math:`c` is 1, unless ``max_output_step`` :math:`\mu` is given and
    :math:`\eta \sqrt{d^\top g\, d} > \mu`: then :math:`c = \mu / (\eta \sqrt{d^\top g\, d})`,
    so that :math:`m = \mu` exactly. With ``max_output_change`` :math:`\nu`, the step is then
    halved (at most 30 times) until the *actual* RMS change of the outputs on ``x`` is at most
    :math:`\nu`: a guard for steps so long that the first-order model of the outputs fails
    (each halving costs one forward pass).

    Args:
        model: ``model(w, x) -> outputs`` with a leading batch axis ``N``.
        w: parameters, any pytree of floating arrays.
        x: the batch on which outputs are kept (may be sharded, :func:`shard_batch`).
        secondary_loss: ``w -> scalar``, the objective to lower (sparsity penalty, task-2 loss).
        step_size: :math:`\eta \ge 0`.
        damping: :math:`\delta > 0` in practice (:math:`g` is singular when there are more
            parameters than outputs); it also caps the step at :math:`\eta\|\nabla s\|/\delta`.
        max_output_step: optional bound :math:`\mu > 0` on the first-order output movement.
        max_output_change: optional bound :math:`\nu > 0` on the actual RMS output change.
        maxiter: the most CG iterations.
        tol: CG's relative residual.

    Returns:
        ``(w_new, info)`` with a :class:`FIPInfo`.

    Example:
        >>> import jax.numpy as jnp
        >>> model = lambda w, x: x @ w                    # output depends on w[0] + w[1] only
        >>> x = jnp.array([[1.0, 1.0]])
        >>> w_new, info = fip_step(model, jnp.array([1.0, 0.0]), x, lambda w: w[0] ** 2,
        ...                        step_size=5e-4, damping=1e-3)
        >>> jnp.round(w_new, 2), bool(info.output_movement < 1e-3)  # moved along w0 + w1 = 1
        (Array([0.5, 0.5], dtype=float32), True)

    References:
        G. Raghavan, B. Tharwat, S. N. Hari, D. Satani, R. Liu, M. Thomson, *Engineering flexible
        machine learning systems by traversing functionally invariant paths*, Nature Machine
        Intelligence (2024), https://doi.org/10.1038/s42256-024-00902-x; G. Raghavan, M. Thomson
        (2021), https://arxiv.org/abs/2106.02793.
    """
    check_callable(model, "model")
    check_callable(secondary_loss, "secondary_loss")
    _check_w(w)
    n = _batch_size_of(model, w, x)
    check_scalar_fn(secondary_loss, w, name="secondary_loss")
    _check_solver_args(None, w, damping, maxiter, tol, "model")
    if jnp.ndim(step_size) != 0 or (_concrete(step_size) is not None and not (_concrete(step_size) >= 0)):
        raise ValueError(f"step_size must be a scalar >= 0, got {step_size!r:.60}.")
    if max_output_step is not None:
        _check_positive(max_output_step, "max_output_step")
    if max_output_change is not None:
        _check_positive(max_output_change, "max_output_change")
    w_new, info, g, d = _jit_bound(
        _fip_jit, model, secondary_loss, n=n, maxiter=int(maxiter), bounded=max_output_step is not None,
        guarded=max_output_change is not None,
    )(w, x, step_size, damping, tol, 1.0 if max_output_step is None else max_output_step,
      1.0 if max_output_change is None else max_output_change)
    _raise_if_nonfinite(g, d, info.cg_residual)
    return w_new, info


def _fip_jit(model, secondary_loss, w, x, step_size, damping, tol, bound, change_bound, *, n: int, maxiter: int,
             bounded: bool, guarded: bool):
    s0, grad = jax.value_and_grad(secondary_loss)(w)
    z, f_jvp, mvp = _metric_parts(model, w, x, n)
    d, cg = _cg(mvp, _scale(-1.0, grad), jax.tree_util.tree_map(jnp.zeros_like, grad), damping, tol, maxiter)
    dtype = jnp.result_type(jax.tree_util.tree_leaves(w)[0])
    move = step_size * jnp.sqrt(_sq_norm(f_jvp(d)) / n)
    if bounded:
        scale = jnp.where(move > bound, bound / jnp.where(move > 0, move, 1.0), 1.0).astype(dtype)
    else:
        scale = jnp.ones((), dtype)

    def moved(c):  # (w + c * step_size * d, its actual RMS output change)
        w_c = jax.tree_util.tree_map(lambda a, b: (a + (c * step_size) * b).astype(jnp.result_type(a)), w, d)
        change = jax.tree_util.tree_map(lambda a, b: a - b, model(w_c, x), z)
        return w_c, jnp.sqrt(_sq_norm(change) / n)

    w_new, actual = moved(scale)
    if guarded:
        def halve(c):
            scale, _, actual, k = c
            w_h, actual = moved(scale / 2)
            return scale / 2, w_h, actual, k + 1

        scale, w_new, actual, _ = jax.lax.while_loop(
            lambda c: (c[2] > change_bound) & (c[3] < 30), halve, (scale, w_new, actual, jnp.zeros((), jnp.int32))
        )
    info = FIPInfo(
        s0,
        secondary_loss(w_new),
        scale * move,
        actual,
        scale,
        cg.iterations,
        cg.residual_norm,
        cg.converged,
    )
    return w_new, info, grad, d


def shard_batch(x: Any, devices: Any = None) -> Any:
    """Spread a batch over devices along its leading axis (data parallelism).

    Builds a one-axis ``jax.sharding.Mesh`` named ``"data"`` over ``devices`` and puts every leaf
    with ``NamedSharding(mesh, P("data"))``: example ``i`` of ``N`` lives on device
    ``i // (N / D)``, the other axes are whole. Functions of this library (and any ``jit``-ted
    function) then run data-parallel on it: :func:`output_metric_mvp` and :func:`fip_step` sum
    over the batch with an all-reduce, and give the single-device result up to round-off. On one
    CPU, ``XLA_FLAGS=--xla_force_host_platform_device_count=4`` (set before JAX starts) gives four
    devices to try it.

    Args:
        x: the batch, a pytree of arrays with a common leading axis ``N``.
        devices: a sequence of devices (default ``jax.devices()``); ``N`` must be divisible by
            their number.

    Returns:
        The same pytree, each leaf a sharded ``jax.Array``.

    Example:
        >>> import jax.numpy as jnp
        >>> xs = shard_batch(jnp.ones((8, 3)), jax.devices()[:1])
        >>> xs.sharding.spec == jax.sharding.PartitionSpec("data"), xs.shape
        (True, (8, 3))
    """
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    devices = jax.devices() if devices is None else list(devices)
    if not devices:
        raise ValueError("devices must hold at least one device, got an empty sequence.")
    n = _num_examples(x, "x")
    if n % len(devices):
        raise ValueError(
            f"the batch size must be divisible by the number of devices: got N={n} examples for "
            f"{len(devices)} devices ({n} % {len(devices)} = {n % len(devices)}). Drop or pad "
            f"{n % len(devices)} examples, e.g. x[: {n - n % len(devices)}]."
        )
    mesh = Mesh(np.asarray(devices), ("data",))
    return jax.device_put(x, NamedSharding(mesh, PartitionSpec("data")))
