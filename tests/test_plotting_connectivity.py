"""gradtools.plotting.connectivity under Agg: each plot draws what it is given, checked against closed forms."""

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


def test_rashomon_quadratic_ellipse_has_the_hessian_axes():
    H = np.array([[6.0, 0.0], [0.0, 10.0]])
    fig = gp.plot_rashomon_quadratic(H, 0.5, (0, 0, 1.7))
    (ell,) = [p for p in fig.axes[1].patches if isinstance(p, Ellipse)]
    # semi-axes sqrt(2 eps / lambda): along x for 6, along y for 10
    np.testing.assert_allclose(ell.width / 2, np.sqrt(2 * 0.5 / 6), rtol=1e-12)
    np.testing.assert_allclose(ell.height / 2, np.sqrt(2 * 0.5 / 10), rtol=1e-12)
    np.testing.assert_allclose(ell.angle % 180, 0.0, atol=1e-9)
    # a rotated Hessian rotates the ellipse: the major axis follows the smallest eigenvalue
    c, s = np.cos(0.5), np.sin(0.5)
    R = np.array([[c, -s], [s, c]])
    fig = gp.plot_rashomon_quadratic(R @ H @ R.T, 0.5)
    (ell,) = [p for p in fig.axes[1].patches if isinstance(p, Ellipse)]
    np.testing.assert_allclose(np.radians(ell.angle) % np.pi, 0.5, atol=1e-9)
    with pytest.raises(ValueError, match="positive definite"):
        gp.plot_rashomon_quadratic(np.diag([1.0, 0.0]))
    with pytest.raises(ValueError, match="symmetric 2x2"):
        gp.plot_rashomon_quadratic(np.eye(3))


def test_path_metrics_draws_each_path_in_both_panels():
    ts = np.linspace(0, 1, 5)
    losses = {"line": np.array([1e-3, 0.1, 0.3, 0.1, 1e-3]), "curve": np.full(5, 1e-3)}
    errors = {"line": np.array([0.0, 0.05, 0.1, 0.05, 0.0]), "curve": np.zeros(5)}
    fig = gp.plot_path_metrics(ts, losses, errors)
    a1, a2 = fig.axes
    assert [ln.get_label() for ln in a1.lines] == ["line", "curve"]
    np.testing.assert_allclose(a1.lines[0].get_ydata(), losses["line"])
    np.testing.assert_allclose(a2.lines[0].get_ydata(), 100 * errors["line"])  # percent
    assert a1.get_yscale() == "log"
    assert a1.lines[0].get_color() != a1.lines[1].get_color()
    with pytest.raises(ValueError, match="same paths"):
        gp.plot_path_metrics(ts, losses, {"line": errors["line"]})
    with pytest.raises(ValueError, match="shape"):
        gp.plot_path_metrics(ts, {"line": np.ones(4)}, {"line": np.ones(4)})


def test_one_colour_per_object_whatever_else_is_drawn():
    # the lecture draws the line and the curve, then adds the aligned line: nothing changes colour
    ts = np.linspace(0, 1, 3)
    one = {"straight line": np.ones(3), "Bezier curve": np.ones(3)}
    two = {"straight line": np.ones(3), "aligned straight line": np.ones(3), "Bezier curve": np.ones(3)}
    colour = lambda fig: {ln.get_label(): ln.get_color() for ln in fig.axes[0].lines}
    c1, c2 = colour(gp.plot_path_metrics(ts, one, one)), colour(gp.plot_path_metrics(ts, two, two))
    assert c1["Bezier curve"] == c2["Bezier curve"] == gp.CONNECTIVITY_COLORS["Bezier curve"]
    assert c1["straight line"] == c2["straight line"] == gp.CONNECTIVITY_COLORS["straight line"]
    assert len(set(c2.values())) == 3
    # the plane and the HVP plot use the same colours (the tangent is the curve's, u the line's)
    ab = np.stack([ts, ts], 1)
    ax = gp.plot_plane(ts, ts, np.ones((3, 3)) + ab[:, :1], paths={"straight line": ab, "Bezier curve": ab})
    assert {ln.get_label(): ln.get_color() for ln in ax.lines if not ln.get_label().startswith("_")} == c1
    ax = gp.plot_hvp_norms(ts, {"line direction u": np.ones(3), "tangent": np.ones(3), "detour direction v": np.ones(3)})
    got = [ln.get_color() for ln in ax.lines]
    assert got[:2] == [c1["straight line"], c1["Bezier curve"]] and got[2] not in got[:2]
    # unknown names never take a listed object's colour, nor the colour kept for wrong decisions
    assert gp.connectivity_color("something new") not in set(gp.CONNECTIVITY_COLORS.values()) | {gp.WRONG_COLOR}


