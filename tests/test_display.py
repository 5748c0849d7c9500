"""gt.fmt: stable, rounded text for every number a notebook prints (nbval compares text)."""

import jax.numpy as jnp
import numpy as np
import pytest

import gradtools as gt


@pytest.mark.parametrize(
    "x,expected",
    [
        (3.14159265, "3.142"),
        (2.0, "2"),
        (-2.5, "-2.5"),
        (1e-12, "1e-12"),
        (123456.0, "1.235e+05"),
        (0.000123456, "0.0001235"),
        (1234.5678, "1235"),
        (0.0, "0"),
        (-0.0, "0"),
        (np.float32(0.5), "0.5"),
        (np.float64(-0.0), "0"),
        (jnp.asarray(0.25), "0.25"),
    ],
)
def test_scalars(x, expected):
    assert gt.fmt(x) == expected


@pytest.mark.parametrize(
    "x,expected",
    [
        (float("nan"), "nan"),
        (float("inf"), "inf"),
        (-np.inf, "-inf"),
        (np.array([np.nan, 1.0]), "[nan, 1]"),
    ],
)
def test_non_finite(x, expected):
    assert gt.fmt(x) == expected


def test_significant_digits():
    assert gt.fmt(np.pi, sig=2) == "3.1"
    assert gt.fmt(np.pi, sig=6) == "3.14159"
    assert gt.fmt(np.pi, sig=1) == "3"
    assert gt.fmt(2 / 3, sig=3) == "0.667"
    assert gt.fmt([np.e, 100 * np.e], sig=2) == "[2.7, 2.7e+02]"
    # the last bits of floating point do not show
    assert gt.fmt(0.1 + 0.2) == gt.fmt(0.3) == "0.3"
    assert gt.fmt(np.float32(1 / 3)) == gt.fmt(1 / 3) == "0.3333"


def test_arrays():
    assert gt.fmt(np.array([1e-12, 2.0, -0.0])) == "[1e-12, 2, 0]"
    assert gt.fmt(jnp.array([[1.0, 2.5], [-3.25, 4.0]])) == "[[1, 2.5], [-3.25, 4]]"
    assert gt.fmt(np.zeros((0,))) == "[]"
    assert gt.fmt(np.array(7.0)) == "7"  # a 0-d array is a scalar


def test_nested_lists_tuples_and_dicts():
    assert gt.fmt([1.23456, [2.0, (3.5, -0.0)]]) == "[1.235, [2, [3.5, 0]]]"
    assert gt.fmt({"loss": 0.123456, "grad": np.array([1.0, -1.0])}) == "{loss: 0.1235, grad: [1, -1]}"
    assert gt.fmt({"a": {"b": [1.0, 2.0]}}, sig=2) == "{a: {b: [1, 2]}}"


def test_ints_and_bools_are_printed_exactly():
    assert gt.fmt(3) == "3"
    assert gt.fmt(123456789) == "123456789"
    assert gt.fmt(np.int32(-4)) == "-4"
    assert gt.fmt(np.array([1, 2, 3])) == "[1, 2, 3]"
    assert gt.fmt(jnp.arange(3)) == "[0, 1, 2]"
    assert gt.fmt(True) == "True"
    assert gt.fmt(np.array([True, False])) == "[True, False]"
    assert gt.fmt([1, 2.5, False]) == "[1, 2.5, False]"
