r"""Spectra of curvature matrices given only as matrix-vector products.

Hessians, Gauss-Newton matrices and Fisher matrices of real networks are too big to form, but their
products with a vector are cheap (:mod:`gradtools.products`). From products alone this module gets

- the extreme eigenpairs (:func:`lanczos`, :func:`top_eigenpairs`),
- the trace (:func:`hutchinson_trace`),
- a smoothed density of all the eigenvalues (:func:`slq_density`),

and, for matrices or eigenvalue lists that are small enough to hold, a :func:`numerical_rank`.

Every function takes ``mvp(v) -> A v`` on pytrees shaped like ``w`` and works with flat vectors in
``jax.flatten_util.ravel_pytree(w)`` order, so an eigenvector ``u`` of length ``n`` corresponds to
the pytree ``unravel(u)``. ``A`` must be symmetric (Hessians, Gauss-Newton, Fisher and pullback
metrics all are). The iterative functions are ``jit``-compatible when the callable is closed
over; :func:`numerical_rank` returns a Python ``int`` and needs concrete values.

References:
    Lectures 4 and 5 of this course; C. Lanczos (1950), https://doi.org/10.6028/jres.045.026;
    M. Hutchinson (1989), https://doi.org/10.1080/03610918908812806;
    S. Ubaru, J. Chen and Y. Saad, *Fast estimation of tr(f(A)) via stochastic Lanczos
    quadrature* (2017), https://doi.org/10.1137/16M1104974;
    B. Ghorbani, S. Krishnan and Y. Xiao, *An investigation into neural net optimization via
    Hessian eigenvalue density* (2019), https://arxiv.org/abs/1901.10159;
    Z. Yao, A. Gholami, K. Keutzer and M. Mahoney, *PyHessian: neural networks through the lens
    of the Hessian* (2020), https://arxiv.org/abs/1912.07145.
"""

from __future__ import annotations

from typing import Any, Callable

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from gradtools._checks import check_callable
from gradtools.steps import _jit_bound

PyTree = Any
MVP = Callable[[PyTree], PyTree]

__all__ = [
    "lanczos",
    "top_eigenpairs",
    "hutchinson_trace",
    "slq_density",
    "numerical_rank",
]

_WHICH = ("largest", "smallest", "magnitude")


# --------------------------------------------------------------------------------------------
# helpers


def _check_key(key: Any) -> None:
    if not isinstance(key, jax.Array):
        raise TypeError(
            f"key must be a JAX PRNG key, expected e.g. jax.random.key(0), got "
            f"{type(key).__name__}: {key!r:.40}."
        )


def _check_int(value: Any, name: str, lo: int, hi: int | None = None, fix: str = "") -> None:
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if not ok or value < lo or (hi is not None and value > hi):
        rng = f">= {lo}" if hi is None else f"between {lo} and {hi}"
        raise ValueError(f"{name} must be an int {rng}: expected e.g. {max(lo, 1 if hi is None else min(hi, 10))}, got {value!r}. {fix}".rstrip())


def _flat_operator(mvp: MVP, w: PyTree) -> tuple[Callable[[jax.Array], jax.Array], int, Any]:
    """Wrap ``mvp`` on pytrees as ``A(x)`` on flat vectors; check its output shape once."""
    check_callable(mvp, "mvp")
    flat, unravel = ravel_pytree(w)
    if flat.ndim != 1 or flat.shape[0] == 0:
        raise ValueError(f"w must hold at least one number: expected n >= 1 entries, got {flat.size}.")
    if not jnp.issubdtype(flat.dtype, jnp.floating):
        raise TypeError(f"w must be floating point: expected a float dtype, got {flat.dtype}; use e.g. jnp.asarray(w, dtype=float).")
    out = jax.eval_shape(mvp, w)
    sw, so = jax.tree_util.tree_structure(w), jax.tree_util.tree_structure(out)
    shapes_w = [jnp.shape(x) for x in jax.tree_util.tree_leaves(w)]
    shapes_o = [x.shape for x in jax.tree_util.tree_leaves(out)]
    if sw != so or shapes_w != shapes_o:
        raise ValueError(
            "mvp must map a pytree shaped like w to one of the same structure and shapes.\n"
            f"  expected: {sw} with shapes {shapes_w}\n  got:      {so} with shapes {shapes_o}\n"
            "Build the operator at w, e.g. gt.hessian_operator(loss, w)."
        )
    dtype = flat.dtype

    def A(x: jax.Array) -> jax.Array:
        return ravel_pytree(mvp(unravel(x)))[0].astype(dtype)

    return A, flat.shape[0], dtype


