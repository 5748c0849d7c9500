"""The Fisher and the empirical Fisher (gradtools.fisher) against independent references, float64.

References never call gradtools.fisher: per-example ``jax.jacfwd`` Jacobians with the output
Fishers in closed form, expectations of score outer products by enumerating the outcomes,
per-example ``jax.grad`` scores of log-likelihoods written out here, and SciPy / NumPy closed forms.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special
import scipy.stats
from helpers import flat, jit_once, tree_allclose
from jax.flatten_util import ravel_pytree

import gradtools as gt
from gradtools.problems import make_mlp

N, D_IN, D_HID = 6, 3, 5
VARIANCE = 0.5
S_SMALL, S_LARGE, S_MODEL = 10, 1000, 500
LIKELIHOODS = ["categorical", "gaussian", "bernoulli"]
OUT = {"categorical": 3, "gaussian": 2, "bernoulli": 1}




def _variance(likelihood):
    return VARIANCE if likelihood == "gaussian" else 1.0


def _problem(likelihood, seed=0):
    init, apply = make_mlp((D_IN, D_HID, OUT[likelihood]), activation="tanh")
    w = init(jax.random.key(seed))
    rng = np.random.default_rng(seed + 10)
    x = rng.normal(size=(N, D_IN))
    if likelihood == "categorical":
        y = np.array([0, 2, 1, 1, 0, 2], dtype=np.int32)
    elif likelihood == "gaussian":
        y = rng.normal(size=(N, OUT["gaussian"]))
    else:
        y = np.array([1, 0, 0, 1, 1, 0], dtype=np.int32)
    return w, apply, x, y


# ----------------------------------------------------------------------------------------------
# independent references (one example at a time)


def _logp(likelihood, z, t):
    """log p(t | z) for ONE example, written out from the definitions."""
    if likelihood == "categorical":
        return jax.nn.log_softmax(z)[t]
    if likelihood == "gaussian":
        k = z.shape[0]
        return -0.5 * jnp.sum((t - z) ** 2) / VARIANCE - 0.5 * k * jnp.log(2 * jnp.pi * VARIANCE)
    return jnp.sum(t * jax.nn.log_sigmoid(z) + (1 - t) * jax.nn.log_sigmoid(-z))  # t: () or (1,)


def _output_fisher(likelihood, z):
    """Closed-form F_z for ONE example, (k, k)."""
    if likelihood == "categorical":
        p = jax.nn.softmax(z)
        return jnp.diag(p) - jnp.outer(p, p)
    if likelihood == "gaussian":
        return jnp.eye(z.shape[0]) / VARIANCE
    p = jax.nn.sigmoid(z)
    return jnp.diag(p * (1 - p))


def _reference_fisher(likelihood, apply, w, x):
    """mean_i J_i^T F_{z_i} J_i with per-example jax.jacfwd Jacobians."""
    w_flat, unravel = ravel_pytree(w)

    def one(xi):
        z_of = lambda u: apply(unravel(u), xi[None])[0]  # noqa: E731
        Ji = jax.jacfwd(z_of)(w_flat)  # (k, n)
        return Ji.T @ _output_fisher(likelihood, z_of(w_flat)) @ Ji

    return jnp.mean(jax.vmap(one)(x), axis=0)


def _score(likelihood, apply, w, xi, t):
    """g = grad_w log p(t | x_i, w), flat."""
    w_flat, unravel = ravel_pytree(w)
    return jax.grad(lambda u: _logp(likelihood, apply(unravel(u), xi[None])[0], t))(w_flat)


def _outcomes(likelihood, z):
    """Outcomes t of one example with their weights, so that E[h(t)] = sum_j weight_j h(t_j).

    Every class (categorical) or bit (bernoulli), weighted by its probability; for the Gaussian,
    3-point Gauss-Hermite nodes per output, exact because g g^T is quadratic in t.
    """
    if likelihood == "categorical":
        return jnp.arange(z.shape[0]), jax.nn.softmax(z)
    if likelihood == "bernoulli":
        p = jax.nn.sigmoid(z[0])
        return jnp.array([0, 1]), jnp.stack([1 - p, p])
    nodes, weights = np.polynomial.hermite_e.hermegauss(3)  # weight exp(-u^2 / 2)
    grid = np.stack(np.meshgrid(nodes, nodes, indexing="ij"), axis=-1).reshape(-1, 2)
    prob = np.outer(weights, weights).reshape(-1) / (2 * np.pi)
    return z[None, :] + np.sqrt(VARIANCE) * grid, jnp.asarray(prob)


def _enumerated_fisher(likelihood, apply, w, x):
    """mean_i E_{t ~ p(. | x_i)} [g g^T], the expectation summed over the outcomes."""

    def one(xi):
        ts, probs = _outcomes(likelihood, apply(w, xi[None])[0])
        g = jax.vmap(lambda t: _score(likelihood, apply, w, xi, t))(ts)  # (outcomes, n)
        return (g.T * probs[None, :]) @ g

    return jnp.mean(jax.vmap(one)(x), axis=0)


def _mean_outer_scores(likelihood, apply, w, x, targets):
    """mean_i g_i g_i^T with g_i = grad_w log p(targets[i] | x_i, w), one target per example."""

    def one(xi, ti):
        g = _score(likelihood, apply, w, xi, ti)
        return jnp.outer(g, g)

    return jnp.mean(jax.vmap(one)(x, targets), axis=0)


def _local_nll(likelihood, y):
    """Mean NLL of the outputs, written out here (for the Gauss-Newton comparison)."""

    def loss(z):
        return -jnp.mean(jax.vmap(lambda zi, ti: _logp(likelihood, zi, ti))(z, y))

    return loss


def _rel(A, B):
    return float(np.linalg.norm(np.asarray(A) - np.asarray(B)) / np.linalg.norm(np.asarray(B)))


# ----------------------------------------------------------------------------------------------
# one jitted computation per likelihood


@pytest.fixture(scope="module", params=LIKELIHOODS)
def case(request):
    lik = request.param
    w, apply, x, y = _problem(lik)
    v = jax.tree_util.tree_map(lambda a: jnp.asarray(np.random.default_rng(1).normal(size=a.shape)), w)
    var = _variance(lik)
    f = lambda p: apply(p, x)  # noqa: E731
    kw = dict(likelihood=lik, variance=var)
    x_model = np.tile(x, (S_MODEL, 1))  # the examples repeated, for targets drawn from the model

    def compute(w, v, key):
        k_mc, k_model = jax.random.split(key)
        z = apply(w, x)
        t_small = gt.sample_targets(z, key=k_mc, num_samples=S_SMALL, **kw)
        t_model = gt.sample_targets(apply(w, x_model), key=k_model, num_samples=1, **kw)[0]
        out = dict(
            F=gt.fisher_matrix(apply, w, x, **kw),
            Fv=gt.fisher_mvp(apply, w, x, v, **kw),
            F_op_v=gt.fisher_operator(apply, w, x, **kw)(v),
            F_ref=_reference_fisher(lik, apply, w, x),
            GGN=gt.dense(gt.gauss_newton_operator(f, _local_nll(lik, jnp.asarray(y)), w), w),
            GGN_nll=gt.gnvp(f, lambda zz: gt.nll(zz, y, **kw), w, v),
            E=gt.empirical_fisher_matrix(apply, w, x, y, **kw),
            Ev=gt.empirical_fisher_mvp(apply, w, x, y, v, **kw),
            E_ref=_mean_outer_scores(lik, apply, w, x, jnp.asarray(y)),
            F_mc_small=gt.fisher_matrix(apply, w, x, key=k_mc, num_samples=S_SMALL, **kw),
            Fv_mc_small=gt.fisher_mvp(apply, w, x, v, key=k_mc, num_samples=S_SMALL, **kw),
            F_mc_small_ref=jnp.mean(jax.vmap(lambda t: _mean_outer_scores(lik, apply, w, x, t))(t_small), axis=0),
            F_mc_large=gt.fisher_matrix(apply, w, x, key=k_mc, num_samples=S_LARGE, **kw),
            E_model=gt.empirical_fisher_matrix(apply, w, x_model, t_model, **kw),
        )
        out["F_enum"] = _enumerated_fisher(lik, apply, w, x)
        # a confident model (last layer scaled up), with targets it gets badly wrong / exactly right
        w_conf = [w[0], {"w": 10.0 * w[1]["w"], "b": w[1]["b"]}]
        zc = apply(w_conf, x)
        if lik == "categorical":
            y_wrong, y_right = jnp.argmin(zc, axis=1), jnp.argmax(zc, axis=1)
        elif lik == "gaussian":
            y_wrong, y_right = zc + 3 * np.sqrt(VARIANCE), zc
        else:
            y_wrong, y_right = (zc[:, 0] < 0).astype(jnp.int32), (zc[:, 0] > 0).astype(jnp.int32)
        if lik == "bernoulli":  # logits of shape (batch,) instead of (batch, 1); targets (batch, 1)
            apply_flat = lambda p, xx: apply(p, xx)[:, 0]  # noqa: E731
            out["F_flat"] = gt.fisher_matrix(apply_flat, w, x, **kw)
            out["E_flat"] = gt.empirical_fisher_matrix(apply_flat, w, x, y, **kw)
            out["E_col"] = gt.empirical_fisher_matrix(apply, w, x, y[:, None], **kw)
        out["F_conf"] = gt.fisher_matrix(apply, w_conf, x, **kw)
        out["E_wrong"] = gt.empirical_fisher_matrix(apply, w_conf, x, y_wrong, **kw)
        out["E_right"] = gt.empirical_fisher_matrix(apply, w_conf, x, y_right, **kw)
        return out

    out = jit_once(compute)(w, v, jax.random.key(42))
    return dict(likelihood=lik, w=w, v=v, x=x, y=y, apply=apply, out=jax.tree_util.tree_map(np.asarray, out))


# ----------------------------------------------------------------------------------------------
# the exact Fisher


def test_fisher_matrix_matches_jacobian_reference(case):
    F, F_ref = case["out"]["F"], case["out"]["F_ref"]
    n = flat(case["w"]).shape[0]
    assert F.shape == (n, n)
    np.testing.assert_allclose(F, F_ref, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(F, F.T, atol=1e-12)
    assert np.linalg.eigvalsh(F).min() > -1e-10 * np.abs(F).max()


def test_fisher_mvp_matches_reference(case):
    Fv = case["out"]["Fv"]
    assert jax.tree_util.tree_structure(Fv) == jax.tree_util.tree_structure(case["w"])
    np.testing.assert_allclose(flat(Fv), case["out"]["F_ref"] @ flat(case["v"]), rtol=1e-9, atol=1e-12)


def test_fisher_operator_agrees_with_fisher_mvp(case):
    tree_allclose(case["out"]["F_op_v"], case["out"]["Fv"], rtol=1e-10, atol=1e-12)


def test_fisher_is_the_expected_outer_product_of_scores(case):
    np.testing.assert_allclose(case["out"]["F"], case["out"]["F_enum"], rtol=1e-9, atol=1e-12)


def test_fisher_equals_gauss_newton_of_the_nll(case):
    # natural parameters: the Hessian of -log p(t | z) in z is F_z whatever t, so F = J^T H_L J
    np.testing.assert_allclose(case["out"]["F"], case["out"]["GGN"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(flat(case["out"]["GGN_nll"]), case["out"]["F"] @ flat(case["v"]), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("case", ["bernoulli"], indirect=True)
def test_bernoulli_accepts_flat_logits_and_column_targets(case):
    out = case["out"]
    np.testing.assert_allclose(out["F_flat"], out["F"], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(out["E_flat"], out["E"], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(out["E_col"], out["E"], rtol=1e-12, atol=1e-15)


# ----------------------------------------------------------------------------------------------
# Monte-Carlo Fisher


def test_monte_carlo_fisher_is_the_mean_of_sampled_score_outer_products(case):
    # same key, so the same targets as sample_targets draws; scores from the reference log p
    np.testing.assert_allclose(case["out"]["F_mc_small"], case["out"]["F_mc_small_ref"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(flat(case["out"]["Fv_mc_small"]), case["out"]["F_mc_small"] @ flat(case["v"]), rtol=1e-9, atol=1e-12)


def test_monte_carlo_fisher_converges_to_the_exact_one(case):
    F = case["out"]["F"]
    e_small = _rel(case["out"]["F_mc_small"], F)
    e_large = _rel(case["out"]["F_mc_large"], F)
    # the error shrinks like 1/sqrt(S): about 10x from S = 10 to S = 1000 (5x to 14x measured here)
    assert e_large < e_small / 3, (e_small, e_large)
    assert e_large < 0.1, e_large


# ----------------------------------------------------------------------------------------------
# empirical Fisher


def test_empirical_fisher_matches_mean_outer_product_at_training_targets(case):
    E, E_ref = case["out"]["E"], case["out"]["E_ref"]
    np.testing.assert_allclose(E, E_ref, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(flat(case["out"]["Ev"]), E_ref @ flat(case["v"]), rtol=1e-9, atol=1e-12)
    assert np.linalg.matrix_rank(E, tol=1e-10 * np.abs(E).max()) <= N  # a sum of N outer products


def test_empirical_fisher_differs_from_the_fisher_away_from_the_optimum(case):
    # A confident model (last layer scaled up). The Fisher does not depend on the targets; the
    # empirical Fisher does: targets the model gets badly wrong inflate it, targets it gets right
    # shrink it (to zero for an exact Gaussian fit).
    out = case["out"]
    F, E_wrong, E_right = out["F_conf"], out["E_wrong"], out["E_right"]
    assert np.trace(E_wrong) > 3 * np.trace(F), (np.trace(E_wrong), np.trace(F))
    assert np.trace(E_right) < 0.75 * np.trace(F), (np.trace(E_right), np.trace(F))
    assert _rel(E_wrong, F) > 2.0 and _rel(E_right, F) > 0.3
    if case["likelihood"] == "gaussian":
        np.testing.assert_allclose(E_right, 0.0, atol=1e-12)


def test_empirical_fisher_agrees_in_expectation_when_targets_come_from_the_model(case):
    # each example repeated S_MODEL times, each copy with a target drawn from the model itself
    assert _rel(case["out"]["E_model"], case["out"]["F"]) < 0.1


def test_empirical_fisher_scales_with_squared_residuals_in_linear_regression():
    # Gaussian likelihood, linear model, outputs (batch,): F = X~^T X~ / (N var) whatever w, while
    # the empirical Fisher is sum_i r_i^2 x~_i x~_i^T / (N var^2), large far from the optimum.
    rng = np.random.default_rng(3)
    X = rng.normal(size=(40, 2))
    w_true = np.array([1.0, -2.0])
    y = X @ w_true + 0.1 * rng.normal(size=40)
    apply = lambda p, xx: xx @ p["a"] + p["b"]  # noqa: E731
    Xt = np.hstack([X, np.ones((len(y), 1))])  # ravel_pytree order: "a" then "b"
    F_closed = Xt.T @ Xt / (len(y) * VARIANCE)
    w_far = {"a": jnp.asarray(w_true + 3.0), "b": jnp.asarray(2.0)}
    kw = dict(likelihood="gaussian", variance=VARIANCE)
    F, E = jit_once(lambda w: (gt.fisher_matrix(apply, w, X, **kw), gt.empirical_fisher_matrix(apply, w, X, y, **kw)))(w_far)
    np.testing.assert_allclose(F, F_closed, rtol=1e-10)
    r = y - Xt @ np.append(w_true + 3.0, 2.0)
    np.testing.assert_allclose(E, (Xt.T * r**2) @ Xt / (len(y) * VARIANCE**2), rtol=1e-10)
    assert np.trace(E) > 10 * np.trace(F)


# ----------------------------------------------------------------------------------------------
# nll and sample_targets


def test_nll_matches_closed_forms():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(N, 3))
    t = rng.normal(size=(N, 3))
    labels = np.array([0, 2, 1, 1, 0, 2])
    b = np.array([1, 0, 0, 1, 1, 0])
    p = scipy.special.expit(z[:, 0])
    bernoulli = -np.mean(b * np.log(p) + (1 - b) * np.log(1 - p))
    cases = [  # (outputs, targets, keywords, closed form)
        (z, labels, dict(likelihood="categorical"), -np.mean(z[np.arange(N), labels] - scipy.special.logsumexp(z, axis=1))),
        (z, t, dict(likelihood="gaussian", variance=VARIANCE),
         -np.mean(np.sum(scipy.stats.norm.logpdf(t, loc=z, scale=np.sqrt(VARIANCE)), axis=1))),
        (z[:, 0], t[:, 0], dict(likelihood="gaussian"), -np.mean(scipy.stats.norm.logpdf(t[:, 0], loc=z[:, 0]))),
        (z[:, 0], b, dict(likelihood="bernoulli"), bernoulli),
        (z[:, :1], b, dict(likelihood="bernoulli"), bernoulli),
        (z[:, :1], b[:, None], dict(likelihood="bernoulli"), bernoulli),
        (z[:, 0], b.astype(bool), dict(likelihood="bernoulli"), bernoulli),
    ]
    values = jit_once(lambda zs, ts: [gt.nll(zz, tt, **kw) for zz, tt, (_, _, kw, _) in zip(zs, ts, cases)])(
        [c[0] for c in cases], [c[1] for c in cases]
    )
    for value, (_, _, kw, expected) in zip(values, cases):
        np.testing.assert_allclose(value, expected, rtol=1e-12, err_msg=str(kw))
    # eagerly too, where label values are checked
    np.testing.assert_allclose(gt.nll(z, labels, likelihood="categorical"), cases[0][3], rtol=1e-12)


def test_sample_targets_shapes_dtypes_and_frequencies():
    S = 20000
    logits = np.array([[0.0, 1.0, -1.0], [2.0, 0.0, 0.5]])
    b_logits = np.array([-1.0, 0.0, 2.0])
    means = np.array([[1.0, -2.0]])

    def draw(key):
        k1, k2, k3 = jax.random.split(key, 3)
        return (
            gt.sample_targets(logits, likelihood="categorical", key=k1, num_samples=S),
            gt.sample_targets(b_logits, likelihood="bernoulli", key=k2, num_samples=S),
            gt.sample_targets(b_logits[:, None], likelihood="bernoulli", key=k2, num_samples=S),
            gt.sample_targets(means, likelihood="gaussian", key=k3, num_samples=S, variance=VARIANCE),
        )

    cat, ber, ber_col, gau = (np.asarray(a) for a in jit_once(draw)(jax.random.key(1)))
    assert cat.shape == (S, 2) and np.issubdtype(cat.dtype, np.integer)
    assert ber.shape == (S, 3) and ber_col.shape == (S, 3, 1) and np.issubdtype(ber.dtype, np.integer)
    assert gau.shape == (S, 1, 2) and np.issubdtype(gau.dtype, np.floating)
    assert set(np.unique(ber)) <= {0, 1} and set(np.unique(cat)) <= {0, 1, 2}

    tol = 5 * np.sqrt(0.25 / S)  # five standard errors of a frequency
    freq = np.stack([np.bincount(cat[:, i], minlength=3) / S for i in range(2)])
    np.testing.assert_allclose(freq, scipy.special.softmax(logits, axis=1), atol=tol)
    np.testing.assert_allclose(ber.mean(axis=0), scipy.special.expit(b_logits), atol=tol)
    np.testing.assert_array_equal(ber_col[..., 0], ber)  # same key, same draws
    np.testing.assert_allclose(gau.mean(axis=0), means, atol=5 * np.sqrt(VARIANCE / S))
    np.testing.assert_allclose(gau.var(axis=0), VARIANCE, rtol=0.05)


# ----------------------------------------------------------------------------------------------
# eagerly (the fixture ran everything under jit)


@pytest.mark.parametrize("case", ["categorical"], indirect=True)
def test_products_work_eagerly(case):
    lik, w, x, y, v, apply = (case[k] for k in ("likelihood", "w", "x", "y", "v", "apply"))
    np.testing.assert_allclose(flat(gt.fisher_mvp(apply, w, x, v, likelihood=lik)), case["out"]["F_ref"] @ flat(v), rtol=1e-9)
    np.testing.assert_allclose(
        flat(gt.empirical_fisher_mvp(apply, w, x, y, v, likelihood=lik)), case["out"]["E_ref"] @ flat(v), rtol=1e-9
    )


# ----------------------------------------------------------------------------------------------
# bad input


@pytest.fixture(scope="module")
def small():
    w, apply, x, y = _problem("categorical")
    return w, apply, x, y


def test_unknown_likelihood_raises(small):
    w, apply, x, y = small
    for call in (
        lambda: gt.fisher_mvp(apply, w, x, w, likelihood="poisson"),
        lambda: gt.fisher_matrix(apply, w, x, likelihood="Categorical"),
        lambda: gt.empirical_fisher_mvp(apply, w, x, y, w, likelihood="softmax"),
        lambda: gt.fisher_operator(apply, w, x, likelihood="gauss"),
        lambda: gt.nll(np.zeros((2, 3)), np.zeros(2, int), likelihood="mse"),
        lambda: gt.sample_targets(np.zeros((2, 3)), likelihood="normal", key=jax.random.key(0), num_samples=1),
    ):
        with pytest.raises(ValueError, match=r"unknown likelihood '\w+': expected one of 'categorical'"):
            call()


def test_num_samples_without_key_raises(small):
    w, apply, x, _ = small
    with pytest.raises(ValueError, match=r"num_samples=10 was given without a key.*key=jax\.random\.key"):
        gt.fisher_mvp(apply, w, x, w, likelihood="categorical", num_samples=10)
    with pytest.raises(ValueError, match=r"without a key"):
        gt.fisher_matrix(apply, w, x, likelihood="categorical", num_samples=10)


def test_bad_num_samples_or_key_raises(small):
    w, apply, x, _ = small
    key = jax.random.key(0)
    with pytest.raises(ValueError, match=r"num_samples must be >= 1, got 0"):
        gt.fisher_mvp(apply, w, x, w, likelihood="categorical", key=key, num_samples=0)
    with pytest.raises(TypeError, match=r"num_samples must be a Python int.*got float"):
        gt.fisher_mvp(apply, w, x, w, likelihood="categorical", key=key, num_samples=2.5)
    with pytest.raises(TypeError, match=r"key must be a JAX PRNG key, got int.*jax\.random\.key"):
        gt.fisher_mvp(apply, w, x, w, likelihood="categorical", key=0)
    with pytest.raises(ValueError, match=r"needs a PRNG key"):
        gt.sample_targets(np.zeros((2, 3)), likelihood="categorical", key=None, num_samples=1)


@pytest.mark.parametrize("variance", [-1.0, 0.0, float("nan"), float("inf")])
def test_bad_variance_raises(variance):
    w, apply, x, y = _problem("gaussian")
    with pytest.raises(ValueError, match=r"variance must be a finite number > 0.*got"):
        gt.fisher_mvp(apply, w, x, w, likelihood="gaussian", variance=variance)
    with pytest.raises(ValueError, match=r"variance must be a finite number > 0"):
        gt.nll(np.zeros((2, 2)), np.zeros((2, 2)), likelihood="gaussian", variance=variance)
    with pytest.raises(ValueError, match=r"variance must be a finite number > 0"):
        gt.empirical_fisher_matrix(apply, w, x, y, likelihood="gaussian", variance=variance)


def test_variance_with_another_likelihood_or_as_an_array_raises(small):
    w, apply, x, _ = small
    with pytest.raises(ValueError, match=r"variance is used only by likelihood='gaussian', got variance=2.0"):
        gt.fisher_mvp(apply, w, x, w, likelihood="categorical", variance=2.0)
    with pytest.raises(ValueError, match=r"variance must be a positive scalar, got an array of shape \(2,\)"):
        gt.nll(np.zeros((2, 2)), np.zeros((2, 2)), likelihood="gaussian", variance=np.ones(2))


def test_variance_may_be_traced():
    w, apply, x, _ = _problem("gaussian")
    F = jit_once(jax.vmap(lambda var: gt.fisher_matrix(apply, w, x, likelihood="gaussian", variance=var)))(jnp.array([0.25, 1.0]))
    np.testing.assert_allclose(F[0], 4 * F[1], rtol=1e-12)


def test_wrong_target_shapes_and_dtypes_raise():
    wg, apply_g, x, yg = _problem("gaussian")
    with pytest.raises(ValueError, match=r"(?s)shape of the model's means, \(6, 2\), got \(6,\).*y\[:, None\]"):
        gt.empirical_fisher_mvp(apply_g, wg, x, yg[:, 0], wg, likelihood="gaussian")
    wc, apply_c, x, yc = _problem("categorical")
    with pytest.raises(ValueError, match=r"integer class labels of shape \(batch,\) = \(6,\), got shape \(6, 3\)"):
        gt.empirical_fisher_matrix(apply_c, wc, x, jax.nn.one_hot(yc, 3), likelihood="categorical")
    with pytest.raises(TypeError, match=r"expects integer class labels, got dtype float64.*astype"):
        gt.nll(np.zeros((6, 3)), yc.astype(float), likelihood="categorical")
    with pytest.raises(ValueError, match=r"class labels must lie in \[0, 2\] for 3 logits, got labels from 0 to 3"):
        gt.nll(np.zeros((6, 3)), np.array([0, 1, 2, 3, 0, 1]), likelihood="categorical")
    wb, apply_b, x, yb = _problem("bernoulli")
    with pytest.raises(ValueError, match=r"0 or 1, got values"):
        gt.empirical_fisher_mvp(apply_b, wb, x, yb * 2, wb, likelihood="bernoulli")
    with pytest.raises(ValueError, match=r"shape \(batch,\) = \(6,\) or the outputs' shape \(6, 1\), got shape \(5,\)"):
        gt.nll(np.zeros((6, 1)), np.zeros(5), likelihood="bernoulli")


def test_wrong_output_shapes_raise(small):
    w, apply, x, _ = small
    with pytest.raises(ValueError, match=r"logits of shape \(batch, num_classes\), got shape \(3,\).*x\[None\]"):
        gt.fisher_mvp(apply, w, x[0], w, likelihood="categorical")  # one example, not a batch
    with pytest.raises(ValueError, match=r"one logit per example.*got shape \(6, 3\)"):
        gt.fisher_matrix(apply, w, x, likelihood="bernoulli")
    with pytest.raises(TypeError, match=r"one floating-point array, got (tuple|dict|list)"):
        gt.fisher_mvp(lambda p, xx: (apply(p, xx), apply(p, xx)), w, x, w, likelihood="categorical")


def test_mismatched_direction_and_non_callable_raise(small):
    w, apply, x, y = small
    wrong = jax.tree_util.tree_leaves(w)
    with pytest.raises(ValueError, match=r"(?s)same pytree structure.*expected:.*got:"):
        gt.fisher_mvp(apply, w, x, wrong, likelihood="categorical")
    with pytest.raises(ValueError, match=r"(?s)same pytree structure.*expected:.*got:"):
        gt.empirical_fisher_mvp(apply, w, x, y, wrong, likelihood="categorical")
    bad_shape = jax.tree_util.tree_map(jnp.zeros_like, w)
    bad_shape[1]["w"] = jnp.zeros((D_HID, 4))
    with pytest.raises(ValueError, match=r"shape \(5, 4\), expected \(5, 3\)"):
        gt.fisher_operator(apply, w, x, likelihood="categorical")(bad_shape)
    with pytest.raises(TypeError, match=r"apply must be a callable, got list"):
        gt.fisher_matrix(w, apply, x, likelihood="categorical")
