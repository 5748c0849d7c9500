r"""One step of each optimizer in the proximal family: GD, proximal point, mirror, natural gradient, Newton.

Every method here is an approximation of the **proximal point** update, which trades the cost off
against a dissimilarity :math:`\rho` from the current iterate :math:`w`:

.. math::
    w^{+} = \operatorname{prox}_{\mathcal{J},\lambda}(w)
          = \arg\min_u \; \mathcal{J}(u) + \lambda\, \rho(u, w).

Taylor-expanding the two terms to different orders gives the other steps:

- :func:`proximal_step`: both terms exact; the inner problem is solved numerically.
- :func:`mirror_step`: :math:`\mathcal{J}` to first order, :math:`\rho` exact:
  :math:`\nabla_u\rho(u, w) = -\lambda^{-1}\nabla\mathcal{J}(w)`.
- :func:`gd_step`: the mirror step for :math:`\rho = \tfrac12\|u-w\|^2`:
  :math:`w - \lambda^{-1}\nabla\mathcal{J}(w)`.
- :func:`natural_gradient_step`: :math:`\mathcal{J}` to first order, :math:`\rho` to second
  order (the metric :math:`G`): :math:`w - \lambda^{-1} G^{-1}\nabla\mathcal{J}(w)`.
- :func:`damped_newton_step`: both to second order (:math:`H` and :math:`G`):
  :math:`w - (H + \lambda G)^{-1}\nabla\mathcal{J}(w)`.

Here :math:`G = \nabla^2_u \rho(u, w)|_{u=w}` is the metric matrix and :math:`\lambda^{-1}` plays the
role of the learning rate. Linear systems are solved matrix-free by :func:`cg_solve`, which reports
how the solve went in a :class:`SolveInfo`.

All functions take parameters ``w`` as any pytree and are ``jit``-compatible (pass the callables
by closure). Numeric arguments (``lr``, ``lam``, ``damping``) may be traced; when they are
concrete, negative values are rejected. Called outside ``jit``, each step compiles its work for
that call (the callables are closed over, never cached by identity, so a function reading a
global that has since changed is never run with a stale value); for a training loop, wrap the
whole step in ``jax.jit``.

References:
    Lecture 3 (metrics) of this course; R. Grosse, CSC 2541 *Neural Net Training Dynamics*,
    lecture 3 "Metrics" (2022), https://www.cs.toronto.edu/~rgrosse/courses/csc2541_2022/;
    N. Parikh and S. Boyd, *Proximal Algorithms* (2014), https://web.stanford.edu/~boyd/papers/prox_algs.html;
    A. Beck and M. Teboulle, *Mirror descent and nonlinear projected subgradient methods for
    convex optimization* (2003), https://doi.org/10.1016/S0167-6377(02)00231-6;
    S. Amari, *Natural gradient works efficiently in learning* (1998), https://doi.org/10.1162/089976698300017746;
    J. Martens, *New insights and perspectives on the natural gradient method* (2020),
    https://arxiv.org/abs/1412.1193.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.tree_utils as otu
from jax.flatten_util import ravel_pytree

from gradtools._checks import concrete as _concrete, check_callable, check_same_tree, check_scalar_fn
from gradtools.products import hessian_operator

PyTree = Any
MVP = Callable[[PyTree], PyTree]

__all__ = [
    "SolveInfo",
    "gd_step",
    "proximal_step",
    "mirror_step",
    "cg_solve",
    "natural_gradient_step",
    "damped_newton_step",
]


class SolveInfo(NamedTuple):
    """How an iterative solve went (returned by :func:`cg_solve` and the steps that call a solver).

    Attributes:
        iterations: number of iterations run, an int array (a scalar).
        residual_norm: the relative residual at the returned solution. For a linear solve
            :math:`Ax = b` it is :math:`\\|b - Ax\\| / \\|b\\|` (recomputed from ``x``, not the
            recursively updated one); for :func:`proximal_step` it is the inner objective's
            gradient norm relative to its value at the warm start, which is the same quantity
            when the inner problem is a quadratic.
        converged: bool array, ``True`` when ``residual_norm <= tol`` and everything is finite.
    """

    iterations: jax.Array
    residual_norm: jax.Array
    converged: jax.Array


# --------------------------------------------------------------------------------------------
# helpers


def _check_nonneg(value: Any, name: str, fix: str) -> None:
    if jnp.ndim(value) != 0:
        raise ValueError(f"{name} must be a scalar, expected shape (), got shape {jnp.shape(value)}.")
    v = _concrete(value)
    if v is not None and not (v >= 0):  # also catches NaN
        raise ValueError(f"{name} must be >= 0, expected a non-negative number, got {float(v)!r}. {fix}")


def _tree_axpy(a: Any, x: PyTree, y: PyTree) -> PyTree:
    """``y + a * x`` leaf by leaf, keeping the dtypes of ``y``."""
    return jax.tree_util.tree_map(lambda xi, yi: (yi + a * xi).astype(jnp.result_type(yi)), x, y)


def _check_w(w: PyTree, name: str = "w") -> None:
    leaves = jax.tree_util.tree_leaves(w)
    if not leaves:
        raise ValueError(f"{name} must be a pytree of arrays: expected at least one leaf, got an empty pytree {w!r}.")
    for i, leaf in enumerate(leaves):
        if not jnp.issubdtype(jnp.result_type(leaf), jnp.floating):
            raise TypeError(
                f"leaf {i} of {name} has dtype {jnp.result_type(leaf)}, expected a floating dtype. "
                f"Convert it, e.g. jnp.asarray(x, dtype=float)."
            )


def _jit_bound(impl: Callable, *callables: Any, **static: Any) -> Callable:
    """``jax.jit`` of ``impl`` with its callables (and static ints) bound, for this call only.

    The user's callables are closed over rather than used as cache keys: a function that reads a
    global the user later rebinds (a data batch in a notebook, say) must not reuse a program
    compiled with the old value. Inside the user's own ``jit`` the call is simply inlined.
    """
    return jax.jit(functools.partial(impl, *callables, **static))


def _raise_if_nonfinite(b: PyTree, x: PyTree, rel: Any) -> None:
    """The concrete-value NaN/inf check of the linear solves (skipped when traced)."""
    bv, xv, rv = _concrete(ravel_pytree(b)[0]), _concrete(ravel_pytree(x)[0]), _concrete(rel)
    if bv is None or xv is None or rv is None:
        return
    bad_b, bad_x = int(np.sum(~np.isfinite(bv))), int(np.sum(~np.isfinite(xv)))
    if bad_b or bad_x or not np.isfinite(rv):
        raise ValueError(
            f"NaN/inf in the metric solve (A + damping I) x = b: expected finite b, x and "
            f"residual, got {bad_b} non-finite entries in b, {bad_x} in x and a residual of "
            f"{float(rv)!r}; add damping or check the metric (and the gradient) for NaN/inf."
        )


def _check_solver_args(
    mvp: Any, w: PyTree, damping: Any, maxiter: Any, tol: Any, name: str, wname: str = "w"
) -> None:
    """Checks shared by the CG-based functions; ``mvp=None`` skips the operator check."""
    _check_nonneg(damping, "damping", "damping adds damping * I to the matrix; use 0 or a small positive value.")
    if not isinstance(maxiter, (int, np.integer)) or isinstance(maxiter, bool) or maxiter < 1:
        raise ValueError(f"maxiter must be a positive int, expected e.g. 100, got {maxiter!r}.")
    tv = _concrete(tol) if jnp.ndim(tol) == 0 else None
    if jnp.ndim(tol) != 0 or (tv is not None and not (tv > 0)):
        raise ValueError(f"tol must be a positive scalar, expected e.g. 1e-6, got {tol!r}.")
    if mvp is None:
        return
    check_callable(mvp, name)
    out = jax.eval_shape(mvp, w)
    shapes_w = [jnp.shape(x) for x in jax.tree_util.tree_leaves(w)]
    shapes_o = [o.shape for o in jax.tree_util.tree_leaves(out)]
    sw, so = jax.tree_util.tree_structure(w), jax.tree_util.tree_structure(out)
    if sw != so or shapes_w != shapes_o:
        raise ValueError(
            f"{name} must map a pytree shaped like {wname} to one of the same structure and shapes.\n"
            f"  expected: {sw} with shapes {shapes_w}\n  got:      {so} with shapes {shapes_o}\n"
            f"Check that {name} is the product at parameters shaped like {wname}."
        )


def _all_finite(tree: PyTree) -> jax.Array:
    leaves = jax.tree_util.tree_leaves(tree)
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))


# --------------------------------------------------------------------------------------------
# gradient descent


def gd_step(J: Callable[[PyTree], jax.Array], w: PyTree, lr: float) -> PyTree:
    r"""One gradient-descent step :math:`w - \eta \nabla \mathcal{J}(w)`.

    The proximal step with the cost linearized and the squared Euclidean dissimilarity
    :math:`\rho(u, w) = \tfrac12\|u - w\|^2`, with :math:`\eta = \lambda^{-1}`:

    .. math::
        \arg\min_u \nabla\mathcal{J}(w)^\top u + \frac{1}{2\eta}\|u - w\|^2
        = w - \eta\,\nabla\mathcal{J}(w).

    It is not invariant to a change of coordinates: rescaling a parameter by ``s`` rescales its
    gradient by ``1/s``, so the same ``lr`` moves the function by a different amount (lecture 3,
    "Invariance").

    Args:
        J: the cost, a scalar function of the pytree ``w``.
        w: the parameters, any pytree of floating arrays.
        lr: the learning rate :math:`\eta \ge 0` (may be traced).

    Returns:
        The new parameters, same structure and dtypes as ``w``.

    Example:
        >>> import jax.numpy as jnp
        >>> gd_step(lambda w: jnp.sum(w ** 2), jnp.array([1.0, -2.0]), 0.25).tolist()
        [0.5, -1.0]

    References:
        Lecture 3 of this course; R. Grosse, CSC 2541 lecture 3 (2022).
    """
    check_callable(J, "J")
    _check_w(w)
    check_scalar_fn(J, w, name="J")
    _check_nonneg(lr, "lr", "Use a positive learning rate, e.g. lr=0.1.")
    return _jit_bound(_gd_jit, J)(w, lr)


def _gd_jit(J: Callable, w: PyTree, lr: Any) -> PyTree:
    return _tree_axpy(-lr, jax.grad(J)(w), w)


# --------------------------------------------------------------------------------------------
# proximal point


def proximal_step(
    J: Callable[[PyTree], jax.Array],
    rho: Callable[[PyTree, PyTree], jax.Array],
    w: PyTree,
    lam: float,
    *,
    inner_steps: int = 200,
    inner_lr: float | None = None,
) -> tuple[PyTree, SolveInfo]:
    r"""The proximal point step :math:`\arg\min_u \mathcal{J}(u) + \lambda \rho(u, w)`, solved numerically.

    .. math::
        \operatorname{prox}_{\mathcal{J},\lambda}(w) = \arg\min_u \; \Phi(u), \qquad
        \Phi(u) = \mathcal{J}(u) + \lambda\, \rho(u, w).

    Nothing is approximated: it is the idealized update that the other steps in this module
    approximate. With :math:`\rho = \tfrac12\|u-w\|^2` the optimality condition
    :math:`\nabla\mathcal{J}(u_\star) + \lambda (u_\star - w) = 0` reads
    :math:`u_\star = w - \lambda^{-1}\nabla\mathcal{J}(u_\star)`: **implicit** gradient descent,
    the gradient taken at the end point. Expanding,
    :math:`u_\star = w - \lambda^{-1} g + \lambda^{-2} H g + O(\lambda^{-3})`, so for large
    ``lam`` it approaches a GD step of size :math:`1/\lambda` with an error of order
    :math:`\lambda^{-2}`. For a quadratic :math:`\mathcal{J}(u) = \tfrac12 u^\top A u - b^\top u`
    it is :math:`u_\star = (I + A/\lambda)^{-1}(w + b/\lambda)`. ``lam = 0`` minimizes
    :math:`\mathcal{J}` outright.

    The inner problem is solved by an optax optimizer in a ``lax.while_loop``, warm-started at
    ``w``, so the step is ``jit``-able:

    - ``inner_lr=None`` (default): L-BFGS with a zoom line search (``optax.lbfgs`` with
      ``optax.value_and_grad_from_state``); no step size to tune.
    - ``inner_lr=eta``: plain gradient descent on :math:`\Phi` with step ``eta`` (needs
      ``eta < 2 / L`` for the smoothness constant ``L`` of :math:`\Phi`); cheaper per step, for
      teaching or when a line search is unwelcome.

    The loop stops after ``inner_steps`` updates or when
    :math:`\|\nabla\Phi(u)\| \le \sqrt{\epsilon}\, \|\nabla\Phi(w)\|`, with :math:`\epsilon`
    the machine epsilon of ``w``'s dtype (about 1.5e-8 in float64, 3.5e-4 in float32).

    Args:
        J: the cost, a scalar function of the pytree ``w``.
        rho: the dissimilarity ``rho(u, w) -> scalar``, minimal at ``u = w`` (e.g.
            ``lambda u, w: 0.5 * sum of squares of u - w``, or a KL divergence).
        w: the current parameters, any pytree of floating arrays.
        lam: the proximity weight :math:`\lambda \ge 0` (an inverse step size; may be traced).
        inner_steps: the most inner optimizer updates.
        inner_lr: ``None`` for L-BFGS, or the step of plain inner gradient descent.

    Returns:
        ``(u, info)``: ``u`` the approximate minimizer, structure of ``w``; ``info`` a
        :class:`SolveInfo` whose ``iterations`` counts inner updates, ``residual_norm`` is
        :math:`\|\nabla\Phi(u)\| / \|\nabla\Phi(w)\|` (0 when ``w`` is already stationary), and
        ``converged`` says whether the tolerance above was reached.

    Example:
        >>> import jax.numpy as jnp
        >>> J = lambda u: 0.5 * jnp.sum(u ** 2)          # A = I, b = 0
        >>> rho = lambda u, w: 0.5 * jnp.sum((u - w) ** 2)
        >>> u, info = proximal_step(J, rho, jnp.array([2.0, 4.0]), 1.0)   # (I + I)^{-1} w
        >>> [round(float(v), 4) for v in u], bool(info.converged)
        ([1.0, 2.0], True)

    References:
        Lecture 3 of this course; R. Grosse, CSC 2541 lecture 3 (2022), "Proximal optimization";
        N. Parikh and S. Boyd, *Proximal Algorithms* (2014); optax L-BFGS,
        https://optax.readthedocs.io/en/latest/api/optimizers.html#optax.lbfgs.
    """
    check_callable(J, "J")
    check_callable(rho, "rho")
    _check_w(w)
    check_scalar_fn(J, w, name="J")
    check_scalar_fn(rho, w, w, name="rho")
    _check_nonneg(lam, "lam", "lam weighs the proximity term; use lam > 0 (lam = 0 minimizes J outright).")
    if not isinstance(inner_steps, (int, np.integer)) or isinstance(inner_steps, bool) or inner_steps < 1:
        raise ValueError(f"inner_steps must be a positive int, expected e.g. 200, got {inner_steps!r}.")
    if inner_lr is not None:
        v = _concrete(inner_lr)
        if v is not None and not (v > 0):
            raise ValueError(
                f"inner_lr must be > 0 or None, expected a positive step, got {float(v)!r}. Use None for L-BFGS with a line "
                f"search, or a small positive step such as 1 / (lam + curvature of J)."
            )

    use_gd = inner_lr is not None
    return _jit_bound(_proximal_solve, J, rho, inner_steps=int(inner_steps), use_gd=use_gd)(
        w, lam, jnp.asarray(inner_lr if use_gd else 0.0)
    )


def _proximal_solve(J, rho, w, lam, inner_lr, *, inner_steps: int, use_gd: bool):
    """The inner loop of :func:`proximal_step` (lam is traced)."""

    def phi(u):
        return J(u) + lam * rho(u, w)

    grad_phi = jax.grad(phi)
    g0 = grad_phi(w)
    g0_norm = otu.tree_norm(g0)
    dtype = ravel_pytree(w)[0].dtype
    tol = float(np.sqrt(np.finfo(dtype).eps))
    target = tol * g0_norm

    if use_gd:
        opt = optax.sgd(inner_lr)

        def update(u, state, g):
            updates, state = opt.update(g, state, u)
            u = optax.apply_updates(u, updates)
            return u, state, grad_phi(u)

    else:
        opt = optax.lbfgs()
        value_and_grad = optax.value_and_grad_from_state(phi)

        def update(u, state, g):
            value, grad = value_and_grad(u, state=state)
            updates, state = opt.update(grad, state, u, value=value, grad=grad, value_fn=phi)
            u = optax.apply_updates(u, updates)
            return u, state, otu.tree_get(state, "grad")

    def cond(carry):
        k, _, _, g = carry
        return (k < inner_steps) & (otu.tree_norm(g) > target)  # stops on NaN too

    def body(carry):
        k, u, state, g = carry
        u, state, g = update(u, state, g)
        return k + 1, u, state, g

    init = (jnp.zeros((), jnp.int32), w, opt.init(w), g0)
    k, u, _, g = jax.lax.while_loop(cond, body, init)
    gn = otu.tree_norm(g)
    rel = jnp.where(g0_norm > 0, gn / jnp.where(g0_norm > 0, g0_norm, 1.0), gn)
    converged = (gn <= target) & _all_finite(u) & jnp.isfinite(rel)
    return u, SolveInfo(k, rel, converged)


# --------------------------------------------------------------------------------------------
# mirror descent

_MIRRORS = ("euclidean", "entropy")


def mirror_step(
    J: Callable[[PyTree], jax.Array], w: PyTree, lr: float, *, mirror: str = "euclidean"
) -> PyTree:
    r"""One mirror-descent step: the proximal step with the cost linearized, solved in closed form.

    Replacing :math:`\mathcal{J}(u)` by its first-order expansion at :math:`w` in the proximal
    objective leaves :math:`\arg\min_u \nabla\mathcal{J}(w)^\top u + \lambda\rho(u, w)`, whose
    optimality condition is

    .. math:: \nabla_u \rho(u_\star, w) = -\eta\, \nabla\mathcal{J}(w), \qquad \eta = \lambda^{-1}.

    - ``mirror="euclidean"``: :math:`\rho = \tfrac12\|u-w\|^2` gives :math:`u_\star - w = -\eta g`,
      i.e. :func:`gd_step`. ``w`` may be any pytree.
    - ``mirror="entropy"``: :math:`\rho(u, w) = \mathrm{KL}(u\,\|\,w) = \sum_i u_i \log(u_i/w_i)` on
      the probability simplex. With a multiplier :math:`\nu` for :math:`\sum_i u_i = 1` the
      condition is :math:`\log(u_i/w_i) + 1 = -\eta g_i + \nu`, so

      .. math:: u_i = \frac{w_i\, e^{-\eta g_i}}{\sum_j w_j\, e^{-\eta g_j}},

      the exponentiated-gradient update. It stays on the simplex by construction (computed as a
      softmax of :math:`\log w - \eta g`, so large steps do not overflow). ``w`` must be a 1-D
      array of positive entries summing to 1; this is checked when ``w`` is concrete.

    Args:
        J: the cost, a scalar function of ``w``.
        w: the parameters (any pytree for "euclidean"; a 1-D probability vector for "entropy").
        lr: the step size :math:`\eta = 1/\lambda \ge 0` (may be traced).
        mirror: "euclidean" or "entropy".

    Returns:
        The new parameters, same structure and dtype as ``w``.

    Example:
        >>> import jax.numpy as jnp
        >>> p = jnp.array([0.5, 0.5])
        >>> [round(float(v), 4) for v in mirror_step(lambda p: p[0], p, jnp.log(3.0), mirror="entropy")]  # g = (1, 0)
        [0.25, 0.75]

    References:
        Lecture 3 of this course; R. Grosse, CSC 2541 lecture 3 (2022);
        A. Beck and M. Teboulle (2003), https://doi.org/10.1016/S0167-6377(02)00231-6;
        J. Kivinen and M. Warmuth, *Exponentiated gradient versus gradient descent for linear
        predictors* (1997), https://doi.org/10.1006/inco.1996.2612.
    """
    if mirror not in _MIRRORS:
        raise ValueError(
            f"unknown mirror: expected one of {', '.join(map(repr, _MIRRORS))}, got {mirror!r}. "
            f"'euclidean' gives gradient descent, 'entropy' the exponentiated-gradient step on the simplex."
        )
    if mirror == "euclidean":
        return gd_step(J, w, lr)
    check_callable(J, "J")
    if not isinstance(w, (jax.Array, np.ndarray)) or jnp.ndim(w) != 1:
        raise ValueError(
            f"mirror='entropy' needs w to be a 1-D array: expected a probability vector, got "
            f"{type(w).__name__} with shape {jnp.shape(w) if hasattr(w, 'shape') else '?'}. "
            f"Flatten it, e.g. jax.flatten_util.ravel_pytree(w)[0]."
        )
    _check_w(w)
    check_scalar_fn(J, w, name="J")
    _check_nonneg(lr, "lr", "Use a positive step size, e.g. lr=0.1.")
    v = _concrete(w)
    if v is not None:
        tol = float(np.sqrt(np.finfo(v.dtype).eps))
        if not (np.all(v > 0) and abs(float(np.sum(v)) - 1.0) <= tol):
            raise ValueError(
                f"mirror='entropy' needs w on the probability simplex: expected positive entries "
                f"summing to 1, got min {float(np.min(v))!r} and sum {float(np.sum(v))!r}. "
                f"Normalize it, e.g. w = jax.nn.softmax(logits) or w / w.sum()."
            )
    return _jit_bound(_entropy_mirror_jit, J)(w, lr)


def _entropy_mirror_jit(J: Callable, w: jax.Array, lr: Any) -> jax.Array:
    g = jax.grad(J)(w)
    return jax.nn.softmax(jnp.log(w) - lr * g).astype(w.dtype)


# --------------------------------------------------------------------------------------------
# conjugate gradients


def cg_solve(
    mvp: MVP,
    b: PyTree,
    *,
    x0: PyTree | None = None,
    damping: float = 0.0,
    maxiter: int = 100,
    tol: float = 1e-6,
) -> tuple[PyTree, SolveInfo]:
    r"""Conjugate gradients for :math:`(A + \delta I)\, x = b` with a matrix-free ``A``, reporting how it went.

    .. math::
        r_0 = b - (A + \delta I) x_0,\; p_0 = r_0; \qquad
        \alpha_k = \frac{r_k^\top r_k}{p_k^\top (A + \delta I) p_k},\;
        x_{k+1} = x_k + \alpha_k p_k,\; r_{k+1} = r_k - \alpha_k (A + \delta I) p_k,\;
        p_{k+1} = r_{k+1} + \frac{r_{k+1}^\top r_{k+1}}{r_k^\top r_k} p_k .

    It exists next to ``jax.scipy.sparse.linalg.cg`` (which gives the same solution) because that
    function returns only ``(x, None)``: no iteration count, no residual, no flag, so a caller
    cannot tell a converged natural-gradient solve from one that hit ``maxiter``. This one runs
    the same recurrence in a ``lax.while_loop`` on the flattened pytree (``ravel_pytree`` order)
    and returns a :class:`SolveInfo`.

    It stops when :math:`\|r_k\| \le \text{tol}\,\|b\|` or after ``maxiter`` iterations; in exact
    arithmetic it solves an ``n``-dimensional SPD system in at most ``n`` iterations. The reported
    ``residual_norm`` is recomputed from the returned ``x`` as :math:`\|b - (A+\delta I)x\| / \|b\|`.
    ``A + damping I`` must be symmetric positive definite. If a direction of non-positive
    curvature :math:`p^\top (A+\delta I) p \le 0` appears (an indefinite or singular system), the
    loop stops before stepping along it and returns the current iterate with ``converged=False``,
    as truncated-Newton (Steihaug) CG does; raise ``damping`` to fix it.

    Non-finite values: when ``b``, the solution or its residual contains NaN/inf (the last one
    means ``mvp`` returned NaN/inf) and the values are concrete, a ``ValueError`` is raised.
    Under ``jit`` nothing can be raised, so the result comes back with ``converged=False``.

    Args:
        mvp: ``v -> A v`` for pytrees ``v`` shaped like ``b`` (any product of this library).
        b: the right-hand side, a pytree of floating arrays.
        x0: the initial guess, same structure as ``b`` (default zeros).
        damping: :math:`\delta \ge 0`, added to the diagonal (may be traced).
        maxiter: the most iterations (a positive int).
        tol: the relative residual to reach, ``> 0``.

    Returns:
        ``(x, info)``: ``x`` with the structure of ``b``; ``info`` a :class:`SolveInfo`.

    Example:
        >>> import jax.numpy as jnp
        >>> A = jnp.array([[4.0, 1.0], [1.0, 3.0]])
        >>> x, info = cg_solve(lambda v: A @ v, jnp.array([1.0, 2.0]))
        >>> [round(float(v), 4) for v in x], int(info.iterations), bool(info.converged)
        ([0.0909, 0.6364], 2, True)

    References:
        M. Hestenes and E. Stiefel, *Methods of conjugate gradients for solving linear systems*
        (1952), https://doi.org/10.6028/jres.049.044; J. Shewchuk, *An introduction to the
        conjugate gradient method without the agonizing pain* (1994); T. Steihaug (1983),
        https://doi.org/10.1137/0720042; J. Martens, *Deep learning via Hessian-free
        optimization* (2010).
    """
    _check_w(b, "b")
    if x0 is not None:
        check_same_tree(b, x0, wname="b", vname="x0")
    _check_solver_args(mvp, b, damping, maxiter, tol, "mvp", wname="b")
    if x0 is None:
        x0 = jax.tree_util.tree_map(jnp.zeros_like, b)
    x, info = _jit_bound(_cg, mvp, maxiter=int(maxiter))(b, x0, damping, tol)
    _raise_if_nonfinite(b, x, info.residual_norm)
    return x, info


def _cg(mvp: MVP, b: PyTree, x0: PyTree, damping: Any, tol: Any, maxiter: int) -> tuple[PyTree, SolveInfo]:
    """The CG loop of :func:`cg_solve`, on flattened pytrees (no input checks)."""
    b_flat, unravel = ravel_pytree(b)
    dtype = b_flat.dtype

    def A(x):
        return (ravel_pytree(mvp(unravel(x)))[0] + damping * x).astype(dtype)

    x = ravel_pytree(x0)[0].astype(dtype)
    r = b_flat - A(x)
    b_norm = jnp.linalg.norm(b_flat)
    thresh2 = (tol * b_norm) ** 2
    rs = r @ r

    def cond(c):
        k, _, _, _, rs, stop = c
        return (k < maxiter) & (rs > thresh2) & ~stop

    def body(c):
        k, x, r, p, rs, _ = c
        ap = A(p)
        pap = p @ ap
        bad = ~(pap > 0)  # non-positive curvature or NaN: do not step
        alpha = jnp.where(bad, 0.0, rs / jnp.where(bad, 1.0, pap))
        x = x + alpha * p
        r = r - alpha * ap
        rs_new = r @ r
        p = r + (rs_new / jnp.where(bad, 1.0, rs)) * p
        return k + jnp.where(bad, 0, 1), x, r, p, jnp.where(bad, rs, rs_new), bad

    init = (jnp.zeros((), jnp.int32), x, r, r, rs, ~jnp.isfinite(rs))
    k, x, _, _, _, _ = jax.lax.while_loop(cond, body, init)

    res = jnp.linalg.norm(b_flat - A(x))  # the true residual, not the recursively updated one
    rel = jnp.where(b_norm > 0, res / jnp.where(b_norm > 0, b_norm, 1.0), res)
    converged = jnp.all(jnp.isfinite(x)) & jnp.isfinite(rel) & (rel <= tol)
    return unravel(x), SolveInfo(k, rel, converged)


# --------------------------------------------------------------------------------------------
# natural gradient and damped Newton


def natural_gradient_step(
    J: Callable[[PyTree], jax.Array],
    metric_mvp: MVP,
    w: PyTree,
    lr: float,
    *,
    damping: float = 0.0,
    maxiter: int = 100,
    tol: float = 1e-6,
) -> tuple[PyTree, SolveInfo]:
    r"""One natural-gradient step :math:`w - \eta (G + \delta I)^{-1} \nabla\mathcal{J}(w)`, by CG.

    The infinitesimal limit of the proximal step: for large :math:`\lambda` the minimizer is
    close to :math:`w`, so :math:`\mathcal{J}` is expanded to first order and :math:`\rho` to
    second order, :math:`\rho(u, w) \approx \tfrac12 (u-w)^\top G (u-w)` with the metric
    :math:`G = \nabla^2_u\rho(u,w)|_{u=w}`. Then

    .. math::
        \arg\min_u \nabla\mathcal{J}(w)^\top u + \frac{\lambda}{2}(u-w)^\top G (u-w)
        = w - \lambda^{-1} G^{-1}\nabla\mathcal{J}(w), \qquad \eta = \lambda^{-1}.

    :math:`G^{-1}\nabla\mathcal{J}` is the natural gradient (Amari). When :math:`G` is defined
    in function space (a pullback metric :math:`J_{zw}^\top G_z J_{zw}`, the Fisher, a
    Gauss-Newton matrix), the update is invariant to reparameterization to first order, exactly
    so for affine maps :math:`w = Au + c`: the step in :math:`u` maps to the same step in
    :math:`w`. With :math:`G = I` it is :func:`gd_step`. ``damping`` :math:`\delta` regularizes
    a singular metric (e.g. more parameters than outputs).

    Args:
        J: the cost, a scalar function of ``w``.
        metric_mvp: ``v -> G v`` at ``w`` (``gauss_newton_operator``, ``fisher_operator``,
            ``pullback_operator``, or any lambda).
        w: parameters, any pytree.
        lr: the step size :math:`\eta \ge 0`.
        damping: :math:`\delta \ge 0`.
        maxiter: the most CG iterations.
        tol: the relative CG residual to reach.

    Returns:
        ``(w_new, info)``, ``info`` the :class:`SolveInfo` of the CG solve.

    Example:
        >>> import jax.numpy as jnp
        >>> G = jnp.diag(jnp.array([1.0, 100.0]))            # a badly scaled metric
        >>> J = lambda w: 0.5 * w @ G @ w
        >>> w_new, info = natural_gradient_step(J, lambda v: G @ v, jnp.array([1.0, 1.0]), 1.0)
        >>> [round(float(v), 4) + 0.0 for v in w_new]        # G^{-1} grad = w: one step to 0
        [0.0, 0.0]

    References:
        Lecture 3 of this course; R. Grosse, CSC 2541 lecture 3 (2022); S. Amari (1998),
        https://doi.org/10.1162/089976698300017746; J. Martens (2020), https://arxiv.org/abs/1412.1193.
    """
    check_callable(J, "J")
    check_callable(metric_mvp, "metric_mvp")
    _check_w(w)
    check_scalar_fn(J, w, name="J")
    _check_nonneg(lr, "lr", "Use a positive step size, e.g. lr=1.0.")
    _check_solver_args(metric_mvp, w, damping, maxiter, tol, "metric_mvp")
    w_new, info, g, d = _jit_bound(_ng_jit, J, metric_mvp, maxiter=int(maxiter))(w, lr, damping, tol)
    _raise_if_nonfinite(g, d, info.residual_norm)
    return w_new, info


def _ng_jit(J, metric_mvp, w, lr, damping, tol, *, maxiter: int):
    g = jax.grad(J)(w)
    d, info = _cg(metric_mvp, g, jax.tree_util.tree_map(jnp.zeros_like, g), damping, tol, maxiter)
    return _tree_axpy(-lr, d, w), info, g, d


def damped_newton_step(
    J: Callable[[PyTree], jax.Array],
    w: PyTree,
    lam: float,
    *,
    curvature_mvp: MVP | None = None,
    metric_mvp: MVP | None = None,
    lr: float = 1.0,
    maxiter: int = 100,
    tol: float = 1e-6,
) -> tuple[PyTree, SolveInfo]:
    r"""One damped Newton step :math:`w - \eta (H + \lambda G)^{-1}\nabla\mathcal{J}(w)`, by CG.

    The proximal step with **both** terms expanded to second order,
    :math:`\mathcal{J}(u) \approx \mathcal{J}(w) + g^\top (u-w) + \tfrac12 (u-w)^\top H (u-w)` and
    :math:`\rho(u,w) \approx \tfrac12(u-w)^\top G(u-w)`:

    .. math::
        \arg\min_u\; g^\top(u-w) + \tfrac12 (u-w)^\top (H + \lambda G)(u-w)
        = w - (H + \lambda G)^{-1} g .

    With :math:`G = I` this is Levenberg-Marquardt damping of Newton's method. It is also the
    solution of a trust-region subproblem :math:`\min_d g^\top d + \tfrac12 d^\top H d` subject to
    :math:`d^\top G d \le r^2`, with :math:`\lambda` the Lagrange multiplier of the constraint: a
    larger :math:`\lambda` means a smaller region (Nocedal and Wright, ch. 4). ``lam = 0`` is
    Newton's method; passing a Gauss-Newton ``curvature_mvp`` gives (damped) Gauss-Newton, which is
    positive semi-definite where the exact Hessian may not be. CG needs :math:`H + \lambda G` positive
    definite; on an indefinite system it stops early with ``converged=False`` (see :func:`cg_solve`).

    Args:
        J: the cost, a scalar function of ``w``.
        w: parameters, any pytree.
        lam: the damping :math:`\lambda \ge 0` (may be traced).
        curvature_mvp: ``v -> H v``; default the exact Hessian of ``J`` at ``w``
            (:func:`gradtools.hessian_operator`). E.g. ``gauss_newton_operator(f, L, w)``.
        metric_mvp: ``v -> G v``; default the identity.
        lr: the step size :math:`\eta \ge 0` (1 for the full Newton step).
        maxiter: the most CG iterations.
        tol: the relative CG residual to reach.

    Returns:
        ``(w_new, info)``, ``info`` the :class:`SolveInfo` of the CG solve.

    Example:
        >>> import jax.numpy as jnp
        >>> J = lambda w: jnp.sum(w ** 2) + w[0]           # H = 2 I, minimum at (-0.5, 0)
        >>> w_new, _ = damped_newton_step(J, jnp.array([3.0, 1.0]), 0.0)
        >>> [round(float(v), 4) for v in w_new]
        [-0.5, 0.0]

    References:
        Lecture 3 of this course; R. Grosse, CSC 2541 lecture 3 (2022), "Approximation 3";
        J. Nocedal and S. Wright, *Numerical Optimization* (2006), ch. 4 and 10;
        J. Martens, *Deep learning via Hessian-free optimization* (2010).
    """
    check_callable(J, "J")
    _check_w(w)
    check_scalar_fn(J, w, name="J")
    if curvature_mvp is not None:
        check_callable(curvature_mvp, "curvature_mvp")
    if metric_mvp is not None:
        check_callable(metric_mvp, "metric_mvp")
    _check_nonneg(lam, "lam", "lam is the damping (trust-region multiplier); use 0 for Newton or a positive value.")
    _check_nonneg(lr, "lr", "Use lr=1.0 for the full step.")
    for name, op in (("curvature_mvp", curvature_mvp), ("metric_mvp", metric_mvp)):
        if op is not None:
            _check_solver_args(op, w, 0.0, maxiter, tol, name)
    _check_solver_args(None, w, 0.0, maxiter, tol, "")
    w_new, info, g, d = _jit_bound(_newton_jit, J, curvature_mvp, metric_mvp, maxiter=int(maxiter))(w, lam, lr, tol)
    _raise_if_nonfinite(g, d, info.residual_norm)
    return w_new, info


def _newton_jit(J, curvature_mvp, metric_mvp, w, lam, lr, tol, *, maxiter: int):
    H = hessian_operator(J, w) if curvature_mvp is None else curvature_mvp
    g = jax.grad(J)(w)
    zeros = jax.tree_util.tree_map(jnp.zeros_like, g)
    if metric_mvp is None:
        d, info = _cg(H, g, zeros, lam, tol, maxiter)
    else:
        G = metric_mvp

        def mvp(v):
            return jax.tree_util.tree_map(lambda h, m: h + lam * m, H(v), G(v))

        d, info = _cg(mvp, g, zeros, 0.0, tol, maxiter)
    return _tree_axpy(-lr, d, w), info, g, d
