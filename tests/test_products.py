"""Curvature products (gradtools.products) against dense references in float64.

References are built independently of the products: ``jax.hessian`` of the flattened objective,
``jax.jacfwd`` Jacobians and ``jax.hessian`` of the loss in output space, closed-form metrics.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import flat, jit_once, tree_allclose
from jax.flatten_util import ravel_pytree

import gradtools as gt
from gradtools.problems import make_mlp

N, D_IN, D_HID, D_OUT = 6, 3, 5, 2




# ----------------------------------------------------------------------------------------------
# models: two MLPs (list-of-dicts parameters) and a hand-built dict model with a scalar leaf


def _tanh_mlp():
    """make_mlp's parameters: a list of {"w", "b"} dicts."""
    init, apply = make_mlp((D_IN, D_HID, D_OUT), activation="tanh")
    return init(jax.random.key(1)), apply


def _relu_dict_mlp():
    """A hand-built ReLU MLP whose parameters are a dict holding a dict, a list and a scalar."""
    rng = np.random.default_rng(2)
    w = {
        "hidden": {"w": jnp.asarray(rng.normal(size=(D_IN, D_HID))), "b": jnp.asarray(rng.normal(size=(D_HID,)))},
        "out": [jnp.asarray(rng.normal(size=(D_HID, D_OUT)) / np.sqrt(D_HID)), jnp.zeros(D_OUT)],
        "gain": jnp.asarray(1.3),
    }

    def apply(w, x):
        h = jax.nn.relu(x @ w["hidden"]["w"] + w["hidden"]["b"])
        return w["gain"] * (h @ w["out"][0]) + w["out"][1]

    return w, apply


MODELS = {"tanh_mlp": _tanh_mlp, "relu_dict": _relu_dict_mlp}


def _data():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(N, D_IN))
    y = rng.normal(size=(N, D_OUT))
    labels = jnp.array([0, 1, 1, 0, 1, 0])
    return x, y, labels


def _sq_loss(y, reduction):
    def loss(z):
        per_example = 0.5 * jnp.sum((z - y) ** 2, axis=-1)
        return jnp.mean(per_example) if reduction == "mean" else jnp.sum(per_example)

    return loss


def _ce_loss(labels, reduction):
    def loss(z):
        per_example = jax.nn.logsumexp(z, axis=-1) - jnp.take_along_axis(z, labels[:, None], axis=-1)[:, 0]
        return jnp.mean(per_example) if reduction == "mean" else jnp.sum(per_example)

    return loss


def _random_like(w, seed):
    rng = np.random.default_rng(seed)
    return jax.tree_util.tree_map(lambda a: jnp.asarray(rng.normal(size=jnp.shape(a))), w)


def _setup(model, loss_name, reduction):
    """Parameters, the model f(w) on the fixed batch, and a loss of its outputs."""
    w, apply = MODELS[model]()
    x, y, labels = _data()
    f = lambda p: apply(p, x)  # noqa: E731
    loss = _sq_loss(y, reduction) if loss_name == "squared" else _ce_loss(labels, reduction)
    return w, f, loss


def _dense_hessian(J, w):
    w_flat, unravel = ravel_pytree(w)
    return jax.hessian(lambda u: J(unravel(u)))(w_flat)


def _dense_ggn(f, loss, w):
    """J^T H_L J from a jacfwd Jacobian and a jax.hessian of the loss in output space."""
    w_flat, unravel = ravel_pytree(w)
    z = f(w)
    Jac = jax.jacfwd(lambda u: f(unravel(u)).ravel())(w_flat)  # (m, n)
    H_L = jax.hessian(lambda zf: loss(zf.reshape(z.shape)))(z.ravel())  # (m, m)
    return Jac.T @ H_L @ Jac


def _dense_pullback(f, rho, w):
    w_flat, unravel = ravel_pytree(w)
    z0 = f(w)
    Jac = jax.jacfwd(lambda u: f(unravel(u)).ravel())(w_flat)
    G_z = jax.hessian(lambda zf: rho(zf.reshape(z0.shape), z0))(z0.ravel())
    return Jac.T @ G_z @ Jac


def _kl_softmax(z, z0):
    """Sum over examples of KL(softmax(z0) || softmax(z)), the Bregman divergence of log-sum-exp."""
    p0 = jax.nn.softmax(z0, axis=-1)
    return jnp.sum(p0 * (jax.nn.log_softmax(z0, axis=-1) - jax.nn.log_softmax(z, axis=-1)))


def _half_sq(z, z0):
    return 0.5 * jnp.sum((z - z0) ** 2)


# ----------------------------------------------------------------------------------------------
# one jitted computation per model: every product and every dense reference the tests compare

LOSSES = ["squared-mean", "squared-sum", "cross_entropy-mean", "cross_entropy-sum"]
RHOS = {"euclidean": _half_sq, "kl_softmax": _kl_softmax}


