"""gradtools.spectrum against eigh, exact traces, jnp.linalg.matrix_rank and closed forms (float64)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import flat
from jax.flatten_util import ravel_pytree

import gradtools as gt
from gradtools.problems import make_mlp


def rng(seed):
    # test data from NumPy: eager jax.random compiles a kernel per shape, which is slow
    return np.random.default_rng(seed)


def prescribed(seed, eigs):
    """Q diag(eigs) Q^T with a random orthogonal Q (NumPy, float64)."""
    eigs = np.asarray(eigs, dtype=float)
    q, _ = np.linalg.qr(rng(seed).normal(size=(len(eigs), len(eigs))))
    return q @ np.diag(eigs) @ q.T


def point(n):
    """A pytree with n numbers in two leaves: flat vectors follow its ravel_pytree order."""
    return {"a": jnp.zeros(3), "b": jnp.zeros((1, n - 3))}


def operator(M, w):
    """The product with the dense matrix M as an mvp on pytrees shaped like w."""
    M = jnp.asarray(M)
    unravel = ravel_pytree(w)[1]
    return lambda v: unravel(M @ flat(v))


def tridiag(alphas, betas):
    return np.diag(alphas) + np.diag(betas, 1) + np.diag(betas, -1)


# a spectrum with well-separated extremes: 5, 4.5, 4, 3.5, 3 on top, -4.8, -4.2, -3.6 at the bottom
EIGS = np.concatenate([np.linspace(-1.0, 1.0, 92), [5.0, 4.5, 4.0, 3.5, 3.0, -4.8, -4.2, -3.6]])


# ---------------------------------------------------------------------------------------------
# lanczos


def test_lanczos_basis_is_orthonormal_and_tridiagonalizes():
    n = 21
    w = point(n)
    A = prescribed(0, np.linspace(-2.0, 3.0, n))
    for m in [8, n]:
        alphas, betas, Q = gt.lanczos(operator(A, w), w, m, key=jax.random.key(0))
        Q = np.asarray(Q)
        assert alphas.shape == (m,) and betas.shape == (m - 1,) and Q.shape == (m, n)
        np.testing.assert_allclose(Q @ Q.T, np.eye(m), atol=1e-12)
        np.testing.assert_allclose(Q @ A @ Q.T, tridiag(alphas, betas), atol=1e-10)
    np.testing.assert_allclose(np.linalg.eigvalsh(tridiag(alphas, betas)), np.linalg.eigvalsh(A), atol=1e-10)


def test_lanczos_restarts_on_an_exhausted_krylov_space():
    """Two distinct eigenvalues: the Krylov space has dimension 2; Lanczos must restart, not NaN."""
    n = 20
    w = point(n)
    eigs = np.array([1.0] * 12 + [3.0] * 8)
    A = prescribed(1, eigs)
    alphas, betas, Q = gt.lanczos(operator(A, w), w, n, key=jax.random.key(1))
    Q = np.asarray(Q)
    assert np.all(np.isfinite(Q)) and np.min(np.abs(betas)) < 1e-10  # a breakdown happened
    np.testing.assert_allclose(Q @ Q.T, np.eye(n), atol=1e-10)
    np.testing.assert_allclose(np.linalg.eigvalsh(tridiag(alphas, betas)), eigs, atol=1e-10)


def test_lanczos_from_a_given_start_vector_matches_a_textbook_loop():
    n, m = 30, 12
    w = point(n)
    A = prescribed(3, np.linspace(-1.0, 4.0, n))
    v0 = rng(4).normal(size=n)
    alphas, betas, Q = gt.lanczos(operator(A, w), w, m, key=jax.random.key(0), v0=jnp.asarray(v0))
    # the recurrence written out in NumPy, full reorthogonalization, from the same start
    q, q_prev, beta, basis, a_ref, b_ref = v0 / np.linalg.norm(v0), np.zeros(n), 0.0, [], [], []
    for _ in range(m):
        basis.append(q)
        r = A @ q
        a_ref.append(q @ r)
        r = r - a_ref[-1] * q - beta * q_prev
        B = np.array(basis)
        r = r - B.T @ (B @ r)
        beta = np.linalg.norm(r)
        b_ref.append(beta)
        q_prev, q = q, r / beta
    np.testing.assert_allclose(alphas, a_ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(betas, b_ref[:-1], rtol=1e-10)
    np.testing.assert_allclose(np.abs(np.asarray(Q)), np.abs(np.array(basis)), atol=1e-10)
    with pytest.raises(ValueError, match="v0 must be a flat vector"):
        gt.lanczos(operator(A, w), w, m, key=jax.random.key(0), v0=jnp.ones(n + 1))
    with pytest.raises(ValueError, match="non-zero"):
        gt.lanczos(operator(A, w), w, m, key=jax.random.key(0), v0=jnp.zeros(n))


# ---------------------------------------------------------------------------------------------
# top_eigenpairs


def test_top_eigenpairs_on_a_prescribed_spectrum():
    n = len(EIGS)
    w = point(n)
    A = prescribed(2, EIGS)
    mvp = operator(A, w)
    evals, evecs = np.linalg.eigh(A)
    cases = {
        "largest": np.argsort(-evals)[:5],  # default num_iters = 2 k + 30 = 40
        "smallest": np.argsort(evals)[:3],
        "magnitude": np.argsort(-np.abs(evals))[:4],
    }
    for which, idx in cases.items():
        k = len(idx)
        num_iters = None if which == "largest" else 40
        vals, vecs = gt.top_eigenpairs(mvp, w, k, key=jax.random.key(2), num_iters=num_iters, which=which)
        assert vals.shape == (k,) and vecs.shape == (n, k)
        np.testing.assert_allclose(vals, evals[idx], rtol=1e-8, atol=1e-8, err_msg=which)
        overlaps = np.abs(np.sum(np.asarray(vecs) * evecs[:, idx], axis=0))  # eigenvectors up to sign
        np.testing.assert_allclose(overlaps, 1.0, atol=1e-6, err_msg=which)
    # the ordering is part of the contract
    vals, _ = gt.top_eigenpairs(mvp, w, 4, key=jax.random.key(3), num_iters=40, which="magnitude")
    np.testing.assert_allclose(vals, [5.0, -4.8, 4.5, -4.2], rtol=1e-8)


def test_top_eigenpairs_of_a_tanh_net_hessian():
    _, apply = make_mlp([3, 4, 2], activation="tanh")
    r = rng(3)
    w = [
        {"w": jnp.asarray(r.normal(size=(3, 4)) / np.sqrt(3)), "b": jnp.asarray(0.1 * r.normal(size=4))},
        {"w": jnp.asarray(r.normal(size=(4, 2)) / 2.0), "b": jnp.asarray(0.1 * r.normal(size=2))},
    ]
    x, y = jnp.asarray(r.normal(size=(16, 3))), jnp.asarray(r.normal(size=(16, 2)))

    def loss(w):
        return 0.5 * jnp.mean(jnp.sum((apply(w, x) - y) ** 2, axis=1))

    w_flat, unravel = ravel_pytree(w)
    n = w_flat.shape[0]
    H = np.asarray(jax.jit(jax.hessian(lambda z: loss(unravel(z))))(w_flat))
    evals = np.linalg.eigvalsh(H)
    assert evals[0] < -1e-3  # an indefinite Hessian: "smallest" is a real test
    mvp = gt.hessian_operator(loss, w)
    for which, expected in [("largest", evals[::-1][:3]), ("smallest", evals[:3])]:
        vals, vecs = gt.top_eigenpairs(mvp, w, 3, key=jax.random.key(3), num_iters=n, which=which)
        np.testing.assert_allclose(vals, expected, atol=1e-9 * np.abs(evals).max(), err_msg=which)
        residual = H @ np.asarray(vecs) - np.asarray(vecs) * np.asarray(vals)
        assert np.linalg.norm(residual, axis=0).max() < 1e-8 * np.abs(evals).max()


# ---------------------------------------------------------------------------------------------
# hutchinson_trace


def test_hutchinson_within_three_standard_errors_and_se_matches_theory():
    n, S = 30, 3000
    w = point(n)
    B = rng(4).normal(size=(n, n))
    A = (B + B.T) / 2 + 3 * np.eye(n)
    est, se = gt.hutchinson_trace(operator(A, w), w, key=jax.random.key(4), num_samples=S)
    assert abs(float(est) - np.trace(A)) <= 3 * float(se)
    theory = np.sqrt(2 * (np.sum(A**2) - np.sum(np.diag(A) ** 2)) / S)  # Rademacher variance
    np.testing.assert_allclose(float(se), theory, rtol=0.1)
    # a diagonal matrix is estimated exactly by Rademacher probes (z_i^2 = 1)
    d = np.linspace(-1.0, 4.0, n)
    est, se = gt.hutchinson_trace(operator(np.diag(d), w), w, key=jax.random.key(5), num_samples=10)
    np.testing.assert_allclose(float(est), d.sum(), rtol=1e-12)
    assert float(se) < 1e-12


# ---------------------------------------------------------------------------------------------
# slq_density


def test_slq_density_normalized_mean_and_mass_at_the_eigenvalues():
    n = 200
    w = point(n)
    r = rng(5)
    eigs = np.concatenate([r.uniform(0.9, 1.1, 100), r.uniform(4.9, 5.1, 50), r.uniform(9.9, 10.1, 50)])
    A = prescribed(6, eigs)
    P = 16
    t, phi = gt.slq_density(operator(A, w), w, key=jax.random.key(6), num_probes=P, num_iters=30)
    t, phi = np.asarray(t), np.asarray(phi)
    assert np.all(phi >= 0) and t.shape == phi.shape
    assert t[0] < eigs.min() and t[-1] > eigs.max()
    np.testing.assert_allclose(np.trapezoid(phi, t), 1.0, atol=1e-6)
    # the mean is a Hutchinson estimate of trace / n, with Rademacher probes normalized to 1
    se = np.sqrt(2 * (np.sum(A**2) - np.sum(np.diag(A) ** 2))) / n / np.sqrt(P)
    assert abs(np.trapezoid(t * phi, t) - np.trace(A) / n) <= 4 * se
    # the CDF matches the eigenvalue CDF in the gaps: 1/2 below 3, 3/4 below 7.5
    cdf = np.concatenate([[0.0], np.cumsum((phi[1:] + phi[:-1]) / 2 * np.diff(t))])
    for gap, frac in [(3.0, 0.5), (7.5, 0.75)]:
        np.testing.assert_allclose(np.interp(gap, t, cdf), np.mean(eigs < gap), atol=0.08)
    # essentially no mass in the gaps
    gaps = ((t > 1.6) & (t < 4.4)) | ((t > 5.6) & (t < 9.4))
    assert np.trapezoid(np.where(gaps, phi, 0.0), t) < 1e-3


def test_slq_density_of_a_diagonal_matrix_in_closed_form():
    """diag(d), full Lanczos: nodes are the d_i and Rademacher weights are exactly 1/n."""
    n = 12
    w = point(n)
    d = np.linspace(-2.0, 6.0, n) ** 2 + np.arange(n) * 0.01  # distinct
    mvp = operator(np.diag(d), w)
    grid, sigma = jnp.linspace(-1.0, 40.0, 801), 0.3
    t, phi = gt.slq_density(mvp, w, key=jax.random.key(7), num_probes=2, num_iters=n, grid=grid, sigma=sigma)
    g = np.asarray(grid)[:, None]
    expected = np.mean(np.exp(-0.5 * ((g - d) / sigma) ** 2), axis=1) / (sigma * np.sqrt(2 * np.pi))
    np.testing.assert_allclose(np.asarray(t), np.asarray(grid))
    np.testing.assert_allclose(np.asarray(phi), expected, rtol=1e-8, atol=1e-12)
    # default grid and width: integrates to 1, mean exactly trace / n
    t, phi = gt.slq_density(mvp, w, key=jax.random.key(7), num_probes=2, num_iters=n)
    np.testing.assert_allclose(np.trapezoid(np.asarray(phi), np.asarray(t)), 1.0, atol=1e-6)
    np.testing.assert_allclose(np.trapezoid(np.asarray(t * phi), np.asarray(t)), d.mean(), rtol=1e-6)


def test_slq_density_with_given_probes():
    """A probe that is an eigenvector sees one eigenvalue: the density is one Gaussian there."""
    n = 10
    w = point(n)
    d = np.linspace(1.0, 10.0, n)
    mvp = operator(np.diag(d), w)
    grid, sigma = jnp.linspace(0.0, 11.0, 221), 0.2
    e3 = jnp.zeros(n).at[3].set(1.0)
    t, phi = gt.slq_density(mvp, w, key=jax.random.key(0), num_iters=5, grid=grid, sigma=sigma, probes=e3[None])
    expected = np.exp(-0.5 * ((np.asarray(grid) - d[3]) / sigma) ** 2) / (sigma * np.sqrt(2 * np.pi))
    np.testing.assert_allclose(np.asarray(phi), expected, rtol=1e-8, atol=1e-12)
    # two probes: the average of their two measures
    e7 = jnp.zeros(n).at[7].set(1.0)
    _, phi2 = gt.slq_density(mvp, w, key=jax.random.key(0), num_iters=5, grid=grid, sigma=sigma, probes=jnp.stack([e3, e7]))
    expected7 = np.exp(-0.5 * ((np.asarray(grid) - d[7]) / sigma) ** 2) / (sigma * np.sqrt(2 * np.pi))
    np.testing.assert_allclose(np.asarray(phi2), (expected + expected7) / 2, rtol=1e-8, atol=1e-12)
    with pytest.raises(ValueError, match="shape"):
        gt.slq_density(mvp, w, key=jax.random.key(0), probes=jnp.ones((2, n + 1)))
    with pytest.raises(ValueError, match="unit vector"):
        gt.slq_density(mvp, w, key=jax.random.key(0), probes=jnp.ones((2, n)))


# ---------------------------------------------------------------------------------------------
# numerical_rank


@pytest.mark.parametrize("m, n, r", [(10, 10, 3), (8, 12, 5), (15, 6, 6), (7, 7, 0)])
def test_numerical_rank_matches_matrix_rank(m, n, r):
    g = rng(10 * m + r)
    M = g.normal(size=(m, r)) @ g.normal(size=(r, n))
    assert gt.numerical_rank(M) == int(jnp.linalg.matrix_rank(jnp.asarray(M))) == r
    assert gt.numerical_rank(jnp.asarray(M, dtype=jnp.float32)) == r
    assert isinstance(gt.numerical_rank(M), int)


def test_numerical_rank_of_eigenvalues():
    assert gt.numerical_rank(np.array([3.0, -2.0, 1e-20, 0.0])) == 2  # |eigenvalues| count
    assert gt.numerical_rank(np.array([1.0, 1e-3, 1e-9]), rtol=1e-6) == 2
    assert gt.numerical_rank(np.array([1.0, 1e-3, 1e-9]), rtol=1e-2) == 1
    assert gt.numerical_rank(np.zeros(4)) == 0
    # a PSD Gauss-Newton-like matrix B B^T of rank 4: its eigenvalues give the same rank
    B = rng(11).normal(size=(12, 4))
    G = B @ B.T
    assert gt.numerical_rank(np.linalg.eigvalsh(G)) == gt.numerical_rank(G) == np.linalg.matrix_rank(G) == 4


# ---------------------------------------------------------------------------------------------
# bad inputs


def test_spectrum_bad_inputs():
    w = point(9)
    mvp = operator(np.eye(9), w)
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="num_iters must be an int between 1 and 9: expected.*got 10"):
        gt.lanczos(mvp, w, 10, key=key)
    with pytest.raises(ValueError, match="num_iters.*expected.*got 0"):
        gt.lanczos(mvp, w, 0, key=key)
    with pytest.raises(ValueError, match="k must be.*expected.*got 6"):
        gt.top_eigenpairs(mvp, w, 6, key=key, num_iters=5)
    with pytest.raises(ValueError, match="expected one of 'largest', 'smallest', 'magnitude', got 'top'"):
        gt.top_eigenpairs(mvp, w, 2, key=key, which="top")
    with pytest.raises(TypeError, match="key must be a JAX PRNG key.*expected.*got int"):
        gt.top_eigenpairs(mvp, w, 2, key=0)
    with pytest.raises(ValueError, match="(?s)mvp must map.*expected.*got"):
        gt.hutchinson_trace(lambda v: jnp.zeros(4), w, key=key)
    with pytest.raises(TypeError, match="mvp must be a callable"):
        gt.hutchinson_trace(np.eye(9), w, key=key)
    with pytest.raises(ValueError, match="num_samples.*expected.*got 1"):
        gt.hutchinson_trace(mvp, w, key=key, num_samples=1)
    with pytest.raises(ValueError, match="sigma must be > 0.*expected.*got"):
        gt.slq_density(mvp, w, key=key, sigma=-1.0)
    with pytest.raises(ValueError, match="grid must be a 1-D.*expected.*got"):
        gt.slq_density(mvp, w, key=key, grid=jnp.zeros((3, 3)))
    with pytest.raises(ValueError, match="expected a 2-D matrix or a non-empty 1-D.*got shape"):
        gt.numerical_rank(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="expected a 2-D matrix or a non-empty 1-D.*got shape"):
        gt.numerical_rank(np.zeros(0))
    with pytest.raises(ValueError, match="expected finite values, got NaN"):
        gt.numerical_rank(np.array([1.0, np.nan]))
    with pytest.raises(TypeError, match="expected concrete values, got a traced array"):
        jax.jit(gt.numerical_rank)(jnp.eye(2))
