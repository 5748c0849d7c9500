"""gradtools.steps against closed forms, dense solves and jax.scipy's CG (float64)."""

import jax
import jax.numpy as jnp
import jax.scipy.sparse.linalg as jssl
import numpy as np
import pytest
from helpers import flat, tree_allclose
from jax.flatten_util import ravel_pytree

import gradtools as gt
from gradtools.problems import make_mlp, rosenbrock, rosenbrock_f, rosenbrock_L

# ---------------------------------------------------------------------------------------------
# shared problems


def rng(seed):
    # test data from NumPy: eager jax.random compiles a kernel per shape, which is slow
    return np.random.default_rng(seed)


def spd(seed, n, cond=50.0):
    """A random SPD matrix with eigenvalues log-spaced in [1, cond]."""
    q, _ = np.linalg.qr(rng(seed).normal(size=(n, n)))
    return jnp.asarray(q @ np.diag(np.geomspace(1.0, cond, n)) @ q.T)


def randn(seed, *shape):
    return jnp.asarray(rng(seed).normal(size=shape))


def as_tree(x):
    """Split a flat vector of length 6 into a pytree."""
    return {"a": x[:2], "b": x[2:].reshape(2, 2)}


def tree_mvp(M, like):
    """The product with a dense matrix M, as an mvp on pytrees shaped like `like`."""
    unravel = ravel_pytree(like)[1]
    return lambda v: unravel(M @ flat(v))


@pytest.fixture(scope="module")
def mlp_problem():
    """A tanh net 2-3-1 (13 parameters) on 30 examples with squared error: G is full rank."""
    _, apply = make_mlp([2, 3, 1], activation="tanh")
    r = rng(1)
    w = [
        {"w": jnp.asarray(r.normal(size=(2, 3)) / np.sqrt(2)), "b": jnp.asarray(0.1 * r.normal(size=3))},
        {"w": jnp.asarray(r.normal(size=(3, 1)) / np.sqrt(3)), "b": jnp.zeros(1)},
    ]
    x = jnp.asarray(r.normal(size=(30, 2)))
    y = jnp.sin(2 * x[:, :1]) + 0.1 * jnp.asarray(r.normal(size=(30, 1)))

    def f(w):
        return apply(w, x)

    def L(z):
        return 0.5 * jnp.mean((z - y) ** 2)

    def J(w):
        return L(f(w))

    return w, f, L, J


@pytest.fixture(scope="module")
def mlp_dense(mlp_problem):
    """Dense references at w: Gauss-Newton matrix (gt.dense), Hessian (jax.hessian), gradient."""
    w, f, L, J = mlp_problem
    w_flat, unravel = ravel_pytree(w)

    @jax.jit
    def refs(w_flat):
        G = gt.dense(gt.gauss_newton_operator(f, L, unravel(w_flat)), unravel(w_flat))
        H = jax.hessian(lambda z: J(unravel(z)))(w_flat)
        return G, H, jax.grad(lambda z: J(unravel(z)))(w_flat)

    return refs(w_flat)


@pytest.fixture(scope="module")
def gn_op(mlp_problem):
    """The Gauss-Newton operator at w, built once (steps compile once per operator)."""
    w, f, L, _ = mlp_problem
    return gt.gauss_newton_operator(f, L, w)


# ---------------------------------------------------------------------------------------------
# gd_step


def test_gd_step_equals_hand_gradient_on_pytree():
    w = {"W": randn(0, 3, 4), "c": randn(1, 3)}
    x, y = randn(2, 4), randn(3, 3)

    def J(w):
        r = w["W"] @ x + w["c"] - y
        return 0.5 * r @ r + 0.25 * jnp.sum(w["c"] ** 4)

    r = w["W"] @ x + w["c"] - y  # gradient by hand
    grad = {"W": jnp.outer(r, x), "c": r + w["c"] ** 3}
    lr = 0.3
    expected = {"W": w["W"] - lr * grad["W"], "c": w["c"] - lr * grad["c"]}
    tree_allclose(gt.gd_step(J, w, lr), expected, rtol=1e-12, atol=1e-12)
    # jit-compatible with a traced learning rate
    tree_allclose(jax.jit(lambda w, lr: gt.gd_step(J, w, lr))(w, lr), expected, rtol=1e-12, atol=1e-12)


