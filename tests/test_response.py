"""gradtools.response against closed forms (ridge regression), dense solves and finite
differences of re-fitted solutions."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import flat
from jax.flatten_util import ravel_pytree

import gradtools as gt
from gradtools import response as R


# ---------------------------------------------------------------- problems


def _ridge(key, n=30, d=4):
    kx, ky = jax.random.split(key)
    X = jax.random.normal(kx, (n, d))
    y = jax.random.normal(ky, (n,))
    return X, y


def _ridge_J(X):
    def J(w, theta):
        lam, y = theta["lam"], theta["y"]
        return 0.5 * jnp.sum((X @ w - y) ** 2) + 0.5 * lam * jnp.sum(w**2)

    return J


def _ridge_closed_form(X, y, lam):
    A = X.T @ X + lam * jnp.eye(X.shape[1])
    return jnp.linalg.solve(A, X.T @ y), A


def _mlp_problem(key, n=12):
    """A tiny tanh regression net with weight decay, fitted to a strict local minimum."""
    init, apply = gt.problems.make_mlp((2, 3, 1), activation="tanh")
    kx, kt, kw = jax.random.split(key, 3)
    x = jax.random.normal(kx, (n, 2))
    t = jnp.sin(x[:, 0]) + 0.3 * jax.random.normal(kt, (n,))
    w0 = init(kw)

    def J(w, targets):
        pred = apply(w, x)[:, 0]
        return 0.5 * jnp.mean((pred - targets) ** 2) + 0.5 * 3e-2 * jnp.sum(flat(w) ** 2)

    # gradient descent to get near a minimum, then Newton to polish it
    g = jax.grad(J)
    w = jax.lax.fori_loop(0, 2000, lambda i, w: jax.tree_util.tree_map(lambda a, b: a - 0.5 * b, w, g(w, t)), w0)
    w, info = R.fit_newton(J, w, t, max_steps=50, tol=1e-12)
    assert bool(info.converged)
    wf, unravel = ravel_pytree(w)
    eigs = jnp.linalg.eigvalsh(jax.hessian(lambda v: J(unravel(v), t))(wf))
    assert float(eigs.min()) > 1e-3, "test precondition: a strict local minimum"
    return J, w, t, apply, x


# ---------------------------------------------------------------- mixed_vp


def test_mixed_vp_matches_dense_jacobian_of_gradient(key):
    k1, k2, k3 = jax.random.split(key, 3)
    w = {"a": jax.random.normal(k1, (3,)), "b": jax.random.normal(k2, (2, 2))}
    theta = {"s": jnp.asarray(0.7), "t": jax.random.normal(k3, (2,))}

    def J(w, th):
        return jnp.sum(jnp.sin(w["a"]) * th["s"] ** 2) + jnp.sum(w["b"] @ th["t"] * w["a"][:2]) + th["s"] * jnp.sum(w["b"] ** 3)

    u = {"s": jnp.asarray(-1.3), "t": jnp.array([0.4, 2.0])}
    wf, unravel_w = ravel_pytree(w)
    tf, unravel_t = ravel_pytree(theta)
    M = jax.jacfwd(jax.grad(lambda a, b: J(unravel_w(a), unravel_t(b)), argnums=0), argnums=1)(wf, tf)
    np.testing.assert_allclose(flat(R.mixed_vp(J, w, theta, u)), M @ flat(u), rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------- ridge closed form


def test_ridge_response_to_lambda_matches_closed_form(key):
    X, y = _ridge(key)
    lam = 0.8
    w_star, A = _ridge_closed_form(X, y, lam)
    J = _ridge_J(X)
    theta = {"lam": jnp.asarray(lam), "y": y}
    u = {"lam": jnp.asarray(1.0), "y": jnp.zeros_like(y)}
    # d/dlam (A^{-1} X^T y) = -A^{-1} w*
    expected = -jnp.linalg.solve(A, w_star)
    got = R.response_jacobian_vp(J, w_star, theta, u)
    np.testing.assert_allclose(got, expected, rtol=1e-8, atol=1e-10)
    dense = R.response_jacobian(J, w_star, theta)
    # ravel_pytree order of theta: "lam" (1 entry) then "y"
    np.testing.assert_allclose(dense[:, 0], expected, rtol=1e-10, atol=1e-12)


def test_ridge_response_to_targets_matches_closed_form(key):
    X, y = _ridge(key)
    lam = 0.3
    w_star, A = _ridge_closed_form(X, y, lam)
    J = _ridge_J(X)
    theta = {"lam": jnp.asarray(lam), "y": y}
    dense = R.response_jacobian(J, w_star, theta)
    assert dense.shape == (X.shape[1], 1 + X.shape[0])
    # dw*/dy = A^{-1} X^T
    np.testing.assert_allclose(dense[:, 1:], jnp.linalg.solve(A, X.T), rtol=1e-9, atol=1e-11)
    # one matrix-free product with e_k on the targets
    k = 5
    u = {"lam": jnp.asarray(0.0), "y": jnp.zeros_like(y).at[k].set(1.0)}
    np.testing.assert_allclose(R.response_jacobian_vp(J, w_star, theta, u), jnp.linalg.solve(A, X[k]), rtol=1e-8, atol=1e-10)


def test_ridge_response_matches_finite_differences_of_closed_form(key):
    X, y = _ridge(key)
    lam, h = 0.5, 1e-5
    J = _ridge_J(X)
    w_star, _ = _ridge_closed_form(X, y, lam)
    fd = (_ridge_closed_form(X, y, lam + h)[0] - _ridge_closed_form(X, y, lam - h)[0]) / (2 * h)
    got = R.response_jacobian_vp(J, w_star, {"lam": jnp.asarray(lam), "y": y}, {"lam": jnp.asarray(1.0), "y": 0 * y})
    np.testing.assert_allclose(got, fd, rtol=1e-6, atol=1e-9)


def test_gauss_newton_equals_hessian_for_linear_least_squares(key):
    X, y = _ridge(key)
    lam = 0.4
    w_star, _ = _ridge_closed_form(X, y, lam)
    theta = jnp.asarray(lam)

    def J(w, lam):
        return 0.5 * jnp.sum((X @ w - y) ** 2) + 0.5 * lam * jnp.sum(w**2)

    # J = L(f(w)) with f(w) = (X w, sqrt(lam) w) and L(z) = 0.5 ||z - (y, 0)||^2
    f = lambda w: jnp.concatenate([X @ w, jnp.sqrt(lam) * w])  # noqa: E731
    loss = lambda z: 0.5 * jnp.sum((z - jnp.concatenate([y, jnp.zeros_like(w_star)])) ** 2)  # noqa: E731
    gn = gt.gauss_newton_operator(f, loss, w_star)
    a = R.response_jacobian_vp(J, w_star, theta, jnp.asarray(1.0), curvature=gn)
    b = R.response_jacobian_vp(J, w_star, theta, jnp.asarray(1.0), curvature="hessian")
    np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-10)


# ---------------------------------------------------------------- custom curvature and damping


def test_custom_curvature_and_damping_match_dense_solve(key):
    X, y = _ridge(key, d=5)
    J = _ridge_J(X)
    theta = {"lam": jnp.asarray(0.2), "y": y}
    w_star, _ = _ridge_closed_form(X, y, 0.2)
    u = {"lam": jnp.asarray(0.5), "y": jnp.linspace(-1, 1, y.shape[0])}
    M_u = jax.jvp(lambda th: jax.grad(J)(w_star, th), (theta,), (u,))[1]
    B = jax.random.normal(jax.random.fold_in(key, 1), (5, 5))
    A = B @ B.T + jnp.eye(5)  # an arbitrary SPD stand-in for the curvature
    delta = 0.7
    got = R.response_jacobian_vp(J, w_star, theta, u, curvature=lambda v: A @ v, damping=delta)
    np.testing.assert_allclose(got, -jnp.linalg.solve(A + delta * jnp.eye(5), M_u), rtol=1e-8, atol=1e-10)

    H = jax.hessian(J)(w_star, theta)
    Rd = R.response_jacobian(J, w_star, theta, damping=delta)
    np.testing.assert_allclose(Rd @ flat(u), -jnp.linalg.solve(H + delta * jnp.eye(5), M_u), rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(R.response_jacobian_vp(J, w_star, theta, u, damping=delta), Rd @ flat(u), rtol=1e-8, atol=1e-10)


def test_response_jacobian_vp_is_jittable(key):
    X, y = _ridge(key)
    J = _ridge_J(X)
    w_star, A = _ridge_closed_form(X, y, 1.0)

    @jax.jit
    def go(lam, damping):
        th = {"lam": lam, "y": y}
        return R.response_jacobian_vp(J, w_star, th, {"lam": jnp.asarray(1.0), "y": 0 * y}, damping=damping)

    np.testing.assert_allclose(go(jnp.asarray(1.0), jnp.asarray(0.0)), -jnp.linalg.solve(A, w_star), rtol=1e-8)


def test_response_jacobian_vp_reports_solver_info(key):
    X, y = _ridge(key, d=5)
    J = _ridge_J(X)
    theta = {"lam": jnp.asarray(0.3), "y": y}
    w_star, A = _ridge_closed_form(X, y, 0.3)
    u = {"lam": jnp.asarray(1.0), "y": 0 * y}
    dw, info = R.response_jacobian_vp(J, w_star, theta, u, return_info=True)
    np.testing.assert_allclose(dw, -jnp.linalg.solve(A, w_star), rtol=1e-8)
    # the same solution as without info; CG on a 5-dim SPD system needs at most 5 steps (+ round-off)
    np.testing.assert_allclose(dw, R.response_jacobian_vp(J, w_star, theta, u), rtol=1e-12)
    assert bool(info.converged) and 1 <= int(info.iterations) <= 7
    # the reported residual is ||b - A x|| / ||b|| with b = -(d/d lam) grad_w J = -w_star
    b = -w_star
    np.testing.assert_allclose(info.residual_norm, jnp.linalg.norm(b - A @ dw) / jnp.linalg.norm(b), rtol=1e-6, atol=1e-14)
    assert float(info.residual_norm) <= 1e-10

    # a multiple of the identity: CG converges in exactly one step
    c = 2.5
    dw1, info1 = R.response_jacobian_vp(J, w_star, theta, u, curvature=lambda v: c * v, return_info=True)
    np.testing.assert_allclose(dw1, b / c, rtol=1e-12)
    assert int(info1.iterations) == 1 and bool(info1.converged)

    # too few iterations: the info says so
    _, info2 = R.response_jacobian_vp(J, w_star, theta, u, maxiter=1, return_info=True)
    assert int(info2.iterations) == 1 and not bool(info2.converged) and float(info2.residual_norm) > 1e-10


def test_response_jacobian_vp_info_under_jit(key):
    X, y = _ridge(key)
    J = _ridge_J(X)
    w_star, A = _ridge_closed_form(X, y, 1.0)
    go = jax.jit(lambda lam: R.response_jacobian_vp(J, w_star, {"lam": lam, "y": y},
                                                    {"lam": jnp.asarray(1.0), "y": 0 * y}, return_info=True))
    dw, info = go(jnp.asarray(1.0))
    np.testing.assert_allclose(dw, -jnp.linalg.solve(A, w_star), rtol=1e-8)
    assert bool(info.converged)


def test_rejects_non_bool_return_info(ridge_case):
    J, w, theta = ridge_case
    with pytest.raises(TypeError, match="return_info must be a bool"):
        R.response_jacobian_vp(J, w, theta, theta, return_info="yes")


# ---------------------------------------------------------------- a nonlinear model, re-fitted


@pytest.fixture(scope="module")
def mlp():
    return _mlp_problem(jax.random.key(0))


def test_mlp_response_matches_refitting_finite_differences(mlp):
    J, w, t, apply, x = mlp
    k, h = 3, 1e-4
    e_k = jnp.zeros_like(t).at[k].set(1.0)
    w_plus, i1 = R.fit_newton(J, w, t + h * e_k, tol=1e-13)
    w_minus, i2 = R.fit_newton(J, w, t - h * e_k, tol=1e-13)
    assert bool(i1.converged) and bool(i2.converged)
    fd = (flat(w_plus) - flat(w_minus)) / (2 * h)
    got = flat(R.response_jacobian_vp(J, w, t, e_k))
    np.testing.assert_allclose(got, fd, rtol=1e-5, atol=1e-8)
    dense = R.response_jacobian(J, w, t)
    np.testing.assert_allclose(dense[:, k], fd, rtol=1e-5, atol=1e-8)


def test_mlp_gauss_newton_response_matches_dense_solve_and_differs_from_hessian(mlp):
    J, w, t, apply, x = mlp
    e0 = jnp.zeros_like(t).at[0].set(1.0)
    f = lambda v: apply(v, x)[:, 0]  # noqa: E731
    loss = lambda z: 0.5 * jnp.mean((z - t) ** 2)  # noqa: E731
    gn_data = gt.gauss_newton_operator(f, loss, w)
    gn = lambda v: jax.tree_util.tree_map(lambda a, b: a + 3e-2 * b, gn_data(v), v)  # noqa: E731  (+ weight decay)
    a = flat(R.response_jacobian_vp(J, w, t, e0, curvature=gn))
    b = flat(R.response_jacobian_vp(J, w, t, e0))
    # reference: the dense GN solve
    G = gt.dense(gn, w)
    M = jax.jacfwd(jax.grad(lambda v, tt: J(v, tt)), argnums=1)(w, t)
    Mf = jnp.stack([flat(jax.tree_util.tree_map(lambda leaf: leaf[..., i], M)) for i in range(t.shape[0])], 1)
    np.testing.assert_allclose(a, -jnp.linalg.solve(G, Mf[:, 0]), rtol=1e-6, atol=1e-9)
    assert float(jnp.linalg.norm(a - b)) > 1e-8  # residuals are not zero: GN is not the Hessian


# ---------------------------------------------------------------- fit_newton


def test_fit_newton_reaches_the_ridge_solution(key):
    X, y = _ridge(key)
    J = _ridge_J(X)
    theta = {"lam": jnp.asarray(0.1), "y": y}
    w, info = R.fit_newton(J, jnp.zeros(X.shape[1]), theta)
    np.testing.assert_allclose(w, _ridge_closed_form(X, y, 0.1)[0], rtol=1e-10)
    assert int(info.steps) <= 2 and bool(info.converged)  # a quadratic: one Newton step
    # damped: still converges, in more steps
    w2, info2 = R.fit_newton(J, jnp.zeros(X.shape[1]), theta, damping=1.0, max_steps=200)
    assert bool(info2.converged) and int(info2.steps) > int(info.steps)
    np.testing.assert_allclose(w2, w, rtol=1e-8)


def test_fit_newton_logistic_regression_gradient_is_zero(key):
    kx, ky = jax.random.split(key)
    X = jax.random.normal(kx, (40, 3))
    lab = (jax.random.uniform(ky, (40,)) < 0.5).astype(float)

    def J(w, lam):
        z = X @ w
        return jnp.mean(jnp.logaddexp(0.0, z) - lab * z) + 0.5 * lam * jnp.sum(w**2)

    w, info = R.fit_newton(J, jnp.zeros(3), jnp.asarray(0.05))
    assert bool(info.converged)
    assert float(jnp.linalg.norm(jax.grad(J)(w, 0.05))) < 1e-9
    # the response to lambda against a finite difference of re-fits
    h = 1e-5
    fd = (R.fit_newton(J, w, jnp.asarray(0.05 + h))[0] - R.fit_newton(J, w, jnp.asarray(0.05 - h))[0]) / (2 * h)
    np.testing.assert_allclose(R.response_jacobian_vp(J, w, jnp.asarray(0.05), jnp.asarray(1.0)), fd, rtol=1e-5)


def test_fit_newton_is_jittable(key):
    X, y = _ridge(key)
    J = _ridge_J(X)
    go = jax.jit(lambda lam: R.fit_newton(J, jnp.zeros(X.shape[1]), {"lam": lam, "y": y})[0])
    np.testing.assert_allclose(go(jnp.asarray(2.0)), _ridge_closed_form(X, y, 2.0)[0], rtol=1e-10)


# ---------------------------------------------------------------- bad input


@pytest.fixture
def ridge_case(key):
    X, y = _ridge(key)
    return _ridge_J(X), _ridge_closed_form(X, y, 1.0)[0], {"lam": jnp.asarray(1.0), "y": y}


def test_rejects_non_callable_objective(ridge_case):
    _, w, theta = ridge_case
    with pytest.raises(TypeError, match="J must be a callable"):
        R.response_jacobian_vp("not a function", w, theta, theta)


def test_rejects_vector_valued_objective(ridge_case):
    _, w, theta = ridge_case
    with pytest.raises(TypeError, match="must return a scalar"):
        R.response_jacobian(lambda w, th: w * th["lam"], w, theta)


def test_rejects_direction_with_wrong_structure(ridge_case):
    J, w, theta = ridge_case
    with pytest.raises(ValueError, match="u must have the same pytree structure as theta"):
        R.response_jacobian_vp(J, w, theta, jnp.asarray(1.0))
    with pytest.raises(ValueError, match="shape"):
        R.mixed_vp(J, w, theta, {"lam": jnp.asarray(1.0), "y": jnp.zeros(3)})


def test_rejects_unknown_curvature(ridge_case):
    J, w, theta = ridge_case
    with pytest.raises(ValueError, match="gauss_newton_operator"):
        R.response_jacobian_vp(J, w, theta, theta, curvature="gauss_newton")
    with pytest.raises(TypeError, match="curvature must be a callable"):
        R.response_jacobian_vp(J, w, theta, theta, curvature=3.0)


def test_rejects_curvature_with_wrong_output(ridge_case):
    J, w, theta = ridge_case
    with pytest.raises(ValueError, match="curvature"):
        R.response_jacobian_vp(J, w, theta, theta, curvature=lambda v: jnp.concatenate([v, v]))


def test_rejects_negative_damping_and_bad_counts(ridge_case):
    J, w, theta = ridge_case
    with pytest.raises(ValueError, match="damping must be >= 0"):
        R.response_jacobian_vp(J, w, theta, theta, damping=-1.0)
    with pytest.raises(ValueError, match="damping must be >= 0"):
        R.response_jacobian(J, w, theta, damping=-1.0)
    with pytest.raises(ValueError, match="maxiter must be a positive int"):
        R.response_jacobian_vp(J, w, theta, theta, maxiter=0)
    with pytest.raises(ValueError, match="max_steps must be a positive int"):
        R.fit_newton(J, w, theta, max_steps=0)
    with pytest.raises(ValueError, match="damping must be >= 0"):
        R.fit_newton(J, w, theta, damping=-0.5)
