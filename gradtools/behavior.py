r"""Behavior manifolds (lecture 4): behavioral gradients, their rank, and the solution manifold.

The *behavior* of a model with parameters :math:`\theta \in \mathbb R^N` on a training set
:math:`x_1, \dots, x_k` is the vector of its outputs :math:`f(\theta) = (f(\theta; x_1), \dots,
f(\theta; x_k))`. Its level sets are the **behavior manifolds**; the level set of a zero-loss
behavior is a **solution manifold**. The rows of the Jacobian :math:`J = \partial f/\partial\theta`
(shape ``(k, N)``) are the **behavioral gradients** :math:`\nabla_\theta f(\theta; x_i)` (the post
below stacks them as columns of :math:`G = J^\top`). Near a point where :math:`J` has full rank
:math:`k`, the level set is a smooth manifold of dimension :math:`N - k` whose tangent space is the
null space of :math:`J` (the submersion theorem).

This module computes :math:`J` (:func:`behavioral_gradients`), orthonormal bases of its row and
null spaces (:func:`row_space`, :func:`null_space`), the projection onto the null space
(:func:`project_null`), the rank margin that makes a numerical rank trustworthy
(:func:`rank_margin`), the first- versus second-order change of the outputs along a direction
(:func:`output_change`, :func:`loglog_slope`), a Gauss-Newton correction back onto a level set
(:func:`gauss_newton_project`), a walk along a behavior manifold (:func:`walk_manifold`), the
Hessian split into its Gauss-Newton and residual parts (:func:`hessian_parts`), and a training
loop that reaches a zero-loss point (:func:`fit_mse`). Ranks are counted with
:func:`gradtools.numerical_rank`.

References:
    V. Hebbar, "Information Loss --> Basin flatness", LessWrong / AI Alignment Forum (2022),
    https://www.lesswrong.com/posts/wPudaEemohdYPmsye/information-loss-greater-than-basin-flatness;
    S. Becker-Kahn, "Behaviour Manifolds and the Hessian of the Total Loss - Notes and Criticism"
    (2022); S. P. Singh, G. Bachmann and T. Hofmann, "Analytic insights into structure and rank of
    neural network Hessian maps", NeurIPS 2021, https://arxiv.org/abs/2106.16225;
    Lecture 4 of this course.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from gradtools import products
from gradtools._checks import check_callable, check_same_tree, concrete
from gradtools.spectrum import numerical_rank

__all__ = [
    "behavioral_gradients",
    "row_space",
    "null_space",
    "project_null",
    "manifold_dimension",
    "rank_margin",
    "output_change",
    "loglog_slope",
    "gauss_newton_project",
    "walk_manifold",
    "hessian_parts",
    "fit_mse",
]

PyTree = Any


def _flat_outputs(f: Callable[[PyTree], Any], w: PyTree):
    check_callable(f, "f")
    flat, unravel = ravel_pytree(w)
    return flat, unravel, (lambda v: jnp.ravel(f(unravel(v))))


def behavioral_gradients(f: Callable[[PyTree], jax.Array], w: PyTree) -> jax.Array:
    r"""The matrix of behavioral gradients: the Jacobian of the flattened outputs, ``(k, N)``.

    .. math::
        J_{ij} = \frac{\partial f_i(\theta)}{\partial \theta_j}, \qquad
        \text{row } i = \nabla_\theta f(\theta; x_i)^\top,

    with the outputs ``f(w)`` flattened row-major (``k`` = number of outputs, e.g. batch times
    output width) and the parameters in ``ravel_pytree(w)`` order. The post's :math:`G` is
    :math:`J^\top`. Reverse mode (one VJP per output) when there are fewer outputs than parameters,
    forward mode otherwise; either way equals ``jax.jacfwd`` of the flattened map.

    Args:
        f: the behavior, ``w -> outputs`` (any array, e.g. ``lambda w: apply(w, x_train)``).
        w: parameters, any pytree.

    Returns:
        ``J``, shape ``(k, N)``.

    Example:
        >>> import jax.numpy as jnp
        >>> X = jnp.array([[1.0, 2.0, 0.0], [2.0, 4.0, 0.0]])  # parallel inputs
        >>> J = behavioral_gradients(lambda th: X @ th, jnp.zeros(3))
        >>> J.shape, numerical_rank(J)
        ((2, 3), 1)

    References:
        Lecture 4 of this course; V. Hebbar (2022), section "Behavioral gradients".
    """
    flat, _, g = _flat_outputs(f, w)
    k = jax.eval_shape(g, flat).shape[0]
    jac = jax.jacrev if k < flat.shape[0] else jax.jacfwd
    return jac(g)(flat)


def _svd_split(J: Any, rtol: float | None) -> tuple[np.ndarray, int]:
    a = concrete(J)
    if a is None:
        raise TypeError(
            "row_space/null_space choose their number of columns from the rank, so they expected a "
            "concrete matrix, got a traced array. Call them outside jit, or use project_null inside jit."
        )
    if a.ndim != 2 or a.size == 0:
        raise ValueError(f"expected a 2-D matrix J of shape (k, N), got shape {a.shape}.")
    r = numerical_rank(a, rtol=rtol)
    _, _, vt = np.linalg.svd(a, full_matrices=True)
    return vt, r


def row_space(J: jax.Array, *, rtol: float | None = None) -> jax.Array:
    r"""Orthonormal basis of the row space of ``J`` (the span of the behavioral gradients), ``(N, r)``.

    The first :math:`r = \operatorname{rank}(J)` right singular vectors, with the rank counted by
    :func:`gradtools.numerical_rank` at relative tolerance ``rtol``. Moving along these directions
    changes the outputs at first order.

    Args:
        J: matrix, shape ``(k, N)`` (concrete).
        rtol: relative tolerance of the rank (default: ``max(k, N) * eps``).

    Returns:
        ``(N, r)`` matrix with orthonormal columns.

    Example:
        >>> import jax.numpy as jnp
        >>> row_space(jnp.array([[3.0, 0.0, 0.0], [1.0, 0.0, 0.0]])).shape
        (3, 1)
    """
    vt, r = _svd_split(J, rtol)
    return jnp.asarray(vt[:r].T)


def null_space(J: jax.Array, *, rtol: float | None = None) -> jax.Array:
    r"""Orthonormal basis of the null space of ``J``, ``(N, N - r)``.

    The directions along which no training output changes at first order: the tangent space of
    the behavior manifold where the rank is locally constant. Together with :func:`row_space` it
    is an orthonormal basis of :math:`\mathbb R^N` (rank-nullity: :math:`r + (N - r) = N`).

    Args:
        J: matrix, shape ``(k, N)`` (concrete).
        rtol: relative tolerance of the rank (default: ``max(k, N) * eps``).

    Returns:
        ``(N, N - r)`` matrix with orthonormal columns.

    Example:
        >>> import jax.numpy as jnp
        >>> Z = null_space(jnp.array([[1.0, 1.0, 0.0]]))
        >>> Z.shape, bool(jnp.allclose(jnp.array([1.0, 1.0, 0.0]) @ Z, 0.0))
        ((3, 2), True)
    """
    vt, r = _svd_split(J, rtol)
    return jnp.asarray(vt[r:].T)


def manifold_dimension(J: jax.Array, *, rtol: float | None = None) -> int:
    r"""``N - rank(J)``: the dimension of the behavior manifold through a point of locally constant rank.

    At least :math:`N - k`. The formula is the dimension of the level set only where the rank is
    locally constant (the constant-rank theorem); where the rank drops (for the post's touching
    spheres it drops along a whole line) the level set can be smaller: there it is a single point.

    Example:
        >>> import jax.numpy as jnp
        >>> manifold_dimension(jnp.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
        1
    """
    a = concrete(J)
    if a is None or a.ndim != 2:
        raise ValueError(f"expected a concrete 2-D matrix J of shape (k, N), got {getattr(J, 'shape', J)!r}.")
    return int(a.shape[1] - numerical_rank(a, rtol=rtol))


def project_null(J: jax.Array, v: jax.Array, *, rtol: float | None = None) -> jax.Array:
    r"""Project ``v`` onto the null space of ``J``: :math:`v - J^{+} J v`.

    :math:`J^+ J` is the orthogonal projector onto the row space (``jnp.linalg.pinv`` with relative
    cutoff ``rtol``), so the result is the component of ``v`` that changes no output at first
    order. Jit-compatible.

    Args:
        J: ``(k, N)``.
        v: ``(N,)``.
        rtol: cutoff of the pseudo-inverse (default: ``jnp.linalg.pinv``'s).

    Returns:
        ``(N,)``.

    Example:
        >>> import jax.numpy as jnp
        >>> project_null(jnp.array([[1.0, 0.0]]), jnp.array([3.0, 4.0])).tolist()
        [0.0, 4.0]
    """
    J, v = jnp.asarray(J), jnp.asarray(v)
    if J.ndim != 2 or v.shape != (J.shape[1],):
        raise ValueError(f"expected J of shape (k, N) and v of shape (N,), got {J.shape} and {v.shape}.")
    return v - jnp.linalg.pinv(J, rtol=rtol) @ (J @ v)


def rank_margin(values: jax.Array, rtol: float) -> tuple[float, float]:
    r"""How far the singular values (or eigenvalues) sit from the rank cutoff ``rtol``.

    Returns :math:`(s_{r}/s_1,\ s_{r+1}/s_1)`: the smallest value counted in the rank and the
    largest one counted as zero, relative to the largest (0 when there is none). A rank is
    trustworthy when the first is far above ``rtol`` and the second far below: then any cutoff in
    between gives the same count, on every machine.

    Args:
        values: 1-D singular values or eigenvalues (signs are ignored), or a 2-D matrix.
        rtol: the relative cutoff used for the rank.

    Returns:
        ``(smallest_kept, largest_dropped)``, Python floats.

    Example:
        >>> import jax.numpy as jnp
        >>> rank_margin(jnp.array([2.0, 1.0, 0.0]), 1e-8)
        (0.5, 0.0)
    """
    a = concrete(values)
    if a is None or a.ndim not in (1, 2) or a.size == 0:
        raise ValueError("rank_margin: expected concrete 1-D values or a 2-D matrix, got "
                         f"{getattr(values, 'shape', values)!r}.")
    s = np.abs(a.astype(float)) if a.ndim == 1 else np.linalg.svd(a.astype(float), compute_uv=False)
    s = np.sort(s)[::-1] / np.max(np.abs(s))
    kept, dropped = s[s > rtol], s[s <= rtol]
    return (float(kept[-1]) if kept.size else 0.0, float(dropped[0]) if dropped.size else 0.0)


def output_change(f: Callable[[PyTree], jax.Array], w: PyTree, v: PyTree, ts: jax.Array) -> jax.Array:
    r"""``|| f(w + t v) - f(w) ||`` for each step ``t`` in ``ts`` (one vmapped evaluation).

    Along a row-space direction this grows like :math:`t` (first order); along a null-space
    direction like :math:`t^2` (the outputs are only second-order sensitive): the post's Claim 1.

    Example:
        >>> import jax.numpy as jnp
        >>> f = lambda w: jnp.array([w[0] + w[1] ** 2])
        >>> d = output_change(f, jnp.zeros(2), jnp.array([0.0, 1.0]), jnp.array([0.1, 0.2]))
        >>> [round(float(v), 6) for v in d]
        [0.01, 0.04]
    """
    check_callable(f, "f")
    check_same_tree(w, v)
    flat, unravel = ravel_pytree(w)
    dv = ravel_pytree(v)[0]
    f0 = jnp.ravel(f(w))
    return jax.vmap(lambda t: jnp.linalg.norm(jnp.ravel(f(unravel(flat + t * dv))) - f0))(jnp.asarray(ts))


def loglog_slope(x: jax.Array, y: jax.Array) -> float:
    r"""Least-squares slope of :math:`\log y` against :math:`\log x`: the order of a power law :math:`y \propto x^p`.

    Example:
        >>> import numpy as np
        >>> round(loglog_slope(np.array([1e-3, 1e-2, 1e-1]), np.array([1e-6, 1e-4, 1e-2])), 6)
        2.0
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1 or x.size < 2 or np.any(x <= 0) or np.any(y <= 0):
        raise ValueError(f"expected two positive 1-D arrays of the same length >= 2, got shapes {x.shape}, {y.shape}.")
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def gauss_newton_project(
    f: Callable[[PyTree], jax.Array], w: PyTree, target: jax.Array, *, num_steps: int = 5,
    rtol: float | None = None,
) -> PyTree:
    r"""Move ``w`` onto the level set ``f = target`` by minimum-norm Gauss-Newton steps.

    .. math::
        \theta \leftarrow \theta - J(\theta)^{+}\,\big(f(\theta) - y\big)

    Each step solves the linearized equations with the smallest move (the pseudo-inverse), so
    it moves along the row space, perpendicular to the manifold; from a nearby point it converges
    quadratically when :math:`J` has full row rank. With ``target`` = the training labels it fits
    them exactly (interpolation); in :func:`walk_manifold` it is the corrector. Jit-compatible
    (``num_steps`` is a Python int).

    Args:
        f: behavior ``w -> outputs``.
        w: starting parameters, any pytree.
        target: the outputs to reach, shape of ``f(w)``.
        num_steps: number of Gauss-Newton steps.
        rtol: cutoff of the pseudo-inverse (default: ``jnp.linalg.pinv``'s).

    Returns:
        Parameters, same structure as ``w``.

    Example:
        >>> import jax.numpy as jnp
        >>> f = lambda w: jnp.array([w[0] * w[1]])
        >>> w = gauss_newton_project(f, jnp.array([1.0, 1.0]), jnp.array([2.0]))
        >>> bool(jnp.allclose(f(w), 2.0))
        True
    """
    flat, unravel, g = _flat_outputs(f, w)
    y = jnp.ravel(jnp.asarray(target))
    if jax.eval_shape(g, flat).shape != y.shape:
        raise ValueError(f"target must have the shape of f(w) ({jax.eval_shape(f, w).shape}), got {jnp.shape(target)}.")

    def step(v, _):
        r, lin = jax.linearize(g, v)
        J = jax.vmap(lin, out_axes=1)(jnp.eye(v.shape[0], dtype=v.dtype))
        return v - jnp.linalg.pinv(J, rtol=rtol) @ (r - y), None

    out, _ = jax.lax.scan(step, flat, None, length=int(num_steps))
    return unravel(out)


def walk_manifold(
    f: Callable[[PyTree], jax.Array], w0: PyTree, v0: PyTree, *, step_size: float, num_steps: int,
    num_corrections: int = 3,
) -> PyTree:
    r"""Walk along the behavior manifold through ``w0``: predict along the null space, correct back.

    Each step (a predictor-corrector continuation):

    1. tangent :math:`t = P_{\ker J(\theta)}\, t_{\text{prev}}`, normalized (the first
       :math:`t_{\text{prev}}` is ``v0``), so the walk keeps going the same way;
    2. predictor :math:`\theta' = \theta + h\, t`, which changes the outputs only at second order;
    3. corrector: ``num_corrections`` Gauss-Newton steps back to :math:`f = f(\theta_0)`
       (:func:`gauss_newton_project`).

    Every point of the returned path has the training outputs of ``w0`` up to the corrector's
    convergence (quadratic), while the parameters (and the outputs elsewhere) move. Jit-compatible.

    Args:
        f: behavior ``w -> outputs`` on the training inputs.
        w0: start, any pytree.
        v0: initial direction, same structure (its null-space component is used).
        step_size: :math:`h`, the length of each predictor step.
        num_steps: number of steps (Python int).
        num_corrections: Gauss-Newton steps per step.

    Returns:
        The path: the structure of ``w0`` with a leading axis of length ``num_steps + 1``.

    Example:
        >>> import jax.numpy as jnp
        >>> f = lambda w: jnp.array([w[0] ** 2 + w[1] ** 2])       # level sets: circles
        >>> path = walk_manifold(f, jnp.array([1.0, 0.0]), jnp.array([0.0, 1.0]),
        ...                      step_size=0.1, num_steps=10)
        >>> bool(jnp.allclose(jnp.sum(path ** 2, axis=1), 1.0, atol=1e-5))
        True
    """
    check_same_tree(w0, v0, wname="w0", vname="v0")
    flat0, unravel, g = _flat_outputs(f, w0)
    y0 = g(flat0)
    eye = jnp.eye(flat0.shape[0], dtype=flat0.dtype)

    def jac(v):
        _, lin = jax.linearize(g, v)
        return jax.vmap(lin, out_axes=1)(eye)

    def step(carry, _):
        w, t = carry
        t = project_null(jac(w), t)
        t = t / jnp.linalg.norm(t)
        w = w + step_size * t
        for _ in range(int(num_corrections)):
            w = w - jnp.linalg.pinv(jac(w)) @ (g(w) - y0)
        return (w, t), w

    t0 = ravel_pytree(v0)[0].astype(flat0.dtype)
    _, ws = jax.lax.scan(step, (flat0, t0), None, length=int(num_steps))
    return jax.vmap(unravel)(jnp.concatenate([flat0[None], ws]))


def hessian_parts(
    f: Callable[[PyTree], jax.Array], loss: Callable[[jax.Array], jax.Array], w: PyTree
) -> tuple[jax.Array, jax.Array, jax.Array]:
    r"""The dense Hessian of :math:`L = \ell\circ f` and its two parts, ``(H, GN, R)``, each ``(N, N)``.

    .. math::
        \nabla^2 L = \underbrace{J^\top\, \nabla^2\ell(f)\, J}_{GN}
        + \underbrace{\sum_i \frac{\partial\ell}{\partial f_i}\,\nabla^2_\theta f_i}_{R}

    ``H`` from :func:`gradtools.hessian_operator`, ``GN`` from
    :func:`gradtools.gauss_newton_operator` (both through :func:`gradtools.dense`), and
    ``R = H - GN``. Where the output gradient :math:`\nabla\ell(f)` vanishes (a zero-residual
    minimum of MSE), ``R = 0`` and :math:`\operatorname{rank} H = \operatorname{rank}(J^\top
    \nabla^2\ell\, J)`, which is :math:`\operatorname{rank} J` when :math:`\nabla^2\ell` is positive
    definite there (MSE, weighted MSE, any positive definite quadratic, diagonal or not), but not
    for a quartic loss (:math:`\nabla^2\ell = 0` at its minimum) nor for softmax cross-entropy on
    logits (:math:`\nabla^2\ell` is singular). For small models only.

    Example:
        >>> import jax.numpy as jnp
        >>> H, GN, R = hessian_parts(lambda w: w ** 2, lambda z: jnp.sum(z ** 2), jnp.ones(2))
        >>> bool(jnp.allclose(H, GN + R))
        True
    """
    check_callable(f, "f")
    check_callable(loss, "loss")
    L = lambda v: loss(f(v))
    H = products.dense(products.hessian_operator(L, w), w)
    GN = products.dense(products.gauss_newton_operator(f, loss, w), w)
    return H, GN, H - GN


def fit_mse(
    apply: Callable[[PyTree, jax.Array], jax.Array], params: PyTree, x: jax.Array, y: jax.Array, *,
    num_steps: int, learning_rate: float = 1e-2, polish_steps: int = 0,
) -> PyTree:
    r"""Train ``apply`` on ``(x, y)`` with the mean squared error: Adam, then optional Gauss-Newton polish.

    Full-batch ``optax.adam`` for ``num_steps`` steps on
    :math:`L(\theta) = \frac1k\sum_i \|f(\theta; x_i) - y_i\|^2`, then ``polish_steps`` steps of
    :func:`gauss_newton_project` towards ``f = y`` (quadratic convergence once Adam is close, so
    a zero-loss minimum is reached to round-off and its Hessian rank can be counted). One
    ``lax.scan``: jit it, and ``vmap`` it over initializations to train many seeds at once.

    Args:
        apply: ``apply(params, x) -> outputs`` with the shape of ``y``.
        params: initial parameters.
        x, y: training inputs and targets.
        num_steps: Adam steps (Python int).
        learning_rate: Adam's step size.
        polish_steps: Gauss-Newton steps after Adam (0: none).

    Returns:
        Trained parameters, same structure as ``params``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from gradtools import problems
        >>> init, apply = problems.make_mlp([1, 8, 1])
        >>> x, y = jnp.linspace(-1, 1, 4)[:, None], jnp.array([[0.0], [1.0], [0.0], [1.0]])
        >>> w = fit_mse(apply, init(jax.random.key(0)), x, y, num_steps=300, polish_steps=5)
        >>> bool(jnp.mean((apply(w, x) - y) ** 2) < 1e-8)
        True
    """
    check_callable(apply, "apply")
    out = jax.eval_shape(apply, params, x)
    if out.shape != jnp.shape(y):
        raise ValueError(f"y must have the shape of apply(params, x), {out.shape}; got {jnp.shape(y)}.")
    opt = optax.adam(learning_rate)
    loss = lambda p: jnp.mean(jnp.sum((apply(p, x) - y).reshape(jnp.shape(y)[0], -1) ** 2, axis=-1))

    def step(carry, _):
        p, s = carry
        g = jax.grad(loss)(p)
        upd, s = opt.update(g, s, p)
        return (optax.apply_updates(p, upd), s), None

    (p, _), _ = jax.lax.scan(step, (params, opt.init(params)), None, length=int(num_steps))
    if polish_steps:
        p = gauss_newton_project(lambda q: apply(q, x), p, y, num_steps=polish_steps)
    return p