def _orthogonalize(Q: jax.Array, v: jax.Array) -> jax.Array:
    """Remove the span of the rows of ``Q`` from ``v``; Gram-Schmidt twice ("twice is enough")."""
    v = v - Q.T @ (Q @ v)
    return v - Q.T @ (Q @ v)


def _lanczos_flat(A, v0: jax.Array, m: int, r0: jax.Array):
    """Lanczos with full reorthogonalization from start vector ``v0``; restarts on breakdown.

    ``r0`` is a random vector; the restart after a breakdown at step ``j`` continues from
    ``roll(r0, j)`` orthogonalized against the basis (cheaper to compile than drawing a fresh
    random vector inside the loop, and as good: it is in general position w.r.t. the basis).
    """
    n = v0.shape[0]
    dtype = v0.dtype
    eps = jnp.finfo(dtype).eps
    tiny = jnp.finfo(dtype).tiny
    q0 = v0 / jnp.maximum(jnp.linalg.norm(v0), tiny)

    def body(j, carry):
        Q, alphas, betas, q, q_prev, beta_prev, scale = carry
        Q = Q.at[j].set(q)
        aq = A(q)
        scale = jnp.maximum(scale, jnp.linalg.norm(aq))
        alpha = q @ aq
        v = _orthogonalize(Q, aq - alpha * q - beta_prev * q_prev)
        beta = jnp.linalg.norm(v)
        # An invariant subspace was found (beta at round-off level): the Krylov space is
        # exhausted. Continue from a fresh random vector orthogonal to everything so far, with a
        # zero coupling, so T stays an exact restriction of A (block diagonal).
        breakdown = beta <= n * eps * scale

        def restart(_):
            r = _orthogonalize(Q, jnp.roll(r0, j))
            return r / jnp.maximum(jnp.linalg.norm(r), tiny)

        def proceed(_):
            return v / jnp.maximum(beta, tiny)

        q_next = jax.lax.cond(breakdown, restart, proceed, None)
        beta = jnp.where(breakdown, jnp.zeros_like(beta), beta)
        return Q, alphas.at[j].set(alpha), betas.at[j].set(beta), q_next, q, beta, scale

    zero = jnp.zeros((), dtype)
    init = (jnp.zeros((m, n), dtype), jnp.zeros(m, dtype), jnp.zeros(m, dtype), q0, jnp.zeros_like(q0), zero, zero)
    Q, alphas, betas, *_ = jax.lax.fori_loop(0, m, body, init)
    return alphas, betas[: m - 1], Q


def _tridiagonal(alphas: jax.Array, betas: jax.Array) -> jax.Array:
    return jnp.diag(alphas) + jnp.diag(betas, 1) + jnp.diag(betas, -1)


# --------------------------------------------------------------------------------------------
# Lanczos


