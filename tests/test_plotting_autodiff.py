"""gradtools.plotting.autodiff under the Agg backend: each plot draws the artists and data it
should, with its labels; bad input raises."""

import math

import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from gradtools.plotting import autodiff as P  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_taylor_polynomial_matches_known_series():
    T3 = P.taylor_polynomial_1d(jnp.exp, 0.0, 3)
    x = np.linspace(-1, 1, 7)
    np.testing.assert_allclose(T3(x), 1 + x + x**2 / 2 + x**3 / 6, rtol=1e-12)
    x0 = 0.4
    T2 = P.taylor_polynomial_1d(jnp.sin, x0, 2)
    h = x - x0
    np.testing.assert_allclose(T2(x), math.sin(x0) + math.cos(x0) * h - math.sin(x0) * h**2 / 2, rtol=1e-10)
    with pytest.raises(ValueError, match="non-negative ints"):
        P.taylor_polynomial_1d(jnp.sin, 0.0, -1)


def test_plot_taylor_1d_draws_f_each_order_and_the_point():
    f = lambda x: jnp.sin(3 * x) + x**2  # noqa: E731
    ax = P.plot_taylor_1d(f, 0.5, radius=0.8, orders=(1, 2, 3))
    lines = ax.get_lines()
    assert len(lines) == 1 + 3 + 1
    xs, fy = lines[0].get_data()
    np.testing.assert_allclose(fy, np.sin(3 * xs) + xs**2, rtol=1e-5, atol=1e-6)
    _, y1 = lines[1].get_data()  # the tangent line
    slope = 3 * math.cos(1.5) + 1.0
    np.testing.assert_allclose(y1, math.sin(1.5) + 0.25 + slope * (xs - 0.5), rtol=1e-5, atol=1e-6)
    px, py = lines[-1].get_data()
    assert px[0] == 0.5 and abs(py[0] - (math.sin(1.5) + 0.25)) < 1e-6
    assert ax.get_xlabel() == "x" and ax.get_ylabel() == "f(x)"
    assert [t.get_text() for t in ax.get_legend().get_texts()][1:4] == ["order 1", "order 2", "order 3"]


def test_plot_taylor_1d_higher_orders_match_closed_form_and_taylor_polynomial_1d():
    # exp at 0: the order-k curve is sum_j x^j / j!, independent of the drawing code
    ax = P.plot_taylor_1d(jnp.exp, 0.0, radius=1.0, orders=(2, 3), num=21)
    xs, _ = ax.get_lines()[0].get_data()
    _, y2 = ax.get_lines()[1].get_data()
    _, y3 = ax.get_lines()[2].get_data()
    np.testing.assert_allclose(y2, 1 + xs + xs**2 / 2, rtol=1e-12)
    np.testing.assert_allclose(y3, 1 + xs + xs**2 / 2 + xs**3 / 6, rtol=1e-12)
    np.testing.assert_allclose(y3, P.taylor_polynomial_1d(jnp.exp, 0.0, 3)(xs), rtol=1e-12)
    # no polynomial at all: the function and the point only
    ax0 = P.plot_taylor_1d(jnp.exp, 0.0, orders=())
    assert len(ax0.get_lines()) == 2 and ax0.get_lines()[1].get_ydata()[0] == pytest.approx(1.0)


def test_plot_taylor_1d_uses_given_axes_and_rejects_bad_radius():
    _, ax = plt.subplots()
    assert P.plot_taylor_1d(jnp.cos, 0.0, ax=ax) is ax
    with pytest.raises(ValueError, match="radius"):
        P.plot_taylor_1d(jnp.cos, 0.0, radius=0.0)


def test_plot_taylor_2d_draws_two_contour_sets_and_the_point():
    f = lambda x: x[0] ** 2 + jnp.sin(x[1]) * x[0]  # noqa: E731
    ax = P.plot_taylor_2d(f, (0.3, -0.2), radius=0.5, num=21)
    assert len(ax.collections) == 2
    (pt,) = ax.get_lines()
    np.testing.assert_allclose(np.ravel(pt.get_data()), [0.3, -0.2])
    assert ax.get_xlabel() == "$x_1$" and ax.get_ylabel() == "$x_2$"
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        P.plot_taylor_2d(f, (0.0, 0.0, 1.0))


def test_plot_taylor_2d_quadratic_contours_match_for_a_quadratic():
    # for a quadratic f the model is exact: both contour sets have the same levels and paths
    f = lambda x: x[0] ** 2 + 3 * x[1] ** 2 + x[0] * x[1]  # noqa: E731
    ax = P.plot_taylor_2d(f, (0.2, 0.1), radius=1.0, num=31, levels=5)
    a, b = ax.collections
    np.testing.assert_allclose(a.levels, b.levels)
    for pa, pb in zip(a.get_paths(), b.get_paths()):
        np.testing.assert_allclose(pa.vertices, pb.vertices, atol=1e-6)


