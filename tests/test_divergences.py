"""gradtools.divergences against closed forms, jax.hessian, quadrature and Monte Carlo."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import flat, tree_allclose
from jax.scipy.special import logsumexp
from jax.scipy.stats import norm

import gradtools as gt
from gradtools import divergences as dv

# ----------------------------------------------------------------------------- squared_euclidean


def test_squared_euclidean_pytree_matches_flat_formula(key):
    k1, k2 = jax.random.split(key)
    u = {"a": jax.random.normal(k1, (3, 2)), "b": jnp.arange(4.0)}
    w = {"a": jax.random.normal(k2, (3, 2)), "b": jnp.ones(4)}
    expected = 0.5 * np.sum((np.asarray(flat(u)) - np.asarray(flat(w))) ** 2)
    np.testing.assert_allclose(dv.squared_euclidean(u, w), expected, rtol=1e-12)


def test_squared_euclidean_metric_is_identity():
    w = {"a": jnp.arange(3.0), "b": jnp.ones((2, 2))}
    np.testing.assert_allclose(gt.metric_matrix(dv.squared_euclidean, w), np.eye(7), atol=1e-12)


def test_squared_euclidean_rejects_mismatched_trees():
    with pytest.raises(ValueError, match="same pytree structure"):
        dv.squared_euclidean({"a": jnp.ones(2)}, [jnp.ones(2)])
    with pytest.raises(ValueError, match="shape"):
        dv.squared_euclidean(jnp.ones(2), jnp.ones(3))


# ----------------------------------------------------------------------------- kl_gaussian


def _kl_gauss_quadrature(mq, sq, mp, sp):
    x = np.linspace(mq - 12 * sq, mq + 12 * sq, 200001)
    logq = norm.logpdf(x, mq, sq)
    logp = norm.logpdf(x, mp, sp)
    return np.trapezoid(np.exp(logq) * (logq - logp), x)


@pytest.mark.parametrize("params", [(0.0, 1.0, 0.0, 1.0), (0.3, 0.7, -1.0, 2.0), (2.0, 3.0, 1.5, 0.5)])
def test_kl_gaussian_matches_quadrature(params):
    np.testing.assert_allclose(dv.kl_gaussian(*params), _kl_gauss_quadrature(*params), rtol=1e-6, atol=1e-10)


def test_kl_gaussian_diagonal_is_sum_of_univariate(key):
    ks = jax.random.split(key, 4)
    mq, mp = jax.random.normal(ks[0], (5,)), jax.random.normal(ks[1], (5,))
    sq, sp = jnp.exp(jax.random.normal(ks[2], (5,))), jnp.exp(jax.random.normal(ks[3], (5,)))
    # Reference: KL between multivariate Gaussians with covariance matrices (general formula).
    Sq, Sp = jnp.diag(sq**2), jnp.diag(sp**2)
    Sp_inv = jnp.linalg.inv(Sp)
    d = mq - mp
    ref = 0.5 * (
        jnp.trace(Sp_inv @ Sq) + d @ Sp_inv @ d - 5 + jnp.linalg.slogdet(Sp)[1] - jnp.linalg.slogdet(Sq)[1]
    )
    np.testing.assert_allclose(dv.kl_gaussian(mq, sq, mp, sp), ref, rtol=1e-10)


def test_kl_gaussian_monte_carlo(key):
    mq, sq, mp, sp = 0.5, 1.5, -0.2, 0.8
    x = mq + sq * jax.random.normal(key, (400_000,))
    mc = jnp.mean(norm.logpdf(x, mq, sq) - norm.logpdf(x, mp, sp))
    # Standard error of the estimate is about 1e-3 here.
    np.testing.assert_allclose(dv.kl_gaussian(mq, sq, mp, sp), mc, atol=6e-3)


def test_kl_gaussian_nonnegative_zero_iff_equal_and_asymmetric(key):
    ks = jax.random.split(key, 4)
    mq, mp = jax.random.normal(ks[0], (50,)), jax.random.normal(ks[1], (50,))
    sq, sp = jnp.exp(jax.random.normal(ks[2], (50,))), jnp.exp(jax.random.normal(ks[3], (50,)))
    kl = jax.vmap(dv.kl_gaussian)(mq, sq, mp, sp)
    kl_rev = jax.vmap(dv.kl_gaussian)(mp, sp, mq, sq)
    assert np.all(kl > 0)
    np.testing.assert_allclose(jax.vmap(dv.kl_gaussian)(mq, sq, mq, sq), 0.0, atol=1e-12)
    assert np.max(np.abs(kl - kl_rev)) > 1e-2


def test_kl_gaussian_hessian_is_gaussian_fisher():
    for mu, sigma in [(0.0, 1.0), (1.3, 0.4), (-2.0, 3.0)]:
        rho = lambda u, w: dv.kl_gaussian(u[0], u[1], w[0], w[1])
        G = gt.metric_matrix(rho, jnp.array([mu, sigma]))
        np.testing.assert_allclose(G, dv.gaussian_fisher(mu, sigma), rtol=1e-10, atol=1e-12)


def test_kl_gaussian_shape_error():
    with pytest.raises(ValueError, match="same shape"):
        dv.kl_gaussian(jnp.zeros(2), jnp.ones(3), jnp.zeros(2), jnp.ones(2))


# ----------------------------------------------------------------------------- gaussian_fisher


def test_gaussian_fisher_is_score_covariance_by_quadrature():
    mu, sigma = 0.7, 1.8
    x = np.linspace(mu - 14 * sigma, mu + 14 * sigma, 100001)
    score = jax.vmap(jax.grad(lambda th, xi: norm.logpdf(xi, th[0], th[1])), in_axes=(None, 0))(
        jnp.array([mu, sigma]), jnp.asarray(x)
    )
    pdf = norm.pdf(x, mu, sigma)
    outer = np.trapezoid(pdf[:, None, None] * score[:, :, None] * score[:, None, :], x, axis=0)
    np.testing.assert_allclose(dv.gaussian_fisher(mu, sigma), outer, rtol=1e-6, atol=1e-10)


def test_gaussian_fisher_broadcasts():
    F = dv.gaussian_fisher(jnp.zeros((3, 1)), jnp.array([1.0, 2.0]))
    assert F.shape == (3, 2, 2, 2)
    np.testing.assert_allclose(F[1, 1], [[0.25, 0.0], [0.0, 0.5]])
    np.testing.assert_allclose(F[2, 0], np.diag([1.0, 2.0]))


# ----------------------------------------------------------------------------- kl_categorical


def test_kl_categorical_matches_probability_formula(key):
    k1, k2 = jax.random.split(key)
    zq, zp = 3 * jax.random.normal(k1, (4, 6)), 3 * jax.random.normal(k2, (4, 6))
    q, p = np.asarray(jax.nn.softmax(zq)), np.asarray(jax.nn.softmax(zp))
    ref = np.sum(q * np.log(q / p), axis=-1)
    out = dv.kl_categorical(zq, zp)
    assert out.shape == (4,)
    np.testing.assert_allclose(out, ref, rtol=1e-10)
    np.testing.assert_allclose(dv.kl_categorical(zq.T, zp.T, axis=0), ref, rtol=1e-10)


def test_kl_categorical_properties(key):
    k1, k2 = jax.random.split(key)
    zq, zp = jax.random.normal(k1, (100, 5)), jax.random.normal(k2, (100, 5))
    assert np.all(dv.kl_categorical(zq, zp) > 0)
    # Zero iff equal distributions: adding a constant to the logits changes nothing.
    np.testing.assert_allclose(dv.kl_categorical(zq, zq + 7.0), 0.0, atol=1e-12)
    assert np.max(np.abs(dv.kl_categorical(zq, zp) - dv.kl_categorical(zp, zq))) > 1e-2


def test_kl_categorical_hessian_is_categorical_fisher(key):
    z0 = jax.random.normal(key, (5,))
    G = gt.metric_matrix(dv.kl_categorical, z0)
    p = jax.nn.softmax(z0)
    np.testing.assert_allclose(G, jnp.diag(p) - jnp.outer(p, p), rtol=1e-10, atol=1e-12)


def test_kl_categorical_equals_bregman_of_logsumexp(key):
    k1, k2 = jax.random.split(key)
    z, z0 = jax.random.normal(k1, (6,)), jax.random.normal(k2, (6,))
    np.testing.assert_allclose(dv.kl_categorical(z0, z), dv.bregman(logsumexp, z, z0), rtol=1e-10)


def test_kl_categorical_errors():
    with pytest.raises(ValueError, match="same shape"):
        dv.kl_categorical(jnp.zeros(3), jnp.zeros(4))
    with pytest.raises(ValueError, match="class axis"):
        dv.kl_categorical(jnp.array(0.0), jnp.array(1.0))


# ----------------------------------------------------------------------------- kl_simplex


def test_kl_simplex_on_simplex_is_kl_and_metric_is_diag_inverse(key):
    k1, k2 = jax.random.split(key)
    u, w = jax.nn.softmax(jax.random.normal(k1, (5,))), jax.nn.softmax(jax.random.normal(k2, (5,)))
    np.testing.assert_allclose(dv.kl_simplex(u, w), np.sum(u * np.log(u / w)), rtol=1e-10)
    np.testing.assert_allclose(gt.metric_matrix(dv.kl_simplex, w), np.diag(1 / np.asarray(w)), rtol=1e-10)
    # 0 log 0 = 0: a vertex of the simplex has finite divergence -log w_j.
    e0 = jnp.zeros(5).at[0].set(1.0)
    np.testing.assert_allclose(dv.kl_simplex(e0, w), -np.log(w[0]), rtol=1e-12)


def test_kl_simplex_is_bregman_of_negative_entropy(key):
    k1, k2 = jax.random.split(key)
    u, w = jnp.exp(jax.random.normal(k1, (4,))), jnp.exp(jax.random.normal(k2, (4,)))
    neg_entropy = lambda p: jnp.sum(p * jnp.log(p))
    np.testing.assert_allclose(dv.kl_simplex(u, w), dv.bregman(neg_entropy, u, w), rtol=1e-10)


def test_kl_simplex_shape_error():
    with pytest.raises(ValueError, match="same shape"):
        dv.kl_simplex(jnp.ones(3) / 3, jnp.ones(2) / 2)


# ----------------------------------------------------------------------------- bregman


def test_bregman_of_half_square_is_squared_euclidean(key):
    k1, k2 = jax.random.split(key)
    z = {"a": jax.random.normal(k1, (3,)), "b": jnp.ones((2, 2))}
    z0 = {"a": jax.random.normal(k2, (3,)), "b": jnp.zeros((2, 2))}
    phi = lambda t: 0.5 * sum(jnp.sum(a**2) for a in jax.tree_util.tree_leaves(t))
    np.testing.assert_allclose(dv.bregman(phi, z, z0), dv.squared_euclidean(z, z0), rtol=1e-12)


@pytest.mark.parametrize(
    "phi",
    [
        logsumexp,
        lambda z: jnp.sum(jax.nn.softplus(z)),
        lambda z: jnp.sum(jnp.exp(z)) + 0.3 * jnp.sum(z) ** 2,
    ],
    ids=["logsumexp", "softplus", "exp+quadratic"],
)
def test_bregman_hessian_is_hessian_of_phi(phi, key):
    z0 = jax.random.normal(key, (4,))
    G = gt.metric_matrix(lambda z, zb: dv.bregman(phi, z, zb), z0)
    np.testing.assert_allclose(G, jax.hessian(phi)(z0), rtol=1e-10, atol=1e-12)


def test_bregman_nonnegative_for_convex_phi(key):
    z = jax.random.normal(key, (200, 3))
    z0 = jnp.roll(z, 1, axis=0)
    phi = lambda t: jnp.sum(jax.nn.softplus(t)) + jnp.sum(t**4)
    assert np.all(jax.vmap(lambda a, b: dv.bregman(phi, a, b))(z, z0) >= -1e-12)


def test_bregman_errors():
    with pytest.raises(TypeError, match="callable"):
        dv.bregman(3.0, jnp.ones(2), jnp.ones(2))
    with pytest.raises(TypeError, match="scalar"):
        dv.bregman(lambda z: z, jnp.ones(2), jnp.ones(2))
    with pytest.raises(ValueError, match="shape"):
        dv.bregman(logsumexp, jnp.ones(2), jnp.ones(3))


# ----------------------------------------------------------------------------- pullback, function space


def test_pullback_metric_is_jt_g_j(key):
    f = lambda x: jnp.array([jnp.sin(x[0]) * x[1], x[0] ** 2, jnp.exp(x[1])])
    x0 = jax.random.normal(key, (2,))
    rho = dv.pullback(dv.kl_categorical, f)
    J = jax.jacfwd(f)(x0)
    p = jax.nn.softmax(f(x0))
    ref = J.T @ (jnp.diag(p) - jnp.outer(p, p)) @ J
    np.testing.assert_allclose(gt.metric_matrix(rho, x0), ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(rho(x0 + 0.1, x0), dv.kl_categorical(f(x0 + 0.1), f(x0)), rtol=1e-12)


def test_function_space_distance_metric_matches_pullback_operator(key):
    init, apply = gt.problems.make_mlp([3, 4, 2])
    k1, k2 = jax.random.split(key)
    w = init(k1)
    x = jax.random.normal(k2, (7, 3))
    d = dv.function_space_distance(apply, dv.squared_euclidean, x)
    G = gt.metric_matrix(d, w)
    # Reference: mean over examples of J_i^T J_i from per-example Jacobians.
    Jfull = jax.jacfwd(lambda v: apply(v, x))(w)
    Jmat = jnp.concatenate([a.reshape(7, 2, -1) for a in jax.tree_util.tree_leaves(Jfull)], axis=-1)
    ref = jnp.einsum("nka,nkb->ab", Jmat, Jmat) / 7
    np.testing.assert_allclose(G, ref, rtol=1e-9, atol=1e-12)
    mvp_dense = gt.dense(gt.pullback_operator(lambda v: apply(v, x), lambda z, z0: jnp.sum((z - z0) ** 2) / 14, w), w)
    np.testing.assert_allclose(G, mvp_dense, rtol=1e-9, atol=1e-12)


def test_function_space_distance_value_and_errors(key):
    apply = lambda w, x: jnp.tanh(x @ w)
    w = jax.random.normal(key, (3, 2))
    x = jnp.arange(12.0).reshape(4, 3) / 10
    d = dv.function_space_distance(apply, dv.kl_categorical, x)
    ref = np.mean([dv.kl_categorical(apply(w + 0.1, x[i]), apply(w, x[i])) for i in range(4)])
    np.testing.assert_allclose(d(w + 0.1, w), ref, rtol=1e-12)
    np.testing.assert_allclose(d(w, w), 0.0, atol=1e-15)
    with pytest.raises(ValueError, match="leading example axis"):
        dv.function_space_distance(apply, dv.kl_categorical, 1.0)
    with pytest.raises(TypeError, match="callable"):
        dv.function_space_distance(apply, None, x)
    with pytest.raises(TypeError, match="callable"):
        dv.pullback(dv.squared_euclidean, "f")


def test_jit_compatible(key):
    z = jax.random.normal(key, (3,))
    np.testing.assert_allclose(jax.jit(dv.kl_categorical)(z, 2 * z), dv.kl_categorical(z, 2 * z), rtol=1e-12)
    np.testing.assert_allclose(jax.jit(dv.kl_gaussian)(0.0, 1.0, 1.0, 2.0), dv.kl_gaussian(0.0, 1.0, 1.0, 2.0))
    tree_allclose(jax.jit(dv.gaussian_fisher)(0.0, 2.0), dv.gaussian_fisher(0.0, 2.0))