def lanczos(
    mvp: MVP, w: PyTree, num_iters: int, *, key: jax.Array, v0: jax.Array | None = None
) -> tuple[jax.Array, jax.Array, jax.Array]:
    r"""Lanczos tridiagonalization with full reorthogonalization, from a random start vector.

    Builds an orthonormal basis :math:`q_1, \dots, q_m` of the Krylov space
    :math:`\mathrm{span}\{q_1, A q_1, \dots, A^{m-1} q_1\}` by the three-term recurrence

    .. math::
        \beta_j q_{j+1} = A q_j - \alpha_j q_j - \beta_{j-1} q_{j-1}, \qquad
        \alpha_j = q_j^\top A q_j,

    so that :math:`Q A Q^\top = T`, the symmetric tridiagonal matrix with diagonal
    :math:`\alpha` and off-diagonal :math:`\beta` (``Q`` has the :math:`q_j` as rows). The
    eigenvalues of ``T`` (Ritz values) approximate the extreme eigenvalues of ``A`` first. In
    floating point the plain recurrence loses orthogonality and produces spurious copies of
    converged eigenvalues; here each new vector is orthogonalized against all previous ones
    (twice), at :math:`O(mn)` extra cost per step and :math:`O(mn)` memory. If the Krylov space is
    exhausted (an exact invariant subspace, e.g. repeated eigenvalues), the recurrence restarts
    from a random vector orthogonalized against ``Q``, with :math:`\beta_j = 0` (``T`` becomes block
    diagonal and stays exactly :math:`Q A Q^\top`). One product with ``A`` per iteration; the
    loop is compiled once per operator ``mvp`` and ``num_iters``.

    Args:
        mvp: ``v -> A v`` on pytrees shaped like ``w``, ``A`` symmetric.
        w: the point (any pytree); only its structure, size and dtype are used.
        num_iters: ``m``, between 1 and ``n`` (the number of parameters).
        key: PRNG key for the start vector (standard normal, normalized) and restarts.
        v0: optional start vector, shape ``(n,)`` in ``ravel_pytree(w)`` order, non-zero (it is
            normalized); default a standard normal vector drawn from ``key``. Giving it lets a
            hand-written Lanczos be compared with this one step by step.

    Returns:
        ``(alphas, betas, Q)``: ``alphas`` shape ``(m,)``, ``betas`` shape ``(m - 1,)``, ``Q``
        shape ``(m, n)`` with orthonormal rows in ``ravel_pytree(w)`` order.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> d = jnp.array([1.0, 2.0, 5.0])
        >>> a, b, Q = lanczos(lambda v: d * v, jnp.zeros(3), 3, key=jax.random.key(0))
        >>> [round(float(e), 3) for e in jnp.linalg.eigvalsh(jnp.diag(a) + jnp.diag(b, 1) + jnp.diag(b, -1))]
        [1.0, 2.0, 5.0]

    References:
        C. Lanczos (1950), https://doi.org/10.6028/jres.045.026; G. Golub and C. Van Loan,
        *Matrix Computations* (2013), sec. 10.1; B. Parlett, *The Symmetric Eigenvalue Problem*
        (1998), ch. 13; Lecture 5 of this course.
    """
    _, n, dtype = _flat_operator(mvp, w)
    _check_key(key)
    _check_int(num_iters, "num_iters", 1, n, f"w has n = {n} parameters; Lanczos builds at most n vectors.")
    starts = _start_vectors(key, n, dtype)
    if v0 is not None:
        starts = starts.at[0].set(_check_start(v0, n, dtype, "v0"))
    return _jit_bound(_lanczos_jit, mvp, num_iters=int(num_iters))(w, starts)


def _check_start(v: Any, n: int, dtype: Any, name: str) -> jax.Array:
    """A start vector of shape ``(n,)``, finite and not zero (concrete values), cast to ``dtype``."""
    v = jnp.asarray(v)
    if v.shape != (n,):
        raise ValueError(f"{name} must be a flat vector of the n = {n} parameters (ravel_pytree order), got shape {v.shape}.")
    try:
        ok = bool(jnp.all(jnp.isfinite(v))) and bool(jnp.any(v != 0))
    except jax.errors.ConcretizationTypeError:
        ok = True
    if not ok:
        raise ValueError(f"{name} must be finite and non-zero, got a vector with norm {float(jnp.linalg.norm(v))!r}.")
    return v.astype(dtype)


def _start_vectors(key: jax.Array, n: int, dtype: Any) -> jax.Array:
    """Gaussian start and restart vectors, drawn outside the compiled loop (its cache is per shape)."""
    return jax.random.normal(key, (2, n), dtype)


def _lanczos_jit(mvp: MVP, w: PyTree, starts: jax.Array, *, num_iters: int):
    """Lanczos from ``starts[0]`` (restarts from ``starts[1]``)."""
    A, _, _ = _flat_operator(mvp, w)
    return _lanczos_flat(A, starts[0], num_iters, starts[1])


