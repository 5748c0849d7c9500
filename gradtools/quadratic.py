r"""Convex quadratics and the closed-form dynamics of gradient descent on them (lecture 1).

A quadratic objective on flat vectors :math:`w \in \mathbb{R}^n`,

.. math:: \mathcal{J}(w) = \tfrac12 w^\top A w + b^\top w + c, \qquad A = A^\top,

is the toy model of the course. Linear regression with the mean squared error is one
(:func:`from_regression`). Because :math:`A` is symmetric it has a spectral decomposition
:math:`A = Q D Q^\top` (:func:`eigenbasis`); in the rotated coordinates :math:`\tilde w = Q^\top w`
gradient descent acts on each coordinate separately,

.. math:: \tilde w_j \leftarrow \tilde w_j - \alpha (a_j \tilde w_j + \tilde b_j),

which :func:`gd_closed_form` solves for every step at once, and :func:`gd_trajectory` simulates.
Everything here is pure JAX and ``jit``-compatible; vectors are flat arrays of shape ``(n,)``
(use ``jax.flatten_util.ravel_pytree`` for pytrees).

References:
    Lecture 1 of this course (linear regression as a toy model);
    R. Grosse, CSC 2541 *Neural Net Training Dynamics*, lecture 1 (2021),
    https://www.cs.toronto.edu/~rgrosse/courses/csc2541_2021/;
    G. Goh, *Why Momentum Really Works*, Distill (2017), https://distill.pub/2017/momentum/.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

__all__ = [
    "Quadratic",
    "Eigenbasis",
    "from_regression",
    "from_spectrum",
    "value",
    "gradient",
    "minimizer",
    "eigenbasis",
    "gd_closed_form",
    "gd_trajectory",
    "stability_threshold",
    "condition_number",
    "optimal_learning_rate",
    "contraction_factor",
    "predicted_steps",
    "steps_to_tolerance",
    "reparameterize",
]


class Quadratic(NamedTuple):
    r"""The quadratic :math:`\mathcal{J}(w) = \tfrac12 w^\top A w + b^\top w + c`.

    Attributes:
        A: symmetric matrix, ``(n, n)``; the Hessian of :math:`\mathcal{J}`.
        b: vector, ``(n,)``; the gradient at :math:`w = 0`.
        c: scalar, ``()``; the value at :math:`w = 0`.
    """

    A: jax.Array
    b: jax.Array
    c: jax.Array


class Eigenbasis(NamedTuple):
    r"""The spectral decomposition of a quadratic, :math:`A = Q\,\mathrm{diag}(a)\,Q^\top`.

    Attributes:
        eigvals: eigenvalues :math:`a_j`, ``(n,)``, sorted from largest to smallest.
        Q: orthonormal eigenvectors as columns, ``(n, n)``; column ``j`` goes with ``eigvals[j]``.
        b_tilde: the linear term in the eigenbasis, :math:`\tilde b = Q^\top b`, ``(n,)``.
    """

    eigvals: jax.Array
    Q: jax.Array
    b_tilde: jax.Array


# --------------------------------------------------------------------------------------------
# input checks (on shapes at trace time; on values only when they are concrete)


def _is_concrete(x: ArrayLike) -> bool:
    return not isinstance(x, jax.core.Tracer)


def _check_quadratic(q: Quadratic) -> int:
    if not isinstance(q, tuple) or len(q) != 3:
        raise TypeError(
            f"expected a Quadratic(A, b, c), got {type(q).__name__}. "
            f"Build one with gt.quadratic.Quadratic(A, b, c), from_regression(X, y) or from_spectrum(...)."
        )
    A, b, c = (jnp.asarray(x) for x in q)
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise ValueError(f"A must be a square matrix of shape (n, n), got shape {A.shape}.")
    n = A.shape[0]
    if b.shape != (n,):
        raise ValueError(
            f"b must have shape ({n},) to match A of shape {A.shape}, got shape {b.shape}."
        )
    if c.shape != ():
        raise ValueError(f"c must be a scalar (shape ()), got shape {c.shape}.")
    if not jnp.issubdtype(A.dtype, jnp.floating):
        raise TypeError(f"A must be a floating-point matrix, got dtype {A.dtype}; use A.astype(float).")
    if _is_concrete(A):
        A_np = np.asarray(A, dtype=np.float64)
        scale = max(float(np.abs(A_np).max()), np.finfo(np.float64).tiny)
        tol = 100 * np.finfo(np.asarray(A).dtype).eps * scale
        asym = float(np.abs(A_np - A_np.T).max())
        if asym > tol:
            raise ValueError(
                f"A must be symmetric, got max |A - A.T| = {asym:.3g} (tolerance {tol:.3g}). "
                f"The quadratic only sees the symmetric part: pass (A + A.T) / 2."
            )
    return n


def _check_vector(w: ArrayLike, n: int, name: str) -> jax.Array:
    w = jnp.asarray(w)
    if w.shape != (n,):
        raise ValueError(
            f"{name} must be a flat vector of shape ({n},) matching A, got shape {w.shape}. "
            f"Flatten pytrees with jax.flatten_util.ravel_pytree."
        )
    return w


def _check_lr(lr: ArrayLike) -> None:
    if jnp.shape(lr) != ():
        raise ValueError(f"lr must be a scalar, got shape {jnp.shape(lr)}.")
    if _is_concrete(lr) and not float(lr) > 0:
        raise ValueError(f"lr must be positive, got {float(lr)}. Gradient descent steps downhill with lr > 0.")


def _check_steps(num_steps: int, name: str = "num_steps") -> int:
    if isinstance(num_steps, bool) or not isinstance(num_steps, (int, np.integer)):
        raise TypeError(f"{name} must be a Python int (it fixes an array shape), got {type(num_steps).__name__}.")
    if num_steps < 0:
        raise ValueError(f"{name} must be >= 0, got {num_steps}.")
    return int(num_steps)


def _as_quadratic(q: Quadratic) -> Quadratic:
    return Quadratic(*(jnp.asarray(x) for x in q))


# --------------------------------------------------------------------------------------------
# construction


def from_regression(X: ArrayLike, y: ArrayLike) -> Quadratic:
    r"""The mean-squared-error cost of linear regression, written as a quadratic.

    .. math::
        \mathcal{J}(w) = \frac{1}{2N}\lVert Xw - y \rVert^2
        = \tfrac12 w^\top \underbrace{\tfrac1N X^\top X}_{A} w
          + \underbrace{\big(-\tfrac1N X^\top y\big)}_{b}{}^\top w
          + \underbrace{\tfrac{1}{2N} y^\top y}_{c}

    :math:`A` is positive semi-definite, so the cost is convex; it is singular when the features
    are linearly dependent or when there are fewer examples than features. :math:`b` always lies in
    the range of :math:`A` (both are built from :math:`X^\top`), so a minimizer always exists.

    Args:
        X: inputs, ``(N, n)``.
        y: targets, ``(N,)``.

    Returns:
        ``Quadratic(A, b, c)`` with ``A`` ``(n, n)``, ``b`` ``(n,)``, ``c`` ``()``.

    Example:
        >>> import jax.numpy as jnp
        >>> q = from_regression(jnp.eye(2), jnp.array([1.0, 2.0]))
        >>> q.A.tolist(), q.b.tolist(), float(q.c)
        ([[0.5, 0.0], [0.0, 0.5]], [-0.5, -1.0], 1.25)

    References:
        Lecture 1 of this course.
    """
    X, y = jnp.asarray(X), jnp.asarray(y)
    if X.ndim != 2:
        raise ValueError(f"X must be a matrix of shape (num_examples, num_features), got shape {X.shape}.")
    if y.shape != (X.shape[0],):
        raise ValueError(
            f"y must have shape ({X.shape[0]},), one target per row of X (shape {X.shape}), got {y.shape}. "
            f"For a column vector pass y.ravel()."
        )
    N = X.shape[0]
    return Quadratic(X.T @ X / N, -(X.T @ y) / N, (y @ y) / (2 * N))


def from_spectrum(
    eigvals: ArrayLike, Q: ArrayLike | None = None, w_star: ArrayLike | None = None
) -> Quadratic:
    r"""A quadratic with a chosen spectrum, eigenvectors and minimizer, and minimum value 0.

    .. math::
        A = Q\,\mathrm{diag}(a)\,Q^\top, \quad b = -A w_\star, \quad c = \tfrac12 w_\star^\top A w_\star,
        \quad\text{so}\quad \mathcal{J}(w) = \tfrac12 (w - w_\star)^\top A (w - w_\star).

    Args:
        eigvals: the eigenvalues :math:`a`, ``(n,)`` (any sign; zeros give flat directions).
        Q: orthogonal matrix whose columns are the eigenvectors, ``(n, n)``; default identity.
        w_star: a minimizer (for positive semi-definite ``A``), ``(n,)``; default zero.

    Returns:
        ``Quadratic(A, b, c)``.

    Example:
        >>> q = from_spectrum(jnp.array([2.0, 1.0]), w_star=jnp.array([1.0, 1.0]))
        >>> q.A.tolist(), q.b.tolist(), float(q.c)
        ([[2.0, 0.0], [0.0, 1.0]], [-2.0, -1.0], 1.5)

    References:
        Lecture 1 of this course.
    """
    a = jnp.asarray(eigvals)
    if a.ndim != 1:
        raise ValueError(f"eigvals must be a vector of shape (n,), got shape {a.shape}.")
    n = a.shape[0]
    if not jnp.issubdtype(a.dtype, jnp.floating):
        a = a.astype(jnp.result_type(float))
    Q = jnp.eye(n, dtype=a.dtype) if Q is None else jnp.asarray(Q)
    if Q.shape != (n, n):
        raise ValueError(f"Q must have shape ({n}, {n}) to match eigvals, got shape {Q.shape}.")
    if _is_concrete(Q):
        err = float(np.abs(np.asarray(Q.T @ Q) - np.eye(n)).max())
        if err > 1e-5:
            raise ValueError(
                f"Q must be orthogonal (Q.T @ Q = I), got max |Q.T Q - I| = {err:.3g}. "
                f"Orthonormalize it first, e.g. Q, _ = jnp.linalg.qr(M)."
            )
    w_star = jnp.zeros(n, dtype=a.dtype) if w_star is None else _check_vector(w_star, n, "w_star")
    A = (Q * a) @ Q.T
    A = (A + A.T) / 2
    return Quadratic(A, -A @ w_star, 0.5 * w_star @ A @ w_star)


# --------------------------------------------------------------------------------------------
# evaluation


def value(q: Quadratic, w: ArrayLike) -> jax.Array:
    r"""The objective :math:`\tfrac12 w^\top A w + b^\top w + c`, for one point or a batch.

    Args:
        q: the quadratic.
        w: a point ``(n,)`` or a batch of points ``(..., n)`` (e.g. a grid for contour plots).

    Returns:
        The value, shape ``w.shape[:-1]``.

    Example:
        >>> float(value(Quadratic(jnp.eye(2), jnp.ones(2), jnp.array(1.0)), jnp.array([1.0, 0.0])))
        2.5

    References:
        Lecture 1 of this course.
    """
    n = _check_quadratic(q)
    A, b, c = _as_quadratic(q)
    w = jnp.asarray(w)
    if w.ndim < 1 or w.shape[-1] != n:
        raise ValueError(f"w must have shape (..., {n}) to match A, got shape {w.shape}.")
    return 0.5 * jnp.einsum("...i,ij,...j->...", w, A, w) + w @ b + c


def gradient(q: Quadratic, w: ArrayLike) -> jax.Array:
    r"""The gradient :math:`\nabla\mathcal{J}(w) = A w + b` (uses that :math:`A` is symmetric).

    Args:
        q: the quadratic.
        w: a point ``(n,)`` or a batch ``(..., n)``.

    Returns:
        The gradient, same shape as ``w``. Equals ``jax.grad(lambda w: value(q, w))(w)``.

    Example:
        >>> gradient(Quadratic(2 * jnp.eye(2), jnp.ones(2), jnp.array(0.0)), jnp.array([1.0, 0.0])).tolist()
        [3.0, 1.0]

    References:
        Lecture 1 of this course.
    """
    n = _check_quadratic(q)
    A, b, _ = _as_quadratic(q)
    w = jnp.asarray(w)
    if w.ndim < 1 or w.shape[-1] != n:
        raise ValueError(f"w must have shape (..., {n}) to match A, got shape {w.shape}.")
    return w @ A + b  # A symmetric: (A w)^T = w^T A


def minimizer(q: Quadratic) -> jax.Array:
    r"""The minimum-norm stationary point: the minimum-norm solution of :math:`A w = -b`.

    .. math:: w_\star = -A^{+} b

    For positive definite :math:`A` this is the unique minimizer. For singular positive
    semi-definite :math:`A` with :math:`b \in \mathrm{range}(A)` (always so for regression) the
    minimizers form an affine set and this is the one of least norm. If :math:`b` has a component
    in the null space of :math:`A` there is no minimizer (the objective is unbounded below along
    that direction); the function then returns the minimum-norm least-squares solution of
    :math:`Aw=-b`, which is not stationary. Computed with ``jnp.linalg.lstsq`` (an SVD).

    Args:
        q: the quadratic.

    Returns:
        :math:`w_\star`, ``(n,)``.

    Example:
        >>> minimizer(from_spectrum(jnp.array([2.0, 0.0]), w_star=jnp.array([1.0, 0.0]))).tolist()
        [1.0, 0.0]

    References:
        Lecture 1 of this course.
    """
    _check_quadratic(q)
    A, b, _ = _as_quadratic(q)
    return _lstsq(A, b)


@jax.jit
def _lstsq(A: jax.Array, b: jax.Array) -> jax.Array:
    return jnp.linalg.lstsq(A, -b)[0]


def eigenbasis(q: Quadratic) -> Eigenbasis:
    r"""Spectral decomposition :math:`A = Q\,\mathrm{diag}(a)\,Q^\top` and :math:`\tilde b = Q^\top b`.

    Symmetric :math:`A` has real eigenvalues and an orthonormal basis of eigenvectors, so
    :math:`Q^\top Q = I` and the rotation :math:`\tilde w = Q^\top w` turns the objective into a sum
    of one-dimensional quadratics,
    :math:`\mathcal{J} = \sum_j \big(\tfrac12 a_j \tilde w_j^2 + \tilde b_j \tilde w_j\big) + c`.
    Computed with ``jnp.linalg.eigh``; eigenvalues are sorted from largest to smallest.

    Args:
        q: the quadratic.

    Returns:
        ``Eigenbasis(eigvals (n,), Q (n, n), b_tilde (n,))``.

    Example:
        >>> e = eigenbasis(Quadratic(jnp.diag(jnp.array([1.0, 3.0])), jnp.ones(2), jnp.array(0.0)))
        >>> e.eigvals.tolist()
        [3.0, 1.0]

    References:
        Lecture 1 of this course; Goh, *Why Momentum Really Works*, Distill (2017).
    """
    _check_quadratic(q)
    A, b, _ = _as_quadratic(q)
    return _eigenbasis(A, b)


@jax.jit
def _eigenbasis(A: jax.Array, b: jax.Array) -> Eigenbasis:
    vals, vecs = jnp.linalg.eigh(A)
    vals, vecs = vals[::-1], vecs[:, ::-1]
    return Eigenbasis(vals, vecs, vecs.T @ b)


# --------------------------------------------------------------------------------------------
# gradient descent


def _geometric_sum(x: jax.Array, t: jax.Array) -> jax.Array:
    r""":math:`S_t(x) = \sum_{s<t} (1-x)^s`, equal to :math:`(1-(1-x)^t)/x`, and to :math:`t` at ``x = 0``.

    Accurate for tiny :math:`|x|` (eigenvalues that are zero up to rounding) via ``expm1``/``log1p``.
    """
    small = jnp.abs(x) < 0.5
    x_small = jnp.where(small, x, 0.0)
    x_big = jnp.where(small, 1.0, x)
    # 1 - (1-x)^t = -expm1(t log1p(-x)) for |x| < 1; divide by x, with the x -> 0 limit t.
    num = -jnp.expm1(t * jnp.log1p(-x_small))
    safe_x = jnp.where(x_small == 0, 1.0, x_small)
    s_small = jnp.where(x_small == 0, t, num / safe_x)
    s_big = (1.0 - (1.0 - x_big) ** t) / x_big
    return jnp.where(small, s_small, s_big)


def gd_closed_form(q: Quadratic, w0: ArrayLike, lr: ArrayLike, num_steps: int) -> jax.Array:
    r"""Gradient-descent iterates :math:`w_0, \dots, w_T` in closed form, via the eigenbasis.

    In the eigenbasis each coordinate follows :math:`\tilde w_j \leftarrow (1 - \alpha a_j)\tilde w_j
    - \alpha \tilde b_j`, so after :math:`t` steps

    .. math::
        \tilde w_j(t) = (1 - \alpha a_j)^t\, \tilde w_j(0) - \alpha \tilde b_j \sum_{s=0}^{t-1} (1 - \alpha a_j)^s .

    The three cases of lecture 1 are all in this one formula:

    * :math:`a_j > 0`: :math:`\tilde w_j(t) = \tilde w_{\star j} + (1-\alpha a_j)^t (\tilde w_j(0) -
      \tilde w_{\star j})` with :math:`\tilde w_{\star j} = -\tilde b_j / a_j`; it converges
      geometrically iff :math:`0 < \alpha a_j < 2`.
    * :math:`a_j = 0,\ \tilde b_j \ne 0`: the sum is :math:`t`, so :math:`\tilde w_j(t) = \tilde w_j(0)
      - \alpha t \tilde b_j` drifts linearly forever.
    * :math:`a_j = 0,\ \tilde b_j = 0`: :math:`\tilde w_j(t) = \tilde w_j(0)` is never updated.

    The sum is evaluated stably for eigenvalues that are zero only up to rounding. Equals
    :func:`gd_trajectory` up to rounding.

    Args:
        q: the quadratic.
        w0: the starting point, ``(n,)``.
        lr: the learning rate :math:`\alpha > 0`, a scalar.
        num_steps: number of steps :math:`T` (a Python int).

    Returns:
        The iterates, ``(num_steps + 1, n)``; row ``t`` is :math:`w_t` (row 0 is ``w0``).

    Example:
        >>> q = from_spectrum(jnp.array([1.0]), w_star=jnp.array([1.0]))
        >>> gd_closed_form(q, jnp.array([0.0]), 0.5, 2)[:, 0].tolist()
        [0.0, 0.5, 0.75]

    References:
        Lecture 1 of this course; Goh, *Why Momentum Really Works*, Distill (2017).
    """
    n = _check_quadratic(q)
    w0 = _check_vector(w0, n, "w0")
    _check_lr(lr)
    num_steps = _check_steps(num_steps)
    return _closed_form(*eigenbasis(q), w0, lr, num_steps)


@functools.partial(jax.jit, static_argnames="num_steps")
def _closed_form(eigvals, Q, b_tilde, w0, lr, num_steps):
    w0_tilde = Q.T @ w0
    t = jnp.arange(num_steps + 1, dtype=eigvals.dtype)[:, None]
    x = lr * eigvals
    w_tilde = (1.0 - x) ** t * w0_tilde - lr * b_tilde * _geometric_sum(x, t)
    return w_tilde @ Q.T


def gd_trajectory(q: Quadratic, w0: ArrayLike, lr: ArrayLike, num_steps: int) -> jax.Array:
    r"""Gradient-descent iterates :math:`w_{t+1} = w_t - \alpha (A w_t + b)`, simulated step by step.

    Runs ``num_steps`` steps with ``jax.lax.scan`` (one matrix-vector product per step).

    Args:
        q: the quadratic.
        w0: the starting point, ``(n,)``.
        lr: the learning rate :math:`\alpha > 0`, a scalar.
        num_steps: number of steps (a Python int).

    Returns:
        The iterates, ``(num_steps + 1, n)``; row 0 is ``w0``.

    Example:
        >>> q = from_spectrum(jnp.array([1.0]), w_star=jnp.array([1.0]))
        >>> gd_trajectory(q, jnp.array([0.0]), 0.5, 2)[:, 0].tolist()
        [0.0, 0.5, 0.75]

    References:
        Lecture 1 of this course.
    """
    n = _check_quadratic(q)
    w0 = _check_vector(w0, n, "w0")
    _check_lr(lr)
    num_steps = _check_steps(num_steps)
    A, b, _ = _as_quadratic(q)
    return _scan_gd(A, b, w0, lr, num_steps)


@functools.partial(jax.jit, static_argnames="num_steps")
def _scan_gd(A, b, w0, lr, num_steps):
    def step(w, _):
        w_new = w - lr * (A @ w + b)
        return w_new, w_new

    _, ws = jax.lax.scan(step, w0, None, length=num_steps)
    return jnp.concatenate([w0[None], ws.reshape(num_steps, w0.shape[0])], axis=0)


# --------------------------------------------------------------------------------------------
# stability and speed


def stability_threshold(q: Quadratic) -> jax.Array:
    r"""The largest stable learning rate :math:`2 / \lambda_{\max}(A)`.

    Along eigendirection :math:`j` the error is multiplied by :math:`1 - \alpha a_j` each step; it
    shrinks for every :math:`a_j > 0` iff :math:`|1 - \alpha a_j| < 1` for all of them, i.e.
    :math:`\alpha < 2/\lambda_{\max}`. Just above the threshold the stiffest direction oscillates
    with growing amplitude and gradient descent diverges.

    Args:
        q: the quadratic (with :math:`\lambda_{\max} > 0`).

    Returns:
        The threshold, a scalar (``inf`` when no eigenvalue is positive).

    Example:
        >>> float(stability_threshold(from_spectrum(jnp.array([4.0, 1.0]))))
        0.5

    References:
        Lecture 1 of this course; Goh, *Why Momentum Really Works*, Distill (2017).
    """
    lam_max = eigenbasis(q).eigvals[0]
    return jnp.where(lam_max > 0, 2.0 / jnp.where(lam_max > 0, lam_max, 1.0), jnp.inf)


def _positive_mask(eigvals: jax.Array, rtol: float | None) -> jax.Array:
    if rtol is None:
        rtol = eigvals.shape[0] * float(jnp.finfo(eigvals.dtype).eps)
    return eigvals > rtol * jnp.max(jnp.abs(eigvals))


def condition_number(q: Quadratic, *, nonzero_only: bool = False, rtol: float | None = None) -> jax.Array:
    r"""The condition number :math:`\kappa = \lambda_{\max} / \lambda_{\min}` of :math:`A`.

    With the best fixed learning rate, gradient descent needs about :math:`\tfrac{\kappa}{2}\ln(1/\epsilon)`
    steps to shrink the error by :math:`\epsilon` (see :func:`optimal_learning_rate`).

    Args:
        q: the quadratic (positive semi-definite ``A``).
        nonzero_only: if True, :math:`\lambda_{\min}` is the smallest eigenvalue above
            ``rtol * lambda_max`` (the one that sets the speed of gradient descent when the
            null-space directions are never moved, e.g. regression with more features than
            examples). If False, a singular ``A`` gives ``inf``.
        rtol: relative threshold for "nonzero"; default ``n * eps``.

    Returns:
        :math:`\kappa`, a scalar.

    Example:
        >>> float(condition_number(from_spectrum(jnp.array([4.0, 1.0]))))
        4.0

    References:
        Lecture 1 of this course.
    """
    a = eigenbasis(q).eigvals
    lam_max = a[0]
    if nonzero_only:
        lam_min = jnp.min(jnp.where(_positive_mask(a, rtol), a, jnp.inf))
    else:
        lam_min = a[-1]
    return jnp.where(lam_min > 0, lam_max / jnp.where(lam_min > 0, lam_min, 1.0), jnp.inf)


def optimal_learning_rate(q: Quadratic, *, nonzero_only: bool = False, rtol: float | None = None) -> jax.Array:
    r"""The fixed learning rate that minimizes the worst per-step factor: :math:`2/(\lambda_{\max} + \lambda_{\min})`.

    The worst factor :math:`\max_j |1 - \alpha a_j|` is the larger of :math:`|1-\alpha\lambda_{\min}|`
    and :math:`|1-\alpha\lambda_{\max}|`; they are equal at this :math:`\alpha`, where the factor is

    .. math:: \rho_\star = \frac{\lambda_{\max} - \lambda_{\min}}{\lambda_{\max} + \lambda_{\min}} = \frac{\kappa - 1}{\kappa + 1}.

    Args:
        q: the quadratic (positive semi-definite ``A`` with a positive eigenvalue).
        nonzero_only: use the smallest nonzero eigenvalue as :math:`\lambda_{\min}` (see
            :func:`condition_number`).
        rtol: relative threshold for "nonzero"; default ``n * eps``.

    Returns:
        :math:`\alpha_\star`, a scalar.

    Example:
        >>> float(optimal_learning_rate(from_spectrum(jnp.array([3.0, 1.0]))))
        0.5

    References:
        Lecture 1 of this course; Goh, *Why Momentum Really Works*, Distill (2017).
    """
    a = eigenbasis(q).eigvals
    lam_min = jnp.min(jnp.where(_positive_mask(a, rtol), a, jnp.inf)) if nonzero_only else a[-1]
    return 2.0 / (a[0] + lam_min)


def contraction_factor(q: Quadratic, lr: ArrayLike, *, rtol: float | None = None) -> jax.Array:
    r"""The worst per-step error factor :math:`\rho(\alpha) = \max_{j:\,a_j > 0} |1 - \alpha a_j|`.

    The error :math:`e_t = w_t - w_\star` obeys :math:`e_{t+1} = (I - \alpha A) e_t`, a symmetric
    iteration matrix, so :math:`\lVert e_t\rVert \le \rho^t \lVert e_0 \rVert` restricted to the
    directions with :math:`a_j > 0` (null directions are never moved: they are not error).
    Gradient descent converges iff :math:`\rho < 1`.

    Args:
        q: the quadratic.
        lr: the learning rate, a scalar.
        rtol: eigenvalues at or below ``rtol * max |a|`` count as zero; default ``n * eps``.

    Returns:
        :math:`\rho`, a scalar.

    Example:
        >>> float(contraction_factor(from_spectrum(jnp.array([4.0, 1.0])), 0.25))
        0.75

    References:
        Lecture 1 of this course.
    """
    _check_lr(lr)
    a = eigenbasis(q).eigvals
    return jnp.max(jnp.where(_positive_mask(a, rtol), jnp.abs(1.0 - lr * a), 0.0))


def predicted_steps(factor: ArrayLike, tol: ArrayLike) -> jax.Array:
    r"""Steps for a geometric factor :math:`\rho` to reach a relative tolerance: :math:`\lceil \ln\epsilon / \ln\rho \rceil`.

    Since :math:`\lVert e_t \rVert \le \rho^t \lVert e_0 \rVert`, this many steps always suffice, and
    they are needed when :math:`e_0` lies along the slowest eigendirection. With
    :math:`\alpha = 1/\lambda_{\max}`, :math:`\rho = 1 - 1/\kappa` and the count is about
    :math:`\kappa \ln(1/\epsilon)`: linear in the condition number.

    Args:
        factor: :math:`\rho` in ``(0, 1)`` (e.g. from :func:`contraction_factor`); any shape.
        tol: :math:`\epsilon` in ``(0, 1)``.

    Returns:
        The step count (float array; ``inf`` when :math:`\rho \ge 1`, 0 when :math:`\rho = 0`).

    Example:
        >>> float(predicted_steps(0.5, 1e-3))
        10.0

    References:
        Lecture 1 of this course.
    """
    factor, tol = jnp.asarray(factor, dtype=float), jnp.asarray(tol, dtype=float)
    if _is_concrete(tol) and not bool(jnp.all((tol > 0) & (tol < 1))):
        raise ValueError(f"tol must be in (0, 1) (a relative error), got {tol}.")
    ok = (factor > 0) & (factor < 1)
    ratio = jnp.log(tol) / jnp.log(jnp.where(ok, factor, 0.5))
    steps = jnp.ceil(ratio * (1 - 1e-12))  # rho^k == tol exactly counts as reached
    return jnp.where(factor >= 1, jnp.inf, jnp.where(factor <= 0, 0.0, steps))


def steps_to_tolerance(
    q: Quadratic, w0: ArrayLike, lr: ArrayLike, tol: float, *, max_steps: int = 100_000
) -> jax.Array:
    r"""Measured steps until gradient descent's error falls below ``tol`` times its start.

    Simulates :math:`w_{t+1} = w_t - \alpha(Aw_t + b)` in a ``lax.while_loop`` and returns the first
    :math:`t` with :math:`\lVert w_t - w_\infty\rVert \le \epsilon \lVert w_0 - w_\infty \rVert`, where
    :math:`w_\infty = w_\star + P_{\mathrm{null}}(w_0 - w_\star)` is where gradient descent goes (the
    null-space part of the start is kept). Compare with :func:`predicted_steps`.

    Args:
        q: the quadratic (positive semi-definite ``A``, ``b`` in its range).
        w0: the start, ``(n,)``.
        lr: the learning rate, a scalar.
        tol: relative tolerance :math:`\epsilon` in ``(0, 1)``.
        max_steps: give up after this many steps.

    Returns:
        The step count, an int array; ``-1`` if ``max_steps`` steps did not reach the tolerance.

    Example:
        >>> q = from_spectrum(jnp.array([1.0]))
        >>> int(steps_to_tolerance(q, jnp.array([1.0]), 0.5, 1e-3))
        10

    References:
        Lecture 1 of this course.
    """
    n = _check_quadratic(q)
    w0 = _check_vector(w0, n, "w0")
    _check_lr(lr)
    max_steps = _check_steps(max_steps, "max_steps")
    if not 0 < tol < 1:
        raise ValueError(f"tol must be in (0, 1) (a relative error), got {tol}.")
    A, b, _ = _as_quadratic(q)
    eigvals, Q, _ = eigenbasis(q)
    null = Q[:, ~np.asarray(_positive_mask(eigvals, None))] if _is_concrete(eigvals) else None
    w_star = minimizer(q)
    w_inf = w_star if null is None else w_star + null @ (null.T @ (w0 - w_star))
    return _steps_loop(A, b, w0, w_inf, lr, tol, max_steps)


@functools.partial(jax.jit, static_argnames="max_steps")
def _steps_loop(A, b, w0, w_inf, lr, tol, max_steps):
    target = tol * jnp.linalg.norm(w0 - w_inf)

    def cond(state):
        t, w = state
        return (t < max_steps) & (jnp.linalg.norm(w - w_inf) > target)

    def body(state):
        t, w = state
        return t + 1, w - lr * (A @ w + b)

    t, w = jax.lax.while_loop(cond, body, (jnp.asarray(0), w0))
    return jnp.where(jnp.linalg.norm(w - w_inf) <= target, t, -1)


# --------------------------------------------------------------------------------------------
# invariance


def reparameterize(q: Quadratic, M: ArrayLike | None = None, shift: ArrayLike | None = None) -> Quadratic:
    r"""The same objective in new coordinates :math:`u`, with :math:`w = M u + s`.

    .. math::
        \mathcal{J}'(u) = \mathcal{J}(Mu + s):\quad A' = M^\top A M,\quad b' = M^\top (A s + b),
        \quad c' = \mathcal{J}(s).

    Gradient descent on :math:`\mathcal{J}'` from :math:`u_0` takes
    :math:`u \leftarrow u - \alpha M^\top \nabla\mathcal{J}(Mu+s)`; mapped back,
    :math:`w \leftarrow w - \alpha M M^\top \nabla \mathcal{J}(w)`. So it is the same trajectory iff
    :math:`M M^\top = I`: translations (:math:`M = I`) and rotations (orthogonal :math:`M`) leave
    gradient descent unchanged; rescaling the coordinates (diagonal :math:`M`, e.g. rescaling an
    input feature of a regression) changes it and its stable learning rate.

    Args:
        q: the quadratic in :math:`w`.
        M: ``(n, n)`` matrix (invertible for a change of coordinates); default identity.
        shift: :math:`s`, ``(n,)``; default zero.

    Returns:
        The quadratic in :math:`u`.

    Example:
        >>> q = from_spectrum(jnp.array([1.0]), w_star=jnp.array([2.0]))
        >>> float(value(reparameterize(q, shift=jnp.array([2.0])), jnp.array([0.0])))  # w = 2 is the minimum
        0.0

    References:
        Lecture 1 of this course.
    """
    n = _check_quadratic(q)
    A, b, _ = _as_quadratic(q)
    M = jnp.eye(n, dtype=A.dtype) if M is None else jnp.asarray(M)
    if M.shape != (n, n):
        raise ValueError(f"M must have shape ({n}, {n}) to match A, got shape {M.shape}.")
    s = jnp.zeros(n, dtype=A.dtype) if shift is None else _check_vector(shift, n, "shift")
    A2 = M.T @ A @ M
    return Quadratic((A2 + A2.T) / 2, M.T @ (A @ s + b), value(q, s))
