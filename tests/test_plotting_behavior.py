"""gradtools.plotting.behavior under Agg: the plots draw what the lecture says they draw."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from gradtools import plotting as gp  # noqa: E402


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_contour_lines_are_level_sets():
    n = np.array([0.6, -0.8])
    for c, seg in zip([-1.0, 0.5], gp.contour_lines(n, [-1.0, 0.5], 2.0)):
        np.testing.assert_allclose(seg @ n, c, atol=1e-12)  # both ends on n . theta = c
    with pytest.raises(ValueError, match="non-zero"):
        gp.contour_lines([0.0, 0.0], [1.0], 1.0)


def test_contour_planes_perpendicular_and_parallel():
    ax = gp.plot_contour_planes([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], levels=(-1, 0, 1))
    assert (ax.behavior_rank, ax.manifold_dim) == (2, 1)
    dots = [ln for ln in ax.lines if ln.get_marker() == "."]
    assert len(dots) == 1 and len(dots[0].get_xdata()) == 9  # one manifold (line) per crossing
    assert "rank 2, manifolds 1-D" in ax.get_title()
    ax = gp.plot_contour_planes([[1.0, 1.0, 0.0], [-2.0, -2.0, 0.0]])
    assert (ax.behavior_rank, ax.manifold_dim) == (1, 2)
    assert not [ln for ln in ax.lines if ln.get_marker() == "."]
    with pytest.raises(ValueError, match="third column"):
        gp.plot_contour_planes([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])


def test_output_change_plot():
    ts = np.logspace(-3, -1, 4)
    ax = gp.plot_output_change(ts, {"null": ts ** 2, "row": ts})
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    np.testing.assert_allclose(ax.lines[0].get_ydata(), ts ** 2)
    with pytest.raises(ValueError, match="shape"):
        gp.plot_output_change(ts, {"x": ts[:2]})


def test_rank_spectra_plot_normalizes():
    ax = gp.plot_rank_spectra({"H": np.array([-4.0, 2.0, 0.0])}, 1e-8)
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [1.0, 0.5, 1e-18])
    assert any(abs(ln.get_ydata()[0] - 1e-8) < 1e-20 for ln in ax.lines[1:])


def test_manifold_walk_plot():
    xt = np.linspace(-1, 1, 5)
    F = np.stack([xt, 2 * xt, 3 * xt])
    ax = gp.plot_manifold_walk(xt, F, [0.0], [0.0])
    np.testing.assert_allclose(ax.lines[2].get_ydata(), 3 * xt)
    with pytest.raises(ValueError, match="one row per walk point"):
        gp.plot_manifold_walk(xt, F[:, :3], [0.0], [0.0])


def test_rank_experiment_plot():
    ax = gp.plot_rank_experiment([7, 19, 61], [9, 16, 16], [9, 3, 0])
    heights = [p.get_height() for p in ax.patches]
    assert heights == [9, 16, 16, 9, 3, 0]
    with pytest.raises(ValueError, match="same length"):
        gp.plot_rank_experiment([7], [1, 2], [0])
