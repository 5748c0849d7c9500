"""Curvature as matrix-vector products: Hessian, Gauss-Newton and pullback metric.

All products take parameters ``w`` and a direction ``v`` with the same pytree structure and return
a pytree of that structure. None of them forms a matrix; :func:`dense` does, for small models and
tests.

References:
    Lecture 2 (Taylor approximations and autodiff) and Lecture 3 (metrics) of this course;
    R. Grosse, CSC 2541 *Neural Net Training Dynamics*, lecture 3 (2022), where ``pullback_mvp``
    and ``gnhvp`` (here :func:`gnvp`) first appear;
    N. Schraudolph, *Fast curvature matrix-vector products*, Neural Computation (2002).
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from gradtools._checks import check_callable, check_same_tree, check_scalar_fn

PyTree = Any
MVP = Callable[[PyTree], PyTree]

__all__ = [
    "hvp",
    "gnvp",
    "pullback_mvp",
    "metric_matrix",
    "hessian_operator",
    "gauss_newton_operator",
    "pullback_operator",
    "dense",
]


def hvp(f: Callable[[PyTree], jax.Array], w: PyTree, v: PyTree) -> PyTree:
    r"""Hessian-vector product :math:`\nabla^2 f(w)\, v` by forward-over-reverse.

    .. math:: \nabla^2 f(w)\, v = \frac{d}{d\epsilon} \nabla f(w + \epsilon v)\Big|_{\epsilon=0}

    One JVP of ``jax.grad(f)``: about the cost of two gradients, whatever the size of ``w``.
    Equals ``jax.hessian(f)(w) @ v`` for a flat ``w``.

    Args:
        f: scalar function of the pytree ``w``.
        w: the point, any pytree of arrays.
        v: the direction, same pytree structure and shapes as ``w``.

    Returns:
        The product, same structure as ``w``.

    Example:
        >>> import jax.numpy as jnp
        >>> hvp(lambda w: jnp.sum(w ** 3), jnp.array([1.0, 2.0]), jnp.array([1.0, 0.0]))
        Array([6., 0.], dtype=float32)
    """
    check_callable(f, "f")
    check_same_tree(w, v)
    check_scalar_fn(f, w)
    return jax.jvp(jax.grad(f), (w,), (v,))[1]


def hessian_operator(f: Callable[[PyTree], jax.Array], w: PyTree) -> MVP:
    r"""Linearize :math:`\nabla f` at ``w`` once; return ``v -> hvp(f, w, v)``.

    The gradient's forward pass runs once; each call of the returned function costs one
    linearized JVP. Use it when the same Hessian is applied to many vectors (CG, Lanczos).
    """
    check_callable(f, "f")
    check_scalar_fn(f, w)
    _, lin = jax.linearize(jax.grad(f), w)

    def mvp(v: PyTree) -> PyTree:
        check_same_tree(w, v)
        return lin(v)

    return mvp


def gnvp(
    f: Callable[[PyTree], PyTree],
    loss: Callable[[PyTree], jax.Array],
    w: PyTree,
    v: PyTree,
) -> PyTree:
    r"""Gauss-Newton product :math:`J^\top H_{\mathcal{L}} J\, v` for the cost :math:`\mathcal{L}(f(w))`.

    .. math::
        G v = J_{zw}^\top \, \nabla^2_z \mathcal{L}(z) \, J_{zw} v, \qquad z = f(w)

    The Hessian of the cost with the network linearized at ``w`` and the loss kept exact. It drops
    the term :math:`\sum_a \partial\mathcal{L}/\partial z_a \, \nabla^2 f_a`, so it needs only first
    derivatives of ``f`` (ReLU nets are fine) and is positive semi-definite when ``loss`` is convex.
    Equals ``J.T @ jax.hessian(loss)(z) @ J @ v`` with ``J = jax.jacfwd(f)(w)``.

    Args:
        f: the model, ``w -> z`` (any pytree of outputs, e.g. logits of a whole batch).
        loss: scalar function of ``z``; targets are closed over.
        w: parameters, any pytree.
        v: direction, same structure as ``w``.

    Returns:
        The product, same structure as ``w``.
    """
    check_callable(f, "f")
    check_callable(loss, "loss")
    check_same_tree(w, v)
    z, f_jvp = jax.linearize(f, w)
    check_scalar_fn(loss, z, name="loss")
    jv = f_jvp(v)
    hjv = jax.jvp(jax.grad(loss), (z,), (jv,))[1]
    (out,) = jax.linear_transpose(f_jvp, w)(hjv)
    return out


def gauss_newton_operator(
    f: Callable[[PyTree], PyTree], loss: Callable[[PyTree], jax.Array], w: PyTree
) -> MVP:
    """Linearize ``f`` and ``grad(loss)`` once; return ``v -> gnvp(f, loss, w, v)``."""
    check_callable(f, "f")
    check_callable(loss, "loss")
    z, f_jvp = jax.linearize(f, w)
    check_scalar_fn(loss, z, name="loss")
    _, loss_hvp = jax.linearize(jax.grad(loss), z)
    f_vjp = jax.linear_transpose(f_jvp, w)

    def mvp(v: PyTree) -> PyTree:
        check_same_tree(w, v)
        return f_vjp(loss_hvp(f_jvp(v)))[0]

    return mvp


def pullback_mvp(
    f: Callable[[PyTree], PyTree],
    rho: Callable[[PyTree, PyTree], jax.Array],
    w: PyTree,
    v: PyTree,
) -> PyTree:
    r"""Product with the pullback metric of the output dissimilarity ``rho`` through ``f``.

    .. math::
        G_w v = \nabla^2_u \rho(f(u), f(w))\big|_{u=w} v = J_{zw}^\top G_z J_{zw} v,
        \qquad G_z = \nabla^2_z \rho(z, z_0)\big|_{z=z_0}

    Exact (no term is dropped) because ``rho(z, z0)`` has zero gradient at ``z = z0``. Coincides
    with :func:`gnvp` when :math:`G_z = H_z`: squared error with the Euclidean ``rho``, or any
    convex loss with its Bregman divergence (e.g. softmax cross-entropy with KL).

    Args:
        f: the model ``w -> z``.
        rho: dissimilarity ``rho(z, z0) -> scalar``, minimal (zero) at ``z = z0``.
        w: parameters, any pytree.
        v: direction, same structure as ``w``.
    """
    check_callable(f, "f")
    check_callable(rho, "rho")
    check_same_tree(w, v)
    z0, f_jvp = jax.linearize(f, w)
    check_scalar_fn(rho, z0, z0, name="rho")
    jv = f_jvp(v)
    g_jv = jax.jvp(jax.grad(lambda z: rho(z, z0)), (z0,), (jv,))[1]
    (out,) = jax.linear_transpose(f_jvp, w)(g_jv)
    return out


def pullback_operator(
    f: Callable[[PyTree], PyTree], rho: Callable[[PyTree, PyTree], jax.Array], w: PyTree
) -> MVP:
    """Linearize once; return ``v -> pullback_mvp(f, rho, w, v)``."""
    check_callable(f, "f")
    check_callable(rho, "rho")
    z0, f_jvp = jax.linearize(f, w)
    check_scalar_fn(rho, z0, z0, name="rho")
    _, rho_hvp = jax.linearize(jax.grad(lambda z: rho(z, z0)), z0)
    f_vjp = jax.linear_transpose(f_jvp, w)

    def mvp(v: PyTree) -> PyTree:
        check_same_tree(w, v)
        return f_vjp(rho_hvp(f_jvp(v)))[0]

    return mvp


def metric_matrix(rho: Callable[[PyTree, PyTree], jax.Array], w: PyTree) -> jax.Array:
    r"""Dense metric matrix :math:`G = \nabla^2_u \rho(u, w)\,|_{u=w}`, shape ``(n, n)``.

    The second-order Taylor coefficient of a dissimilarity at its minimum: the squared Euclidean
    ``rho`` gives the identity, the KL divergence between distributions gives the Fisher
    information (e.g. ``diag(1/s**2, 2/s**2)`` for a Gaussian in (mean, std)).
    Rows and columns are in ``jax.flatten_util.ravel_pytree(w)`` order.
    """
    check_callable(rho, "rho")
    check_scalar_fn(rho, w, w, name="rho")
    flat, unravel = ravel_pytree(w)
    return jax.hessian(lambda u: rho(unravel(u), w))(flat)


def dense(mvp: MVP, w: PyTree) -> jax.Array:
    """Materialize a linear map given as a product, as an ``(n, n)`` matrix.

    Column ``j`` is ``mvp(e_j)``, with parameters flattened in ``ravel_pytree(w)`` order, so
    ``dense(mvp, w) @ ravel_pytree(v)[0] == ravel_pytree(mvp(v))[0]``. Costs ``n`` products:
    for small models, teaching and tests only.
    """
    check_callable(mvp, "mvp")
    flat, unravel = ravel_pytree(w)
    n = flat.shape[0]

    def column(e):
        return ravel_pytree(mvp(unravel(e)))[0]

    return jax.vmap(column, out_axes=1)(jnp.eye(n, dtype=flat.dtype))