def top_eigenpairs(
    mvp: MVP,
    w: PyTree,
    k: int,
    *,
    key: jax.Array,
    num_iters: int | None = None,
    which: str = "largest",
) -> tuple[jax.Array, jax.Array]:
    r"""Extreme eigenvalues and eigenvectors of a symmetric ``A`` from products, by Lanczos.

    Runs :func:`lanczos` for ``num_iters`` steps, diagonalizes the small tridiagonal
    :math:`T = S\,\Theta\,S^\top`, and returns the selected Ritz pairs
    :math:`(\theta_i, Q^\top s_i)`. The extreme Ritz values converge first, at a rate set by
    the gap to the next eigenvalue relative to the spread of the spectrum (Kaniel-Paige-Saad),
    typically much faster than power iteration. Check a pair with the residual
    :math:`\|A u - \theta u\|` (one more product) when it matters; raise ``num_iters`` for
    clustered eigenvalues. With ``num_iters = n`` the result is exact up to round-off.

    Args:
        mvp: ``v -> A v`` on pytrees shaped like ``w``, ``A`` symmetric.
        w: the point; its structure, size and dtype.
        k: how many pairs, ``1 <= k <= num_iters``.
        key: PRNG key for the Lanczos start vector.
        num_iters: Lanczos steps; default ``min(n, 2 k + 30)``.
        which: ``"largest"`` (algebraic, descending), ``"smallest"`` (algebraic, ascending) or
            ``"magnitude"`` (largest :math:`|\theta|`, descending in :math:`|\theta|`).

    Returns:
        ``(eigvals, eigvecs)``: shapes ``(k,)`` and ``(n, k)``, columns unit vectors in
        ``ravel_pytree(w)`` order (each defined up to sign).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> d = jnp.arange(1.0, 51.0)                           # eigenvalues 1..50
        >>> vals, vecs = top_eigenpairs(lambda v: d * v, jnp.zeros(50), 2, key=jax.random.key(0))
        >>> [round(float(x), 2) for x in vals]
        [50.0, 49.0]

    References:
        C. Lanczos (1950); Y. Saad, *Numerical Methods for Large Eigenvalue Problems* (2011),
        ch. 6; Z. Yao et al., PyHessian (2020), https://arxiv.org/abs/1912.07145;
        Lecture 5 of this course.
    """
    _, n, dtype = _flat_operator(mvp, w)
    _check_key(key)
    if which not in _WHICH:
        raise ValueError(
            f"unknown which: expected one of {', '.join(map(repr, _WHICH))}, got {which!r}."
        )
    if num_iters is None:
        _check_int(k, "k", 1, n, f"w has n = {n} parameters.")
        num_iters = min(n, 2 * k + 30)
    _check_int(num_iters, "num_iters", 1, n, f"w has n = {n} parameters; use at most n Lanczos steps.")
    _check_int(k, "k", 1, num_iters, f"Ask for at most num_iters = {num_iters} pairs, or raise num_iters.")
    alphas, betas, Q = _jit_bound(_lanczos_jit, mvp, num_iters=int(num_iters))(w, _start_vectors(key, n, dtype))
    return _ritz_pairs(alphas, betas, Q, k=int(k), which=which)


@functools.partial(jax.jit, static_argnames=("k", "which"))
def _ritz_pairs(alphas, betas, Q, *, k: int, which: str):
    m = alphas.shape[0]
    theta, S = jnp.linalg.eigh(_tridiagonal(alphas, betas))  # ascending
    if which == "largest":
        idx = jnp.arange(m - 1, m - 1 - k, -1)
    elif which == "smallest":
        idx = jnp.arange(k)
    else:
        idx = jnp.argsort(-jnp.abs(theta))[:k]
    vecs = Q.T @ S[:, idx]
    vecs = vecs / jnp.linalg.norm(vecs, axis=0, keepdims=True)
    return theta[idx], vecs


# --------------------------------------------------------------------------------------------
# trace and density


