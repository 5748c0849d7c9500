"""gradtools.connectivity against independent references: hand-written loops, dense Hessians,
brute-force searches over permutations, closed forms."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import flat, tree_allclose

import gradtools as gt
from gradtools import connectivity as cn
from gradtools import paths


def _mlp(sizes, key=0, activation="tanh"):
    init, apply = gt.problems.make_mlp(sizes, activation=activation)
    w = jax.tree_util.tree_map(lambda a: a.astype(jnp.float64), init(jax.random.key(key)))
    return w, apply


def _data(n=12, d=3, c=4, key=1):
    kx, ky = jax.random.split(jax.random.key(key))
    return jax.random.normal(kx, (n, d)), jax.random.randint(ky, (n,), 0, c)


def _stack(*ws):
    return jax.tree_util.tree_map(lambda *a: jnp.stack(a), *ws)


# ------------------------------------------------------------------ loss, error, training, ensembles


def test_classifier_loss_matches_log_softmax():
    w, apply = _mlp([3, 5, 4])
    x, y = _data()
    logits = np.asarray(apply(w, x))
    ref = np.mean([np.log(np.sum(np.exp(r))) - r[t] for r, t in zip(logits, np.asarray(y))])
    np.testing.assert_allclose(cn.classifier_loss(apply)(w, (x, y)), ref, rtol=1e-12)


def test_cross_entropy_keeps_relative_precision_at_tiny_losses():
    # logits of a confident network: the true class wins by about 22, so each loss is tiny
    k1, k2 = jax.random.split(jax.random.key(3))
    y = jax.random.randint(k1, (50,), 0, 10)
    logits = 3 * jax.random.normal(k2, (50, 10)) + jax.nn.one_hot(y, 10) * 22.0
    L, Y = np.asarray(logits), np.asarray(y)
    ref = np.array([np.log1p(sum(np.exp(L[i, k] - L[i, Y[i]]) for k in range(10) if k != Y[i]))
                    for i in range(50)])                                    # float64, term by term
    assert np.all((ref > 1e-12) & (ref < 1e-2)) and np.median(ref) < 1e-5
    l32 = logits.astype(jnp.float32)
    got = np.asarray(cn.cross_entropy(l32, y))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, ref, rtol=2e-5)
    # the textbook form in float32 loses the small number to cancellation
    textbook32 = np.asarray(jax.nn.logsumexp(l32, axis=-1) - l32[jnp.arange(50), y])
    assert np.max(np.abs(textbook32 / ref - 1)) > 1e-2
    # and so do its gradients; this form's gradient keeps float32 accuracy
    g64 = jax.grad(lambda z: jnp.sum(cn.cross_entropy(z, y)))(logits)
    g32 = jax.grad(lambda z: jnp.sum(cn.cross_entropy(z, y)))(l32)
    np.testing.assert_allclose(g32, g64, rtol=1e-4, atol=1e-12)
    # large wrong margins do not overflow
    big = jnp.array([[0.0, 200.0, -300.0]], dtype=jnp.float32)
    np.testing.assert_allclose(cn.cross_entropy(big, jnp.array([0])), [200.0], rtol=1e-6)


def test_evaluate_path_matches_a_loop():
    x, y = _data()
    ws = [_mlp([3, 5, 4], key=k)[0] for k in range(3)]
    apply = _mlp([3, 5, 4])[1]
    losses, errors = cn.evaluate_path(apply, _stack(*ws), x, y)
    loss = cn.classifier_loss(apply)
    for k, w in enumerate(ws):
        np.testing.assert_allclose(losses[k], loss(w, (x, y)), rtol=1e-12)
        wrong = sum(int(np.argmax(np.asarray(apply(w, x[i : i + 1]))) != int(y[i])) for i in range(len(y)))
        assert errors[k] == wrong / len(y)


def test_evaluate_path_errors():
    w, apply = _mlp([3, 5, 4])
    x, y = _data()
    with pytest.raises(ValueError, match="one integer label"):
        cn.evaluate_path(apply, _stack(w), x, y[:-1])
    with pytest.raises(ValueError, match="stacked pytree"):
        cn.evaluate_path(apply, [{"w": jnp.ones((2, 3, 5)), "b": jnp.ones((3, 5))}], x, y)


def test_train_classifiers_matches_a_hand_written_loop():
    init, apply = gt.problems.make_mlp([3, 6, 4])
    x, y = _data(n=20)
    keys = jax.random.split(jax.random.key(2), 2)
    ws, losses = cn.train_classifiers(init, apply, x, y, keys=keys, num_steps=30, learning_rate=5e-2)
    assert losses.shape == (2, 30) and len(ws) == 2
    # Reference: a Python loop with the same optimizer, one network at a time.
    loss = cn.classifier_loss(apply)
    opt = optax.adam(optax.cosine_decay_schedule(5e-2, 30, alpha=0.01))
    for i in range(2):
        w = jax.tree_util.tree_map(lambda a: a.astype(jnp.float64), init(keys[i]))
        state = opt.init(w)
        for s in range(30):
            value, g = jax.value_and_grad(loss)(w, (x, y))
            np.testing.assert_allclose(losses[i, s], value, rtol=1e-9)
            u, state = opt.update(g, state, w)
            w = optax.apply_updates(w, u)
        tree_allclose(ws[i], w, rtol=1e-8, atol=1e-10)
    assert not np.allclose(flat(ws[0]), flat(ws[1]))  # different seeds, different networks


def test_train_classifiers_rejects_a_single_key():
    init, apply = gt.problems.make_mlp([3, 6, 4])
    x, y = _data()
    with pytest.raises(TypeError, match="1-D array of PRNG keys"):
        cn.train_classifiers(init, apply, x, y, keys=jax.random.key(0), num_steps=3)


def test_ensemble_probs_and_error_match_manual_average():
    x, y = _data()
    apply = _mlp([3, 5, 4])[1]
    ws = [_mlp([3, 5, 4], key=k)[0] for k in range(3)]
    p = cn.ensemble_probs(apply, _stack(*ws), x)
    ref = sum(np.asarray(jax.nn.softmax(apply(w, x))) for w in ws) / 3
    np.testing.assert_allclose(p, ref, rtol=1e-12)
    np.testing.assert_allclose(np.sum(p, axis=1), 1.0, rtol=1e-12)
    assert cn.ensemble_error(apply, _stack(*ws), x, y) == np.mean(np.argmax(ref, 1) != np.asarray(y))


# ------------------------------------------------------------------ permutation symmetry


@pytest.mark.parametrize("sizes", [[3, 5, 4], [3, 5, 6, 4]])
def test_permute_hidden_keeps_the_function(sizes):
    w, apply = _mlp(sizes)
    x, _ = _data()
    rng = np.random.default_rng(0)
    perms = [rng.permutation(h) for h in sizes[1:-1]]
    signs = [rng.choice([-1, 1], h) for h in sizes[1:-1]]
    for s in (None, signs):
        wp = cn.permute_hidden(w, perms, s)
        np.testing.assert_allclose(apply(wp, x), apply(w, x), atol=1e-12)
        assert not np.allclose(flat(wp), flat(w))


def test_sign_flips_need_an_odd_activation():
    w, apply = _mlp([3, 5, 4], activation="relu")
    x, _ = _data()
    perm = [np.arange(5)]
    np.testing.assert_allclose(apply(cn.permute_hidden(w, perm), x), apply(w, x), atol=1e-12)
    flipped = cn.permute_hidden(w, perm, [np.array([-1, 1, 1, 1, 1])])
    assert np.max(np.abs(apply(flipped, x) - apply(w, x))) > 1e-3


def test_permute_hidden_errors():
    w, _ = _mlp([3, 5, 4])
    with pytest.raises(ValueError, match="permutation of range"):
        cn.permute_hidden(w, [np.array([0, 0, 1, 2, 3])])
    with pytest.raises(ValueError, match="one permutation per hidden layer"):
        cn.permute_hidden(w, [np.arange(5), np.arange(5)])
    with pytest.raises(ValueError, match=r"\+1 or -1"):
        cn.permute_hidden(w, [np.arange(5)], [np.array([2, 1, 1, 1, 1])])
    with pytest.raises(ValueError, match="make_mlp's format"):
        cn.permute_hidden({"w": 1}, [np.arange(5)])


@pytest.mark.parametrize("signs", [False, True])
def test_weight_matching_recovers_a_known_permutation(signs):
    w, _ = _mlp([4, 7, 3])
    rng = np.random.default_rng(1)
    p = rng.permutation(7)
    s = rng.choice([-1, 1], 7) if signs else np.ones(7, int)
    wb = cn.permute_hidden(w, [p], [s])
    # small noise: the match is still exact
    wb = jax.tree_util.tree_map(lambda a: a + 1e-3 * jax.random.normal(jax.random.key(3), a.shape), wb)
    perm, sgn = cn.weight_matching(w, wb, signs=signs)
    aligned = cn.permute_hidden(wb, [perm], [sgn])
    tree_allclose(aligned, w, atol=1e-2, rtol=0)


@pytest.mark.parametrize("signs", [False, True])
def test_weight_matching_is_the_closest_alignment_by_brute_force(signs):
    wa, _ = _mlp([3, 4, 2], key=0)
    wb, _ = _mlp([3, 4, 2], key=1)
    perm, sgn = cn.weight_matching(wa, wb, signs=signs)
    best = np.linalg.norm(flat(wa) - flat(cn.permute_hidden(wb, [perm], [sgn])))
    sign_sets = itertools.product([-1, 1], repeat=4) if signs else [(1, 1, 1, 1)]
    sign_sets = list(sign_sets)
    dists = [
        np.linalg.norm(flat(wa) - flat(cn.permute_hidden(wb, [np.array(q)], [np.array(s)])))
        for q in itertools.permutations(range(4))
        for s in sign_sets
    ]
    np.testing.assert_allclose(best, min(dists), rtol=1e-12)


def test_weight_matching_errors():
    w2, _ = _mlp([3, 4, 5, 2])
    with pytest.raises(ValueError, match="one hidden layer"):
        cn.weight_matching(w2, w2)
    wa, _ = _mlp([3, 4, 2])
    wb, _ = _mlp([3, 5, 2])
    with pytest.raises(ValueError):
        cn.weight_matching(wa, wb)


# ------------------------------------------------------------------ pruning


def test_remove_hidden_unit_with_zero_outgoing_weights_keeps_the_function():
    w, apply = _mlp([3, 5, 6, 4])
    x, _ = _data()
    w[2] = {"w": w[2]["w"].at[3].set(0.0), "b": w[2]["b"]}
    small = cn.remove_hidden_unit(w, 3, layer=1)
    assert small[1]["w"].shape == (5, 5) and small[2]["w"].shape == (5, 4)
    np.testing.assert_allclose(apply(small, x), apply(w, x), atol=1e-12)
    with pytest.raises(ValueError, match="hidden unit"):
        cn.remove_hidden_unit(w, 6, layer=1)
    with pytest.raises(ValueError, match="hidden layer"):
        cn.remove_hidden_unit(w, 0, layer=2)


def test_prune_along_manifold_stays_on_the_level_set():
    init, apply = gt.problems.make_mlp([3, 8, 4])
    x, y = _data(n=30)
    (w,), _ = cn.train_classifiers(init, apply, x, y, keys=jax.random.split(jax.random.key(4), 1), num_steps=300)
    loss = lambda v: cn.classifier_loss(apply)(v, (x, y))
    w_end, info = cn.prune_along_manifold(loss, w, 2, num_stages=10, steps_per_stage=5)
    c = loss(w)
    np.testing.assert_allclose(info.losses, c, rtol=1e-8)
    np.testing.assert_allclose(info.out_norms[0], jnp.linalg.norm(w[1]["w"][2]), rtol=1e-12)
    assert float(jnp.max(jnp.abs(w_end[1]["w"][2]))) == 0.0 and info.out_norms[-1] == 0.0
    small = cn.remove_hidden_unit(w_end, 2)
    np.testing.assert_allclose(loss(small), c, rtol=1e-8)
    # the naive deletion (without walking) changes the loss
    assert abs(loss(cn.remove_hidden_unit(w, 2)) - c) > 1e-3 * c
    # the corrector's direction: the gradient without the unit's outgoing entries, at start and end
    def masked_norm(v):
        g = jax.grad(loss)(v)
        return np.sqrt(sum(float(jnp.sum(a**2)) for a in jax.tree_util.tree_leaves(g)) - float(jnp.sum(g[1]["w"][2] ** 2)))
    assert info.grad_norms.shape == (11,) and bool(jnp.all(info.grad_norms > 0))   # transversal all along
    np.testing.assert_allclose(info.grad_norms[0], masked_norm(w), rtol=1e-8)
    np.testing.assert_allclose(info.grad_norms[-1], masked_norm(w_end), rtol=1e-8)


# ------------------------------------------------------------------ the plane


def test_plane_reproduces_the_three_points_and_contains_the_curve():
    w0, _ = _mlp([3, 5, 4], key=0)
    th, _ = _mlp([3, 5, 4], key=1)
    w1, _ = _mlp([3, 5, 4], key=2)
    P = cn.plane_basis(w0, th, w1)
    for point, (a, b) in zip([w0, th, w1], np.asarray(P.points)):
        tree_allclose(cn.plane_point(P, a, b), point, atol=1e-12)
    U = np.stack([flat(P.u), flat(P.v)])
    np.testing.assert_allclose(U @ U.T, np.eye(2), atol=1e-12)
    ts = jnp.linspace(0, 1, 7)
    curve = jax.vmap(lambda t: jax.tree_util.tree_map(lambda a, c, b: (1 - t) ** 2 * a + 2 * t * (1 - t) * c + t**2 * b, w0, th, w1))(ts)
    coords = cn.plane_coords(P, curve)
    assert coords.shape == (7, 2)
    for k in range(7):
        back = cn.plane_point(P, coords[k, 0], coords[k, 1])
        tree_allclose(back, jax.tree_util.tree_map(lambda a: a[k], curve), atol=1e-12)
    np.testing.assert_allclose(cn.plane_coords(P, th), P.points[1], atol=1e-12)


def test_plane_errors_on_collinear_points():
    w0, _ = _mlp([3, 5, 4], key=0)
    w1, _ = _mlp([3, 5, 4], key=2)
    mid = jax.tree_util.tree_map(lambda a, b: 0.5 * (a + b), w0, w1)
    with pytest.raises(ValueError, match="one line"):
        cn.plane_basis(w0, mid, w1)


def test_plane_losses_matches_a_loop():
    w0, apply = _mlp([3, 5, 4], key=0)
    th, _ = _mlp([3, 5, 4], key=1)
    w1, _ = _mlp([3, 5, 4], key=2)
    x, y = _data()
    loss = lambda w: cn.classifier_loss(apply)(w, (x, y))
    P = cn.plane_basis(w0, th, w1)
    a, b = jnp.linspace(-1, 2, 4), jnp.linspace(-0.5, 1, 3)
    grid = cn.plane_losses(loss, P, a, b)
    assert grid.shape == (3, 4)
    for i in range(3):
        for j in range(4):
            np.testing.assert_allclose(grid[i, j], loss(cn.plane_point(P, a[j], b[i])), rtol=1e-12)


# ------------------------------------------------------------------ local data


def test_curve_tangent_matches_jvp_and_central_difference():
    w0, _ = _mlp([3, 5, 4], key=0)
    th, _ = _mlp([3, 5, 4], key=1)
    w1, _ = _mlp([3, 5, 4], key=2)
    for t in [0.0, 0.3, 0.5, 1.0]:
        _, ref = jax.jvp(lambda s: paths.bezier(w0, th, w1, s), (jnp.asarray(t),), (jnp.asarray(1.0),))
        tree_allclose(cn.curve_tangent(w0, th, w1, t), ref, atol=1e-12)
        h = 0.37  # the curve is quadratic: the central difference is exact for any h
        fd = jax.tree_util.tree_map(lambda a, b: (a - b) / (2 * h), paths.bezier(w0, th, w1, t + h), paths.bezier(w0, th, w1, t - h))
        tree_allclose(cn.curve_tangent(w0, th, w1, t), fd, atol=1e-12)
    tree_allclose(cn.curve_tangent(w0, th, w1, 0.5), jax.tree_util.tree_map(jnp.subtract, w1, w0), atol=1e-12)
    with pytest.raises(ValueError, match="scalar"):
        cn.curve_tangent(w0, th, w1, jnp.ones(2))


def test_hvp_norms_and_local_data_match_the_dense_hessian():
    w, apply = _mlp([3, 4, 3])
    x, y = _data(c=3)
    loss = lambda v: cn.classifier_loss(apply)(v, (x, y))
    flat_w, unravel = jax.flatten_util.ravel_pytree(w)
    Hd = jax.hessian(lambda f: loss(unravel(f)))(flat_w)
    dirs = [unravel(jax.random.normal(jax.random.key(i), flat_w.shape)) for i in range(3)]
    ref = [np.linalg.norm(Hd @ flat(d)) / np.linalg.norm(flat(d)) for d in dirs]
    np.testing.assert_allclose(cn.hvp_norms(loss, w, dirs), ref, rtol=1e-10)
    n = flat_w.shape[0]
    d = cn.local_data(loss, w, key=jax.random.key(0), k=4, num_iters=n)
    np.testing.assert_allclose(d.top_eigvals, np.linalg.eigvalsh(Hd)[::-1][:4], rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(d.grad_norm, np.linalg.norm(jax.grad(lambda f: loss(unravel(f)))(flat_w)), rtol=1e-12)
    np.testing.assert_allclose(d.loss, loss(w), rtol=1e-12)
    with pytest.raises(ValueError, match="at least one"):
        cn.hvp_norms(loss, w, [])


def test_softmax_shift_directions_are_exact_zero_eigenvalues():
    # Adding the same vector to every output weight column (and the same number to every output
    # bias) shifts all logits equally: the loss is unchanged, so these H + 1 directions are
    # in the kernel of the Hessian.
    w, apply = _mlp([3, 4, 3])
    x, y = _data(c=3)
    loss = lambda v: cn.classifier_loss(apply)(v, (x, y))
    flat_w, unravel = jax.flatten_util.ravel_pytree(w)
    Hd = np.asarray(jax.hessian(lambda f: loss(unravel(f)))(flat_w))
    ev = np.linalg.eigvalsh(Hd)
    assert cn.count_near_zero(ev, rtol=1e-12) >= 5
    shift = jax.tree_util.tree_map(jnp.zeros_like, w)
    shift[1] = {"w": jnp.zeros((4, 3)).at[1].set(1.0), "b": jnp.zeros(3)}
    assert np.linalg.norm(Hd @ flat(shift)) < 1e-12


def test_count_near_zero_matches_a_manual_count():
    ev = np.array([3.0, -1e-7, 2e-9, 0.5, 0.0, -2.9])
    assert cn.count_near_zero(ev, rtol=1e-6) == 3
    assert cn.count_near_zero(ev, rtol=0.2) == 4
    assert cn.count_near_zero(ev, rtol=0.0) == 1
    assert cn.count_near_zero(ev, rtol=1e-6) == len(ev) - gt.numerical_rank(ev, rtol=1e-6)
    with pytest.raises(ValueError, match="rtol"):
        cn.count_near_zero(ev, rtol=-1.0)


def test_slq_density_of_an_mlp_hessian_against_dense_eigh():
    w, apply = _mlp([3, 6, 3])
    x, y = _data(n=40, c=3)
    loss = lambda v: cn.classifier_loss(apply)(v, (x, y))
    flat_w, unravel = jax.flatten_util.ravel_pytree(w)
    ev = np.linalg.eigvalsh(np.asarray(jax.hessian(lambda f: loss(unravel(f)))(flat_w)))
    grid = jnp.linspace(ev.min() - 0.1, ev.max() + 0.1, 2000)
    sigma = 0.02 * (ev.max() - ev.min())
    g, dens = gt.slq_density(gt.hessian_operator(loss, w), w, key=jax.random.key(0), num_probes=30, num_iters=40,
                             grid=grid, sigma=sigma)
    exact = np.exp(-0.5 * ((np.asarray(g)[:, None] - ev[None]) / sigma) ** 2).sum(1) / (len(ev) * sigma * np.sqrt(2 * np.pi))
    dx = float(g[1] - g[0])
    # Monte-Carlo estimate: the two densities differ by a few percent of their total mass
    assert np.sum(np.abs(np.asarray(dens) - exact)) * dx < 0.15
    np.testing.assert_allclose(np.sum(np.asarray(dens) * np.asarray(g)) * dx, ev.mean(), atol=0.05 * np.abs(ev).max())