@pytest.fixture(scope="module", params=list(MODELS))
def case(request):
    w, apply = MODELS[request.param]()
    x, y, labels = _data()
    f = lambda p: apply(p, x)  # noqa: E731
    losses = {}
    for name in LOSSES:
        kind, reduction = name.split("-")
        losses[name] = _sq_loss(y, reduction) if kind == "squared" else _ce_loss(labels, reduction)
    v = _random_like(w, 0)

    def compute(w, v):
        out = {}
        for name, loss in losses.items():
            J = lambda p, loss=loss: loss(f(p))  # noqa: E731
            out[f"hvp/{name}"] = gt.hvp(J, w, v)
            out[f"gnvp/{name}"] = gt.gnvp(f, loss, w, v)
            if name.endswith("-mean"):  # dense references (the sum's are N times these)
                out[f"H/{name}"] = _dense_hessian(J, w)
                out[f"G/{name}"] = _dense_ggn(f, loss, w)
                out[f"H_op/{name}"] = gt.dense(gt.hessian_operator(J, w), w)
                out[f"G_op/{name}"] = gt.dense(gt.gauss_newton_operator(f, loss, w), w)
        for name, rho in RHOS.items():
            out[f"P/{name}"] = _dense_pullback(f, rho, w)
            out[f"pullback/{name}"] = gt.pullback_mvp(f, rho, w, v)
            out[f"P_op/{name}"] = gt.dense(gt.pullback_operator(f, rho, w), w)
        return out

    return dict(w=w, v=v, out=jit_once(compute)(w, v))


def _reference(case, matrix, loss):
    """The dense reference for ``loss`` ("kind-reduction"): sum = N * mean."""
    kind, reduction = loss.split("-")
    M = case["out"][f"{matrix}/{kind}-mean"]
    return N * M if reduction == "sum" else M


def _check(case, M, product, dense_op):
    """The product at v is M v; the operator, materialized column by column, is M."""
    np.testing.assert_allclose(M, M.T, rtol=1e-9, atol=1e-10)
    mv = case["out"][product]
    assert jax.tree_util.tree_structure(mv) == jax.tree_util.tree_structure(case["w"])
    np.testing.assert_allclose(flat(mv), M @ flat(case["v"]), rtol=1e-9, atol=1e-10)
    if dense_op in case["out"]:
        np.testing.assert_allclose(case["out"][dense_op], M, rtol=1e-9, atol=1e-10)


# ----------------------------------------------------------------------------------------------
# Hessian-vector products


@pytest.mark.parametrize("loss", LOSSES)
def test_hvp_and_hessian_operator_match_dense_hessian(case, loss):
    _check(case, _reference(case, "H", loss), f"hvp/{loss}", f"H_op/{loss}")


# ----------------------------------------------------------------------------------------------
# Gauss-Newton products


@pytest.mark.parametrize("loss", LOSSES)
def test_gnvp_and_gauss_newton_operator_match_dense_ggn(case, loss):
    _check(case, _reference(case, "G", loss), f"gnvp/{loss}", f"G_op/{loss}")


def test_ggn_equals_hessian_for_linear_model_with_squared_loss():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(N, D_IN)), rng.normal(size=(N, D_OUT))
    w = {"A": jnp.asarray(rng.normal(size=(D_IN, D_OUT))), "c": jnp.ones((D_OUT,))}
    f = lambda p: x @ p["A"] + p["c"]  # noqa: E731
    loss = _sq_loss(y, "mean")
    H, G = jit_once(lambda w: (_dense_hessian(lambda p: loss(f(p)), w), gt.dense(gt.gauss_newton_operator(f, loss, w), w)))(w)
    np.testing.assert_allclose(G, H, rtol=1e-10, atol=1e-12)
    # both are [x, 1]^T [x, 1] / N (kron) I, whatever w and y: check one block in closed form
    np.testing.assert_allclose(G[0, 0], np.mean(x[:, 0] ** 2), rtol=1e-12)


def test_ggn_is_psd_for_a_convex_loss_while_the_hessian_is_not(case):
    # convex losses give J^T H_L J >= 0; the Hessian adds sum_a dL/dz_a Hess(f_a), indefinite here
    for loss in ("squared-mean", "cross_entropy-mean"):
        eig_G = np.linalg.eigvalsh(case["out"][f"G/{loss}"])
        eig_H = np.linalg.eigvalsh(case["out"][f"H/{loss}"])
        scale = np.max(np.abs(eig_H))
        assert eig_G.min() > -1e-10 * scale, (loss, eig_G.min())
        assert eig_H.min() < -1e-3 * scale, (loss, eig_H.min())


# ----------------------------------------------------------------------------------------------
# pullback metric


