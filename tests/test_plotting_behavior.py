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
    ax = gp.plot_contour_planes([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], offsets=(-1, 0, 1))
    assert (ax.behavior_rank, ax.manifold_dim) == (2, 1)
    dots = [ln for ln in ax.lines if ln.get_marker() == "."]
    assert len(dots) == 1 and len(dots[0].get_xdata()) == 9  # one manifold (line) per crossing
    assert "rank 2, manifolds 1-D" in ax.get_title()
    assert ax.contour_lines_drawn[0] != ax.contour_lines_drawn[1]
    ax = gp.plot_contour_planes([[1.0, 1.0, 0.0], [-2.0, -2.0, 0.0]])
    assert (ax.behavior_rank, ax.manifold_dim) == (1, 2)
    assert not [ln for ln in ax.lines if ln.get_marker() == "."]
    with pytest.raises(ValueError, match="third column"):
        gp.plot_contour_planes([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    with pytest.raises(ValueError, match="non-zero page part"):
        gp.plot_contour_planes([[0.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


@pytest.mark.parametrize("scale", [-2.0, 0.5, 3.0])
def test_parallel_inputs_draw_the_same_lines(scale):
    # input 2 = scale * input 1: its contour planes are those of input 1, so every drawn line of
    # input 2 must be a drawn line of input 1 (checked on the segments themselves, not the labels)
    x1 = np.array([0.8, 0.6, 0.0])
    ax = gp.plot_contour_planes([x1, scale * x1])
    assert ax.contour_lines_drawn[0] == ax.contour_lines_drawn[1]
    segs = [np.column_stack([ln.get_xdata(), ln.get_ydata()]) for ln in ax.lines if ln.get_linestyle() != "None"]
    first, second = segs[:5], segs[5:]
    for seg in second:
        assert any(np.allclose(seg @ x1[:2], s[0] @ x1[:2], atol=1e-9) for s in first)


@pytest.mark.parametrize("inputs", [
    [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]],
    [[1.0, 0.0, 0.0], [0.5, np.sqrt(3) / 2, 0.0]],
    [[0.8, 0.6, 0.0], [-1.6, -1.2, 0.0]],
])
def test_contour_planes_hide_nothing(inputs):
    fig, ax = plt.subplots(figsize=(4.2, 4.6))
    gp.plot_contour_planes(inputs, ax)
    fig.tight_layout()
    assert gp.unobstructed(ax) == {"clipped_markers": 0, "legend_overlaps": False}
    pts = ax.manifold_points
    assert np.all(np.abs(pts) <= 2.0 + 1e-9)
    if ax.behavior_rank == 2:  # every crossing inside the square is marked
        assert len(pts) >= 9


def test_unobstructed_finds_clipped_markers_and_a_covering_legend():
    fig, ax = plt.subplots()
    ax.plot([0.0, 0.5, 1.0], [0.0, 0.5, 1.0], "k.", ms=10, label="dots")
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, 1.0)
    ax.legend(loc="center")
    got = gp.unobstructed(ax)
    assert got == {"clipped_markers": 2, "legend_overlaps": True}


def test_output_change_plot():
    ts = np.logspace(-3, -1, 4)
    ax = gp.plot_output_change(ts, {"null": 3 * ts ** 2, "row": 0.5 * ts})
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    np.testing.assert_allclose(ax.lines[0].get_ydata(), 3 * ts ** 2)
    # one guide per curve, of that curve's slope, anchored to that curve's first point
    assert {k: v[0] for k, v in ax.slope_guides.items()} == {"null": 2.0, "row": 1.0}
    np.testing.assert_allclose(ax.slope_guides["null"][1], 3 * ts ** 2 / 4)
    np.testing.assert_allclose(ax.slope_guides["row"][1], 0.5 * ts / 4)
    ax = gp.plot_output_change(ts, {"a": ts ** 2}, slopes={"a": 1})
    np.testing.assert_allclose(ax.slope_guides["a"][1], ts[0] ** 2 / 4 * ts / ts[0])
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


def test_rank_experiment_plot_with_kinks():
    ax = gp.plot_rank_experiment([7, 19], [9, 15], [7, 5], num_at_kink=[7, 11])
    heights = [p.get_height() for p in ax.patches]
    assert heights == [9, 15, 7, 11, 7, 5]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["runs reaching zero loss", "... with an input on a kink", "... with rank(H) < k"]
    ax.figure.tight_layout()
    assert gp.unobstructed(ax)["legend_overlaps"] is False   # the legend sits below the bars
    with pytest.raises(ValueError, match="same length"):
        gp.plot_rank_experiment([7], [1], [0], num_at_kink=[1, 2])
