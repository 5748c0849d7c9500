"""gradtools.paths against closed forms and dense references (float64, see conftest.py)."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import flat, tree_allclose
from jax.flatten_util import ravel_pytree

import gradtools as gt
from gradtools import paths

ROOT = Path(__file__).resolve().parents[1]


def polar(w):
    return w[0] * jnp.array([jnp.cos(w[1]), jnp.sin(w[1])])


def _tree(key, scale=1.0):
    k1, k2 = jax.random.split(key)
    return {"a": scale * jax.random.normal(k1, (2, 3)), "b": scale * jax.random.normal(k2, (4,))}


def _mlp(sizes, key, n):
    init, apply = gt.problems.make_mlp(sizes, activation="tanh")
    kw, kx = jax.random.split(key)
    return init(kw), apply, jax.random.normal(kx, (n, sizes[0]))


# --------------------------------------------------------------------------------------------
# curves


def test_bezier_weights_and_coefficients(key):
    k0, k1, k2 = jax.random.split(key, 3)
    w0, theta, w1 = _tree(k0), _tree(k1), _tree(k2)
    tree_allclose(paths.bezier(w0, theta, w1, 0.0), w0, rtol=0, atol=0)
    tree_allclose(paths.bezier(w0, theta, w1, 1.0), w1, rtol=0, atol=0)
    mid = jax.tree_util.tree_map(lambda a, b, c: (a + 2 * b + c) / 4, w0, theta, w1)
    tree_allclose(paths.bezier(w0, theta, w1, 0.5), mid)
    # as a polynomial in t: w0 + 2t (theta - w0) + t^2 (w0 - 2 theta + w1)
    curve = lambda t: flat(paths.bezier(w0, theta, w1, t))  # noqa: E731
    np.testing.assert_allclose(jax.jacfwd(curve)(0.0), 2 * (flat(theta) - flat(w0)), atol=1e-12)
    np.testing.assert_allclose(jax.jacfwd(jax.jacfwd(curve))(0.3), 2 * (flat(w0) - 2 * flat(theta) + flat(w1)), atol=1e-12)
    np.testing.assert_allclose(jax.jacfwd(curve)(1.0), 2 * (flat(w1) - flat(theta)), atol=1e-12)
    # the midpoint control point gives the straight line
    half = paths.linear(w0, w1, 0.5)
    for t in (0.1, 0.7):
        tree_allclose(paths.bezier(w0, half, w1, t), paths.linear(w0, w1, t))
    tree_allclose(paths.linear(w0, w1, 0.25), jax.tree_util.tree_map(lambda a, b: 0.75 * a + 0.25 * b, w0, w1))


def test_path_points_is_vmap_over_linspace(key):
    w0, w1 = _tree(key), _tree(jax.random.fold_in(key, 1))
    ws = paths.path_points(lambda t: paths.linear(w0, w1, t), 5)
    assert ws["a"].shape == (5, 2, 3) and ws["b"].shape == (5, 4)
    tree_allclose(jax.tree_util.tree_map(lambda a: a[3], ws), paths.linear(w0, w1, 0.75))
    # keeps the dtype of the points
    ws32 = paths.path_points(lambda t: paths.linear(jnp.zeros(2, jnp.float32), jnp.ones(2, jnp.float32), t), 3)
    assert ws32.dtype == jnp.float32


# --------------------------------------------------------------------------------------------
# length and energy


def test_linear_map_length_and_energy(key):
    A = jax.random.normal(key, (5, 3))
    f = lambda w: {"u": A @ w[:3], "v": w[3:] * 0.0}  # noqa: E731  (a pytree of outputs)
    w0, w1 = jnp.array([1.0, -2.0, 0.5, 3.0]), jnp.array([-1.0, 0.0, 2.0, 1.0])
    ws = paths.path_points(lambda t: paths.linear(w0, w1, t), 11)
    length = jnp.linalg.norm(A @ (w1 - w0)[:3])
    np.testing.assert_allclose(paths.path_length(f, ws), length, rtol=1e-12)
    np.testing.assert_allclose(paths.path_energy(f, ws), length**2, rtol=1e-12)
    np.testing.assert_allclose(paths.segment_lengths(f, ws), jnp.full(10, length / 10), rtol=1e-12)
    # the same line at uneven speed: same length, more energy
    uneven = paths.path_points(lambda t: paths.linear(w0, w1, t**2), 11)
    np.testing.assert_allclose(paths.path_length(f, uneven), length, rtol=1e-12)
    assert paths.path_energy(f, uneven) > 1.2 * length**2


def test_energy_at_least_length_squared_equality_at_constant_speed(key):
    for i in range(5):
        ws = jax.random.normal(jax.random.fold_in(key, i), (7, 3))
        f = jnp.tanh
        L, E = paths.path_length(f, ws), paths.path_energy(f, ws)
        assert E >= L**2 * (1 - 1e-12) and E > 1.01 * L**2
    # a polyline with equal steps in random directions: constant speed, E == L^2
    dirs = jax.random.normal(key, (6, 3))
    steps = 0.3 * dirs / jnp.linalg.norm(dirs, axis=1, keepdims=True)
    ws = jnp.concatenate([jnp.zeros((1, 3)), jnp.cumsum(steps, axis=0)])
    np.testing.assert_allclose(paths.path_length(lambda w: w, ws), 1.8, rtol=1e-12)
    np.testing.assert_allclose(paths.path_energy(lambda w: w, ws), 1.8**2, rtol=1e-12)


def test_length_gradient_is_finite_at_repeated_points():
    ws = jnp.array([[0.0, 0.0], [0.0, 0.0], [1.0, 0.0]])
    g = jax.grad(lambda ws: paths.path_length(lambda w: w, ws))(ws)
    assert np.all(np.isfinite(g))


# --------------------------------------------------------------------------------------------
# geodesics


def test_geodesic_of_identity_is_evenly_spaced_segment(key):
    w0, w1 = _tree(key), _tree(jax.random.fold_in(key, 1))
    line = paths.path_points(lambda t: paths.linear(w0, w1, t), 8)
    bump = jax.tree_util.tree_map(lambda a: 0.3 * jax.random.normal(key, a.shape), line)
    init = jax.tree_util.tree_map(lambda a, b: a + b, line, bump)
    ws, info = paths.geodesic(lambda w: w, w0, w1, num_points=8, init=init)
    assert bool(info.converged) and int(info.iterations) > 0
    tree_allclose(ws, line, atol=1e-7)
    # end points exactly w0, w1 (init's own end points were moved)
    for leaf, a, b in zip(jax.tree_util.tree_leaves(ws), jax.tree_util.tree_leaves(w0), jax.tree_util.tree_leaves(w1)):
        np.testing.assert_array_equal(leaf[0], a)
        np.testing.assert_array_equal(leaf[-1], b)
    L = jnp.sqrt(sum(jnp.sum((a - b) ** 2) for a, b in zip(jax.tree_util.tree_leaves(w0), jax.tree_util.tree_leaves(w1))))
    np.testing.assert_allclose(info.length, L, rtol=1e-10)
    np.testing.assert_allclose(info.energy, L**2, rtol=1e-10)
    assert info.init_energy > info.energy and info.init_length > info.length


def test_geodesic_of_polar_map_is_the_straight_chord():
    w0, w1 = jnp.array([1.0, 0.0]), jnp.array([2.0, 1.2])
    ws, info = paths.geodesic(polar, w0, w1, num_points=11, tol=1e-10)
    u = jax.vmap(polar)(ws)
    t = jnp.linspace(0, 1, 11)[:, None]
    chord = (1 - t) * polar(w0) + t * polar(w1)
    np.testing.assert_allclose(u, chord, atol=1e-6)
    d = jnp.linalg.norm(polar(w1) - polar(w0))
    np.testing.assert_allclose(info.length, d, rtol=1e-10)
    np.testing.assert_allclose(info.energy, d**2, rtol=1e-8)
    np.testing.assert_array_equal(ws[0], w0)
    np.testing.assert_array_equal(ws[-1], w1)
    # the straight line in (r, phi) is longer in output space
    assert info.init_length > 1.01 * info.length


def test_geodesic_two_points_and_mlp(key):
    ws, info = paths.geodesic(polar, jnp.array([1.0, 0.0]), jnp.array([1.0, 1.0]), num_points=2)
    assert int(info.iterations) == 0 and ws.shape == (2, 2)
    w0, apply, x = _mlp((3, 8, 2), key, 16)
    w1, _, _ = _mlp((3, 8, 2), jax.random.fold_in(key, 1), 16)
    f = lambda w: apply(w, x) / jnp.sqrt(16.0)  # noqa: E731
    ws, info = paths.geodesic(f, w0, w1, num_points=6, max_iter=50)
    assert info.energy < 0.9 * info.init_energy and int(info.iterations) <= 50
    np.testing.assert_allclose(info.energy, paths.path_energy(f, ws), rtol=1e-12)
    np.testing.assert_allclose(info.length, paths.path_length(f, ws), rtol=1e-12)
    assert info.length**2 <= info.energy * (1 + 1e-12)


# --------------------------------------------------------------------------------------------
# Bezier-curve training


def _hyperbola_problem():
    x = jnp.linspace(0.5, 2.0, 8)
    loss = lambda w, x: jnp.mean((w[0] * w[1] * x - x) ** 2)  # noqa: E731  zero on w0 w1 = 1
    return x, loss, jnp.array([2.0, 0.5]), jnp.array([0.5, 2.0])


def test_bezier_expected_loss_is_the_mean_over_t(key):
    x, loss, w0, w1 = _hyperbola_problem()
    theta = jnp.array([0.3, 0.9])
    ts = jax.random.uniform(key, (7,))
    ref = np.mean([loss(paths.bezier(w0, theta, w1, t), x) for t in ts])
    np.testing.assert_allclose(paths.bezier_expected_loss(loss, w0, theta, w1, x, ts), ref, rtol=1e-12)
    # its gradient in theta for the quadratic loss |w|^2: E_t 2 * 2t(1-t) phi(t) on a fine grid
    sq = lambda w, b: jnp.sum(w**2)  # noqa: E731
    ts = jnp.linspace(0, 1, 2001)
    g = jax.grad(lambda th: paths.bezier_expected_loss(sq, w0, th, w1, None, ts))(theta)
    phis = jax.vmap(lambda t: paths.bezier(w0, theta, w1, t))(ts)
    ref = jnp.mean(2 * (2 * ts * (1 - ts))[:, None] * phis, axis=0)
    np.testing.assert_allclose(g, ref, rtol=1e-12)


def test_train_bezier_removes_the_barrier(key):
    x, loss, w0, w1 = _hyperbola_problem()
    ts = jnp.linspace(0, 1, 41)
    line = jax.vmap(lambda t: loss(paths.linear(w0, w1, t), x))(ts)
    theta, info = paths.train_bezier(loss, w0, w1, x, key=key, num_steps=400, batch_size=4, learning_rate=0.02)
    curve = jax.vmap(lambda t: loss(paths.bezier(w0, theta, w1, t), x))(ts)
    assert line.max() > 0.5 and curve.max() < 0.01 * line.max()
    assert info.losses.shape == (400,) and info.ts.shape == (400,)
    assert 0 <= float(info.ts.min()) and float(info.ts.max()) <= 1 and float(info.ts.std()) > 0.2
    # fresh t and batches each step; deterministic given the key; adam by default
    theta2, _ = paths.train_bezier(loss, w0, w1, x, key=key, num_steps=400, batch_size=4, learning_rate=0.02)
    np.testing.assert_array_equal(theta, theta2)
    theta3, _ = paths.train_bezier(
        loss, w0, w1, x, key=key, num_steps=400, batch_size=4, optimizer=optax.adam(0.02), theta0=(w0 + w1) / 2
    )
    np.testing.assert_allclose(theta3, theta, rtol=1e-12)


def test_train_bezier_step_is_sgd_on_the_sampled_point(key):
    # one full-batch SGD step: theta - lr * 2 t (1 - t) * grad loss(phi(t))
    x, loss, w0, w1 = _hyperbola_problem()
    theta0 = jnp.array([1.0, 1.5])
    theta, info = paths.train_bezier(
        loss, w0, w1, x, key=key, num_steps=1, batch_size=8, theta0=theta0, optimizer=optax.sgd(0.1)
    )
    t = info.ts[0]
    phi = paths.bezier(w0, theta0, w1, t)
    np.testing.assert_allclose(theta, theta0 - 0.1 * 2 * t * (1 - t) * jax.grad(loss)(phi, x), rtol=1e-12)
    np.testing.assert_allclose(info.losses[0], loss(phi, x), rtol=1e-12)


# --------------------------------------------------------------------------------------------
# metric, Christoffel symbols, geodesic acceleration, shooting


def _dense_metric(model, w, x):
    flat_w, unravel = ravel_pytree(w)
    J = jax.jacfwd(lambda u: model(unravel(u), x).reshape(-1))(flat_w)
    return J.T @ J / x.shape[0]


def test_output_metric_mvp_matches_dense(key):
    w, apply, x = _mlp((3, 5, 2), key, 7)
    v = jax.tree_util.tree_map(lambda a: jax.random.normal(jax.random.fold_in(key, a.size), a.shape), w)
    g = _dense_metric(apply, w, x)
    np.testing.assert_allclose(flat(paths.output_metric_mvp(apply, w, x, v)), g @ flat(v), rtol=1e-10, atol=1e-12)


def _christoffel_from_metric(f, w):
    """1/2 g^{-1} (d_i g_jl + d_j g_il - d_l g_ij) with the metric differentiated by jax.jacfwd."""

    def metric(u):
        J = jax.jacfwd(f)(u)
        return J.T @ J

    g, dg = metric(w), jax.jacfwd(metric)(w)  # dg[i, j, l] = d_l g_ij
    T = jnp.einsum("jli->lij", dg) + jnp.einsum("ilj->lij", dg) - dg.transpose(2, 0, 1)
    n = w.shape[0]
    return 0.5 * jnp.linalg.solve(g, T.reshape(n, n * n)).reshape(n, n, n)


def test_christoffel_polar_closed_form():
    r, phi = 1.7, 0.4
    G = paths.christoffel(polar, jnp.array([r, phi]))
    ref = np.zeros((2, 2, 2))
    ref[0, 1, 1] = -r  # Gamma^r_{phi phi}
    ref[1, 0, 1] = ref[1, 1, 0] = 1 / r  # Gamma^phi_{r phi}
    np.testing.assert_allclose(G, ref, atol=1e-12)


def _small_model(key):
    # 2-3-1 tanh MLP (13 parameters) on 16 inputs: 16 outputs, so g = J^T J is invertible
    w, apply, x = _mlp((2, 3, 1), key, 16)
    flat_w, unravel = ravel_pytree(w)
    return flat_w, (lambda u: apply(unravel(u), x).reshape(-1)), w, apply, x, unravel


def test_christoffel_matches_metric_derivative_formula(key):
    flat_w, f, *_ = _small_model(key)
    G = paths.christoffel(f, flat_w)
    ref = _christoffel_from_metric(f, flat_w)
    assert G.shape == (13, 13, 13)
    np.testing.assert_allclose(G, ref, rtol=1e-6, atol=1e-8 * np.abs(ref).max())
    np.testing.assert_allclose(G, G.transpose(0, 2, 1), atol=1e-10 * np.abs(ref).max())


def test_geodesic_acceleration_equals_christoffel_contraction(key):
    flat_w, f, w, apply, x, unravel = _small_model(key)
    v = jax.random.normal(jax.random.fold_in(key, 7), flat_w.shape)
    G = paths.christoffel(f, flat_w)
    a, info = paths.geodesic_acceleration(f, flat_w, v, tol=1e-12, maxiter=200)
    ref = -jnp.einsum("kij,i,j->k", G, v, v)
    np.testing.assert_allclose(a, ref, rtol=1e-5, atol=1e-7 * np.abs(ref).max())
    assert bool(info.converged)
    # on the parameter pytree with f a model of the pytree: the same vector
    a_tree, _ = paths.geodesic_acceleration(lambda u: apply(u, x), w, unravel(v), tol=1e-12, maxiter=200)
    np.testing.assert_allclose(flat(a_tree), a, rtol=1e-5, atol=1e-7 * np.abs(ref).max())


def test_geodesic_acceleration_damped_matches_dense_solve(key):
    # over-parameterised (26 parameters, 6 outputs): only the damped solve is defined
    w, apply, x = _mlp((3, 4, 2), key, 3)
    flat_w, unravel = ravel_pytree(w)
    f = lambda u: apply(unravel(u), x).reshape(-1)  # noqa: E731
    v = jax.random.normal(key, flat_w.shape)
    lam = 1e-2
    J = jax.jacfwd(f)(flat_w)
    H = jax.hessian(f)(flat_w)
    ref = -jnp.linalg.solve(J.T @ J + lam * jnp.eye(flat_w.size), J.T @ jnp.einsum("aij,i,j->a", H, v, v))
    a, info = paths.geodesic_acceleration(f, flat_w, v, damping=lam, tol=1e-12, maxiter=500)
    np.testing.assert_allclose(a, ref, rtol=1e-7, atol=1e-9 * np.abs(ref).max())
    np.testing.assert_allclose(-jnp.einsum("kij,i,j->k", paths.christoffel(f, flat_w, damping=lam), v, v), ref, rtol=1e-8)


def test_shoot_polar_is_a_straight_line_at_constant_speed():
    w0, v0 = jnp.array([1.0, 0.3]), jnp.array([0.4, 1.1])
    # one jvp gives the path and its derivative along a change of v0 (forward mode through the solver)
    dv = jnp.array([1.0, -0.5])
    (ws, vs), (dws, _) = jax.jvp(
        lambda v: paths.shoot(polar, w0, v, t1=1.0, num_steps=10, rtol=1e-10, atol=1e-10), (v0,), (dv,)
    )
    assert ws.shape == vs.shape == (11, 2)
    t = jnp.linspace(0, 1, 11)[:, None]
    u0, du = polar(w0), jax.jvp(polar, (w0,), (v0,))[1]
    np.testing.assert_allclose(jax.vmap(polar)(ws), u0 + t * du, atol=1e-8)
    speeds = jnp.linalg.norm(jax.vmap(lambda w, v: jax.jvp(polar, (w,), (v,))[1])(ws, vs), axis=1)
    np.testing.assert_allclose(speeds, jnp.linalg.norm(du), rtol=1e-8)
    # w(1) = polar^{-1}(u0 + J(w0) v0), so dw(1)/dv0 = J(w(1))^{-1} J(w0)
    ref = jnp.linalg.solve(jax.jacfwd(polar)(ws[-1]), jax.jacfwd(polar)(w0) @ dv)
    np.testing.assert_allclose(dws[-1], ref, rtol=1e-6, atol=1e-8)


def test_shoot_with_the_discrete_geodesics_initial_velocity_reaches_its_end():
    w0, w1 = jnp.array([1.0, 0.0]), jnp.array([1.5, 1.0])
    K = 40
    ws, _ = paths.geodesic(polar, w0, w1, num_points=K + 1, tol=1e-10)
    v0 = K * (-3 * ws[0] + 4 * ws[1] - ws[2]) / 2  # second-order one-sided difference
    end = paths.shoot(polar, w0, v0, num_steps=1)[0][-1]
    np.testing.assert_allclose(end, w1, atol=2e-3)
    # it is close to the exact initial velocity J^{-1} (u1 - u0)
    v_exact = jnp.linalg.solve(jax.jacfwd(polar)(w0), polar(w1) - polar(w0))
    np.testing.assert_allclose(v0, v_exact, atol=2e-3)


# --------------------------------------------------------------------------------------------
# functionally invariant paths


def test_fip_step_matches_dense_damped_solve(key):
    w, apply, x = _mlp((3, 4, 2), key, 5)
    flat_w, unravel = ravel_pytree(w)
    s = lambda u: jnp.sum(jnp.abs(ravel_pytree(u)[0]) ** 1.5)  # noqa: E731  a sparsity-like penalty
    lam, eta = 1e-2, 1e-3
    g = _dense_metric(apply, w, x)
    d = -jnp.linalg.solve(g + lam * jnp.eye(flat_w.size), jax.grad(lambda u: s(unravel(u)))(flat_w))
    w_new, info = paths.fip_step(apply, w, x, s, step_size=eta, damping=lam, maxiter=500, tol=1e-12)
    np.testing.assert_allclose(flat(w_new), flat_w + eta * d, rtol=1e-9, atol=1e-12)
    assert info.secondary_after < info.secondary_before
    np.testing.assert_allclose(info.output_movement, eta * jnp.sqrt(d @ g @ d), rtol=1e-9)
    assert bool(info.cg_converged) and float(info.scale) == 1.0
    change = apply(w_new, x) - apply(w, x)
    np.testing.assert_allclose(info.output_change, jnp.sqrt(jnp.sum(change**2) / 5), rtol=1e-10)
    # the movement bound: scaled so that sqrt(du^T g du) is exactly the bound
    bound = 0.5 * float(info.output_movement)
    w_b, info_b = paths.fip_step(apply, w, x, s, step_size=eta, damping=lam, max_output_step=bound, maxiter=500, tol=1e-12)
    np.testing.assert_allclose(info_b.output_movement, bound, rtol=1e-9)
    np.testing.assert_allclose(info_b.scale, 0.5, rtol=1e-9)
    np.testing.assert_allclose(flat(w_b), flat_w + 0.5 * eta * d, rtol=1e-9, atol=1e-12)
    # the guard on the actual change: halved until the outputs move by at most the bound
    nu = 0.3 * float(info.output_change)
    w_c, info_c = paths.fip_step(apply, w, x, s, step_size=eta, damping=lam, max_output_change=nu, maxiter=500, tol=1e-12)
    halvings = round(-np.log2(float(info_c.scale)))
    assert halvings >= 2 and float(info_c.output_change) <= nu
    np.testing.assert_allclose(flat(w_c), flat_w + 2.0**-halvings * eta * d, rtol=1e-9, atol=1e-12)
    got = jnp.sqrt(jnp.sum((apply(w_c, x) - apply(w, x)) ** 2) / 5)
    np.testing.assert_allclose(info_c.output_change, got, rtol=1e-10)
    assert float(info_c.output_change) > nu / 4  # one halving fewer would have been too far (roughly)


def test_fip_step_moves_along_the_null_space():
    # the output depends on w0 + w1 only: the step keeps it while lowering w0^2
    model = lambda w, x: x @ w  # noqa: E731
    x = jnp.array([[1.0, 1.0]])
    w = jnp.array([1.0, 0.0])
    for _ in range(3):
        w, info = paths.fip_step(model, w, x, lambda w: w[0] ** 2, step_size=2e-4, damping=1e-3)
        assert info.secondary_after < info.secondary_before and info.output_change < 1e-3
    np.testing.assert_allclose(w.sum(), 1.0, atol=2e-3)


# --------------------------------------------------------------------------------------------
# sharding


def test_shard_batch_on_one_device():
    xs = paths.shard_batch({"x": jnp.ones((6, 2)), "y": jnp.arange(6)})
    assert xs["x"].sharding.spec == jax.sharding.PartitionSpec("data")
    np.testing.assert_array_equal(xs["y"], np.arange(6))


SHARDED = textwrap.dedent(
    """
    import jax, jax.numpy as jnp, numpy as np
    jax.config.update("jax_enable_x64", True)
    import gradtools as gt
    from gradtools import paths
    from jax.flatten_util import ravel_pytree
    assert jax.device_count() == 4, jax.devices()
    init, apply = gt.problems.make_mlp((5, 16, 3))
    w = init(jax.random.key(0))
    x = jax.random.normal(jax.random.key(1), (32, 5))
    v = jax.tree_util.tree_map(lambda a: jnp.cos(a) + 0.1, w)
    xs = paths.shard_batch(x)
    assert len(xs.sharding.device_set) == 4
    assert sorted(s.data.shape for s in xs.addressable_shards) == [(8, 5)] * 4
    assert len({s.device for s in xs.addressable_shards}) == 4
    flat = lambda t: ravel_pytree(t)[0]
    single = flat(paths.output_metric_mvp(apply, w, x, v))
    sharded = jax.jit(lambda w, x, v: paths.output_metric_mvp(apply, w, x, v))(w, xs, v)
    np.testing.assert_allclose(flat(sharded), single, rtol=1e-6, atol=1e-6 * np.abs(single).max())
    s = lambda u: jnp.sum(ravel_pytree(u)[0] ** 2)
    kw = dict(step_size=1e-3, damping=1e-2, maxiter=20, tol=1e-10)
    w1, info1 = paths.fip_step(apply, w, x, s, **kw)
    w2, info2 = paths.fip_step(apply, w, xs, s, **kw)
    np.testing.assert_allclose(flat(w2), flat(w1), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(info2.output_movement, info1.output_movement, rtol=1e-6)
    print("OK")
    """
)


def test_sharded_batch_gives_the_single_device_result():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    out = subprocess.run([sys.executable, "-c", SHARDED], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip().endswith("OK"), out.stderr[-3000:]


# --------------------------------------------------------------------------------------------
# errors


def test_errors():
    w = {"a": jnp.zeros(2), "b": jnp.zeros(3)}
    bad = {"a": jnp.zeros(2), "c": jnp.zeros(3)}
    with pytest.raises(ValueError, match="theta must have the same pytree structure as w0"):
        paths.bezier(w, bad, w, 0.5)
    with pytest.raises(ValueError, match=r"leaf 1 of w1 has shape \(4,\), expected \(3,\)"):
        paths.linear(w, {"a": jnp.zeros(2), "b": jnp.zeros(4)}, 0.5)
    with pytest.raises(ValueError, match=r"t must be a scalar \(shape \(\)\), got shape \(3,\).*jax.vmap"):
        paths.bezier(w, w, w, jnp.linspace(0, 1, 3))
    with pytest.raises(TypeError, match="t must be a real number"):
        paths.linear(w, w, "t")
    with pytest.raises(TypeError, match="leaf 0 of w0 has dtype int"):
        paths.linear(jnp.arange(2), jnp.arange(2), 0.5)
    with pytest.raises(ValueError, match="num_points must be >= 2, got 1"):
        paths.path_points(lambda t: t, 1)
    with pytest.raises(TypeError, match="num_points must be an int, got float"):
        paths.geodesic(polar, jnp.ones(2), jnp.ones(2), num_points=5.0)
    with pytest.raises(ValueError, match="num_points must be >= 2, got 1"):
        paths.geodesic(polar, jnp.ones(2), jnp.ones(2), num_points=1)
    with pytest.raises(TypeError, match="curve must be a callable"):
        paths.path_points(3, 4)
    ws = {"a": jnp.zeros((4, 2)), "b": jnp.zeros((5, 3))}
    with pytest.raises(ValueError, match=r"same leading axis \(the points of the path\), got leading sizes \[4, 5\]"):
        paths.path_length(lambda w: w["a"], ws)
    with pytest.raises(ValueError, match="at least 2 points"):
        paths.path_energy(lambda w: w, jnp.zeros((1, 3)))
    with pytest.raises(ValueError, match="leaf of shape"):
        paths.path_energy(lambda w: w["a"], {"a": jnp.zeros(3), "b": jnp.zeros(())})
    with pytest.raises(TypeError, match="f must map a point to a pytree of arrays"):
        paths.path_length(lambda w: "outputs", jnp.zeros((3, 2)))
    with pytest.raises(TypeError, match="f must return a non-empty pytree of arrays"):
        paths.path_energy(lambda w: None, jnp.zeros((3, 2)))
    with pytest.raises(TypeError, match="output leaf 0 of f has dtype int.*not labels"):
        paths.path_energy(lambda w: jnp.argmax(w), jnp.zeros((3, 2)))
    with pytest.raises(TypeError, match="f must be a callable"):
        paths.path_length("f", jnp.zeros((3, 2)))
    with pytest.raises(ValueError, match="init must have num_points=5 points"):
        paths.geodesic(polar, jnp.ones(2), jnp.ones(2), num_points=5, init=jnp.zeros((4, 2)))
    with pytest.raises(ValueError, match="one point of init must have the same pytree structure as w0"):
        paths.geodesic(polar, jnp.ones(2), jnp.ones(2), num_points=2, init={"a": jnp.zeros((2, 2))})
    with pytest.raises(ValueError, match="tol must be > 0"):
        paths.geodesic(polar, jnp.ones(2), jnp.ones(2), num_points=3, tol=0.0)
    with pytest.raises(ValueError, match="ts must be a non-empty 1-D array"):
        paths.bezier_expected_loss(lambda w, b: jnp.sum(w), jnp.ones(2), jnp.ones(2), jnp.ones(2), None, 0.5)


def test_errors_training_and_metric():
    x, loss, w0, w1 = _hyperbola_problem()
    kw = dict(key=jax.random.key(0), num_steps=2, batch_size=2)
    with pytest.raises(ValueError, match="batch_size must be <= the number of examples 8, got 9"):
        paths.train_bezier(loss, w0, w1, x, **{**kw, "batch_size": 9})
    with pytest.raises(ValueError, match=r"same leading axis \(the examples\)"):
        paths.train_bezier(loss, w0, w1, (x, jnp.ones(3)), **kw)
    with pytest.raises(ValueError, match="num_steps must be >= 1, got 0"):
        paths.train_bezier(loss, w0, w1, x, **{**kw, "num_steps": 0})
    with pytest.raises(TypeError, match="loss must return a scalar"):
        paths.train_bezier(lambda w, b: w * b.sum(), w0, w1, x, **kw)
    with pytest.raises(TypeError, match="optimizer must be an optax.GradientTransformation"):
        paths.train_bezier(loss, w0, w1, x, optimizer="adam", **kw)
    with pytest.raises(ValueError, match="theta0 must have the same pytree structure as w0"):
        paths.train_bezier(loss, w0, w1, x, theta0=[w0], **kw)
    model = lambda w, x: x @ w  # noqa: E731
    xb = jnp.ones((4, 2))
    with pytest.raises(ValueError, match="model\\(w, x\\) must return outputs with a leading batch axis"):
        paths.output_metric_mvp(lambda w, x: jnp.sum(x @ w), jnp.ones(2), xb, jnp.ones(2))
    with pytest.raises(ValueError, match="v must have the same pytree structure as w"):
        paths.output_metric_mvp(model, jnp.ones(2), xb, [jnp.ones(2)])
    with pytest.raises(ValueError, match="damping must be >= 0"):
        paths.geodesic_acceleration(polar, jnp.ones(2), jnp.ones(2), damping=-1.0)
    with pytest.raises(ValueError, match="maxiter must be a positive int"):
        paths.geodesic_acceleration(polar, jnp.ones(2), jnp.ones(2), maxiter=0)
    with pytest.raises(ValueError, match="t1 must be > 0"):
        paths.shoot(polar, jnp.ones(2), jnp.ones(2), t1=0.0)
    with pytest.raises(TypeError, match="secondary_loss must return a scalar"):
        paths.fip_step(model, jnp.ones(2), xb, lambda w: w, step_size=0.1, damping=0.1)
    with pytest.raises(ValueError, match="step_size must be a scalar >= 0"):
        paths.fip_step(model, jnp.ones(2), xb, jnp.sum, step_size=-0.1, damping=0.1)
    with pytest.raises(ValueError, match="max_output_step must be > 0"):
        paths.fip_step(model, jnp.ones(2), xb, jnp.sum, step_size=0.1, damping=0.1, max_output_step=0.0)
    with pytest.raises(ValueError, match=r"divisible by the number of devices: got N=4 examples for 3 devices.*x\[: 3\]"):
        paths.shard_batch(xb, jax.devices() * 3)
    with pytest.raises(ValueError, match="devices must hold at least one device"):
        paths.shard_batch(xb, [])
