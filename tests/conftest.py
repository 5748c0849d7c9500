"""Strict settings for the unit tests.

References (dense Hessians, Jacobians, eigendecompositions) are computed in float64, so x64 is on
for every test. Helpers: a fixed PRNG key, ``tree_allclose`` and ``flat``.
"""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("MPLBACKEND", "Agg")

import jax  # noqa: E402
import pytest  # noqa: E402
from helpers import tree_allclose  # noqa: E402

jax.config.update("jax_enable_x64", True)


@pytest.fixture
def key():
    return jax.random.key(0)


@pytest.fixture
def assert_tree_allclose():
    return tree_allclose