def test_gd_step_keeps_leaf_dtypes():
    w = {"a": jnp.ones(3, jnp.float32), "b": jnp.ones(2, jnp.float64)}
    out = gt.gd_step(lambda w: jnp.sum(w["a"] ** 2) + jnp.sum(w["b"] ** 2), w, jnp.float64(0.1))
    assert out["a"].dtype == jnp.float32 and out["b"].dtype == jnp.float64


# ---------------------------------------------------------------------------------------------
# proximal_step


def euclid(u, w):
    return 0.5 * jnp.sum((flat(u) - flat(w)) ** 2)


QA, QB = spd(2, 6, cond=20.0), randn(3, 6)


def quad(u):
    """J(u) = u^T A u / 2 - b^T u on the pytree u (closed-form proximal steps)."""
    z = flat(u)
    return 0.5 * z @ QA @ z - QB @ z


def test_proximal_quadratic_equals_implicit_step_and_jits():
    w = as_tree(randn(4, 6))
    # GD inner solver (inner_lr below 2 / (max eig + lam)), inside an outer jit with lam traced
    step = jax.jit(lambda w, lam: gt.proximal_step(quad, euclid, w, lam, inner_steps=5000, inner_lr=1.0 / (20.0 + lam)))
    for lam in [0.1, 1.0, 10.0]:
        # closed form: (A + lam I) u = b + lam w  <=>  u = (I + A/lam)^{-1} (w + b/lam)
        expected = np.linalg.solve(np.eye(6) + QA / lam, flat(w) + QB / lam)
        u, info = step(w, lam)
        np.testing.assert_allclose(flat(u), expected, rtol=1e-6, atol=1e-7)
        assert bool(info.converged) and 1 <= int(info.iterations) < 5000
        # the reported residual is the inner gradient norm relative to the warm start's
        g_end = flat(jax.grad(lambda v: quad(v) + lam * euclid(v, w))(u))
        g_start = QA @ flat(w) - QB
        np.testing.assert_allclose(info.residual_norm, np.linalg.norm(g_end) / np.linalg.norm(g_start), rtol=1e-3)
        assert info.residual_norm <= np.sqrt(np.finfo(np.float64).eps)
        # the eager call gives the same step
        u_eager, info_eager = gt.proximal_step(quad, euclid, w, lam, inner_steps=5000, inner_lr=1.0 / (20.0 + lam))
        tree_allclose(u_eager, u, rtol=1e-12, atol=1e-12)
        assert int(info_eager.iterations) == int(info.iterations)


def test_proximal_uses_rho_metric():
    """With rho = (u-w)^T M (u-w)/2 the quadratic case is (A + lam M) u = b + lam M w."""
    M = spd(5, 6, cond=5.0)
    w, lam = as_tree(randn(4, 6)), 2.0

    def rho(u, w):
        d = flat(u) - flat(w)
        return 0.5 * d @ M @ d

    u, info = gt.proximal_step(quad, rho, w, lam, inner_steps=5000, inner_lr=1.0 / 30.0)
    assert bool(info.converged)
    expected = np.linalg.solve(QA + lam * M, QB + lam * M @ flat(w))
    np.testing.assert_allclose(flat(u), expected, rtol=1e-6, atol=1e-7)
    # a budget of one inner step cannot converge, and says so
    _, short = gt.proximal_step(quad, rho, w, lam, inner_steps=1, inner_lr=1e-3)
    assert int(short.iterations) == 1 and not bool(short.converged) and float(short.residual_norm) > 0.5


def test_proximal_approaches_gd_step_with_error_one_over_lam_squared():
    B, y, w = randn(6, 8, 5), randn(7, 8), randn(8, 5)

    def J(u):  # smooth, not quadratic
        return jnp.sum(jnp.log(jnp.cosh(B @ u - y))) + 0.1 * jnp.sum(u**4)

    g = jax.grad(J)(w)
    Hg = jax.jvp(jax.grad(J), (w,), (g,))[1]  # u* = w - g/lam + H g / lam^2 + O(lam^-3)
    lams = [100.0, 1000.0, 10000.0]
    errs = []
    for lam in lams:
        u, info = gt.proximal_step(J, euclid, w, lam)  # L-BFGS inner solver (the default)
        assert bool(info.converged) and int(info.iterations) <= 200
        errs.append(float(np.linalg.norm(u - (w - g / lam))))
    ratios = [errs[0] / errs[1], errs[1] / errs[2]]
    assert all(80 < r < 120 for r in ratios), (errs, ratios)
    np.testing.assert_allclose(lams[-1] ** 2 * errs[-1], np.linalg.norm(Hg), rtol=0.02)
    # optimality of the returned point, checked directly: grad J(u) + lam (u - w) = 0
    np.testing.assert_allclose(jax.grad(J)(u) + lams[-1] * (u - w), 0.0, atol=1e-6 * float(np.linalg.norm(g)))