def test_plot_taylor_error_draws_series_and_reference_slopes():
    h = np.logspace(-3, 0, 5)
    errors = {"first order": 0.5 * h**2, "second order": 0.1 * h**3}
    ax = P.plot_taylor_error(h, errors, slopes={"first order": 2, "second order": 3})
    lines = ax.get_lines()
    assert len(lines) == 4
    np.testing.assert_allclose(lines[0].get_ydata(), errors["first order"])
    ref = lines[1].get_ydata()
    np.testing.assert_allclose(np.diff(np.log(ref)) / np.diff(np.log(h)), 2.0)
    # drawn in the series' colour, a factor 3 below its last point: visible, not hidden under the data
    assert lines[1].get_color() == lines[0].get_color() and lines[3].get_color() == lines[2].get_color()
    np.testing.assert_allclose(ref[-1], errors["first order"][-1] / 3)
    assert np.all(ref < errors["first order"])
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert ax.get_xlabel() == "step size h"
    with pytest.raises(ValueError, match="positive step sizes"):
        P.plot_taylor_error([0.0, 1.0], {"a": [1, 2]})
    with pytest.raises(ValueError, match="one per step size"):
        P.plot_taylor_error(h, {"a": [1, 2]})
    with pytest.raises(ValueError, match="not in errors"):
        P.plot_taylor_error(h, errors, slopes={"third": 4})


def test_plot_function_contours_marks_points():
    ax = P.plot_function_contours(lambda x: x[0] ** 2 - x[1] ** 2, radius=1.0, num=21, points=[(0.0, 0.0), (0.5, 0.5)], title="saddle")
    (pts,) = ax.get_lines()
    np.testing.assert_allclose(pts.get_xydata(), [[0.0, 0.0], [0.5, 0.5]])
    assert len(ax.collections) == 2  # filled contours + contour lines
    assert ax.get_title() == "saddle"
    ax2 = P.plot_function_contours(lambda x: x[0] ** 2, num=11)
    assert len(ax2.get_lines()) == 0
    with pytest.raises(ValueError, match="center"):
        P.plot_function_contours(lambda x: x[0], center=(0.0,))


def test_plot_spectra_histograms_count_every_eigenvalue():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=50), np.concatenate([rng.normal(size=30), np.zeros(20)])
    ax = P.plot_spectra([a, b], ["init", "trained"], bins=10)
    assert len(ax.patches) == 2
    assert ax.get_yscale() == "log"
    # the step outline's heights are the counts; recompute them with numpy
    edges = np.linspace(min(a.min(), b.min()), max(a.max(), b.max()), 11)
    counts, _ = np.histogram(b, edges)
    verts = ax.patches[1].get_xy()
    heights = verts[1 : 2 * len(counts) + 1 : 2, 1]
    np.testing.assert_allclose(heights, counts)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["init", "trained"]
    with pytest.raises(ValueError, match="one label per spectrum"):
        P.plot_spectra([a], ["x", "y"])


def test_plot_sorted_eigenvalues_sorts_decreasing_on_symlog():
    e = np.array([0.5, -2.0, 3.0, 0.0])
    ax = P.plot_sorted_eigenvalues([e], ["H"], linthresh=1e-2)
    (line,) = ax.get_lines()[:1]
    np.testing.assert_allclose(line.get_ydata(), [3.0, 0.5, 0.0, -2.0])
    np.testing.assert_allclose(line.get_xdata(), [1, 2, 3, 4])
    assert ax.get_yscale() == "symlog"
    with pytest.raises(ValueError, match="one label per spectrum"):
        P.plot_sorted_eigenvalues([e, e], ["H"])


def test_plot_timings_draws_one_loglog_line_per_method():
    sizes = [10, 100, 1000]
    ax = P.plot_timings(sizes, {"jacfwd": [1e-3, 1e-2, 1e-1], "jvp": [1e-4, 1e-4, 2e-4]}, ylabel="ms")
    lines = ax.get_lines()
    assert len(lines) == 2
    np.testing.assert_allclose(lines[1].get_ydata(), [1e-4, 1e-4, 2e-4])
    assert ax.get_xscale() == "log" and ax.get_ylabel() == "ms" and ax.get_xlabel() == "dimension n"
    with pytest.raises(ValueError, match="one per size"):
        P.plot_timings(sizes, {"a": [1.0]})
    with pytest.raises(ValueError, match="increasing"):
        P.plot_timings([100, 10], {"a": [1.0, 2.0]})