def hutchinson_trace(
    mvp: MVP, w: PyTree, *, key: jax.Array, num_samples: int = 100
) -> tuple[jax.Array, jax.Array]:
    r"""Hutchinson's estimate of :math:`\mathrm{tr}(A)` with Rademacher probes, and its standard error.

    For :math:`z` with independent :math:`\pm 1` entries, :math:`\mathbb{E}[z^\top A z] =
    \mathrm{tr}(A)` and, for symmetric ``A``,

    .. math::
        \mathrm{Var}[z^\top A z] = 2\Big(\|A\|_F^2 - \sum_i A_{ii}^2\Big),

    the smallest variance of any probe distribution with independent entries (Hutchinson 1989).
    The estimate is the mean of ``S = num_samples`` such quadratic forms, one product each; the
    standard error is their sample standard deviation over :math:`\sqrt{S}`, which estimates
    :math:`\sqrt{2(\|A\|_F^2 - \sum_i A_{ii}^2)/S}`. A diagonal ``A`` is estimated exactly.
    Probes are evaluated sequentially in small batches (``lax.map``), so memory stays
    :math:`O(n)` per batch.

    Args:
        mvp: ``v -> A v`` on pytrees shaped like ``w``.
        w: the point; its structure, size and dtype.
        key: PRNG key for the probes.
        num_samples: number of probes ``S >= 2``.

    Returns:
        ``(estimate, standard_error)``, two scalars.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> d = jnp.array([1.0, 2.0, 3.0])
        >>> est, se = hutchinson_trace(lambda v: d * v, jnp.zeros(3), key=jax.random.key(0))
        >>> round(float(est), 4), round(float(se), 4)           # diagonal: exact
        (6.0, 0.0)

    References:
        M. Hutchinson, *A stochastic estimator of the trace of the influence matrix for
        Laplacian smoothing splines* (1989), https://doi.org/10.1080/03610918908812806;
        H. Avron and S. Toledo (2011), https://doi.org/10.1145/1944345.1944349;
        Z. Yao et al., PyHessian (2020), https://arxiv.org/abs/1912.07145.
    """
    _flat_operator(mvp, w)
    _check_key(key)
    _check_int(num_samples, "num_samples", 2, None, "A standard error needs at least 2 probes.")
    return _jit_bound(_hutchinson_jit, mvp, num_samples=int(num_samples))(w, key)


def _hutchinson_jit(mvp: MVP, w: PyTree, key: jax.Array, *, num_samples: int):
    A, n, dtype = _flat_operator(mvp, w)

    def quad_form(k):
        z = jax.random.rademacher(k, (n,), dtype=dtype)
        return z @ A(z)

    keys = jax.random.split(key, num_samples)
    values = jax.lax.map(quad_form, keys, batch_size=min(num_samples, 16))
    return jnp.mean(values), jnp.std(values, ddof=1) / jnp.sqrt(num_samples)