# ---------------------------------------------------------------------------------------------
# mirror_step


def test_mirror_entropy_is_exponentiated_gradient():
    p = jax.nn.softmax(randn(9, 7))
    c = jnp.linspace(-1.0, 2.0, 7)

    def J(p):
        return c @ p + 0.5 * jnp.sum(p**2)

    g = np.asarray(c + p)  # gradient by hand
    for lr in [0.1, 1.0, 50.0]:
        u = gt.mirror_step(J, p, lr, mirror="entropy")
        e = np.asarray(p) * np.exp(-lr * (g - g.min()))  # shifted for overflow safety
        np.testing.assert_allclose(u, e / e.sum(), rtol=1e-10, atol=1e-300)
        assert bool(jnp.all(u > 0)) and abs(float(jnp.sum(u)) - 1.0) < 1e-12
        # mirror condition with a multiplier for the simplex: log(u/p) + 1 + lr g = const
        lagrange = np.log(np.asarray(u) / np.asarray(p)) + lr * g
        np.testing.assert_allclose(lagrange, lagrange[0], atol=1e-9)


def test_mirror_euclidean_is_gd_step():
    w = {"x": jnp.array([1.0, 2.0]), "y": jnp.array([[0.5, -1.0]])}

    def J(w):
        return jnp.sum(jnp.sin(w["x"])) + jnp.sum(w["y"] ** 2) * jnp.sum(w["x"])

    tree_allclose(gt.mirror_step(J, w, 0.2), gt.gd_step(J, w, 0.2), rtol=1e-14, atol=0)
    tree_allclose(gt.mirror_step(J, w, 0.2, mirror="euclidean"), gt.gd_step(J, w, 0.2), rtol=1e-14, atol=0)


def test_mirror_entropy_rejects_points_off_the_simplex():
    def J(p):
        return jnp.sum(p**2)

    for bad in [jnp.array([0.5, 0.6]), jnp.array([1.2, -0.2]), jnp.array([0.0, 1.0])]:
        with pytest.raises(ValueError, match="simplex.*expected.*got"):
            gt.mirror_step(J, bad, 0.1, mirror="entropy")
    with pytest.raises(ValueError, match="1-D array: expected"):
        gt.mirror_step(J, {"p": jnp.array([0.5, 0.5])}, 0.1, mirror="entropy")
    with pytest.raises(ValueError, match="expected one of 'euclidean', 'entropy', got 'kl'"):
        gt.mirror_step(J, jnp.array([0.5, 0.5]), 0.1, mirror="kl")


# ---------------------------------------------------------------------------------------------
# cg_solve


def test_cg_matches_dense_solve_and_jax_cg_on_a_pytree():
    n = 6
    A = spd(10, n, cond=100.0)
    b = as_tree(randn(11, n))
    mvp = tree_mvp(A, b)
    x, info = gt.cg_solve(mvp, b, tol=1e-10)
    np.testing.assert_allclose(flat(x), np.linalg.solve(A, flat(b)), rtol=1e-8)
    x_ref, _ = jssl.cg(mvp, b, tol=1e-10, maxiter=100)
    tree_allclose(x, x_ref, rtol=1e-8, atol=1e-10)
    assert 1 <= int(info.iterations) <= n and bool(info.converged)
    true_res = np.linalg.norm(flat(b) - A @ flat(x)) / np.linalg.norm(flat(b))
    np.testing.assert_allclose(info.residual_norm, true_res, rtol=1e-6)
    assert float(info.residual_norm) <= 1e-10


def test_cg_damping_x0_and_jit():
    n = 12
    A = spd(12, n, cond=1e3)
    b = randn(13, n)
    x0 = jnp.ones(n)
    solve = jax.jit(lambda b, d: gt.cg_solve(lambda v: A @ v, b, x0=x0, damping=d, tol=1e-9))
    for d in [0.0, 0.5]:
        x, info = solve(b, d)
        np.testing.assert_allclose(x, np.linalg.solve(A + d * np.eye(n), b), rtol=1e-7)
        assert bool(info.converged) and int(info.iterations) <= 3 * n
    # damping makes the system better conditioned: fewer iterations
    assert int(solve(b, 10.0)[1].iterations) < int(solve(b, 0.0)[1].iterations)
    # an exact x0 needs no iteration
    xs = np.linalg.solve(A, b)
    _, info0 = gt.cg_solve(lambda v: A @ v, b, x0=xs, tol=1e-6)
    assert int(info0.iterations) == 0 and bool(info0.converged)


