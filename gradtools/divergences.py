"""Dissimilarity functions ``rho(u, w)`` and the metrics they induce (lecture 3).

A dissimilarity is small when its two arguments are close and zero when they are equal; it need not
be symmetric or obey the triangle inequality. Its Hessian in the first argument at ``u = w`` is a
*metric matrix* (:func:`gradtools.metric_matrix`): the identity for :func:`squared_euclidean`, the
Fisher information for a KL divergence (:func:`kl_gaussian`, :func:`kl_categorical`), and
:math:`\\nabla^2\\phi` for a Bregman divergence (:func:`bregman`). :func:`pullback` and
:func:`function_space_distance` carry an output-space dissimilarity back to parameters.

Every function here is pure JAX and jit-compatible; arguments that are probabilities or standard
deviations are checked for shape at trace time, never for value.

References:
    Lecture 3 (metrics) of this course; R. Grosse, CSC 2541 *Neural Net Training Dynamics*,
    lecture 3 (2022);
    S. Amari, *Natural gradient works efficiently in learning*, Neural Computation 10 (1998);
    J. Martens, *New insights and perspectives on the natural gradient method*, JMLR 21 (2020),
    https://arxiv.org/abs/1412.1193;
    L. Bregman, *The relaxation method of finding the common point of convex sets*, USSR
    Computational Mathematics and Mathematical Physics 7 (1967).
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
from jax.scipy.special import logsumexp, xlogy

from gradtools._checks import check_callable, check_same_tree, check_scalar_fn

PyTree = Any
Rho = Callable[[PyTree, PyTree], jax.Array]

__all__ = [
    "squared_euclidean",
    "kl_gaussian",
    "kl_categorical",
    "kl_simplex",
    "bregman",
    "gaussian_fisher",
    "pullback",
    "function_space_distance",
]


def _check_same_shape(a: Any, b: Any, aname: str, bname: str, fn: str) -> None:
    sa, sb = jnp.shape(a), jnp.shape(b)
    if sa != sb:
        raise ValueError(
            f"{fn}: {aname} and {bname} must have the same shape, got {aname}: {sa} and "
            f"{bname}: {sb}. Broadcast them explicitly first, e.g. with jnp.broadcast_to."
        )


def squared_euclidean(u: PyTree, w: PyTree) -> jax.Array:
    r"""Half the squared Euclidean distance between two pytrees.

    .. math:: \rho(u, w) = \tfrac12 \lVert u - w \rVert^2 = \tfrac12 \sum_j (u_j - w_j)^2

    Its metric matrix is the identity, so a proximal step with it is implicit gradient descent and
    the mirror step it induces is ordinary gradient descent.

    Args:
        u: any pytree of arrays.
        w: same structure and shapes as ``u``.

    Returns:
        A scalar.

    Example:
        >>> import jax.numpy as jnp
        >>> float(squared_euclidean(jnp.array([1.0, 2.0]), jnp.array([0.0, 0.0])))
        2.5

    References:
        Lecture 3 of this course (proximal point method).
    """
    check_same_tree(u, w, wname="u", vname="w")
    leaves = jax.tree_util.tree_leaves(jax.tree_util.tree_map(lambda a, b: jnp.sum((a - b) ** 2), u, w))
    return 0.5 * sum(leaves, jnp.zeros(()))


def kl_gaussian(mu_q: jax.Array, sigma_q: jax.Array, mu_p: jax.Array, sigma_p: jax.Array) -> jax.Array:
    r"""KL divergence :math:`D_{KL}(q \,\|\, p)` between Gaussians with diagonal covariance.

    .. math::
        D_{KL}\big(\mathcal N(\mu_q, \sigma_q^2) \,\|\, \mathcal N(\mu_p, \sigma_p^2)\big)
        = \log\frac{\sigma_p}{\sigma_q} + \frac{\sigma_q^2 + (\mu_q - \mu_p)^2}{2\sigma_p^2}
          - \frac12

    summed over all entries (independent coordinates): scalars give the univariate KL, vectors the
    KL between diagonal multivariate Gaussians. Its Hessian in :math:`(\mu_q, \sigma_q)` at
    :math:`q = p` is the Fisher information :func:`gaussian_fisher`.

    Args:
        mu_q: means of ``q``, any shape.
        sigma_q: standard deviations of ``q`` (positive), same shape as ``mu_q``.
        mu_p: means of ``p``, same shape.
        sigma_p: standard deviations of ``p`` (positive), same shape.

    Returns:
        A nonnegative scalar (in nats); zero iff the two Gaussians are equal.

    Example:
        >>> float(kl_gaussian(0.0, 1.0, 0.0, 1.0))
        0.0
        >>> round(float(kl_gaussian(1.0, 1.0, 0.0, 1.0)), 3)  # (mu_q - mu_p)^2 / 2
        0.5

    References:
        T. Cover and J. Thomas, *Elements of Information Theory* (2006), ch. 8;
        Lecture 3 of this course (Fisher metric of univariate Gaussians).
    """
    for name, val in (("sigma_q", sigma_q), ("mu_p", mu_p), ("sigma_p", sigma_p)):
        _check_same_shape(mu_q, val, "mu_q", name, "kl_gaussian")
    mu_q, sigma_q, mu_p, sigma_p = (jnp.asarray(a) for a in (mu_q, sigma_q, mu_p, sigma_p))
    terms = (
        jnp.log(sigma_p) - jnp.log(sigma_q) + (sigma_q**2 + (mu_q - mu_p) ** 2) / (2.0 * sigma_p**2) - 0.5
    )
    return jnp.sum(terms)


def kl_categorical(logits_q: jax.Array, logits_p: jax.Array, *, axis: int = -1) -> jax.Array:
    r"""KL divergence :math:`D_{KL}(q \,\|\, p)` between categorical distributions given by logits.

    .. math::
        D_{KL}(q \,\|\, p) = \sum_k q_k (\log q_k - \log p_k), \qquad
        q = \operatorname{softmax}(z_q),\; p = \operatorname{softmax}(z_p)

    Computed from log-softmax, so it is stable for large logits. Equals the Bregman divergence of
    the log-partition function ``logsumexp`` with the arguments swapped:
    ``kl_categorical(z0, z) == bregman(logsumexp, z, z0)``, and its Hessian in ``logits_q`` at
    ``q = p`` is the categorical Fisher :math:`\operatorname{diag}(p) - p p^\top`.

    Args:
        logits_q: logits of ``q``, any shape; classes along ``axis``.
        logits_p: logits of ``p``, same shape.
        axis: the class axis (default the last).

    Returns:
        The KL for each distribution: an array with ``axis`` removed (a scalar for 1-D logits).
        Average it over a batch yourself (e.g. ``jnp.mean``) to get a scalar dissimilarity.

    Example:
        >>> import jax.numpy as jnp
        >>> float(kl_categorical(jnp.zeros(3), jnp.zeros(3) + 5.0))  # same distribution
        0.0

    References:
        Lecture 3 of this course (KL divergence, Bregman divergences of exponential families).
    """
    _check_same_shape(logits_q, logits_p, "logits_q", "logits_p", "kl_categorical")
    if jnp.ndim(logits_q) == 0:
        raise ValueError(
            "kl_categorical expects logits with a class axis, got a scalar. For two classes pass "
            "jnp.array([0.0, logit])."
        )
    log_q = jax.nn.log_softmax(logits_q, axis=axis)
    log_p = jax.nn.log_softmax(logits_p, axis=axis)
    return jnp.sum(jnp.exp(log_q) * (log_q - log_p), axis=axis)


def kl_simplex(u: jax.Array, w: jax.Array) -> jax.Array:
    r"""KL divergence between two probability vectors (the entropy dissimilarity of mirror descent).

    .. math:: \rho(u, w) = \sum_j u_j \log\frac{u_j}{w_j} - u_j + w_j

    On the simplex (both vectors summing to one) the last two terms cancel and this is
    :math:`D_{KL}(u \,\|\, w)`; off it, it is the Bregman divergence of the negative entropy
    :math:`\phi(u) = \sum_j u_j \log u_j`, whose metric matrix is :math:`\operatorname{diag}(1/w)`.
    The mirror step with this ``rho`` is exponentiated gradient
    (:func:`gradtools.mirror_step` with ``mirror="entropy"``). ``0 log 0 = 0``.

    Args:
        u: nonnegative vector, shape ``(k,)`` (or any shape; summed over all entries).
        w: positive vector, same shape.

    Returns:
        A nonnegative scalar.

    Example:
        >>> import jax.numpy as jnp
        >>> round(float(kl_simplex(jnp.array([1.0, 0.0]), jnp.array([0.5, 0.5]))), 4)  # log 2
        0.6931

    References:
        A. Beck and M. Teboulle, *Mirror descent and nonlinear projected subgradient methods for
        convex optimization*, Operations Research Letters 31 (2003).
    """
    _check_same_shape(u, w, "u", "w", "kl_simplex")
    u, w = jnp.asarray(u), jnp.asarray(w)
    return jnp.sum(xlogy(u, u) - xlogy(u, w) - u + w)


def bregman(phi: Callable[[PyTree], jax.Array], z: PyTree, z0: PyTree) -> jax.Array:
    r"""Bregman divergence of a convex function ``phi``.

    .. math:: D_\phi(z, z_0) = \phi(z) - \phi(z_0) - \nabla\phi(z_0)^\top (z - z_0)

    The gap between ``phi`` and its tangent plane at ``z0``: nonnegative for convex ``phi`` and
    zero at ``z = z0``, with Hessian :math:`\nabla^2_z D_\phi(z, z_0)|_{z=z_0} = \nabla^2\phi(z_0)`.
    ``phi = ½||z||²`` gives :func:`squared_euclidean`; ``phi = logsumexp`` (the log-partition
    function of the categorical family in its natural parameters, the logits) gives
    ``kl_categorical(z0, z)``. Choosing ``phi`` = a convex output loss makes the pullback metric
    equal to the Gauss-Newton matrix.

    Args:
        phi: convex scalar function of a pytree.
        z: the point, any pytree.
        z0: the base point, same structure as ``z``.

    Returns:
        A scalar.

    Example:
        >>> import jax.numpy as jnp
        >>> phi = lambda z: 0.5 * jnp.sum(z ** 2)
        >>> float(bregman(phi, jnp.array([3.0]), jnp.array([1.0])))  # ½ (3 - 1)^2
        2.0

    References:
        L. Bregman (1967); Lecture 3 of this course (Gauss-Newton vs pullback metric).
    """
    check_callable(phi, "phi")
    check_same_tree(z0, z, wname="z0", vname="z")
    check_scalar_fn(phi, z, name="phi")
    phi0, grad0 = jax.value_and_grad(phi)(z0)
    inner = sum(
        jax.tree_util.tree_leaves(jax.tree_util.tree_map(lambda g, a, b: jnp.sum(g * (a - b)), grad0, z, z0)),
        jnp.zeros(()),
    )
    return phi(z) - phi0 - inner


def gaussian_fisher(mu: jax.Array, sigma: jax.Array) -> jax.Array:
    r"""Fisher information of :math:`\mathcal N(\mu, \sigma^2)` in the coordinates :math:`(\mu, \sigma)`.

    .. math::
        F(\mu, \sigma) = \begin{pmatrix} 1/\sigma^2 & 0 \\ 0 & 2/\sigma^2 \end{pmatrix}
        = \mathbb E_x[s s^\top], \quad
        s = \nabla_{(\mu,\sigma)} \log \mathcal N(x; \mu, \sigma^2)
          = \Big(\frac{x-\mu}{\sigma^2}, \frac{(x-\mu)^2 - \sigma^2}{\sigma^3}\Big)

    It does not depend on :math:`\mu`, and shrinks as :math:`1/\sigma^2`: a shift of the mean by
    one unit matters less the wider the Gaussian. Equals
    ``metric_matrix(lambda u, w: kl_gaussian(u[0], u[1], w[0], w[1]), jnp.array([mu, sigma]))``.

    Args:
        mu: means, any shape (broadcast with ``sigma``).
        sigma: standard deviations (positive).

    Returns:
        Array of shape ``broadcast(mu, sigma).shape + (2, 2)``.

    Example:
        >>> gaussian_fisher(0.0, 2.0).tolist()
        [[0.25, 0.0], [0.0, 0.5]]

    References:
        S. Amari, *Natural gradient works efficiently in learning*, Neural Computation 10 (1998);
        Lecture 3 of this course (Fisher metric of univariate Gaussians).
    """
    mu, sigma = jnp.broadcast_arrays(jnp.asarray(mu, dtype=jnp.result_type(float)), jnp.asarray(sigma))
    inv_var = 1.0 / sigma**2
    zero = jnp.zeros_like(inv_var)
    return jnp.stack([jnp.stack([inv_var, zero], -1), jnp.stack([zero, 2.0 * inv_var], -1)], -2)


def pullback(rho: Rho, f: Callable[[PyTree], PyTree]) -> Rho:
    r"""The pullback :math:`f^*\rho` of a dissimilarity through a map ``f``.

    .. math:: (f^*\rho)(u, w) = \rho(f(u), f(w))

    Its metric matrix (:func:`gradtools.metric_matrix`) is :math:`J^\top G_z J` with
    :math:`G_z = \nabla^2_z \rho(z, z_0)|_{z=z_0}`, the product :func:`gradtools.pullback_mvp`
    computes without forming it. It is defined without coordinates on ``u``, so a natural-gradient
    step with it is invariant (to first order) to how ``u`` is parameterized.

    Args:
        rho: output-space dissimilarity ``rho(z, z0) -> scalar``.
        f: the map ``u -> z``.

    Returns:
        A dissimilarity ``(u, w) -> rho(f(u), f(w))``.

    Example:
        >>> import jax.numpy as jnp
        >>> rho = pullback(squared_euclidean, lambda x: 2.0 * x)
        >>> float(rho(jnp.array([1.0]), jnp.array([0.0])))  # ½ (2 - 0)^2
        2.0

    References:
        Lecture 3 of this course (function-space distance).
    """
    check_callable(rho, "rho")
    check_callable(f, "f")

    def pulled(u: PyTree, w: PyTree) -> jax.Array:
        return rho(f(u), f(w))

    return pulled


def function_space_distance(
    apply: Callable[[PyTree, jax.Array], jax.Array],
    rho: Rho,
    x: jax.Array,
) -> Rho:
    r"""Function-space dissimilarity between two networks, averaged over inputs.

    .. math::
        \rho_{\text{pull}}(w, w') = \frac1N \sum_{i=1}^N \rho\big(f(w, x^{(i)}), f(w', x^{(i)})\big)

    The finite-sample version of :math:`\mathbb E_x[\rho(f(w, x), f(w', x))]`. Its metric matrix
    is the pullback metric :math:`\frac1N \sum_i J_i^\top G_{z,i} J_i`; with ``rho`` a KL between
    the predictive distributions it is the network's Fisher information.

    Args:
        apply: the model ``apply(w, x) -> outputs``, batched over the first axis of ``x``.
        rho: dissimilarity between the outputs for ONE example, ``rho(z, z0) -> scalar`` with
            ``z`` of shape ``outputs.shape[1:]`` (it is vmapped over examples).
        x: inputs, shape ``(N, ...)``.

    Returns:
        A dissimilarity ``(w, w0) -> scalar`` on parameters.

    Example:
        >>> import jax.numpy as jnp
        >>> apply = lambda w, x: x * w
        >>> d = function_space_distance(apply, squared_euclidean, jnp.array([[1.0], [3.0]]))
        >>> float(d(jnp.array([1.0]), jnp.array([0.0])))  # mean of ½·1 and ½·9
        2.5

    References:
        Lecture 3 of this course; A. Benjamin, D. Rolnick and K. Kording, *Measuring and
        regularizing networks in function space*, ICLR (2019).
    """
    check_callable(apply, "apply")
    check_callable(rho, "rho")
    x = jnp.asarray(x)
    if x.ndim < 1:
        raise ValueError(
            f"function_space_distance expects a batch of inputs with a leading example axis, got a "
            f"scalar x. Pass x of shape (N, ...), e.g. x[None] for one example."
        )

    def distance(w: PyTree, w0: PyTree) -> jax.Array:
        z, z0 = apply(w, x), apply(w0, x)
        return jnp.mean(jax.vmap(rho)(z, z0))

    return distance
