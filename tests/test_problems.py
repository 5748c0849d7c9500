"""Toy problems and data (gradtools.problems) against closed forms and scikit-learn's own copy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sklearn.datasets

from gradtools import problems

# ----------------------------------------------------------------------------------------------
# Rosenbrock


@pytest.mark.parametrize("a,b", [(1.0, 100.0), (0.5, 10.0), (-2.0, 3.0)])
def test_rosenbrock_is_loss_of_inner_map_and_matches_closed_form(a, b):
    points = np.random.default_rng(0).normal(size=(5, 2)) * 2
    for x1, x2 in points:
        x = jnp.array([x1, x2])
        z = problems.rosenbrock_f(x, a, b)
        np.testing.assert_allclose(z, [a - x1, np.sqrt(b) * (x2 - x1**2)], rtol=1e-12)
        np.testing.assert_allclose(problems.rosenbrock_L(z), z[0] ** 2 + z[1] ** 2, rtol=1e-12)
        closed = (a - x1) ** 2 + b * (x2 - x1**2) ** 2
        np.testing.assert_allclose(problems.rosenbrock(x, a, b), closed, rtol=1e-12)
        np.testing.assert_allclose(problems.rosenbrock(x, a, b), problems.rosenbrock_L(z), rtol=1e-12)


@pytest.mark.parametrize("a,b", [(1.0, 100.0), (-0.5, 4.0)])
def test_rosenbrock_minimum_at_a_a_squared_with_zero_gradient(a, b):
    x_star = jnp.array([a, a**2])
    assert float(problems.rosenbrock(x_star, a, b)) == 0.0
    grad = jax.grad(problems.rosenbrock)(x_star, a, b)
    np.testing.assert_allclose(grad, 0.0, atol=1e-12)
    # closed-form gradient elsewhere: (-2(a - x1) - 4 b x1 (x2 - x1^2), 2 b (x2 - x1^2))
    x1, x2 = 0.3, -0.7
    expected = [-2 * (a - x1) - 4 * b * x1 * (x2 - x1**2), 2 * b * (x2 - x1**2)]
    np.testing.assert_allclose(jax.grad(problems.rosenbrock)(jnp.array([x1, x2]), a, b), expected, rtol=1e-12)
    # and the value is positive around the minimum
    for d in np.eye(2) * 1e-2:
        assert float(problems.rosenbrock(x_star + d, a, b)) > 0


def test_rosenbrock_f_rejects_wrong_shape():
    with pytest.raises(ValueError, match=r"shape \(2,\), got shape \(3,\)"):
        problems.rosenbrock_f(jnp.zeros(3))


# ----------------------------------------------------------------------------------------------
# linear regression


# one size throughout (each new shape costs a compile of the samplers)
NUM_EXAMPLES, NUM_FEATURES = 4000, 3


def _regression(seed, **kwargs):
    return problems.make_linear_regression(
        key=jax.random.key(seed), num_examples=NUM_EXAMPLES, num_features=NUM_FEATURES, **kwargs
    )


def test_make_linear_regression_shapes_and_seeding():
    data = _regression(0)
    assert isinstance(data, problems.LinearRegression)
    assert data.X.shape == (NUM_EXAMPLES, NUM_FEATURES) and data.y.shape == (NUM_EXAMPLES,)
    assert data.w_true.shape == (NUM_FEATURES,)
    same, other = _regression(0), _regression(1)
    for a, b in zip(data, same):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(data.X, other.X)


def test_make_linear_regression_noise_is_the_residual_of_w_true():
    noise = 0.3
    data = _regression(2, noise=noise)
    residual = np.asarray(data.y - data.X @ data.w_true)
    np.testing.assert_allclose(residual.std(), noise, rtol=0.05)
    exact = _regression(2, noise=0.0)
    np.testing.assert_allclose(exact.y, exact.X @ exact.w_true, rtol=1e-12, atol=1e-12)


def test_feature_scales_set_the_spectrum_of_the_covariance():
    scales = np.array([0.5, 2.0, 6.0])
    X = np.asarray(_regression(3, feature_scales=scales).X)
    eig = np.linalg.eigvalsh(X.T @ X / X.shape[0])
    np.testing.assert_allclose(np.sort(eig), np.sort(scales**2), rtol=0.1)
    np.testing.assert_allclose(X.std(axis=0), scales, rtol=0.05)
    # scaling the columns changes X and nothing else
    np.testing.assert_allclose(X, np.asarray(_regression(3).X) * scales, rtol=1e-12)


def test_make_linear_regression_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"num_examples >= 1 and num_features >= 1, got 0 and 2"):
        problems.make_linear_regression(key=jax.random.key(0), num_examples=0)
    with pytest.raises(ValueError, match=r"one entry per feature, shape \(3,\), got \(2,\)"):
        _regression(0, feature_scales=[1.0, 2.0])


# ----------------------------------------------------------------------------------------------
# MLPs


def _manual_forward(params, x, act):
    h = np.asarray(x)
    for i, layer in enumerate(params):
        h = h @ np.asarray(layer["w"]) + np.asarray(layer["b"])
        if i < len(params) - 1:
            h = act(h)
    return h


NUMPY_ACTIVATIONS = {
    "tanh": np.tanh,
    "relu": lambda a: np.maximum(a, 0.0),
    "softplus": lambda a: np.logaddexp(0.0, a),
    "sigmoid": lambda a: 1 / (1 + np.exp(-a)),
    "linear": lambda a: a,
}


@pytest.mark.parametrize("activation", list(NUMPY_ACTIVATIONS))
def test_make_mlp_matches_a_manual_forward_pass(activation):
    sizes = (4, 6, 5, 3)
    init, apply = problems.make_mlp(sizes, activation=activation)
    params = init(jax.random.key(0))
    assert isinstance(params, list) and len(params) == 3
    for layer, m, n in zip(params, sizes[:-1], sizes[1:]):
        assert set(layer) == {"w", "b"}
        assert layer["w"].shape == (m, n) and layer["b"].shape == (n,)
        np.testing.assert_array_equal(layer["b"], 0.0)
    x = np.random.default_rng(1).normal(size=(7, 4))
    out = apply(params, x)
    assert out.shape == (7, 3)
    np.testing.assert_allclose(out, _manual_forward(params, x, NUMPY_ACTIVATIONS[activation]), rtol=1e-10, atol=1e-12)
    single = apply(params, x[0])  # one example without a batch axis
    assert single.shape == (3,)
    np.testing.assert_allclose(single, out[0], rtol=1e-12)


def test_make_mlp_init_is_seeded_and_lecun_scaled():
    init, _ = problems.make_mlp((400, 300))
    p0, p0_again, p1 = init(jax.random.key(0)), init(jax.random.key(0)), init(jax.random.key(1))
    np.testing.assert_array_equal(p0[0]["w"], p0_again[0]["w"])
    assert not np.allclose(p0[0]["w"], p1[0]["w"])
    # LeCun normal: mean 0, variance 1 / fan_in
    w = np.asarray(p0[0]["w"])
    np.testing.assert_allclose(w.var(), 1 / 400, rtol=0.02)
    assert abs(w.mean()) < 5 * np.sqrt(1 / 400 / w.size)


def test_make_mlp_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"at least two positive widths.*got \(3,\)"):
        problems.make_mlp((3,))
    with pytest.raises(ValueError, match=r"at least two positive widths.*got \(3, 0, 2\)"):
        problems.make_mlp((3, 0, 2))
    with pytest.raises(ValueError, match=r"unknown activation 'gelu': expected one of \['linear', 'relu'"):
        problems.make_mlp((3, 2), activation="gelu")
    _, apply = problems.make_mlp((3, 2))
    with pytest.raises(ValueError, match=r"expected inputs with 3 features \(last axis\), got shape \(5, 4\)"):
        apply(None, np.zeros((5, 4)))  # the input is checked before the parameters are used


# ----------------------------------------------------------------------------------------------
# digits


@pytest.fixture(scope="module")
def digits():
    return problems.load_digits()


def test_load_digits_shapes_dtypes_and_ranges(digits):
    assert isinstance(digits, problems.Dataset)
    n_test = round(0.25 * 1797)
    assert digits.x_train.shape == (1797 - n_test, 64) and digits.x_test.shape == (n_test, 64)
    assert digits.y_train.shape == (1797 - n_test,) and digits.y_test.shape == (n_test,)
    assert digits.x_train.dtype == jnp.float32 and digits.y_train.dtype == jnp.int32
    for x in (digits.x_train, digits.x_test):
        assert float(x.min()) == 0.0 and float(x.max()) == 1.0
    for y in (digits.y_train, digits.y_test):
        assert set(np.unique(y)) == set(range(10))


def test_load_digits_is_a_split_of_scikit_learns_digits(digits):
    sk = sklearn.datasets.load_digits()
    ours = np.concatenate([np.asarray(digits.x_train), np.asarray(digits.x_test)]) * 16
    labels = np.concatenate([np.asarray(digits.y_train), np.asarray(digits.y_test)])

    def rows(x, y):  # the data set as a sorted multiset of (pixels, label) rows
        table = np.hstack([np.rint(x), y[:, None]]).astype(np.int64)
        return table[np.lexsort(table.T[::-1])]

    np.testing.assert_array_equal(rows(ours, labels), rows(sk.data, sk.target))


def test_load_digits_is_deterministic_and_seeded(digits):
    again = problems.load_digits()
    for a, b in zip(digits, again):
        np.testing.assert_array_equal(a, b)
    other = problems.load_digits(seed=1)
    assert not np.array_equal(digits.y_test, other.y_test)


def test_load_digits_split_sizes_and_num_train(digits):
    half = problems.load_digits(test_fraction=0.5)
    assert half.x_test.shape[0] == round(0.5 * 1797) and half.x_train.shape[0] == 1797 - round(0.5 * 1797)
    small = problems.load_digits(num_train=100)
    assert small.x_train.shape == (100, 64) and small.y_train.shape == (100,)
    np.testing.assert_array_equal(small.x_train, digits.x_train[:100])  # the first of the same split
    np.testing.assert_array_equal(small.x_test, digits.x_test)


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_load_digits_rejects_bad_test_fraction(fraction):
    with pytest.raises(ValueError, match=r"test_fraction must be in \(0, 1\), got"):
        problems.load_digits(test_fraction=fraction)


@pytest.mark.parametrize("num_train", [0, 5000])
def test_load_digits_rejects_bad_num_train(num_train):
    with pytest.raises(ValueError, match=rf"num_train must be between 1 and 1348, got {num_train}"):
        problems.load_digits(num_train=num_train)