def test_plane_draws_log_contours_points_and_paths():
    a = np.linspace(-1, 2, 7)
    b = np.linspace(-1, 1, 5)
    v = np.exp(a[None] + b[:, None])
    path = np.stack([np.linspace(0, 1, 4), np.zeros(4)], 1)
    ax = gp.plot_plane(a, b, v, points={"w0": [0, 0], "w1": [1, 0]}, paths={"line": path})
    assert [t.get_text() for t in ax.texts] == ["w0", "w1"]
    (ln,) = [ln for ln in ax.lines if ln.get_label() == "line"]
    np.testing.assert_allclose(ln.get_xydata(), path)
    with pytest.raises(ValueError, match="shape"):
        gp.plot_plane(a, b, v.T)
    with pytest.raises(ValueError, match="positive"):
        gp.plot_plane(a, b, -v)


def test_spectrum_histogram_and_density():
    g = np.linspace(-1, 3, 100)
    ev = np.array([0.0, 0.0, 0.0, 2.0])
    ax = gp.plot_spectrum(g, np.exp(-(g**2)), eigvals=ev)
    heights = np.array([p.get_height() for p in ax.patches])
    widths = np.array([p.get_width() for p in ax.patches])
    np.testing.assert_allclose(np.sum(heights * widths), 1.0, rtol=1e-12)  # a normalized histogram
    assert ax.get_yscale() == "log"


def test_spectrum_reference_is_the_curve_given():
    # the lecture compares SLQ with the exact eigenvalues smoothed the same way: that curve is drawn
    g = np.linspace(-1, 3, 100)
    ref, est = np.exp(-(g**2)), np.exp(-((g - 0.1) ** 2))
    ax = gp.plot_spectrum(g, est, reference=ref)
    lines = {ln.get_label(): ln for ln in ax.lines}
    np.testing.assert_allclose(lines["dense eigh, same smoothing"].get_ydata(), np.maximum(ref, 1e-12))
    np.testing.assert_allclose(lines["SLQ density"].get_ydata(), np.maximum(est, 1e-12))
    assert not ax.patches  # no histogram
    with pytest.raises(ValueError, match="reference"):
        gp.plot_spectrum(g, est, reference=ref[:-1])


def test_near_zero_counts_match_a_manual_count():
    ev = np.array([1.0, -0.5, 1e-3, 1e-6, -1e-9, 0.0])
    r = np.array([1e-10, 1e-7, 1e-4, 1e-2, 0.6])
    ax = gp.plot_near_zero_counts(ev, r, floor=1, floor_label="known null directions")
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [np.sum(np.abs(ev) <= ri) for ri in r])
    assert "known null directions: 1" in [t.get_text() for t in ax.get_legend().get_texts()]
    ax = gp.plot_near_zero_counts(ev, r, roundoff=2.2e-16)
    (v,) = [ln for ln in ax.lines if ln.get_label().startswith("round-off")]
    np.testing.assert_allclose(v.get_xdata(), [2.2e-16, 2.2e-16])
    with pytest.raises(ValueError, match="positive"):
        gp.plot_near_zero_counts(ev, [0.0, 1.0])


def test_hvp_norms_and_digit_decisions():
    ax = gp.plot_hvp_norms([0.1, 0.5], {"tangent": [1e-4, 2e-4], "detour": [1e-3, 2e-3]})
    assert [ln.get_label() for ln in ax.lines] == ["tangent", "detour"]
    fig = gp.plot_digit_decisions(np.zeros((3, 64)), [1, 2, 3], {"line": [1, 5, 3], "curve": [1, 2, 7]})
    texts = [[t.get_text() for t in ax.texts] for ax in fig.axes]
    assert texts == [["line: 1", "curve: 1"], ["line: 5", "curve: 2"], ["line: 3", "curve: 7"]]
    colors = [[t.get_color() for t in ax.texts] for ax in fig.axes]
    red = gp.WRONG_COLOR
    assert colors == [["k", "k"], [red, "k"], ["k", red]]   # only the wrong network is red
    with pytest.raises(ValueError, match="images"):
        gp.plot_digit_decisions(np.zeros((3, 10)), [1, 2, 3], {})