@pytest.mark.parametrize("sizes", [[128, 256, 512, 1024, 2048], [256, 512, 1024, 2048, 4096], [10, 30, 100, 300]])
def test_plot_timings_ticks_are_the_sizes_and_their_labels_do_not_overlap(sizes):
    # lecture 2's cost figure had minor tick labels "3x10^2" and "4x10^2" printed over each other
    ax = P.plot_timings(sizes, {"jacobian": np.asarray(sizes, float) ** 2, "product": np.ones(len(sizes))})
    fig = ax.figure
    fig.canvas.draw()
    np.testing.assert_allclose(ax.get_xticks(), sizes)
    labels = [t for t in ax.get_xticklabels() if t.get_visible() and t.get_text()]
    assert [t.get_text() for t in labels] == [f"{s:g}" for s in sizes]
    assert [t for t in ax.xaxis.get_minorticklabels() if t.get_text()] == []
    boxes = sorted((t.get_window_extent() for t in labels), key=lambda b: b.x0)
    assert all(a.x1 < b.x0 for a, b in zip(boxes, boxes[1:])), [(b.x0, b.x1) for b in boxes]


def test_plot_agreement_scatters_pairs_and_draws_diagonal():
    p, m = np.array([0.0, 1.0, 2.0]), np.array([0.1, 0.9, 2.2])
    ax = P.plot_agreement(p, m, xlabel="implicit", ylabel="re-fit")
    np.testing.assert_allclose(ax.collections[0].get_offsets(), np.stack([p, m], 1))
    (diag,) = ax.get_lines()
    np.testing.assert_allclose(diag.get_xdata(), diag.get_ydata())
    assert ax.get_xlabel() == "implicit" and ax.get_ylabel() == "re-fit"
    with pytest.raises(ValueError, match="same size"):
        P.plot_agreement([1.0], [1.0, 2.0])


def test_plot_chord_shades_only_where_the_graph_is_above_the_chord():
    ax = P.plot_chord(lambda x: x**2, -1.0, 2.0)
    graph, chord = ax.get_lines()
    np.testing.assert_allclose(chord.get_xydata(), [[-1.0, 1.0], [2.0, 4.0]])
    np.testing.assert_allclose(graph.get_ydata(), graph.get_xdata() ** 2, rtol=1e-6)
    (fill,) = ax.collections
    assert len(fill.get_paths()) == 0 or all(len(p.vertices) == 0 for p in fill.get_paths())  # convex: nothing shaded
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["f", "chord"]   # and no legend entry for it
    ax2 = P.plot_chord(jnp.sin, 0.0, 3.0)  # concave on [0, pi]: graph above the chord
    assert sum(len(p.vertices) for p in ax2.collections[0].get_paths()) > 0
    assert "graph above chord" in [t.get_text() for t in ax2.get_legend().get_texts()]
    with pytest.raises(ValueError, match="x1 < x2"):
        P.plot_chord(jnp.sin, 1.0, 0.0)


def test_plot_curves_draws_solid_and_dashed_lines_and_points():
    x = np.linspace(0, 1, 5)
    ax = P.plot_curves(x, {"fit": x**2, "prediction": x}, dashed=["prediction"], points=([0.5], [0.2]), ylabel="f")
    fit, pred = ax.get_lines()
    assert fit.get_linestyle() == "-" and pred.get_linestyle() == "--"
    np.testing.assert_allclose(fit.get_ydata(), x**2)
    np.testing.assert_allclose(ax.collections[0].get_offsets(), [[0.5, 0.2]])
    assert ax.get_ylabel() == "f"
    with pytest.raises(ValueError, match="not in curves"):
        P.plot_curves(x, {"a": x}, dashed=["b"])
    with pytest.raises(ValueError, match="one per x"):
        P.plot_curves(x, {"a": x[:2]})
    with pytest.raises(ValueError, match="colors names curves"):
        P.plot_curves(x, {"a": x}, colors={"b": "k"})


def test_plot_curves_gives_a_curve_and_its_tangent_one_colour():
    x = np.linspace(0, 1, 5)
    curves = {"w1": x**2, "tangent 1": x, "w2": 1 - x, "tangent 2": 1 - 2 * x}
    ax = P.plot_curves(x, curves, dashed=["tangent 1", "tangent 2"],
                       colors={"w1": "C0", "tangent 1": "C0", "w2": "C1", "tangent 2": "C1"})
    w1, t1, w2, t2 = ax.get_lines()
    assert w1.get_color() == t1.get_color() != w2.get_color() == t2.get_color()
    # without colours, matplotlib's cycle gives every curve its own
    ax2 = P.plot_curves(x, curves)
    assert len({line.get_color() for line in ax2.get_lines()}) == 4