def slq_density(
    mvp: MVP,
    w: PyTree,
    *,
    key: jax.Array,
    num_probes: int = 4,
    num_iters: int = 30,
    grid: jax.Array | None = None,
    sigma: float | None = None,
    probes: jax.Array | None = None,
) -> tuple[jax.Array, jax.Array]:
    r"""Eigenvalue density of a symmetric ``A`` by stochastic Lanczos quadrature (SLQ).

    The spectral density :math:`\phi(t) = \frac1n \sum_i \delta(t - \lambda_i)` is smoothed with
    a Gaussian of width :math:`\sigma` and estimated from probes. For a unit vector :math:`v`,
    the measure :math:`\mu_v = \sum_i (v^\top u_i)^2 \delta_{\lambda_i}` has expectation
    :math:`\phi` when :math:`v = z/\sqrt n` with Rademacher :math:`z` (since
    :math:`\mathbb{E}[(v^\top u_i)^2] = 1/n`). Lanczos started at :math:`v` for ``m`` steps gives
    the ``m``-point Gauss quadrature of :math:`\mu_v`: nodes :math:`\theta_j` (eigenvalues of
    :math:`T`) and weights :math:`\tau_j = (e_1^\top s_j)^2`, exact for polynomials of degree up to
    :math:`2m - 1`. Averaging over probes,

    .. math::
        \hat\phi_\sigma(t) = \frac{1}{P}\sum_{p=1}^{P}\sum_{j=1}^{m} \tau_{p,j}\,
        \frac{1}{\sigma\sqrt{2\pi}} \exp\!\Big(-\frac{(t - \theta_{p,j})^2}{2\sigma^2}\Big).

    Each probe's weights sum to 1, so :math:`\hat\phi_\sigma` integrates to 1 over the real
    line (and to about 1 over the default grid, which covers all nodes plus :math:`6\sigma`).
    Its mean :math:`\int t\,\hat\phi_\sigma = \frac1P \sum_p v_p^\top A v_p` is a Hutchinson
    estimate of :math:`\mathrm{tr}(A)/n`. Cost: ``num_probes * num_iters`` products.

    Args:
        mvp: ``v -> A v`` on pytrees shaped like ``w``, ``A`` symmetric.
        w: the point; its structure, size and dtype.
        key: PRNG key for the probes.
        num_probes: ``P``, the number of Rademacher probes (at least 1).
        num_iters: ``m``, Lanczos steps per probe (capped at ``n``).
        grid: 1-D points at which to evaluate the density; default 1000 points spanning the
            Ritz values plus :math:`6\sigma` on each side.
        sigma: the Gaussian width; default 1% of the spread of the Ritz values (1% of their
            magnitude, or 0.01, when they coincide).
        probes: optional probe vectors, shape ``(P, n)`` in ``ravel_pytree(w)`` order, each a unit
            vector (the estimate is unbiased when :math:`\mathbb E[v v^\top] = I/n`); default
            ``num_probes`` Rademacher vectors :math:`z/\sqrt n` drawn from ``key`` (which then
            only seeds restarts). Giving them lets a hand-written SLQ be compared with this one.

    Returns:
        ``(grid, density)``, both shape ``(G,)``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> d = jnp.concatenate([jnp.ones(10), 5 * jnp.ones(10)])
        >>> t, phi = slq_density(lambda v: d * v, jnp.zeros(20), key=jax.random.key(0))
        >>> round(float(jnp.trapezoid(phi, t)), 3)
        1.0

    References:
        G. Golub and G. Meurant, *Matrices, Moments and Quadrature with Applications* (2010);
        L. Lin, Y. Saad and C. Yang, *Approximating spectral densities of large matrices* (2016),
        https://doi.org/10.1137/130934283; S. Ubaru, J. Chen and Y. Saad (2017),
        https://doi.org/10.1137/16M1104974; B. Ghorbani, S. Krishnan and Y. Xiao (2019),
        https://arxiv.org/abs/1901.10159; Z. Yao et al., PyHessian (2020),
        https://arxiv.org/abs/1912.07145; Lecture 5 of this course.
    """
    _, n, dtype = _flat_operator(mvp, w)
    _check_key(key)
    _check_int(num_probes, "num_probes", 1, None, "Use e.g. num_probes=4.")
    _check_int(num_iters, "num_iters", 1, None, "Use e.g. num_iters=30.")
    m = min(num_iters, n)
    if grid is not None and jnp.ndim(grid) != 1:
        raise ValueError(
            f"grid must be a 1-D array of points: expected shape (G,), got shape {jnp.shape(grid)}; use e.g. jnp.linspace(lo, hi, 500)."
        )
    if sigma is not None:
        if jnp.ndim(sigma) != 0:
            raise ValueError(f"sigma must be a scalar: expected shape (), got shape {jnp.shape(sigma)}.")
        try:
            s = float(sigma)
        except (jax.errors.ConcretizationTypeError, TypeError):
            s = None
        if s is not None and not s > 0:
            raise ValueError(f"sigma must be > 0, expected a positive width, got {s!r}; e.g. sigma=0.01.")

    k_probe, k_restart = jax.random.split(key)
    if probes is None:
        probes = jax.random.rademacher(k_probe, (num_probes, n), dtype=dtype) / jnp.sqrt(jnp.asarray(n, dtype))
    else:
        probes = jnp.asarray(probes)
        if probes.ndim != 2 or probes.shape[1] != n:
            raise ValueError(f"probes must have shape (P, n) with n = {n} parameters, got shape {probes.shape}.")
        norms = jnp.linalg.norm(probes, axis=1)
        try:
            unit = bool(jnp.all(jnp.abs(norms - 1) < 1e-3))
        except jax.errors.ConcretizationTypeError:
            unit = True
        if not unit:
            raise ValueError(f"each probe must be a unit vector (SLQ's weights sum to 1 per probe), got norms "
                             f"{np.asarray(norms)[:5].tolist()!r:.80}; divide Rademacher vectors by sqrt(n).")
        probes = probes.astype(dtype)
        num_probes = probes.shape[0]
    restarts = jax.random.normal(k_restart, (num_probes, n), dtype)
    thetas, weights = _jit_bound(_slq_nodes_jit, mvp, num_iters=m)(w, probes, restarts)
    return _broadened_density(thetas, weights, grid, sigma, dtype=dtype)


@functools.partial(jax.jit, static_argnames=("dtype",))
def _broadened_density(thetas, weights, grid, sigma, *, dtype):
    """Sum of Gaussians of width sigma at the nodes, on the grid (defaults as in slq_density)."""
    lo, hi = jnp.min(thetas), jnp.max(thetas)
    if sigma is None:
        spread = hi - lo
        fallback = 0.01 * jnp.maximum(jnp.maximum(jnp.abs(lo), jnp.abs(hi)), 1.0)
        sigma = jnp.where(spread > 0, 0.01 * spread, fallback)
    sigma = jnp.asarray(sigma, dtype)
    if grid is None:
        grid = jnp.linspace(lo - 6 * sigma, hi + 6 * sigma, 1000, dtype=dtype)
    grid = jnp.asarray(grid, dtype)
    z = (grid[:, None] - thetas[None, :]) / sigma
    density = jnp.exp(-0.5 * z**2) @ weights / (sigma * jnp.sqrt(2 * jnp.pi))
    return grid, density


