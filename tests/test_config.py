"""gradtools.config: the one switch between the CPU and GPU configurations of lectures 5 and 6."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtools as gt


@pytest.mark.parametrize("value,expected", [("gpu", "gpu"), ("GPU", "gpu"), ("cpu", "cpu"), (" cpu ", "cpu")])
def test_course_size_reads_the_setting_on_any_backend(monkeypatch, value, expected):
    monkeypatch.setenv("COURSE_SIZE", value)
    assert gt.course_size() == expected


@pytest.mark.parametrize("value", [None, "auto", ""])
def test_course_size_auto_follows_the_backend(monkeypatch, value):
    if value is None:
        monkeypatch.delenv("COURSE_SIZE", raising=False)
    else:
        monkeypatch.setenv("COURSE_SIZE", value)
    assert gt.course_size() == ("gpu" if jax.default_backend() == "gpu" else "cpu")


def test_a_wrong_setting_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("COURSE_SIZE", "big")
    with pytest.raises(ValueError, match=r"COURSE_SIZE must be 'gpu', 'cpu' or 'auto', got 'big'"):
        gt.course_size()


def test_dtype_eps_is_the_machine_epsilon():
    assert gt.dtype_eps(jnp.float32) == np.finfo(np.float32).eps
    assert gt.dtype_eps(jnp.float64) == np.finfo(np.float64).eps
    # default: JAX's current default float (the unit tests run with x64 on)
    assert gt.dtype_eps() == np.finfo(jnp.zeros(()).dtype).eps
    # the defining property: 1 + eps is the next float after 1
    for dt in (np.float32, np.float64):
        one = dt(1)
        assert one + dt(gt.dtype_eps(dt)) > one and one + dt(gt.dtype_eps(dt)) / dt(2) == one
