"""Lecture 1's explorer: built without a browser under Agg; moving a slider redraws."""

import matplotlib

matplotlib.use("Agg")
import ipywidgets as widgets  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import gradtools as gt  # noqa: E402
from gradtools import quadratic as quad  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _path(fig):
    return [ln for ln in fig.axes[0].lines if len(ln.get_xdata()) > 2][0].get_xydata()


def test_explorer_draws_at_build_and_on_each_slider_change():
    box = gt.widgets.gd_quadratic_explorer(lr=0.5, kappa=10.0, num_steps=12)
    assert isinstance(box, widgets.VBox)
    assert box.last_drawn == {"lr": 0.5, "kappa": 10.0}
    assert box.lr_slider.continuous_update is False and box.kappa_slider.continuous_update is False
    first = box.last_figure

    box.lr_slider.value = 1.5
    assert box.last_drawn == {"lr": 1.5, "kappa": 10.0}
    assert box.last_figure is not first
    assert box.status.value == "lr=1.5, kappa=10"
    q = gt.plotting.rotated_quadratic_2d(10.0)
    np.testing.assert_allclose(_path(box.last_figure), quad.gd_trajectory(q, jnp.array([-2.0, 2.0]), 1.5, 12),
                               rtol=1e-10)

    box.kappa_slider.value = 100.0
    assert box.last_drawn["kappa"] == pytest.approx(100.0)
    assert box.status.value == "lr=1.5, kappa=100"
    q = gt.plotting.rotated_quadratic_2d(100.0)
    np.testing.assert_allclose(_path(box.last_figure), quad.gd_trajectory(q, jnp.array([-2.0, 2.0]), 1.5, 12),
                               rtol=1e-10)


def test_explorer_layout_and_hidden_status():
    box = gt.widgets.gd_quadratic_explorer()
    assert box.output in box.children and box.status in box.children
    assert box.status.layout.display == "none"
    assert box.lr_slider.max > 2.0  # can show divergence past 2 / lambda_max = 2
    assert not plt.get_fignums()  # under Agg the explorer leaves no open pyplot figures


def test_explorer_rejects_out_of_range_values():
    with pytest.raises(ValueError, match=r"lr must be in \[0.05, 2.2\]"):
        gt.widgets.gd_quadratic_explorer(lr=3.0)
    with pytest.raises(ValueError, match=r"kappa must be in \[1, 1000\]"):
        gt.widgets.gd_quadratic_explorer(kappa=0.5)


def test_explorer_draws_each_direction_in_one_colour_in_both_panels():
    box = gt.widgets.gd_quadratic_explorer(lr=1.9, kappa=10.0, num_steps=12)
    assert gt.plotting.drawn_eigen_colors(*box.last_figure.axes) == {1: "tab:red", 2: "tab:blue"}
    box.kappa_slider.value = 100.0
    assert gt.plotting.drawn_eigen_colors(*box.last_figure.axes) == {1: "tab:red", 2: "tab:blue"}