def test_cg_reports_nonconvergence():
    A = spd(14, 10, cond=1e4)
    b = randn(15, 10)
    x, info = gt.cg_solve(lambda v: A @ v, b, maxiter=2, tol=1e-10)
    assert int(info.iterations) == 2 and not bool(info.converged)
    np.testing.assert_allclose(info.residual_norm, np.linalg.norm(b - A @ x) / np.linalg.norm(b), rtol=1e-8)
    # zero right-hand side: zero solution, nothing to do
    x, info = gt.cg_solve(lambda v: A @ v, jnp.zeros(10))
    assert int(info.iterations) == 0 and bool(info.converged) and float(jnp.max(jnp.abs(x))) == 0.0
    # an indefinite system: stops at the negative-curvature direction, not converged
    D = jnp.diag(jnp.array([1.0, -2.0]))
    x, info = gt.cg_solve(lambda v: D @ v, jnp.array([1.0, 1.0]))
    assert not bool(info.converged) and bool(jnp.all(jnp.isfinite(x)))


def test_cg_nan_raises_when_concrete_and_flags_under_jit():
    A = np.eye(3) * 2.0
    b_nan = jnp.array([1.0, jnp.nan, 0.0])
    with pytest.raises(ValueError, match=r"NaN/inf in the metric solve.*expected finite.*got.*add damping"):
        gt.cg_solve(lambda v: A @ v, b_nan)
    with pytest.raises(ValueError, match="NaN/inf in the metric solve"):  # NaN from the operator
        gt.cg_solve(lambda v: A @ v * jnp.nan, jnp.ones(3))
    _, info = jax.jit(lambda b: gt.cg_solve(lambda v: A @ v, b))(b_nan)
    assert not bool(info.converged)
    _, info = jax.jit(lambda b: gt.cg_solve(lambda v: A @ v * jnp.inf, b))(jnp.ones(3))
    assert not bool(info.converged)


def test_cg_bad_inputs():
    A = np.eye(2)
    mvp = lambda v: A @ v  # noqa: E731
    b = jnp.ones(2)
    with pytest.raises(ValueError, match="damping must be >= 0.*expected.*got -0.1"):
        gt.cg_solve(mvp, b, damping=-0.1)
    with pytest.raises(ValueError, match="maxiter.*expected.*got 0"):
        gt.cg_solve(mvp, b, maxiter=0)
    with pytest.raises(ValueError, match="tol.*expected.*got"):
        gt.cg_solve(mvp, b, tol=0.0)
    with pytest.raises(ValueError, match="(?s)x0 has shape.*expected.*got"):
        gt.cg_solve(mvp, b, x0=jnp.ones(3))
    with pytest.raises(ValueError, match="(?s)mvp must map.*expected.*got"):
        gt.cg_solve(lambda v: jnp.ones(3), b)
    with pytest.raises(TypeError, match="mvp must be a callable"):
        gt.cg_solve(A, b)
    with pytest.raises(TypeError, match="floating dtype"):
        gt.cg_solve(mvp, jnp.array([1, 2]))


# ---------------------------------------------------------------------------------------------
# natural_gradient_step


@pytest.mark.parametrize("damping", [0.0, 1e-2])
def test_natural_gradient_matches_dense_solve(mlp_problem, mlp_dense, gn_op, damping):
    w, f, L, J = mlp_problem
    G, _, g = mlp_dense
    assert np.linalg.matrix_rank(np.asarray(G)) == G.shape[0]  # undamped solve is well posed
    lr = 0.7
    w_new, info = gt.natural_gradient_step(
        J, gn_op, w, lr, damping=damping, maxiter=500, tol=1e-10
    )
    expected = flat(w) - lr * np.linalg.solve(G + damping * np.eye(G.shape[0]), g)
    assert bool(info.converged), info
    np.testing.assert_allclose(flat(w_new), expected, rtol=1e-6, atol=1e-8)


