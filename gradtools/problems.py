"""Toy problems and data for the lectures: all seeded, nothing downloaded.

- Rosenbrock written as a composite cost ``J = L(f(x))`` (lecture 3).
- Linear regression with a chosen spectrum (lecture 1).
- Small MLPs as ``(init, apply)`` pairs on pytrees (lectures 2-6).
- scikit-learn's shipped 8x8 digits (no download).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

PyTree = Any

__all__ = [
    "rosenbrock_f",
    "rosenbrock_L",
    "rosenbrock",
    "LinearRegression",
    "make_linear_regression",
    "make_mlp",
    "Dataset",
    "load_digits",
]


def rosenbrock_f(x: jax.Array, a: float = 1.0, b: float = 100.0) -> jax.Array:
    r"""The inner map of Rosenbrock: :math:`f(x) = (a - x_1, \sqrt{b}(x_2 - x_1^2))`."""
    x = jnp.asarray(x)
    if x.shape != (2,):
        raise ValueError(f"rosenbrock_f expects a point of shape (2,), got shape {x.shape}.")
    return jnp.stack([a - x[0], jnp.sqrt(b) * (x[1] - x[0] ** 2)])


def rosenbrock_L(z: jax.Array) -> jax.Array:
    r"""The outer loss of Rosenbrock: :math:`\mathcal{L}(z) = z_1^2 + z_2^2`."""
    return jnp.sum(jnp.asarray(z) ** 2)


def rosenbrock(x: jax.Array, a: float = 1.0, b: float = 100.0) -> jax.Array:
    r"""Rosenbrock :math:`h(x) = (a - x_1)^2 + b (x_2 - x_1^2)^2 = \mathcal{L}(f(x))`; minimum at ``(a, a**2)``."""
    return rosenbrock_L(rosenbrock_f(x, a, b))


class LinearRegression(NamedTuple):
    """A linear-regression problem ``y = X w_true + noise``.

    Attributes:
        X: inputs, ``(num_examples, num_features)``.
        y: targets, ``(num_examples,)``.
        w_true: the weights that generated ``y``, ``(num_features,)``.
    """

    X: jax.Array
    y: jax.Array
    w_true: jax.Array


def make_linear_regression(
    *,
    key: jax.Array,
    num_examples: int = 100,
    num_features: int = 2,
    noise: float = 0.1,
    feature_scales: Sequence[float] | None = None,
) -> LinearRegression:
    """Sample a linear-regression problem with Gaussian inputs.

    ``feature_scales`` multiplies the columns of ``X``; their squares set the spectrum of
    ``X.T @ X / N`` and so the condition number of the quadratic cost (lecture 1).
    """
    if num_examples < 1 or num_features < 1:
        raise ValueError(
            f"expected num_examples >= 1 and num_features >= 1, got {num_examples} and {num_features}."
        )
    kx, kw, kn = jax.random.split(key, 3)
    X = jax.random.normal(kx, (num_examples, num_features))
    if feature_scales is not None:
        scales = jnp.asarray(feature_scales, dtype=X.dtype)
        if scales.shape != (num_features,):
            raise ValueError(
                f"feature_scales must have one entry per feature, shape ({num_features},), got {scales.shape}."
            )
        X = X * scales
    w_true = jax.random.normal(kw, (num_features,))
    y = X @ w_true + noise * jax.random.normal(kn, (num_examples,))
    return LinearRegression(X, y, w_true)


_ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "tanh": jnp.tanh,
    "relu": jax.nn.relu,
    "softplus": jax.nn.softplus,
    "sigmoid": jax.nn.sigmoid,
    "linear": lambda a: a,
}


def make_mlp(
    sizes: Sequence[int], *, activation: str = "tanh"
) -> tuple[Callable[[jax.Array], list[dict]], Callable[[list[dict], jax.Array], jax.Array]]:
    """A fully connected network as a pure ``(init, apply)`` pair.

    Parameters are a list of ``{"w": (fan_in, fan_out), "b": (fan_out,)}`` dicts, one per layer.
    ``apply(params, x)`` maps a batch ``(batch, sizes[0])`` (or one example ``(sizes[0],)``) to
    ``(batch, sizes[-1])`` outputs (logits, means...); no activation after the last layer.

    Args:
        sizes: layer widths, input first, e.g. ``(64, 32, 10)``.
        activation: one of ``tanh``, ``relu``, ``softplus``, ``sigmoid``, ``linear``.

    Returns:
        ``init(key) -> params`` (LeCun-normal weights, zero biases) and ``apply(params, x)``.
    """
    sizes = tuple(int(s) for s in sizes)
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"sizes must list at least two positive widths (input, output), got {sizes}.")
    if activation not in _ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}: expected one of {sorted(_ACTIVATIONS)}.")
    act = _ACTIVATIONS[activation]

    def init(key: jax.Array) -> list[dict]:
        keys = jax.random.split(key, len(sizes) - 1)
        return [
            {"w": jax.random.normal(k, (m, n)) / jnp.sqrt(m), "b": jnp.zeros((n,))}
            for k, m, n in zip(keys, sizes[:-1], sizes[1:])
        ]

    def apply(params: list[dict], x: jax.Array) -> jax.Array:
        x = jnp.asarray(x)
        if x.shape[-1] != sizes[0]:
            raise ValueError(f"expected inputs with {sizes[0]} features (last axis), got shape {x.shape}.")
        h = x
        for i, layer in enumerate(params):
            h = h @ layer["w"] + layer["b"]
            if i < len(params) - 1:
                h = act(h)
        return h

    return init, apply


class Dataset(NamedTuple):
    """A train/test split: inputs ``(N, d)`` float arrays, labels ``(N,)`` int arrays."""

    x_train: jax.Array
    y_train: jax.Array
    x_test: jax.Array
    y_test: jax.Array


def load_digits(*, seed: int = 0, test_fraction: float = 0.25, num_train: int | None = None) -> Dataset:
    """scikit-learn's 8x8 digits (1797 images, shipped with the package; nothing is downloaded).

    Pixels are scaled to [0, 1] and flattened to 64 features. The split is a seeded permutation.

    Args:
        seed: seed of the permutation that splits train from test.
        test_fraction: share of the images held out.
        num_train: keep only the first ``num_train`` training images (for fast lectures).
    """
    from sklearn.datasets import load_digits as _sk_load_digits

    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}.")
    data = _sk_load_digits()
    x = (data.data / 16.0).astype(np.float32)
    y = data.target.astype(np.int32)
    perm = np.random.default_rng(seed).permutation(len(y))
    n_test = int(round(test_fraction * len(y)))
    test, train = perm[:n_test], perm[n_test:]
    if num_train is not None:
        if not 1 <= num_train <= len(train):
            raise ValueError(f"num_train must be between 1 and {len(train)}, got {num_train}.")
        train = train[:num_train]
    return Dataset(jnp.asarray(x[train]), jnp.asarray(y[train]), jnp.asarray(x[test]), jnp.asarray(y[test]))
