"""gradtools.plotting.metrics under Agg: what is drawn matches independent computations."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.patches import Ellipse  # noqa: E402

from gradtools import plotting as gp  # noqa: E402


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_rosenbrock_contours_marks_minimum():
    ax = gp.plot_rosenbrock_contours(a=0.5, b=10.0)
    stars = [ln for ln in ax.lines if ln.get_marker() == "*"]
    np.testing.assert_allclose(stars[0].get_xydata(), [[0.5, 0.25]])
    assert len(ax.collections) >= 1  # the contour set


def test_plot_path_draws_points_and_rejects_bad_shape():
    p = np.array([[0.0, 0.0], [1.0, 2.0], [3.0, 1.0]])
    ax = gp.plot_path(p, label="GD")
    np.testing.assert_allclose(ax.lines[0].get_xydata(), p)
    np.testing.assert_allclose(ax.lines[1].get_xydata(), p[:1])  # start marker
    with pytest.raises(ValueError, match="num_points, 2"):
        gp.plot_path(np.zeros((3, 3)))


def test_rosenbrock_paths_two_panels_and_name_check():
    x = np.array([[-1.0, 1.0], [0.0, 0.0]])
    z = np.stack([1 - x[:, 0], 10 * (x[:, 1] - x[:, 0] ** 2)], -1)
    fig = gp.plot_rosenbrock_paths({"GD": x}, {"GD": z})
    ax_x, ax_z = fig.axes
    np.testing.assert_allclose(ax_x.lines[1].get_xydata(), x)
    np.testing.assert_allclose(ax_z.lines[0].get_xydata(), z)
    with pytest.raises(ValueError, match="same names"):
        gp.plot_rosenbrock_paths({"GD": x}, {"NG": z})


def test_plot_steps_endpoints():
    ends = {"a": np.array([1.0, 0.0]), "b": np.array([0.5, 0.5])}
    ax = gp.plot_steps([0.0, 0.0], ends)
    pts = [ln.get_xydata()[0] for ln in ax.lines[1:]]
    np.testing.assert_allclose(pts, [ends["a"], ends["b"]])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b"]


def test_metric_ellipse_axes_are_radius_over_sqrt_eigenvalues():
    theta = 0.3
    R = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    G = R @ np.diag([4.0, 0.25]) @ R.T
    ax = gp.plot_metric_ellipses([[1.0, 2.0]], G, radius=0.5)
    (e,) = [p for p in ax.patches if isinstance(p, Ellipse)]
    np.testing.assert_allclose(e.center, [1.0, 2.0])
    np.testing.assert_allclose(sorted([e.width, e.height]), sorted([2 * 0.5 / 2.0, 2 * 0.5 / 0.5]))
    # Points on the drawn boundary satisfy delta^T G delta = r^2 (the path is cubic Bezier
    # segments: every third vertex lies on the curve, the others are control points).
    verts = e.get_patch_transform().transform(e.get_path().vertices[:-1:3]) - np.array([1.0, 2.0])
    q = np.einsum("ni,ij,nj->n", verts, G, verts)
    np.testing.assert_allclose(q, 0.25, rtol=1e-6)


def test_metric_ellipses_errors():
    with pytest.raises(ValueError, match=r"\(n, 2, 2\)"):
        gp.plot_metric_ellipses([[0, 0], [1, 1]], np.eye(2)[None])
    with pytest.raises(ValueError, match="positive definite"):
        gp.plot_metric_ellipses([[0, 0]], np.diag([1.0, -1.0]))


def test_gaussian_fisher_figure():
    fig = gp.plot_gaussian_fisher(0.5, 2.0, mu_grid=(0.0,), sigma_grid=(1.0,), radius=0.2, num_boundary=4)
    ax_p, ax_d = fig.axes
    ell = [p for p in ax_p.patches if isinstance(p, Ellipse)]
    assert len(ell) == 2
    hi = ell[-1]
    np.testing.assert_allclose(hi.center, [0.5, 2.0])
    # F = diag(1/s^2, 2/s^2): semi-axes r*s and r*s/sqrt(2).
    np.testing.assert_allclose(sorted([hi.width, hi.height]), sorted([2 * 0.2 * 2.0, 2 * 0.2 * 2.0 / np.sqrt(2)]))
    assert len(ax_d.lines) == 5  # 4 neighbours + the density
    x, dens = ax_d.lines[-1].get_xdata(), ax_d.lines[-1].get_ydata()
    np.testing.assert_allclose(np.trapezoid(dens, x), 1.0, atol=2e-3)
    with pytest.raises(ValueError, match="positive"):
        gp.plot_gaussian_fisher(0.0, -1.0)


def test_vector_field_and_errors():
    g = np.linspace(-1, 1, 4)
    X, Y = np.meshgrid(g, g)
    path = np.array([[1.0, 1.0], [0.0, 0.0]])
    ax = gp.plot_vector_field(g, g, -X, -Y, values=X**2 + Y**2, paths=[path], target=[0, 0], title="GD")
    q = [c for c in ax.collections if isinstance(c, matplotlib.quiver.Quiver)][0]
    np.testing.assert_allclose(q.U, -X.ravel())
    np.testing.assert_allclose(ax.lines[0].get_xydata(), path)
    assert ax.get_title() == "GD"
    with pytest.raises(ValueError, match="len\\(grid_y\\)"):
        gp.plot_vector_field(g, g, X[:, :2], Y)


def test_preconditioner_fields_figure():
    g = np.linspace(-1, 5, 5)
    X, Y = np.meshgrid(g, g)
    fields = {"GD": (2 - X, 2 - Y), "NGD": (2 - X, 2 - Y)}
    paths = {"GD": [np.array([[0.0, 0.0], [2.0, 2.0]])], "NGD": []}
    fig = gp.plot_preconditioner_fields(np.arange(5.0), np.arange(5.0), [2.0, 2.0], g, fields, paths)
    assert len(fig.axes) == 3
    assert [a.get_title() for a in fig.axes] == ["data", "GD", "NGD"]
    with pytest.raises(ValueError, match="same names"):
        gp.plot_preconditioner_fields(np.arange(5.0), np.arange(5.0), [2, 2], g, fields, {"GD": []})


def test_vector_covector_label_is_pairing_and_sharp_vector():
    G = np.array([[2.0, 0.5], [0.5, 1.0]])
    om = np.array([1.0, -2.0])
    v = np.array([0.5, 1.5])
    ax = gp.plot_vector_covector(v, om, metric=G)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert f"{om @ v:.3g}" in labels[0]
    # The last arrow is G^{-1} omega.
    np.testing.assert_allclose(ax.texts[-1].xy, np.linalg.solve(G, om))


def test_loglog_slopes_and_errors():
    h = np.geomspace(1e-3, 1, 4)
    ax = gp.plot_loglog(h, {"e": 3 * h**2}, slopes={"e": 2}, xlabel="h")
    np.testing.assert_allclose(ax.lines[1].get_ydata(), 3 * h**2)
    assert ax.get_xscale() == "log" and ax.get_xlabel() == "h"
    with pytest.raises(ValueError, match="shape"):
        gp.plot_loglog(h, {"e": h[:2]})


def _visible_tick_labels(ax):
    ax.figure.canvas.draw()
    renderer = ax.figure.canvas.get_renderer()
    labels = [t for t in ax.get_xticklabels() + ax.get_xticklabels(minor=True) if t.get_visible() and t.get_text()]
    xmin, xmax = ax.get_xlim()
    labels = [t for t in labels if xmin <= t.get_position()[0] <= xmax]
    return labels, [t.get_window_extent(renderer) for t in labels]


def test_loglog_few_points_are_labelled_at_the_data_without_overlap():
    # Lecture 3's reparameterization figure: four step sizes, where matplotlib's minor labels
    # "3x10^-2" and "4x10^-2" overlapped.
    alphas = np.array([0.04, 0.02, 0.01, 0.005])
    ax = gp.plot_loglog(alphas, {"NG": 0.05 * alphas**2, "GD": 0.3 * alphas}, slopes={"NG": 2, "GD": 1})
    labels, boxes = _visible_tick_labels(ax)
    assert sorted(t.get_text() for t in labels) == ["0.005", "0.01", "0.02", "0.04"]
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    np.testing.assert_allclose(sorted(ax.get_xticks()), sorted(alphas))
    # Many points keep the decades ("log"), and both choices can be asked for.
    many = np.geomspace(1e-2, 10, 13)
    ax = gp.plot_loglog(many, {"e": many})
    assert len(ax.get_xticks()) < 13
    ax = gp.plot_loglog(many, {"e": many}, xticks="data")
    np.testing.assert_allclose(ax.get_xticks(), many)
    with pytest.raises(ValueError, match="xticks"):
        gp.plot_loglog(many, {"e": many}, xticks="none")
    plt.close("all")


def test_loglog_colours_by_name_and_a_shifted_reference_line():
    h = np.geomspace(1e-2, 1, 5)
    ax = gp.plot_loglog(h, {"a": h, "b": h**2}, slopes={"b": 2}, colors={"b": "C3"}, slope_shift=0.5)
    data_a, data_b, ref_b = ax.lines
    rgb = matplotlib.colors.to_rgb
    assert rgb(data_a.get_color()) == rgb("C0") and rgb(data_b.get_color()) == rgb(ref_b.get_color()) == rgb("C3")
    np.testing.assert_allclose(ref_b.get_ydata(), 0.5 * h**2)  # visible below the curve it follows exactly
    with pytest.raises(ValueError, match="colors"):
        gp.plot_loglog(h, {"a": h}, colors={"c": "C1"})
    with pytest.raises(ValueError, match="slope_shift"):
        gp.plot_loglog(h, {"a": h}, slope_shift=0)
    plt.close("all")


def test_rosenbrock_paths_and_fields_take_colours_by_name():
    p = np.zeros((3, 2))
    fig = gp.plot_rosenbrock_paths({"GD": p, "NG": p + 0.1}, {"GD": p, "NG": p}, colors={"NG": "C3"})
    rgb = matplotlib.colors.to_rgb
    assert [rgb(ln.get_color()) for ln in fig.axes[0].lines if ln.get_label() in ("GD", "NG")] == [rgb("C0"), rgb("C3")]
    g = np.linspace(-1, 5, 4)
    X, Y = np.meshgrid(g, g)
    fig = gp.plot_preconditioner_fields(np.ones(3), np.ones(3), [2, 2], g, {"GD": (2 - X, 2 - Y), "NGD": (2 - X, 2 - Y)},
                                        {"GD": [], "NGD": []}, colors={"NGD": "C3"})
    quivers = [c for ax in fig.axes[1:] for c in ax.collections if c.__class__.__name__ == "Quiver"]
    assert np.allclose(quivers[1].get_facecolor()[0][:3], matplotlib.colors.to_rgb("C3"))
    plt.close("all")


def test_bregman_gap_is_drawn():
    import jax.numpy as jnp

    phi = lambda t: jnp.logaddexp(0.0, t)
    ax = gp.plot_bregman(phi, -1.0, 2.0)
    seg = ax.lines[2].get_xydata()
    sp = lambda t: np.log1p(np.exp(t))
    sig = 1 / (1 + np.exp(1.0))
    np.testing.assert_allclose(seg[:, 0], [2.0, 2.0])
    np.testing.assert_allclose(seg[1, 1] - seg[0, 1], sp(2.0) - sp(-1.0) - sig * 3.0, rtol=1e-6)


def test_plot_path_start_marker_keeps_the_colour_cycle():
    ax = gp.plot_path([[0, 0], [1, 1]], label="a")
    gp.plot_path([[0, 1], [1, 2]], ax, label="b")
    first, start_a, second, start_b = ax.lines
    assert first.get_color() == start_a.get_color() and second.get_color() == start_b.get_color()
    assert first.get_color() != second.get_color()   # the second path got the next colour, not the third
    plt.close("all")


def test_plot_preconditioner_fields_shares_one_arrow_scale_and_explains_markers():
    g = np.linspace(-1, 5, 5)
    X, Y = np.meshgrid(g, g)
    fields = {"a": (2 - X, 2 - Y), "b": (10 * (2 - X), 10 * (2 - Y))}
    fig = gp.plot_preconditioner_fields(np.ones(3), np.ones(3), [2, 2], g, fields, {"a": [], "b": []},
                                        titles={"a": "field a, in full", "b": "field b"})
    quivers = [c for ax in fig.axes[1:] for c in ax.collections if c.__class__.__name__ == "Quiver"]
    assert len(quivers) == 2 and quivers[0].scale == quivers[1].scale          # a common scale
    assert fig.axes[1].get_title() == "field a, in full"
    assert [t.get_text() for t in fig.axes[1].get_legend().get_texts()][:2] == ["start", "end of the trajectory"]
    plt.close("all")


def test_plot_steps_colors_and_rings():
    ends = {"a": np.array([1.0, 0.0]), "b": np.array([1.0, 0.01])}
    ax = gp.plot_steps([0.0, 0.0], ends, colors={"a": "C6", "b": "C3"}, ringed=["a"])
    marker = {ln.get_label(): ln for ln in ax.lines}
    assert matplotlib.colors.same_color(marker["a"].get_markeredgecolor(), "C6")
    assert matplotlib.colors.same_color(marker["b"].get_color(), "C3")
    # the ringed step: a hollow marker twice as large as the dot drawn on top of it
    assert marker["a"].get_markerfacecolor() == "none"
    assert marker["a"].get_markersize() >= 2 * marker["b"].get_markersize()
    assert marker["a"].get_zorder() < marker["b"].get_zorder()
    with pytest.raises(ValueError, match="ringed"):
        gp.plot_steps([0.0, 0.0], ends, ringed=["c"])
    with pytest.raises(ValueError, match="colors"):
        gp.plot_steps([0.0, 0.0], ends, colors={"c": "k"})