def _slq_nodes_jit(mvp: MVP, w: PyTree, probes: jax.Array, restarts: jax.Array, *, num_iters: int):
    """Gauss quadrature nodes and weights (summing to 1 over all probes) of the SLQ estimate."""
    A, _, _ = _flat_operator(mvp, w)

    def probe(vr):
        alphas, betas, _ = _lanczos_flat(A, vr[0], num_iters, vr[1])
        theta, S = jnp.linalg.eigh(_tridiagonal(alphas, betas))
        return theta, S[0] ** 2

    thetas, weights = jax.lax.map(probe, jnp.stack([probes, restarts], axis=1))
    return thetas.reshape(-1), weights.reshape(-1) / probes.shape[0]


# --------------------------------------------------------------------------------------------
# rank


def numerical_rank(matrix_or_eigvals: jax.Array, *, rtol: float | None = None) -> int:
    r"""The number of singular values (or eigenvalues) that are not zero up to a relative tolerance.

    .. math::
        \mathrm{rank}(M) = \#\{\, i : s_i > \mathrm{rtol} \cdot \max_j s_j \,\}

    A 2-D input is a matrix and :math:`s` are its singular values; a 1-D input is a list of
    eigenvalues (e.g. from ``jnp.linalg.eigvalsh`` or :func:`top_eigenpairs`) and
    :math:`s_i = |\lambda_i|`. The default ``rtol`` is ``max(shape) * eps`` of the dtype, as in
    ``jnp.linalg.matrix_rank`` and ``numpy.linalg.matrix_rank``: a singular value below that is
    indistinguishable from round-off. For eigenvalues of a larger matrix (a partial spectrum),
    or noisy ones (Lanczos, Monte Carlo), pass ``rtol`` explicitly. Used in lecture 4 to count
    the directions in which a network's outputs can move (the rank of the Jacobian or the
    Gauss-Newton matrix).

    Args:
        matrix_or_eigvals: a 2-D matrix or a 1-D array of eigenvalues (concrete values).
        rtol: relative tolerance; default ``max(shape) * finfo(dtype).eps``.

    Returns:
        The rank, a Python ``int`` (0 for an all-zero input).

    Example:
        >>> import jax.numpy as jnp
        >>> numerical_rank(jnp.outer(jnp.arange(3.0), jnp.arange(4.0)))
        1
        >>> numerical_rank(jnp.array([2.0, 1e-12, -3.0, 0.0]), rtol=1e-8)
        2

    References:
        G. Golub and C. Van Loan, *Matrix Computations* (2013), sec. 5.4.1;
        Lecture 4 of this course.
    """
    try:
        a = np.asarray(matrix_or_eigvals)
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        raise TypeError(
            "numerical_rank returns a Python int, so it expected concrete values, got a traced array. "
            "Call it outside jit, or count inside jit with jnp.sum(s > rtol * s.max())."
        ) from None
    if a.ndim not in (1, 2) or a.size == 0:
        raise ValueError(
            f"numerical_rank: expected a 2-D matrix or a non-empty 1-D array of eigenvalues, got shape {a.shape}. "
            f"For a batch, call it on each matrix."
        )
    if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer) or a.dtype == bool):
        raise TypeError(f"numerical_rank: expected real numbers, got dtype {a.dtype}.")
    x = a if np.issubdtype(a.dtype, np.floating) else a.astype(np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError("numerical_rank: expected finite values, got NaN or inf; check the matrix.")
    s = np.abs(x) if x.ndim == 1 else np.linalg.svd(x, compute_uv=False)
    if rtol is None:
        rtol = max(x.shape) * float(np.finfo(x.dtype).eps)
    elif not (np.ndim(rtol) == 0 and float(rtol) >= 0):
        raise ValueError(f"rtol must be a non-negative scalar: expected e.g. rtol=1e-8, got {rtol!r}.")
    return int(np.sum(s > float(rtol) * np.max(s)))