def test_natural_gradient_is_affine_invariant_and_gd_is_not(mlp_problem, gn_op):
    w, f, L, J = mlp_problem
    w_flat, unravel = ravel_pytree(w)
    n = w_flat.shape[0]
    r = rng(16)
    q, _ = np.linalg.qr(r.normal(size=(n, n)))
    Amat = jnp.asarray(q @ np.diag(np.exp(r.uniform(-1.0, 1.0, size=n))))  # w = A u + c
    c = jnp.asarray(r.normal(size=n))

    def f_u(u):
        return f(unravel(Amat @ u + c))

    def J_u(u):
        return L(f_u(u))

    u = np.linalg.solve(Amat, w_flat - c)
    np.testing.assert_allclose(f_u(u), f(w), rtol=1e-10)
    lr = 0.5
    w1, _ = gt.natural_gradient_step(J, gn_op, w, lr, maxiter=500, tol=1e-11)
    u1, _ = gt.natural_gradient_step(J_u, gt.gauss_newton_operator(f_u, L, u), u, lr, maxiter=500, tol=1e-11)
    out_w, out_u = f(w1), f_u(u1)
    np.testing.assert_allclose(out_u, out_w, rtol=1e-6, atol=1e-8)
    assert float(jnp.max(jnp.abs(out_w - f(w)))) > 1e-2  # the step did move the function
    # the same learning rate in GD gives different functions in the two coordinate systems
    gd_w, gd_u = f(gt.gd_step(J, w, lr)), f_u(gt.gd_step(J_u, u, lr))
    assert float(jnp.max(jnp.abs(gd_u - gd_w))) > 1e-3


def test_natural_gradient_nan_metric_raises():
    w = {"a": jnp.array([1.0, -2.0]), "b": jnp.array(0.5)}

    def J(w):
        return jnp.sum(w["a"] ** 2) + w["b"] ** 4

    def nan_metric(v):
        return jax.tree_util.tree_map(lambda a: a * jnp.nan, v)

    with pytest.raises(ValueError, match="metric solve.*add damping"):
        gt.natural_gradient_step(J, nan_metric, w, 0.1)
    _, info = jax.jit(lambda w: gt.natural_gradient_step(J, nan_metric, w, 0.1))(w)
    assert not bool(info.converged)


# ---------------------------------------------------------------------------------------------
# damped_newton_step


def test_damped_newton_exact_hessian_matches_dense(mlp_problem, mlp_dense):
    w, f, L, J = mlp_problem
    _, H, g = mlp_dense
    w_flat = flat(w)
    n = w_flat.shape[0]
    lam = float(max(0.0, -np.linalg.eigvalsh(H)[0])) + 0.1  # H + lam M positive definite (M >= I)
    # the default curvature is the exact Hessian; here with a non-identity metric G and a step size
    M = spd(17, n, cond=10.0)
    w_new, info = gt.damped_newton_step(J, w, lam, metric_mvp=tree_mvp(M, w), lr=0.5, maxiter=500, tol=1e-11)
    assert bool(info.converged)
    np.testing.assert_allclose(flat(w_new), w_flat - 0.5 * np.linalg.solve(H + lam * M, g), rtol=1e-7, atol=1e-9)


def test_damped_newton_with_gauss_newton_curvature(mlp_problem, mlp_dense, gn_op):
    w, f, L, J = mlp_problem
    GN = gn_op
    G, _, g = mlp_dense
    w_new, info = gt.damped_newton_step(J, w, 0.05, curvature_mvp=GN, maxiter=500, tol=1e-11)
    assert bool(info.converged)
    np.testing.assert_allclose(flat(w_new), flat(w) - np.linalg.solve(G + 0.05 * np.eye(G.shape[0]), g), rtol=1e-7, atol=1e-9)


