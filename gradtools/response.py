r"""The response function of a fitted model and its Jacobian, by the implicit function theorem.

Fit :math:`w_*(\theta) = \arg\min_w \mathcal{J}(w; \theta)` for hyperparameters or data
:math:`\theta` (a regularization strength, the training targets...). Where the Hessian
:math:`\nabla^2_w \mathcal{J}` is invertible at the minimum, the stationarity condition
:math:`\nabla_w \mathcal{J}(w_*(\theta); \theta) = 0` defines :math:`w_*` as a smooth function of
:math:`\theta` (the implicit function theorem), and differentiating it gives the response Jacobian

.. math::
    J_{w_*\theta} = -\big[\nabla^2_{w} \mathcal{J}(w_*; \theta)\big]^{-1}
    \nabla^2_{w\theta} \mathcal{J}(w_*; \theta).

:func:`response_jacobian_vp` applies it to one direction of :math:`\theta` matrix-free (one mixed
second-derivative product, then one conjugate-gradient solve with Hessian or Gauss-Newton
products); :func:`response_jacobian` builds it densely for small problems; :func:`fit_newton`
re-fits by Newton's method, to check both against finite differences.

The objective is always a function ``J(w, theta) -> scalar`` of two pytrees.

References:
    Lecture 2 (Taylor approximations and autodiff) of this course.
    Y. Bengio, *Gradient-based optimization of hyperparameters*, Neural Computation 12(8), 2000.
    J. Lorraine, P. Vicol, D. Duvenaud, *Optimizing millions of hyperparameters by implicit
    differentiation*, AISTATS 2020, https://arxiv.org/abs/1911.02590.
    R. Grosse, CSC 2541 *Neural Net Training Dynamics*, lecture 2 (2021).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from gradtools._checks import check_callable, check_same_tree, check_scalar_fn
from gradtools.steps import SolveInfo, cg_solve

PyTree = Any
Objective = Callable[[PyTree, PyTree], jax.Array]
MVP = Callable[[PyTree], PyTree]

__all__ = [
    "mixed_vp",
    "response_jacobian_vp",
    "response_jacobian",
    "FitInfo",
    "fit_newton",
]


def _check_objective(J: Any, w: PyTree, theta: PyTree) -> None:
    check_callable(J, "J")
    check_scalar_fn(J, w, theta, name="J")


def _check_concrete_nonnegative(value: Any, name: str) -> None:
    try:
        v = float(value)
    except (TypeError, jax.errors.ConcretizationTypeError):
        return  # traced: cannot check a value under jit
    if not v >= 0.0:
        raise ValueError(f"{name} must be >= 0, got {v}. Pass 0.0 for no damping or a small positive value.")


def _check_positive_int(value: Any, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}. Pass e.g. {name}=100.")


def mixed_vp(J: Objective, w: PyTree, theta: PyTree, u: PyTree) -> PyTree:
    r"""Mixed second-derivative product :math:`\nabla^2_{w\theta}\mathcal{J}(w;\theta)\, u`.

    .. math::
        \nabla^2_{w\theta}\mathcal{J}\, u
        = \frac{d}{d\epsilon} \nabla_w \mathcal{J}(w; \theta + \epsilon u)\Big|_{\epsilon=0}

    One JVP (in :math:`\theta`) of the gradient in :math:`w`: forward-over-reverse, like
    :func:`gradtools.hvp`. Equals ``jax.jacfwd(jax.grad(J), argnums=1)(w, theta) @ u`` for flat
    arrays.

    Args:
        J: objective ``J(w, theta) -> scalar``.
        w: parameters, any pytree.
        theta: hyperparameters or data, any pytree of float arrays.
        u: a direction in theta-space, same structure and shapes as ``theta``.

    Returns:
        A pytree with the structure of ``w``.

    Example:
        >>> import jax.numpy as jnp
        >>> J = lambda w, t: 0.5 * t * jnp.sum(w ** 2)     # d/dt grad_w J = w
        >>> mixed_vp(J, jnp.array([1.0, 2.0]), jnp.array(3.0), jnp.array(1.0)).tolist()
        [1.0, 2.0]
    """
    _check_objective(J, w, theta)
    check_same_tree(theta, u, wname="theta", vname="u")
    grad_w = jax.grad(J, argnums=0)
    return jax.jvp(lambda t: grad_w(w, t), (theta,), (u,))[1]


def _curvature_mvp(J: Objective, w_star: PyTree, theta: PyTree, curvature: Any) -> MVP:
    if isinstance(curvature, str):
        if curvature != "hessian":
            raise ValueError(
                f"unknown curvature {curvature!r}: expected 'hessian' or a callable v -> A v at w_star. "
                f"For Gauss-Newton pass curvature=gt.gauss_newton_operator(f, loss, w_star)."
            )
        _, lin = jax.linearize(jax.grad(lambda w: J(w, theta)), w_star)
        return lin
    check_callable(curvature, "curvature")
    return curvature


def response_jacobian_vp(
    J: Objective,
    w_star: PyTree,
    theta: PyTree,
    u: PyTree,
    *,
    curvature: str | MVP = "hessian",
    damping: float = 0.0,
    maxiter: int = 200,
    tol: float = 1e-10,
    return_info: bool = False,
) -> PyTree | tuple[PyTree, SolveInfo]:
    r"""Response-Jacobian product :math:`J_{w_*\theta}\, u`: how the fitted weights move when
    :math:`\theta` moves along ``u``.

    .. math::
        J_{w_*\theta}\, u = -\big(A + \delta I\big)^{-1} \nabla^2_{w\theta}\mathcal{J}(w_*;\theta)\, u,

    with :math:`A = \nabla^2_w \mathcal{J}(w_*;\theta)` (``curvature="hessian"``, the implicit
    function theorem exactly when :math:`\delta = 0`) or any symmetric positive semi-definite
    stand-in such as the Gauss-Newton matrix :math:`J_{zw}^\top H_{\mathcal{L}} J_{zw}` (pass
    ``curvature=gt.gauss_newton_operator(f, loss, w_star)``), and damping :math:`\delta \ge 0`.
    Costs one mixed product (:func:`mixed_vp`) and one conjugate-gradient solve
    (:func:`gradtools.cg_solve`, which also reports its iterations and residual), never a matrix. CG needs :math:`A + \delta I` positive
    definite: at a strict local minimum the Hessian is; elsewhere add damping or use Gauss-Newton.
    Equals ``response_jacobian(J, w_star, theta) @ u`` (flat) when ``damping=0``.

    Args:
        J: objective ``J(w, theta) -> scalar``.
        w_star: a minimizer of ``J(., theta)`` (its gradient should be ~0), any pytree.
        theta: the hyperparameters/data at which ``w_star`` was fitted, any pytree.
        u: direction in theta-space, same structure as ``theta``.
        curvature: ``"hessian"`` or a callable ``v -> A v`` at ``w_star`` (same structure as
            ``w_star``), e.g. ``gt.gauss_newton_operator(...)`` or ``gt.hessian_operator(...)``.
        damping: :math:`\delta \ge 0` added to the curvature's diagonal.
        maxiter: maximum number of CG iterations.
        tol: CG's relative residual tolerance (the default suits float64; in float32 a
            relative residual below ~1e-7 is out of reach, so pass ``tol=1e-6`` or so there).
        return_info: also return the solver's :class:`gradtools.SolveInfo` (iterations,
            relative residual :math:`\|b - (A + \delta I) x\| / \|b\|`, converged flag).

    Returns:
        :math:`dw_*`, a pytree with the structure of ``w_star``: to first order,
        ``w_star(theta + h u) ~ w_star(theta) + h * dw``. With ``return_info=True``, the pair
        ``(dw, info)``.

    Example:
        >>> import jax.numpy as jnp
        >>> J = lambda w, lam: 0.5 * jnp.sum((w - 1.0) ** 2) + 0.5 * lam * jnp.sum(w ** 2)
        >>> w_star = jnp.full(2, 1.0 / 3.0)                # minimizer at lam = 2: 1 / (1 + lam)
        >>> dw = response_jacobian_vp(J, w_star, jnp.array(2.0), jnp.array(1.0))
        >>> [round(float(x), 5) for x in dw]                  # -1 / (1 + lam)**2
        [-0.11111, -0.11111]
        >>> dw, info = response_jacobian_vp(J, w_star, jnp.array(2.0), jnp.array(1.0),
        ...                                 tol=1e-6, return_info=True)   # float32: tol >= ~1e-6
        >>> bool(info.converged), int(info.iterations)        # A = 3 I: one CG step
        (True, 1)

    References:
        Bengio (2000); Lorraine, Vicol & Duvenaud (2020), https://arxiv.org/abs/1911.02590;
        Lecture 2 of this course.
    """
    _check_objective(J, w_star, theta)
    check_same_tree(theta, u, wname="theta", vname="u")
    _check_concrete_nonnegative(damping, "damping")
    _check_positive_int(maxiter, "maxiter")
    if not isinstance(return_info, bool):
        raise TypeError(f"return_info must be a bool, got {return_info!r}. Pass return_info=True or False.")
    mvp = _curvature_mvp(J, w_star, theta, curvature)
    b = jax.tree_util.tree_map(jnp.negative, mixed_vp(J, w_star, theta, u))

    def checked(v: PyTree) -> PyTree:
        out = mvp(v)
        check_same_tree(w_star, out, wname="w_star", vname="curvature(v)")
        return out

    x, info = cg_solve(checked, b, damping=damping, maxiter=maxiter, tol=tol)
    return (x, info) if return_info else x


def response_jacobian(J: Objective, w_star: PyTree, theta: PyTree, *, damping: float = 0.0) -> jax.Array:
    r"""Dense response Jacobian :math:`-[\nabla^2_w\mathcal{J} + \delta I]^{-1}\nabla^2_{w\theta}\mathcal{J}`.

    .. math::
        J_{w_*\theta} = -\big[\nabla^2_{w} \mathcal{J}(w_*; \theta)\big]^{-1}
        \nabla^2_{w\theta} \mathcal{J}(w_*; \theta) \in \mathbb{R}^{n_w \times n_\theta}

    Builds both second-derivative matrices with ``jax.hessian`` / ``jax.jacfwd`` and solves
    with ``jnp.linalg.solve``: for small problems, teaching and checking
    :func:`response_jacobian_vp`. Rows follow ``ravel_pytree(w_star)``, columns
    ``ravel_pytree(theta)``.

    Args:
        J: objective ``J(w, theta) -> scalar``.
        w_star: a minimizer of ``J(., theta)``, any pytree.
        theta: hyperparameters/data, any pytree of float arrays.
        damping: :math:`\delta \ge 0` added to the Hessian's diagonal.

    Returns:
        The ``(n_w, n_theta)`` matrix.

    Example:
        >>> import jax.numpy as jnp
        >>> J = lambda w, t: 0.5 * jnp.sum((w - t) ** 2) + 0.5 * jnp.sum(w ** 2)  # w* = t / 2
        >>> R = response_jacobian(J, jnp.array([0.5, 1.0]), jnp.array([1.0, 2.0]))
        >>> bool(jnp.allclose(R, 0.5 * jnp.eye(2)))
        True

    References:
        Bengio (2000); Lorraine, Vicol & Duvenaud (2020), https://arxiv.org/abs/1911.02590.
    """
    _check_objective(J, w_star, theta)
    _check_concrete_nonnegative(damping, "damping")
    w_flat, unravel_w = ravel_pytree(w_star)
    t_flat, unravel_t = ravel_pytree(theta)

    def Jflat(wf, tf):
        return J(unravel_w(wf), unravel_t(tf))

    H = jax.hessian(Jflat, argnums=0)(w_flat, t_flat)
    M = jax.jacfwd(jax.grad(Jflat, argnums=0), argnums=1)(w_flat, t_flat)
    H = H + damping * jnp.eye(H.shape[0], dtype=H.dtype)
    return -jnp.linalg.solve(H, M.reshape(w_flat.shape[0], t_flat.shape[0]))


class FitInfo(NamedTuple):
    """What :func:`fit_newton` did.

    Attributes:
        steps: number of Newton steps taken (int array).
        grad_norm: Euclidean norm of :math:`\\nabla_w \\mathcal{J}` at the returned point.
        converged: whether ``grad_norm <= tol`` (bool array).
    """

    steps: jax.Array
    grad_norm: jax.Array
    converged: jax.Array


def fit_newton(
    J: Objective,
    w0: PyTree,
    theta: PyTree,
    *,
    max_steps: int = 50,
    tol: float = 1e-10,
    damping: float = 0.0,
) -> tuple[PyTree, FitInfo]:
    r"""Minimize :math:`\mathcal{J}(\cdot;\theta)` from ``w0`` by (damped) Newton's method.

    .. math::
        w \leftarrow w - \big(\nabla^2_w\mathcal{J}(w;\theta) + \delta I\big)^{-1}\nabla_w\mathcal{J}(w;\theta)

    until :math:`\|\nabla_w\mathcal{J}\| \le` ``tol`` or ``max_steps`` steps. Uses the dense
    Hessian, so it is for small problems: it re-fits a model after a small change of
    :math:`\theta`, warm-started at the old minimizer, to check the response Jacobian by finite
    differences. Newton's method converges quadratically near a strict local minimum but is
    attracted by any stationary point; start it close to the minimum you want. Runs in a
    ``lax.while_loop`` (jit-compatible).

    Args:
        J: objective ``J(w, theta) -> scalar``.
        w0: starting point, any pytree.
        theta: hyperparameters/data, any pytree.
        max_steps: maximum number of Newton steps.
        tol: stop when the gradient norm is at most this.
        damping: :math:`\delta \ge 0` added to the Hessian's diagonal (slower, safer steps).

    Returns:
        ``(w, info)``: the point, with the structure of ``w0``, and a :class:`FitInfo`.

    Example:
        >>> import jax.numpy as jnp
        >>> J = lambda w, t: jnp.sum(jnp.cosh(w - t))
        >>> w, info = fit_newton(J, jnp.zeros(2), jnp.array([0.5, -1.0]))
        >>> bool(info.converged), [round(float(x), 6) for x in w]
        (True, [0.5, -1.0])

    References:
        J. Nocedal, S. Wright, *Numerical Optimization*, 2nd ed., chapter 3 (2006).
    """
    _check_objective(J, w0, theta)
    _check_positive_int(max_steps, "max_steps")
    _check_concrete_nonnegative(damping, "damping")
    w_flat, unravel = ravel_pytree(w0)

    def Jflat(wf):
        return J(unravel(wf), theta)

    grad = jax.grad(Jflat)
    hess = jax.hessian(Jflat)
    eye = jnp.eye(w_flat.shape[0], dtype=w_flat.dtype)

    def cond(state):
        _, g, k = state
        return (k < max_steps) & (jnp.linalg.norm(g) > tol)

    def body(state):
        wf, g, k = state
        wf = wf - jnp.linalg.solve(hess(wf) + damping * eye, g)
        return wf, grad(wf), k + 1

    wf, g, k = jax.lax.while_loop(cond, body, (w_flat, grad(w_flat), jnp.asarray(0)))
    gn = jnp.linalg.norm(g)
    return unravel(wf), FitInfo(steps=k, grad_norm=gn, converged=gn <= tol)