@pytest.mark.parametrize("rho", list(RHOS))
def test_pullback_mvp_and_operator_match_dense(case, rho):
    _check(case, case["out"][f"P/{rho}"], f"pullback/{rho}", f"P_op/{rho}")


def test_pullback_of_euclidean_equals_gnvp_of_squared_error(case):
    # rho = 1/2 ||z - z0||^2 and the loss 1/2 ||z - y||^2 (summed) have the same output Hessian
    tree_allclose(case["out"]["pullback/euclidean"], case["out"]["gnvp/squared-sum"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(case["out"]["P/euclidean"], N * case["out"]["G/squared-mean"], rtol=1e-9, atol=1e-12)


def test_pullback_of_kl_on_softmax_equals_gnvp_of_cross_entropy(case):
    # Bregman case: KL between softmaxes is the Bregman divergence of log-sum-exp, the convex part
    # of the cross-entropy, so its Hessian at z0 is the cross-entropy's, whatever the labels.
    tree_allclose(case["out"]["pullback/kl_softmax"], case["out"]["gnvp/cross_entropy-sum"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(
        case["out"]["P/kl_softmax"], N * case["out"]["G/cross_entropy-mean"], rtol=1e-9, atol=1e-12
    )


# ----------------------------------------------------------------------------------------------
# metric_matrix


def test_metric_matrix_of_squared_euclidean_is_identity():
    w, _ = _relu_dict_mlp()
    n = flat(w).shape[0]

    def rho(u, w0):
        sq = jax.tree_util.tree_map(lambda a, b: jnp.sum((a - b) ** 2), u, w0)
        return 0.5 * sum(jax.tree_util.tree_leaves(sq))

    np.testing.assert_allclose(jit_once(lambda w: gt.metric_matrix(rho, w))(w), np.eye(n), atol=1e-12)


def _kl_gauss(m1, s1, m2, s2):
    """KL( N(m1, s1^2) || N(m2, s2^2) ) in closed form."""
    return jnp.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2) - 0.5


def test_metric_matrix_of_gaussian_kl_is_fisher_in_mean_std():
    params = np.array([[0.0, 1.0], [1.5, 0.3], [-2.0, 4.0]])
    # KL(p_u || p_w) on a flat vector (mean, std), and KL(p_w || p_u) on a dict pytree
    # (ravel_pytree orders dict keys: "mean" then "std"); both have the Fisher as Hessian.
    rho_vec = lambda u, w: _kl_gauss(u[0], u[1], w[0], w[1])  # noqa: E731
    rho_dict = lambda u, w: _kl_gauss(w["mean"], w["std"], u["mean"], u["std"])  # noqa: E731

    @jit_once
    def compute(p):
        as_dict = {"std": p[1], "mean": p[0]}
        return gt.metric_matrix(rho_vec, p), gt.metric_matrix(rho_dict, as_dict)

    for mean, std in params:
        expected = np.diag([1 / std**2, 2 / std**2])
        for G in compute(jnp.array([mean, std])):
            np.testing.assert_allclose(G, expected, rtol=1e-10, atol=1e-12)


# ----------------------------------------------------------------------------------------------
# dense


def test_dense_recovers_a_matrix_in_ravel_pytree_order():
    w = [{"a": jnp.zeros((2, 2))}, jnp.zeros(3)]
    w_flat, unravel = ravel_pytree(w)
    n = w_flat.shape[0]
    A = np.random.default_rng(7).normal(size=(n, n))
    M = jit_once(lambda w: gt.dense(lambda v: unravel(A @ ravel_pytree(v)[0]), w))(w)
    np.testing.assert_allclose(M, A, rtol=1e-14)


# ----------------------------------------------------------------------------------------------
# without jit (every test above runs its products inside jax.jit)


def test_products_and_operators_work_eagerly_on_closed_forms():
    # Outside jit, on a flat w with everything in closed form:
    #   h(w) = sum(w^3) + w0 w1             Hessian diag(6 w) + [[0, 1], [1, 0]]
    #   f(w) = (w0 w1, sin w0)              Jacobian [[w1, w0], [cos w0, 0]]
    #   loss(z) = sum(z^2)                  Gauss-Newton 2 J^T J;  pullback of 1/2|z - z0|^2: J^T J
    h = lambda w: jnp.sum(w**3) + w[0] * w[1]  # noqa: E731
    f = lambda w: jnp.stack([w[0] * w[1], jnp.sin(w[0])])  # noqa: E731
    loss = lambda z: jnp.sum(z**2)  # noqa: E731
    w0, w1 = 0.5, -2.0
    w = jnp.array([w0, w1])
    H = np.diag([6 * w0, 6 * w1]) + np.array([[0.0, 1.0], [1.0, 0.0]])
    Jac = np.array([[w1, w0], [np.cos(w0), 0.0]])
    for v in (np.array([1.0, 0.0]), np.array([0.3, -1.2])):
        np.testing.assert_allclose(gt.hvp(h, w, v), H @ v, rtol=1e-12)
        np.testing.assert_allclose(gt.hessian_operator(h, w)(v), H @ v, rtol=1e-12)
        np.testing.assert_allclose(gt.gnvp(f, loss, w, v), 2 * Jac.T @ Jac @ v, rtol=1e-12)
        np.testing.assert_allclose(gt.gauss_newton_operator(f, loss, w)(v), 2 * Jac.T @ Jac @ v, rtol=1e-12)
        np.testing.assert_allclose(gt.pullback_mvp(f, _half_sq, w, v), Jac.T @ Jac @ v, rtol=1e-12)
        np.testing.assert_allclose(gt.pullback_operator(f, _half_sq, w)(v), Jac.T @ Jac @ v, rtol=1e-12)
    np.testing.assert_allclose(gt.dense(gt.hessian_operator(h, w), w), H, rtol=1e-12)


# ----------------------------------------------------------------------------------------------
# bad input


def _bad_trees(w):
    """A v with another structure, and one with a leaf of the wrong shape."""
    wrong_structure = jax.tree_util.tree_leaves(w)  # a flat list instead of list-of-dicts
    wrong_shape = jax.tree_util.tree_map(jnp.zeros_like, w)
    wrong_shape[0]["b"] = jnp.zeros(D_HID + 1)
    return wrong_structure, wrong_shape


def _products_of(w, f, loss):
    J = lambda p: loss(f(p))  # noqa: E731
    return {
        "hvp": lambda v: gt.hvp(J, w, v),
        "gnvp": lambda v: gt.gnvp(f, loss, w, v),
        "pullback_mvp": lambda v: gt.pullback_mvp(f, _half_sq, w, v),
        "hessian_operator": lambda v: gt.hessian_operator(J, w)(v),
        "gauss_newton_operator": lambda v: gt.gauss_newton_operator(f, loss, w)(v),
        "pullback_operator": lambda v: gt.pullback_operator(f, _half_sq, w)(v),
    }


@pytest.mark.parametrize(
    "name", ["hvp", "gnvp", "pullback_mvp", "hessian_operator", "gauss_newton_operator", "pullback_operator"]
)
def test_mismatched_direction_raises_with_expected_and_got(name):
    w, f, loss = _setup("tanh_mlp", "squared", "mean")
    product = jax.jit(_products_of(w, f, loss)[name])  # the checks run while tracing
    wrong_structure, wrong_shape = _bad_trees(w)
    with pytest.raises(ValueError, match=r"(?s)same pytree structure.*expected:.*got:.*tree_map"):
        product(wrong_structure)
    with pytest.raises(ValueError, match=r"(?s)shape \(6,\), expected \(5,\).*expected:.*got:"):
        product(wrong_shape)


def test_non_scalar_function_raises():
    w, f, loss = _setup("tanh_mlp", "squared", "mean")
    v = _random_like(w, 0)
    with pytest.raises(TypeError, match=r"(?s)f must return a scalar \(shape \(\)\), got .*\[6, 2\].*jnp\.sum"):
        gt.hvp(f, w, v)
    with pytest.raises(TypeError, match=r"(?s)f must return a scalar.*got"):
        gt.hessian_operator(f, w)
    with pytest.raises(TypeError, match=r"(?s)loss must return a scalar.*got"):
        gt.gnvp(f, lambda z: z**2, w, v)
    with pytest.raises(TypeError, match=r"(?s)rho must return a scalar.*got"):
        gt.pullback_mvp(f, lambda z, z0: (z - z0) ** 2, w, v)
    with pytest.raises(TypeError, match=r"(?s)rho must return a scalar.*got"):
        gt.metric_matrix(lambda u, w0: u - w0, jnp.zeros(3))


def test_integer_valued_function_raises():
    with pytest.raises(TypeError, match=r"floating-point scalar, got dtype int"):
        gt.hvp(lambda w: jnp.sum(w).astype(jnp.int32), jnp.ones(2), jnp.ones(2))


@pytest.mark.parametrize("name", ["hvp", "gnvp", "pullback_mvp", "dense", "metric_matrix"])
def test_non_callable_raises(name):
    w = jnp.ones(3)
    calls = {
        "hvp": lambda: gt.hvp(3.0, w, w),
        "gnvp": lambda: gt.gnvp(lambda p: p, "loss", w, w),
        "pullback_mvp": lambda: gt.pullback_mvp(lambda p: p, None, w, w),
        "dense": lambda: gt.dense(np.eye(3), w),
        "metric_matrix": lambda: gt.metric_matrix(np.eye(3), w),
    }
    with pytest.raises(TypeError, match=r"must be a callable, got \w+"):
        calls[name]()