def test_gauss_newton_beats_best_gd_on_rosenbrock():
    x_star = jnp.array([1.0, 1.0])
    x0 = jnp.array([-1.5, 2.0])

    # Gauss-Newton: damped_newton_step with the GN curvature of L(f(x)), no damping needed (J_f invertible)
    @jax.jit
    def gn_step(x):
        GN = gt.gauss_newton_operator(rosenbrock_f, rosenbrock_L, x)
        return gt.damped_newton_step(rosenbrock, x, 0.0, curvature_mvp=GN)[0]

    x, gn_steps = x0, 0
    while float(np.linalg.norm(x - x_star)) > 1e-6:
        x, gn_steps = gn_step(x), gn_steps + 1
        assert gn_steps < 100, "Gauss-Newton did not converge"

    # GD over a grid of learning rates, all run together until the first reaches 1e-6
    lrs = jnp.geomspace(1e-4, 3e-3, 16)
    grad = jax.vmap(jax.grad(rosenbrock))

    @jax.jit
    def race(lrs):
        def cond(c):
            k, x = c
            err = jnp.linalg.norm(x - x_star, axis=1)
            return (k < 400_000) & ~jnp.any(err <= 1e-6)

        def body(c):
            k, x = c
            return k + 1, x - lrs[:, None] * grad(x)

        return jax.lax.while_loop(cond, body, (0, jnp.tile(x0, (lrs.shape[0], 1))))

    gd_steps, xs = race(lrs)
    errs = jnp.linalg.norm(xs - x_star, axis=1)
    errs = jnp.where(jnp.isfinite(errs), errs, jnp.inf)  # diverged learning rates
    best = int(jnp.argmin(errs))
    assert float(errs[best]) <= 1e-6, "no GD learning rate converged within the budget"
    assert not float(errs[-1]) < 1.0, "the grid must reach unstable learning rates"
    assert best < len(lrs) - 1
    print(f"GN steps {gn_steps}, best GD steps {int(gd_steps)} at lr {float(lrs[best]):.3g}")
    assert int(gd_steps) >= 20 * gn_steps, (int(gd_steps), gn_steps)


# ---------------------------------------------------------------------------------------------
# bad inputs of the steps


def test_steps_bad_inputs(mlp_problem, gn_op):
    w, f, L, J = mlp_problem
    GN = gn_op
    with pytest.raises(ValueError, match="lr must be >= 0.*expected.*got -0.1"):
        gt.gd_step(J, w, -0.1)
    with pytest.raises(ValueError, match="lr must be >= 0.*expected.*got"):
        gt.natural_gradient_step(J, GN, w, -1.0)
    with pytest.raises(ValueError, match="damping must be >= 0.*expected.*got"):
        gt.natural_gradient_step(J, GN, w, 1.0, damping=-1e-3)
    with pytest.raises(ValueError, match="lam must be >= 0.*expected.*got"):
        gt.damped_newton_step(J, w, -1.0)
    with pytest.raises(ValueError, match="lam must be >= 0.*expected.*got"):
        gt.proximal_step(J, lambda u, v: jnp.sum((flat(u) - flat(v)) ** 2), w, -2.0)
    with pytest.raises(ValueError, match="inner_steps.*expected.*got 0"):
        gt.proximal_step(J, lambda u, v: jnp.sum((flat(u) - flat(v)) ** 2), w, 1.0, inner_steps=0)
    with pytest.raises(ValueError, match="inner_lr.*expected.*got"):
        gt.proximal_step(J, lambda u, v: jnp.sum((flat(u) - flat(v)) ** 2), w, 1.0, inner_lr=-0.1)
    with pytest.raises(TypeError, match="J must be a callable"):
        gt.gd_step("J", w, 0.1)
    with pytest.raises(TypeError, match="must return a scalar"):
        gt.gd_step(f, w, 0.1)
    with pytest.raises(TypeError, match="rho must return a scalar"):
        gt.proximal_step(J, lambda u, v: flat(u) - flat(v), w, 1.0)
    with pytest.raises(ValueError, match="(?s)mvp must map.*expected.*got"):
        gt.natural_gradient_step(J, lambda v: jnp.zeros(3), w, 0.1)


def test_steps_never_reuse_a_program_traced_with_old_values():
    # A notebook rebinds data that J reads; calling the step again with the same J object must
    # see the new data (a cache keyed on id(J) would silently return the old answer).
    data = {"c": jnp.array([1.0, -1.0])}

    def J(w):
        return 0.5 * jnp.sum((w - data["c"]) ** 2)

    def metric(v):
        return v

    w = jnp.zeros(2)
    for c in ([1.0, -1.0], [5.0, 2.0]):
        data["c"] = jnp.array(c)
        expected = w - 0.1 * (w - data["c"])
        np.testing.assert_allclose(gt.gd_step(J, w, 0.1), expected, rtol=1e-12)
        np.testing.assert_allclose(gt.natural_gradient_step(J, metric, w, 0.1)[0], expected, rtol=1e-10)
        np.testing.assert_allclose(gt.damped_newton_step(J, w, 0.0, lr=0.1)[0], expected, rtol=1e-10)
