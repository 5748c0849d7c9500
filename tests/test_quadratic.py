"""gradtools.quadratic against independent references: jax.grad / jax.hessian of the value,
jnp.linalg.eigh / eigvalsh, lstsq and pinv on the data, and plain Python loops of gradient descent."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtools as gt
from gradtools import quadratic as quad


def _random_quadratic(key, n, *, rank=None, b_in_range=True):
    """A random PSD quadratic (optionally low rank) with its dense pieces."""
    k1, k2, k3 = jax.random.split(key, 3)
    r = n if rank is None else rank
    G = jax.random.normal(k1, (n, r))
    A = G @ G.T / n
    b = jax.random.normal(k2, (n,))
    if b_in_range:
        b = A @ b
    return quad.Quadratic(A, b, jnp.asarray(0.7))


def _gd_loop(A, b, w0, lr, num_steps):
    """Brute-force gradient descent in NumPy float64, one step at a time."""
    A, b, w = np.asarray(A, np.float64), np.asarray(b, np.float64), np.array(w0, np.float64)
    out = [w.copy()]
    for _ in range(num_steps):
        w = w - lr * (A @ w + b)
        out.append(w.copy())
    return np.stack(out)


def _random_orthogonal(key, n):
    Q, R = jnp.linalg.qr(jax.random.normal(key, (n, n)))
    return Q * jnp.sign(jnp.diag(R))


# ------------------------------------------------------------------------------------------ basics


def test_from_regression_matches_mean_squared_error(key):
    data = gt.problems.make_linear_regression(key=key, num_examples=30, num_features=4)
    q = quad.from_regression(data.X, data.y)
    for i, w in enumerate(jax.random.normal(jax.random.key(1), (5, 4))):
        mse = 0.5 * jnp.mean((data.X @ w - data.y) ** 2)
        np.testing.assert_allclose(quad.value(q, w), mse, rtol=1e-12, err_msg=f"point {i}")
    np.testing.assert_allclose(q.A, jax.hessian(lambda w: 0.5 * jnp.mean((data.X @ w - data.y) ** 2))(jnp.zeros(4)),
                               rtol=1e-12)


def test_value_batched_matches_loop(key):
    q = _random_quadratic(key, 3)
    W = jax.random.normal(jax.random.key(2), (4, 5, 3))
    ref = np.array([[0.5 * w @ q.A @ w + q.b @ w + q.c for w in row] for row in W])
    np.testing.assert_allclose(quad.value(q, W), ref, rtol=1e-12)


def test_gradient_matches_autodiff(key):
    q = _random_quadratic(key, 5, b_in_range=False)
    w = jax.random.normal(jax.random.key(3), (5,))
    np.testing.assert_allclose(quad.gradient(q, w), jax.grad(lambda w: quad.value(q, w))(w), rtol=1e-12)
    np.testing.assert_allclose(jax.hessian(lambda w: quad.value(q, w))(w), q.A, rtol=1e-12, atol=1e-14)


def test_minimizer_regression_matches_lstsq_full_rank(key):
    data = gt.problems.make_linear_regression(key=key, num_examples=40, num_features=3)
    w_star = quad.minimizer(quad.from_regression(data.X, data.y))
    np.testing.assert_allclose(w_star, np.linalg.lstsq(np.asarray(data.X), np.asarray(data.y), rcond=None)[0],
                               rtol=1e-9)


def test_minimizer_underdetermined_is_min_norm(key):
    X = jax.random.normal(key, (4, 10))
    y = jax.random.normal(jax.random.key(5), (4,))
    w_star = quad.minimizer(quad.from_regression(X, y))
    np.testing.assert_allclose(w_star, np.linalg.pinv(np.asarray(X)) @ np.asarray(y), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(X @ w_star, y, rtol=1e-9)  # interpolates


def test_eigenbasis_against_eigh(key):
    q = _random_quadratic(key, 6)
    e = quad.eigenbasis(q)
    np.testing.assert_allclose(e.eigvals, np.sort(np.linalg.eigvalsh(np.asarray(q.A)))[::-1], rtol=1e-10, atol=1e-13)
    assert np.all(np.diff(np.asarray(e.eigvals)) <= 0)
    np.testing.assert_allclose(e.Q.T @ e.Q, np.eye(6), atol=1e-12)
    np.testing.assert_allclose((e.Q * e.eigvals) @ e.Q.T, q.A, atol=1e-12)
    np.testing.assert_allclose(e.b_tilde, e.Q.T @ q.b, atol=1e-12)


def test_from_spectrum_builds_what_it_says(key):
    Q = _random_orthogonal(key, 4)
    a = jnp.array([5.0, 2.0, 0.5, 0.0])
    w_star = jnp.array([1.0, -2.0, 0.5, 3.0])
    q = quad.from_spectrum(a, Q, w_star)
    np.testing.assert_allclose(np.linalg.eigvalsh(np.asarray(q.A))[::-1], a, atol=1e-12)
    np.testing.assert_allclose(quad.value(q, w_star), 0.0, atol=1e-12)
    np.testing.assert_allclose(quad.gradient(q, w_star), 0.0, atol=1e-12)


# --------------------------------------------------------------------------------- GD dynamics


@pytest.mark.parametrize("n, rank", [(2, None), (5, None), (6, 3)])
def test_closed_form_matches_simulation_and_loop(key, n, rank):
    q = _random_quadratic(key, n, rank=rank)
    w0 = jax.random.normal(jax.random.key(7), (n,))
    lr = 1.5 / float(np.linalg.eigvalsh(np.asarray(q.A)).max())
    ref = _gd_loop(q.A, q.b, w0, lr, 60)
    np.testing.assert_allclose(quad.gd_trajectory(q, w0, lr, 60), ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(quad.gd_closed_form(q, w0, lr, 60), ref, rtol=1e-8, atol=1e-10)


def test_closed_form_three_cases_of_a():
    # a = (1, 0, 0) with b_tilde = (-1, 0.3, 0): converge, drift, stay
    q = quad.Quadratic(jnp.diag(jnp.array([1.0, 0.0, 0.0])), jnp.array([-1.0, 0.3, 0.0]), jnp.asarray(0.0))
    w0, lr, T = jnp.array([4.0, 1.0, -2.0]), 0.3, 25
    ws = quad.gd_closed_form(q, w0, lr, T)
    np.testing.assert_allclose(ws, _gd_loop(q.A, q.b, w0, lr, T), rtol=1e-12, atol=1e-12)
    t = np.arange(T + 1)
    np.testing.assert_allclose(ws[:, 0], 1.0 + (1 - lr) ** t * 3.0, rtol=1e-12)  # geometric
    np.testing.assert_allclose(ws[:, 1], 1.0 - lr * 0.3 * t, rtol=1e-12)  # linear drift
    np.testing.assert_allclose(ws[:, 2], -2.0, rtol=0)  # never moves


def test_closed_form_diverges_above_threshold(key):
    q = _random_quadratic(key, 3)
    thr = float(quad.stability_threshold(q))
    w0 = jnp.ones(3)
    ref = _gd_loop(q.A, q.b, w0, 1.05 * thr, 200)
    np.testing.assert_allclose(quad.gd_closed_form(q, w0, 1.05 * thr, 200), ref, rtol=1e-6)
    assert np.linalg.norm(ref[-1]) > 1e3 * np.linalg.norm(ref[0])


def test_closed_form_and_trajectory_jit():
    q = quad.from_spectrum(jnp.array([2.0, 0.5]), w_star=jnp.array([1.0, 1.0]))
    f = jax.jit(quad.gd_closed_form, static_argnums=3)
    g = jax.jit(quad.gd_trajectory, static_argnums=3)
    np.testing.assert_allclose(f(q, jnp.zeros(2), 0.3, 10), g(q, jnp.zeros(2), 0.3, 10), rtol=1e-12)


def test_zero_steps_returns_start():
    q = quad.from_spectrum(jnp.array([1.0]))
    assert quad.gd_trajectory(q, jnp.array([3.0]), 0.1, 0).tolist() == [[3.0]]
    assert quad.gd_closed_form(q, jnp.array([3.0]), 0.1, 0).tolist() == [[3.0]]


# --------------------------------------------------------------------------- stability and speed


def test_threshold_condition_optimal_lr_against_eigvalsh(key):
    q = _random_quadratic(key, 5)
    lam = np.linalg.eigvalsh(np.asarray(q.A))
    np.testing.assert_allclose(quad.stability_threshold(q), 2 / lam.max(), rtol=1e-10)
    np.testing.assert_allclose(quad.condition_number(q), lam.max() / lam.min(), rtol=1e-8)
    np.testing.assert_allclose(quad.optimal_learning_rate(q), 2 / (lam.max() + lam.min()), rtol=1e-10)


def test_threshold_separates_convergence_from_divergence(key):
    q = quad.from_spectrum(jnp.array([3.0, 1.0, 0.5, 0.2]), _random_orthogonal(key, 4), jnp.arange(4.0))
    thr = float(quad.stability_threshold(q))
    w0 = jnp.ones(4)
    w_star = quad.minimizer(q)
    below = _gd_loop(q.A, q.b, w0, 0.99 * thr, 1000)
    above = _gd_loop(q.A, q.b, w0, 1.01 * thr, 1000)
    assert np.linalg.norm(below[-1] - w_star) < 1e-6 * np.linalg.norm(below[0] - w_star)
    assert np.linalg.norm(above[-1] - w_star) > 1e3 * np.linalg.norm(above[0] - w_star)


def test_condition_number_singular_and_nonzero_only(key):
    q = _random_quadratic(key, 6, rank=3)
    assert np.isinf(float(quad.condition_number(q)))
    lam = np.linalg.eigvalsh(np.asarray(q.A))
    nz = lam[lam > 1e-10]
    np.testing.assert_allclose(quad.condition_number(q, nonzero_only=True), nz.max() / nz.min(), rtol=1e-8)
    np.testing.assert_allclose(quad.optimal_learning_rate(q, nonzero_only=True), 2 / (nz.max() + nz.min()),
                               rtol=1e-8)


def test_contraction_factor_and_optimal_rate_against_grid(key):
    q = _random_quadratic(key, 4)
    lam = np.linalg.eigvalsh(np.asarray(q.A))
    grid = np.linspace(0.01, 2.2 / lam.max(), 2001)
    rho = np.array([np.max(np.abs(1 - a * lam)) for a in grid])
    np.testing.assert_allclose([quad.contraction_factor(q, a) for a in grid[::200]], rho[::200], rtol=1e-10)
    best = grid[np.argmin(rho)]
    np.testing.assert_allclose(quad.optimal_learning_rate(q), best, rtol=2e-3)
    kappa = lam.max() / lam.min()
    np.testing.assert_allclose(quad.contraction_factor(q, quad.optimal_learning_rate(q)),
                               (kappa - 1) / (kappa + 1), rtol=1e-10)


def test_predicted_steps_is_exact_along_the_slowest_direction():
    for kappa in [3.0, 10.0, 100.0]:
        q = quad.from_spectrum(jnp.array([1.0, 1.0 / kappa]), w_star=jnp.array([0.5, -1.0]))
        w0 = jnp.array([0.5, 2.0])  # error along the slow eigenvector only
        lr, tol = 1.0, 1e-6
        ws = _gd_loop(q.A, q.b, w0, lr, 10_000)
        err = np.linalg.norm(ws - np.array([0.5, -1.0]), axis=1)
        first = int(np.argmax(err <= tol * err[0]))
        assert float(quad.predicted_steps(quad.contraction_factor(q, lr), tol)) == first
        assert int(quad.steps_to_tolerance(q, w0, lr, tol)) == first


def test_predicted_steps_bounds_measured_steps(key):
    q = _random_quadratic(key, 5)
    w0 = jax.random.normal(jax.random.key(9), (5,))
    for lr in [0.5 * quad.stability_threshold(q), quad.optimal_learning_rate(q)]:
        measured = int(quad.steps_to_tolerance(q, w0, lr, 1e-8))
        assert 0 < measured <= float(quad.predicted_steps(quad.contraction_factor(q, lr), 1e-8))


def test_predicted_steps_edge_values():
    assert np.isinf(float(quad.predicted_steps(1.0, 1e-3)))
    assert float(quad.predicted_steps(0.0, 1e-3)) == 0.0
    assert float(quad.predicted_steps(0.5, 0.25)) == 2.0  # 0.5**2 == 0.25 exactly counts


def test_steps_to_tolerance_gives_up():
    q = quad.from_spectrum(jnp.array([1.0, 1e-4]))
    assert int(quad.steps_to_tolerance(q, jnp.ones(2), 1.0, 1e-8, max_steps=100)) == -1
    assert int(quad.steps_to_tolerance(q, jnp.ones(2), 2.5, 1e-3, max_steps=100)) == -1  # diverges


def test_steps_to_tolerance_singular_keeps_null_component(key):
    X = jax.random.normal(key, (3, 6))
    y = jax.random.normal(jax.random.key(4), (3,))
    q = quad.from_regression(X, y)
    w0 = jax.random.normal(jax.random.key(6), (6,))
    lr = float(quad.optimal_learning_rate(q, nonzero_only=True))
    steps = int(quad.steps_to_tolerance(q, w0, lr, 1e-8))
    assert steps > 0
    ws = _gd_loop(q.A, q.b, w0, lr, steps + 5)
    # the limit: min-norm solution + the start's null-space part
    P_null = np.eye(6) - np.linalg.pinv(np.asarray(X)) @ np.asarray(X)
    w_inf = np.linalg.pinv(np.asarray(X)) @ np.asarray(y) + P_null @ np.asarray(w0)
    assert np.linalg.norm(ws[steps] - w_inf) <= 1e-8 * np.linalg.norm(ws[0] - w_inf) * (1 + 1e-6)
    assert np.linalg.norm(ws[steps - 1] - w_inf) > 1e-8 * np.linalg.norm(ws[0] - w_inf) * (1 - 1e-6)


# ------------------------------------------------------------------------------------- invariance


def test_reparameterize_matches_composition(key):
    q = _random_quadratic(key, 3, b_in_range=False)
    M = jax.random.normal(jax.random.key(11), (3, 3))
    s = jax.random.normal(jax.random.key(12), (3,))
    q2 = quad.reparameterize(q, M, s)
    for u in jax.random.normal(jax.random.key(13), (4, 3)):
        np.testing.assert_allclose(quad.value(q2, u), quad.value(q, M @ u + s), rtol=1e-11)


def test_gd_is_translation_and_rotation_invariant(key):
    q = _random_quadratic(key, 4)
    w0 = jax.random.normal(jax.random.key(14), (4,))
    R = _random_orthogonal(jax.random.key(15), 4)
    s = jax.random.normal(jax.random.key(16), (4,))
    lr = 0.9 * float(quad.stability_threshold(q))
    ws = quad.gd_trajectory(q, w0, lr, 40)
    us = quad.gd_trajectory(quad.reparameterize(q, R, s), R.T @ (w0 - s), lr, 40)
    np.testing.assert_allclose(us @ R.T + s, ws, rtol=1e-10, atol=1e-12)


def test_gd_is_not_scale_invariant(key):
    data = gt.problems.make_linear_regression(key=key, num_examples=50, num_features=2)
    D = jnp.diag(jnp.array([1.0, 5.0]))
    q = quad.from_regression(data.X, data.y)
    q_scaled = quad.from_regression(data.X @ D, data.y)
    np.testing.assert_allclose(q_scaled.A, quad.reparameterize(q, D).A, rtol=1e-12)
    lr = 0.5 * float(quad.stability_threshold(q_scaled))
    ws = quad.gd_trajectory(q, jnp.zeros(2), lr, 10)
    us = quad.gd_trajectory(q_scaled, jnp.zeros(2), lr, 10)
    gap = np.abs(np.asarray(data.X @ ws[5]) - np.asarray((data.X @ D) @ us[5])).max()
    assert gap > 1e-3  # different predictions after 5 steps
    assert float(quad.stability_threshold(q_scaled)) < 0.2 * float(quad.stability_threshold(q))


# ---------------------------------------------------------------------------------------- errors


def test_errors_say_expected_and_got():
    A = jnp.eye(2)
    with pytest.raises(ValueError, match="symmetric"):
        quad.value(quad.Quadratic(jnp.array([[1.0, 2.0], [0.0, 1.0]]), jnp.zeros(2), jnp.asarray(0.0)), jnp.zeros(2))
    with pytest.raises(ValueError, match=r"b must have shape \(2,\)"):
        quad.minimizer(quad.Quadratic(A, jnp.zeros(3), jnp.asarray(0.0)))
    with pytest.raises(ValueError, match="square"):
        quad.eigenbasis(quad.Quadratic(jnp.zeros((2, 3)), jnp.zeros(2), jnp.asarray(0.0)))
    with pytest.raises(ValueError, match="c must be a scalar"):
        quad.eigenbasis(quad.Quadratic(A, jnp.zeros(2), jnp.zeros(2)))
    with pytest.raises(TypeError, match="Quadratic"):
        quad.value((A, jnp.zeros(2)), jnp.zeros(2))
    with pytest.raises(TypeError, match="floating"):
        quad.eigenbasis(quad.Quadratic(jnp.eye(2, dtype=int), jnp.zeros(2), jnp.asarray(0.0)))
    q = quad.Quadratic(A, jnp.zeros(2), jnp.asarray(0.0))
    with pytest.raises(ValueError, match=r"w0 must be a flat vector of shape \(2,\)"):
        quad.gd_trajectory(q, jnp.zeros(3), 0.1, 5)
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 2\)"):
        quad.value(q, jnp.zeros(3))
    with pytest.raises(ValueError, match="lr must be positive"):
        quad.gd_closed_form(q, jnp.zeros(2), -0.1, 5)
    with pytest.raises(TypeError, match="num_steps must be a Python int"):
        quad.gd_trajectory(q, jnp.zeros(2), 0.1, 5.0)
    with pytest.raises(ValueError, match="num_steps must be >= 0"):
        quad.gd_trajectory(q, jnp.zeros(2), 0.1, -1)
    with pytest.raises(ValueError, match="tol must be in"):
        quad.steps_to_tolerance(q, jnp.ones(2), 0.1, 2.0)
    with pytest.raises(ValueError, match="tol must be in"):
        quad.predicted_steps(0.5, 0.0)
    with pytest.raises(ValueError, match="orthogonal"):
        quad.from_spectrum(jnp.ones(2), 2 * jnp.eye(2))
    with pytest.raises(ValueError, match="one target per row"):
        quad.from_regression(jnp.ones((3, 2)), jnp.ones((3, 1)))
    with pytest.raises(ValueError, match=r"M must have shape \(2, 2\)"):
        quad.reparameterize(q, jnp.eye(3))
