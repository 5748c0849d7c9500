"""gradtools.behavior against dense references: jax.jacfwd, jax.hessian, SVD, closed forms."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import flat

import gradtools as gt
from gradtools import behavior as B
from gradtools import problems


def _mlp(sizes=(2, 3, 1), activation="tanh", k=5, seed=0):
    init, apply = problems.make_mlp(sizes, activation=activation)
    k1, k2 = jax.random.split(jax.random.key(seed))
    return init(k1), apply, jax.random.normal(k2, (k, sizes[0]))


@pytest.mark.parametrize("sizes, k", [((2, 3, 1), 5), ((1, 2, 3), 40)])  # reverse and forward mode
def test_behavioral_gradients_match_jacfwd(sizes, k):
    w, apply, x = _mlp(sizes, k=k)
    f = lambda p: apply(p, x)
    J = B.behavioral_gradients(f, w)
    flat_w, unravel = jax.flatten_util.ravel_pytree(w)
    ref = jax.jacfwd(lambda v: apply(unravel(v), x).ravel())(flat_w)
    assert J.shape == (k * sizes[-1], flat_w.size)
    np.testing.assert_allclose(J, ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(jax.jit(B.behavioral_gradients, static_argnums=0)(f, w), ref, rtol=1e-12, atol=1e-12)


def test_linear_model_rows_are_the_inputs():
    X = jnp.array([[1.0, 2.0, 3.0], [0.0, 1.0, -1.0]])
    J = B.behavioral_gradients(lambda th: X @ th, jnp.ones(3))
    np.testing.assert_allclose(J, X)


def test_row_and_null_space_are_complementary():
    w, apply, x = _mlp((2, 3, 1), k=5)
    J = np.asarray(B.behavioral_gradients(lambda p: apply(p, x)[:, 0], w))
    R, Z = np.asarray(B.row_space(J)), np.asarray(B.null_space(J))
    N = J.shape[1]
    assert R.shape == (N, 5) and Z.shape == (N, N - 5)
    np.testing.assert_allclose(np.hstack([R, Z]).T @ np.hstack([R, Z]), np.eye(N), atol=1e-12)
    np.testing.assert_allclose(J @ Z, 0.0, atol=1e-12)
    # the row space is the span of the rows: projecting J's rows onto it changes nothing
    np.testing.assert_allclose(J @ R @ R.T, J, atol=1e-12)
    assert B.manifold_dimension(J) == N - 5


def test_rank_deficient_duplicated_inputs():
    w, apply, x = _mlp((2, 3, 1), k=4)
    x = jnp.concatenate([x, x[:2]])  # two duplicated inputs: rank 4 of 6
    J = B.behavioral_gradients(lambda p: apply(p, x)[:, 0], w)
    assert gt.numerical_rank(J) == 4 == np.linalg.matrix_rank(np.asarray(J))
    assert B.null_space(J).shape[1] == J.shape[1] - 4
    assert B.row_space(J).shape[1] == 4


def test_project_null_is_the_orthogonal_projector():
    rng = np.random.default_rng(0)
    J = rng.normal(size=(3, 7))
    v = rng.normal(size=7)
    Z = np.asarray(B.null_space(J))
    np.testing.assert_allclose(B.project_null(J, v), Z @ Z.T @ v, atol=1e-12)
    np.testing.assert_allclose(jax.jit(B.project_null)(J, v), Z @ Z.T @ v, atol=1e-12)


def test_rank_margin():
    s = jnp.array([4.0, 2.0, 1e-3, 1e-14, 0.0])
    kept, dropped = B.rank_margin(s, 1e-8)
    assert kept == pytest.approx(2.5e-4) and dropped == pytest.approx(2.5e-15)
    assert B.rank_margin(jnp.array([1.0, 2.0]), 1e-8) == (0.5, 0.0)
    M = jnp.diag(jnp.array([3.0, 1.0, 0.0]))
    assert B.rank_margin(M, 1e-8) == pytest.approx((1 / 3, 0.0))


def test_output_change_orders():
    f = lambda w: jnp.array([w[0] + jnp.sin(w[1]) ** 2, w[0] * w[2]])
    w = jnp.array([0.3, 0.0, 0.0])
    ts = jnp.logspace(-4, -1, 5)
    # at w, J = [[1, 0, 0], [0, 0, 0.3]]: e_1 is in the null space, e_0 in the row space
    d_null = B.output_change(f, w, jnp.array([0.0, 1.0, 0.0]), ts)
    d_row = B.output_change(f, w, jnp.array([1.0, 0.0, 0.0]), ts)
    np.testing.assert_allclose(d_null, np.sin(np.asarray(ts)) ** 2, rtol=1e-6)  # f(w+tv) - f(w) cancels digits
    assert B.loglog_slope(ts, d_null) == pytest.approx(2.0, abs=1e-3)
    assert B.loglog_slope(ts, d_row) == pytest.approx(1.0, abs=1e-9)


def test_loglog_slope_errors():
    with pytest.raises(ValueError, match="positive"):
        B.loglog_slope(np.array([1.0, 2.0]), np.array([0.0, 1.0]))


def test_gauss_newton_project_interpolates():
    w, apply, x = _mlp((1, 6, 1), k=4)
    y = jnp.array([[0.0], [1.0], [-1.0], [0.5]])
    w = B.fit_mse(apply, w, x, y, num_steps=500, learning_rate=1e-2)  # near a solution
    w2 = B.gauss_newton_project(lambda p: apply(p, x), w, y, num_steps=6)
    np.testing.assert_allclose(apply(w2, x), y, atol=1e-12)
    # the minimum-norm step moves along the row space only: the move is orthogonal to ker J(w)
    J = B.behavioral_gradients(lambda p: apply(p, x)[:, 0], w)
    one = B.gauss_newton_project(lambda p: apply(p, x), w, y, num_steps=1)
    step = flat(one) - flat(w)
    np.testing.assert_allclose(np.asarray(B.null_space(J)).T @ step, 0.0, atol=1e-12)
    np.testing.assert_allclose(J @ step, y[:, 0] - apply(w, x)[:, 0], atol=1e-12)


def test_gauss_newton_project_shape_error():
    with pytest.raises(ValueError, match="shape of f"):
        B.gauss_newton_project(lambda w: w ** 2, jnp.ones(3), jnp.ones(2))


def test_walk_on_a_sphere_stays_on_it_and_moves():
    f = lambda w: jnp.array([jnp.sum(w ** 2)])  # level sets are spheres (a 2-D manifold in R^3)
    w0 = jnp.array([1.0, 0.0, 0.0])
    path = B.walk_manifold(f, w0, jnp.array([0.0, 1.0, 0.0]), step_size=0.1, num_steps=20)
    assert path.shape == (21, 3)
    np.testing.assert_allclose(jnp.sum(path ** 2, axis=1), 1.0, atol=1e-12)
    # it follows the great circle through e_0 and e_1 (the tangent is transported along)
    np.testing.assert_allclose(path[:, 2], 0.0, atol=1e-12)
    assert float(path[-1, 1]) > 0.9


def test_walk_pytree_network_keeps_training_outputs():
    w, apply, x = _mlp((1, 5, 1), k=3)
    f = lambda p: apply(p, x)
    v0 = jax.tree_util.tree_map(jnp.ones_like, w)
    path = jax.jit(lambda w, v: B.walk_manifold(f, w, v, step_size=0.05, num_steps=10))(w, v0)
    outs = jax.vmap(f)(path)
    np.testing.assert_allclose(outs, jnp.broadcast_to(f(w), outs.shape), atol=1e-10)
    P = jax.vmap(flat)(path)
    np.testing.assert_allclose(jnp.linalg.norm(jnp.diff(P, axis=0), axis=1), 0.05, rtol=0.05)


def test_hessian_parts_match_jax_hessian():
    w, apply, x = _mlp((2, 3, 1), k=5)
    y = jnp.arange(5.0)
    f = lambda p: apply(p, x)[:, 0]
    loss = lambda z: jnp.mean((z - y) ** 2)
    H, GN, R = B.hessian_parts(f, loss, w)
    flat_w, unravel = jax.flatten_util.ravel_pytree(w)
    Href = jax.hessian(lambda v: loss(f(unravel(v))))(flat_w)
    J = jax.jacfwd(lambda v: f(unravel(v)))(flat_w)
    np.testing.assert_allclose(H, Href, atol=1e-12)
    np.testing.assert_allclose(GN, 2 / 5 * J.T @ J, atol=1e-12)
    r = f(w) - y
    Rref = sum(2 / 5 * r[i] * jax.hessian(lambda v: f(unravel(v))[i])(flat_w) for i in range(5))
    np.testing.assert_allclose(R, Rref, atol=1e-12)


def test_fit_mse_reaches_zero_loss_and_vmaps():
    init, apply = problems.make_mlp([1, 6, 1])
    x = jnp.linspace(-1, 1, 4)[:, None]
    y = jnp.array([[0.0], [1.0], [0.0], [1.0]])
    keys = jax.random.split(jax.random.key(1), 3)
    ws = jax.jit(jax.vmap(lambda k: B.fit_mse(apply, init(k), x, y, num_steps=400, polish_steps=6)))(keys)
    out = jax.vmap(lambda p: apply(p, x))(ws)
    np.testing.assert_allclose(out, jnp.broadcast_to(y, out.shape), atol=1e-10)
    with pytest.raises(ValueError, match="shape"):
        B.fit_mse(apply, init(keys[0]), x, y[:3], num_steps=1)


def test_errors_say_what_to_do():
    with pytest.raises(ValueError, match="2-D"):
        B.null_space(jnp.ones(3))
    with pytest.raises(TypeError, match="concrete"):
        jax.jit(lambda J: B.row_space(J))(jnp.ones((2, 3)))
    with pytest.raises(ValueError, match="shape"):
        B.project_null(jnp.ones((2, 3)), jnp.ones(2))
    with pytest.raises(TypeError, match="callable"):
        B.behavioral_gradients(3, jnp.ones(2))
