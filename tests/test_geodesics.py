"""gradtools.geodesics against independent references: autodiff, SciPy's ODE solver and optimizer,
NumPy sorting, hand-written optax loops and dense linear solves."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import scipy.integrate
import scipy.optimize
from helpers import flat, tree_allclose
from jax.flatten_util import ravel_pytree

from gradtools import geodesics as geo
from gradtools import problems

# ------------------------------------------------------------------ the two-parameter model

W_POINTS = [(1.0, 0.0), (0.7, 2.1), (2.5, -1.3)]


def _metric_autodiff(w, x):
    J = jax.jacfwd(lambda v: geo.sinusoid(v, x))(w)  # (N, 2)
    return J.T @ J / x.shape[0]


@pytest.mark.parametrize("n", [3, 7, 16])
@pytest.mark.parametrize("w", W_POINTS)
def test_sinusoid_metric_is_the_mean_of_jt_j(n, w):
    x = geo.sinusoid_inputs(n)
    w = jnp.array(w)
    np.testing.assert_allclose(geo.sinusoid_metric(w), _metric_autodiff(w, x), atol=1e-13)


def test_sinusoid_values_and_inputs():
    x = geo.sinusoid_inputs(5)
    np.testing.assert_allclose(x, 2 * np.pi * np.arange(5) / 5)
    np.testing.assert_allclose(geo.sinusoid(jnp.array([1.5, 0.4]), x), 1.5 * np.cos(np.asarray(x) - 0.4))
    with pytest.raises(ValueError, match=">= 3"):
        geo.sinusoid_inputs(2)
    with pytest.raises(ValueError, match="size 2"):
        geo.sinusoid(jnp.ones(3), x)
    with pytest.raises(ValueError, match="1-D"):
        geo.sinusoid(jnp.ones(2), jnp.ones((2, 2)))


def test_sinusoid_coords_give_the_rms_output_distance():
    x = geo.sinusoid_inputs(11)
    rng = np.random.default_rng(0)
    for _ in range(5):
        w, u = jnp.asarray(rng.normal(size=2)), jnp.asarray(rng.normal(size=2))
        rms = np.sqrt(np.mean((np.asarray(geo.sinusoid(w, x)) - np.asarray(geo.sinusoid(u, x))) ** 2))
        np.testing.assert_allclose(np.linalg.norm(geo.sinusoid_coords(w) - geo.sinusoid_coords(u)), rms, rtol=1e-12)


def test_sinusoid_weights_inverts_coords():
    w = jnp.array([[1.3, 0.2], [0.5, 3.0], [2.0, -2.9]])
    back = geo.sinusoid_weights(geo.sinusoid_coords(w), w[:, 1] + 0.5)
    np.testing.assert_allclose(back, w, atol=1e-12)
    # the phase returned is the one nearest phi_ref
    np.testing.assert_allclose(geo.sinusoid_weights(geo.sinusoid_coords(jnp.array([1.0, 0.1])), 2 * np.pi)[1], 2 * np.pi + 0.1)


def _christoffel_autodiff(w, x):
    # Gamma^k_ij = 1/2 g^kl (d_i g_jl + d_j g_il - d_l g_ij), the metric from jacfwd
    g = _metric_autodiff(w, x)
    dg = jax.jacfwd(_metric_autodiff)(w, x)  # dg[a, b, c] = d_c g_ab
    first = 0.5 * (jnp.einsum("jli->lij", dg) + jnp.einsum("ilj->lij", dg) - jnp.einsum("ijl->lij", dg))
    return jnp.einsum("kl,lij->kij", jnp.linalg.inv(g), first)


@pytest.mark.parametrize("w", W_POINTS)
def test_sinusoid_christoffel_matches_autodiff(w):
    w = jnp.array(w)
    np.testing.assert_allclose(geo.sinusoid_christoffel(w), _christoffel_autodiff(w, geo.sinusoid_inputs(9)), atol=1e-12)


def _shoot_reference(w0, v0, t1):
    x = geo.sinusoid_inputs(8)
    gam = jax.jit(lambda w: _christoffel_autodiff(w, x))

    def rhs(t, y):
        w, v = y[:2], y[2:]
        a = -np.einsum("kij,i,j->k", np.asarray(gam(jnp.asarray(w))), v, v)
        return np.concatenate([v, a])

    sol = scipy.integrate.solve_ivp(rhs, (0, t1), np.concatenate([w0, v0]), rtol=1e-11, atol=1e-12, dense_output=True)
    return sol


@pytest.mark.parametrize("w0,v0", [((1.0, 0.0), (0.3, 1.2)), ((2.0, 1.0), (-0.5, -0.4))])
def test_sinusoid_geodesic_solves_the_geodesic_equation(w0, v0):
    w0, v0 = np.array(w0), np.array(v0)
    sol = _shoot_reference(w0, v0, 1.0)
    t = np.linspace(0, 1, 6)
    ours = geo.sinusoid_geodesic(jnp.asarray(w0), jnp.asarray(v0), jnp.asarray(t))
    assert ours.shape == (6, 2)
    np.testing.assert_allclose(ours, sol.sol(t)[:2].T, rtol=1e-8, atol=1e-8)
    # constant speed in output space
    z = np.asarray(geo.sinusoid_coords(ours))
    d = np.linalg.norm(np.diff(z, axis=0), axis=1)
    np.testing.assert_allclose(d, d[0], rtol=1e-10)


def test_sinusoid_geodesic_between_minimises_discrete_energy():
    w0, w1 = np.array([1.0, -0.4]), np.array([1.5, 1.6])
    K = 8
    x = geo.sinusoid_inputs(6)

    def energy(inner):
        ws = np.concatenate([w0[None], inner.reshape(K - 1, 2), w1[None]])
        out = np.stack([np.asarray(geo.sinusoid(jnp.asarray(w), x)) for w in ws]) / np.sqrt(len(x))
        return K * np.sum(np.diff(out, axis=0) ** 2)

    init = np.linspace(w0, w1, K + 1)[1:-1].ravel()
    ref = scipy.optimize.minimize(energy, init, method="BFGS", options={"gtol": 1e-10}).x.reshape(K - 1, 2)
    ours = geo.sinusoid_geodesic_between(jnp.asarray(w0), jnp.asarray(w1), jnp.linspace(0, 1, K + 1))
    np.testing.assert_allclose(ours[0], w0, atol=1e-12)
    np.testing.assert_allclose(ours[-1], w1, atol=1e-12)
    np.testing.assert_allclose(ours[1:-1], ref, atol=1e-5)
    with pytest.raises(ValueError, match="less than pi"):
        geo.sinusoid_geodesic_between(jnp.array([1.0, 0.0]), jnp.array([1.0, 3.5]), 0.5)


# ------------------------------------------------------------------ data, training, pruning


def test_split_digits_partitions_by_class():
    full, tasks = geo.split_digits(split_at=5)
    ref = problems.load_digits(seed=0)
    np.testing.assert_allclose(full.x_train, ref.x_train)
    ytr, yte = np.asarray(ref.y_train), np.asarray(ref.y_test)
    np.testing.assert_array_equal(tasks.task1.y_train, ytr[ytr < 5])
    np.testing.assert_array_equal(tasks.task2.y_test, yte[yte >= 5])
    np.testing.assert_allclose(tasks.task2.x_train, np.asarray(ref.x_train)[ytr >= 5])
    assert len(tasks.task1.y_train) + len(tasks.task2.y_train) == len(ytr)
    assert full.x_train.dtype == jnp.float64  # x64 is on in tests
    with pytest.raises(ValueError, match="1..9"):
        geo.split_digits(split_at=0)


def test_cross_entropy_and_accuracy():
    rng = np.random.default_rng(1)
    logits, y = rng.normal(size=(7, 4)), rng.integers(0, 4, 7)
    apply = lambda w, x: x * w
    ref = optax.softmax_cross_entropy_with_integer_labels(jnp.asarray(logits), jnp.asarray(y)).mean()
    np.testing.assert_allclose(geo.cross_entropy(apply, 1.0, jnp.asarray(logits), jnp.asarray(y)), ref, rtol=1e-12)
    assert int(geo.accuracy_count(apply, 1.0, jnp.asarray(logits), jnp.asarray(y))) == int(np.sum(logits.argmax(1) == y))
    with pytest.raises(ValueError, match="labels"):
        geo.cross_entropy(apply, 1.0, jnp.asarray(logits), jnp.asarray(y[:3]))
    with pytest.raises(ValueError, match="labels"):
        geo.accuracy_count(apply, 1.0, jnp.asarray(logits[0]), jnp.asarray(y))


def test_train_classifier_matches_a_python_optax_loop():
    init, apply = problems.make_mlp([4, 6, 3])
    k1, k2, k3 = jax.random.split(jax.random.key(2), 3)
    w, x, y = init(k1), jax.random.normal(k2, (12, 4)), jax.random.randint(k3, (12,), 0, 3)
    opt = optax.adam(0.05)
    ref, s = w, opt.init(w)
    for _ in range(15):
        g = jax.grad(lambda v: optax.softmax_cross_entropy_with_integer_labels(apply(v, x), y).mean())(ref)
        u, s = opt.update(g, s, ref)
        ref = optax.apply_updates(ref, u)
    ours = geo.train_classifier(apply, w, x, y, num_steps=15, learning_rate=0.05)
    tree_allclose(ours, ref, rtol=1e-10, atol=1e-12)
    ours2, hist = geo.train_classifier(apply, w, x, y, num_steps=15, learning_rate=0.05,
                                       evaluate=lambda v: geo.accuracy_count(apply, v, x, y))
    tree_allclose(ours2, ref, rtol=1e-10, atol=1e-12)
    assert hist.shape == (15,) and int(hist[-1]) == int(geo.accuracy_count(apply, ref, x, y))
    with pytest.raises(ValueError, match="num_steps"):
        geo.train_classifier(apply, w, x, y, num_steps=-1)


def test_train_classifier_minibatches_mask_and_penalty_match_a_python_loop():
    init, apply = problems.make_mlp([4, 6, 3])
    k1, k2, k3, k4 = jax.random.split(jax.random.key(12), 4)
    w, x, y = init(k1), jax.random.normal(k2, (12, 4)), jax.random.randint(k3, (12,), 0, 3)
    mask = geo.magnitude_mask(w, 0.5)
    anchor = apply(w, x[:5])
    penalty = lambda v: 0.7 * jnp.mean((apply(v, x[:5]) - anchor) ** 2)  # noqa: E731
    opt = optax.adam(0.05)
    ref = jax.tree_util.tree_map(lambda a, m: a * (1 - m), w, mask)
    s = opt.init(ref)
    for k in jax.random.split(k4, 9):
        idx = np.asarray(jax.random.choice(k, 12, (4,), replace=False))
        loss = lambda v: optax.softmax_cross_entropy_with_integer_labels(apply(v, x[idx]), y[idx]).mean() + penalty(v)  # noqa: E731
        g = jax.tree_util.tree_map(lambda a, m: a * (1 - m), jax.grad(loss)(ref), mask)
        u, s = opt.update(g, s, ref)
        ref = optax.apply_updates(ref, u)
    ours = geo.train_classifier(apply, w, x, y, num_steps=9, learning_rate=0.05, batch_size=4, key=k4, mask=mask,
                                penalty=penalty)
    tree_allclose(ours, ref, rtol=1e-9, atol=1e-12)
    pruned = np.concatenate([np.asarray(a).ravel() for a in jax.tree_util.tree_leaves(ours) if np.ndim(a) >= 2])
    assert np.sum(pruned == 0) == np.sum(_np_mask(w, 0.5))  # the pruned weights stayed exactly zero
    with pytest.raises(ValueError, match="key"):
        geo.train_classifier(apply, w, x, y, num_steps=2, batch_size=4)
    with pytest.raises(TypeError, match="penalty"):
        geo.train_classifier(apply, w, x, y, num_steps=2, penalty=3.0)


def test_metric_trace_is_an_unbiased_estimate_of_the_dense_trace():
    apply, w, x = _tiny()
    v, unravel = ravel_pytree(w)
    J = jax.jacfwd(lambda u: apply(unravel(u), x).reshape(-1))(v)
    exact = float(jnp.sum(J**2)) / x.shape[0]
    est = geo.metric_trace(apply, w, x, key=jax.random.key(0), num_probes=4000)
    np.testing.assert_allclose(est, exact, rtol=0.05)
    # the estimator's mean over probes, checked probe by probe against J
    one = geo.metric_trace(apply, w, x, key=jax.random.key(1), num_probes=1)
    assert float(one) > 0
    with pytest.raises(ValueError, match="num_probes"):
        geo.metric_trace(apply, w, x, key=jax.random.key(0), num_probes=0)


def _np_mask(w, s):
    leaves = jax.tree_util.tree_leaves(w)
    mats = np.concatenate([np.asarray(a).ravel() for a in leaves if np.ndim(a) >= 2])
    k = int(np.floor(s * mats.size))
    pruned = np.zeros(mats.size)
    pruned[np.argsort(np.abs(mats), kind="stable")[:k]] = 1
    return pruned


@pytest.mark.parametrize("s", [0.0, 0.3, 0.85])
def test_magnitude_mask_matches_numpy_argsort(s):
    init, _ = problems.make_mlp([5, 7, 3])
    w = init(jax.random.key(3))
    m = geo.magnitude_mask(w, s)
    assert jax.tree_util.tree_structure(m) == jax.tree_util.tree_structure(w)
    np.testing.assert_array_equal(np.concatenate([np.asarray(l["w"]).ravel() for l in m]), _np_mask(w, s))
    for l in m:
        assert not np.any(np.asarray(l["b"]))  # biases are never pruned
    # jit-compatible in the sparsity
    tree_allclose(jax.jit(geo.magnitude_mask)(w, s), m)
    wp = geo.apply_mask(w, m)
    mats = np.concatenate([np.asarray(l["w"]).ravel() for l in wp])
    assert float(geo.weight_sparsity(wp)) == pytest.approx(np.mean(mats == 0))
    assert int(np.sum(mats == 0)) == int(np.floor(s * mats.size))


def test_pruning_errors():
    with pytest.raises(ValueError, match="fraction"):
        geo.magnitude_mask({"w": jnp.ones((2, 2))}, 1.0)
    with pytest.raises(ValueError, match="no weight matrix"):
        geo.magnitude_mask({"b": jnp.ones(3)}, 0.5)
    with pytest.raises(ValueError, match="structure"):
        geo.apply_mask({"w": jnp.ones((2, 2))}, [jnp.ones((2, 2))])
    with pytest.raises(ValueError, match="no weight matrix"):
        geo.weight_sparsity([jnp.ones(3)])


# ------------------------------------------------------------------ FIP drivers


def _dense_fip(model, w, x, grad_fn, step_size, damping):
    # w - eta (G + lam I)^{-1} grad with G = (1/N) sum_i J_i^T J_i formed densely
    v, unravel = ravel_pytree(w)
    out = lambda u: jnp.reshape(model(unravel(u), x), (x.shape[0], -1))
    J = jax.jacfwd(out)(v)  # (N, m, n)
    G = jnp.einsum("iak,ial->kl", J, J) / x.shape[0]
    g = ravel_pytree(grad_fn(w))[0]
    return unravel(v - step_size * jnp.linalg.solve(G + damping * jnp.eye(v.size), g))


def _tiny():
    init, apply = problems.make_mlp([3, 4, 2])
    w = init(jax.random.key(5))
    x = jax.random.normal(jax.random.key(6), (6, 3))
    return apply, w, x


def test_fip_sparsify_matches_dense_reference():
    apply, w, x = _tiny()
    kw = dict(sparsity=0.5, num_steps=4, step_size=0.05, damping=0.3, ramp=0.5)
    wp, w_end, hist = geo.fip_sparsify(apply, w, x, maxiter=200, tol=1e-13, evaluate=lambda v: jnp.sum(apply(v, x)), **kw)
    ref, targets, drops = w, [], []
    for k in range(4):
        s = 0.5 * min(1.0, (k + 1) / 2.0)
        targets.append(s)
        m = geo.magnitude_mask(ref, s)
        penalty = lambda v: 0.5 * sum(float(jnp.sum((a * b) ** 2)) for a, b in zip(jax.tree_util.tree_leaves(m),
                                                                                  jax.tree_util.tree_leaves(v)))
        new = _dense_fip(apply, ref, x, lambda v: jax.tree_util.tree_map(lambda a, b: a * b, m, v), 0.05, 0.3)
        drops.append(penalty(ref) - penalty(new))  # the step's own mask, before and after
        ref = new
    tree_allclose(w_end, ref, rtol=1e-7, atol=1e-9)
    tree_allclose(wp, geo.apply_mask(ref, geo.magnitude_mask(ref, 0.5)), rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(hist.target, targets)
    np.testing.assert_allclose(hist.secondary_drop, drops, rtol=1e-7, atol=1e-12)
    assert all(d > 0 for d in drops)
    np.testing.assert_allclose(hist.metrics[-1], jnp.sum(apply(w_end, x)), rtol=1e-10)
    assert hist.movement.shape == (4,) and float(hist.movement[0]) > 0
    assert hist.cg_residual.shape == (4,) and bool(jnp.all(hist.cg_converged)) and bool(jnp.all(hist.scale == 1))
    assert float(geo.weight_sparsity(wp)) >= 0.5
    with pytest.raises(ValueError, match="sparsity"):
        geo.fip_sparsify(apply, w, x, sparsity=1.5, num_steps=2, step_size=0.1, damping=0.1)
    with pytest.raises(ValueError, match="ramp"):
        geo.fip_sparsify(apply, w, x, sparsity=0.5, num_steps=2, step_size=0.1, damping=0.1, ramp=0.0)


def test_fip_second_task_matches_dense_reference_and_moves_little():
    apply, w, x = _tiny()
    x2 = x[:3] + 1.5
    loss2 = lambda v: jnp.sum((apply(v, x2) - 1.0) ** 2)
    w_end, hist = geo.fip_second_task(apply, w, x, loss2, num_steps=3, step_size=0.02, damping=0.1, maxiter=200, tol=1e-13)
    ref, before = w, []
    for _ in range(3):
        before.append(loss2(ref))
        ref = _dense_fip(apply, ref, x, jax.grad(loss2), 0.02, 0.1)
    tree_allclose(w_end, ref, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(hist.target, before, rtol=1e-9)
    after = before[1:] + [loss2(ref)]  # the drop each step recorded: before minus after, from the dense path
    np.testing.assert_allclose(hist.secondary_drop, np.subtract(before, after), rtol=1e-7, atol=1e-12)
    moved = np.sqrt(np.sum((np.asarray(apply(ref, x)) - np.asarray(apply(w, x))) ** 2) / x.shape[0])
    assert moved <= float(np.sum(hist.movement)) * (1 + 1e-9)  # triangle inequality
    assert hist.metrics is None
    with pytest.raises(TypeError, match="callable"):
        geo.fip_second_task(apply, w, x, 3.0, num_steps=2, step_size=0.1, damping=0.1)


def test_fip_drivers_with_batches_and_an_output_change_bound():
    apply, w, x = _tiny()
    x2 = x[:3] + 1.5
    loss2 = lambda v: jnp.sum((apply(v, x2) - 1.0) ** 2)  # noqa: E731
    key = jax.random.key(9)
    w_end, hist = geo.fip_second_task(apply, w, x, loss2, num_steps=3, step_size=0.5, damping=0.01, batch_size=4,
                                      key=key, max_output_change=0.05, maxiter=200, tol=1e-13)
    # the same steps by hand: the batches the driver draws, the step halved until the change is small
    ref = w
    for k in jax.random.split(key, 3):
        xb = x[jax.random.choice(k, 6, (4,), replace=False)]
        step = _dense_fip(apply, ref, xb, jax.grad(loss2), 0.5, 0.01)
        c = 1.0
        while True:
            cand = jax.tree_util.tree_map(lambda a, b: a + c * (b - a), ref, step)
            moved = np.sqrt(np.sum((np.asarray(apply(cand, xb)) - np.asarray(apply(ref, xb))) ** 2) / 4)
            if moved <= 0.05:
                break
            c /= 2
        ref = cand
    tree_allclose(w_end, ref, rtol=1e-6, atol=1e-9)
    assert float(jnp.max(hist.movement)) <= 0.05 and float(jnp.min(hist.scale)) < 1  # the bound was needed
    with pytest.raises(ValueError, match="key"):
        geo.fip_second_task(apply, w, x, loss2, num_steps=2, step_size=0.1, damping=0.1, batch_size=3)
    with pytest.raises(ValueError, match="max_output_change"):
        geo.fip_sparsify(apply, w, x, sparsity=0.5, num_steps=2, step_size=0.1, damping=0.1, max_output_change=0.0)


# ------------------------------------------------------------------ sizes and memory


@pytest.mark.parametrize("sizes", [(64, 64, 10), (3, 5, 7, 2)])
def test_mlp_num_params_counts_make_mlp(sizes):
    init, _ = problems.make_mlp(sizes)
    assert geo.mlp_num_params(sizes) == flat(init(jax.random.key(0))).size


def test_lecture_sizes():
    small, big = geo.lecture_sizes(False), geo.lecture_sizes(True)
    assert geo.mlp_num_params(big.mlp) >= 1_000_000 > geo.mlp_num_params(small.mlp)
    assert small.mlp[0] == big.mlp[0] == 64 and small.mlp[-1] == big.mlp[-1] == 10


def test_fip_memory_estimate_by_hand():
    est = geo.fip_memory_estimate((10, 20, 3), 7, bytes_per_float=8, cg_vectors=4)
    n = 11 * 20 + 21 * 3
    assert est["params"] == 3 * n * 8
    assert est["cg_vectors"] == 4 * n * 8
    assert est["activations"] == 3 * 7 * 33 * 8
    assert est["total"] == est["params"] + est["cg_vectors"] + est["activations"]
    assert est["dense_metric"] == n * n * 8
    with pytest.raises(ValueError, match="batch"):
        geo.fip_memory_estimate((10, 3), 0)
