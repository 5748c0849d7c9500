"""Lecture 1's plots: each draws what it says (checked on the artists' data) and rejects bad input."""

import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import gradtools as gt  # noqa: E402
from gradtools import quadratic as quad  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _q2():
    return quad.from_spectrum(jnp.array([1.0, 0.1]), w_star=jnp.array([0.5, -0.5]))


def test_plot_contours_levels_follow_the_quadratic():
    q = _q2()
    ax = gt.plotting.plot_contours(q, xlim=(-2, 3), ylim=(-3, 2), levels=7)
    (cs,) = [c for c in ax.collections if hasattr(c, "levels")]
    assert len(cs.levels) == 7
    # every drawn contour point lies on its level set of J
    for level, segs in zip(cs.levels, cs.allsegs):
        for seg in segs:
            np.testing.assert_allclose(quad.value(q, jnp.asarray(seg)), level, rtol=2e-2, atol=1e-2)
    assert ax.get_xlim() == (-2, 3) and ax.get_ylim() == (-3, 2)


def test_plot_trajectory_draws_the_iterates():
    q = _q2()
    ws = quad.gd_trajectory(q, jnp.array([2.0, 1.0]), 1.0, 10)
    ax = gt.plotting.plot_trajectory(ws, label="GD")
    np.testing.assert_allclose(ax.lines[0].get_xydata(), np.asarray(ws))
    assert ax.lines[0].get_label() == "GD"


def test_plot_gd_2d_marks_minimizer_and_eigenvectors():
    q = _q2()
    ws = quad.gd_trajectory(q, jnp.array([2.0, 1.0]), 1.0, 10)
    ax = gt.plotting.plot_gd_2d(q, ws)
    star = [ln for ln in ax.lines if ln.get_marker() == "*"]
    np.testing.assert_allclose(star[0].get_xydata()[0], np.linalg.solve(np.asarray(q.A), -np.asarray(q.b)))
    arrows = [t for t in ax.texts if t.get_text().startswith("$a_")]
    assert len(arrows) == 2


def test_plot_eigen_errors_matches_per_direction_formula():
    q = quad.from_spectrum(jnp.array([1.0, 0.1]), jnp.array([[0.6, -0.8], [0.8, 0.6]]))
    lr, w0 = 0.5, jnp.array([1.0, 2.0])
    ws = quad.gd_trajectory(q, w0, lr, 20)
    ax = gt.plotting.plot_eigen_errors(q, ws, lr)
    dots = {ln.get_gid(): ln for ln in ax.lines}
    e0 = np.linalg.eigh(np.asarray(q.A))[1].T @ np.asarray(w0)  # eigh: ascending, so a = (0.1, 1)
    t = np.arange(21)
    # measured errors are dots (no line), predictions lines of the same colour
    assert dots["error a_1"].get_linestyle() == "None" and dots["error a_1"].get_marker() == "o"
    np.testing.assert_allclose(dots["error a_1"].get_ydata(), np.abs(e0[1]) * 0.5**t, rtol=1e-8)
    np.testing.assert_allclose(dots["error a_2"].get_ydata(), np.abs(e0[0]) * 0.95**t, rtol=1e-8)
    np.testing.assert_allclose(dots["prediction a_1"].get_ydata(), np.abs(e0[1]) * 0.5**t, rtol=1e-8)
    assert dots["prediction a_2"].get_linestyle() == "--"  # dashed, drawn over the dots it predicts
    assert dots["prediction a_2"].get_zorder() > dots["error a_2"].get_zorder()
    assert ax.get_yscale() == "log"
    assert [ln.get_label() for ln in ax.get_legend().legend_handles] == ["$a_{1}=1$", "$a_{2}=0.1$"]


def test_plot_eigen_errors_does_not_draw_roundoff():
    # lr = 1 / a_1 solves a_1 in one step: what is left is rounding, which must not be drawn as data
    q = quad.from_spectrum(jnp.array([1.0, 0.1]), jnp.array([[0.6, -0.8], [0.8, 0.6]]), w_star=jnp.array([0.3, -1.0]))
    ws = quad.gd_trajectory(q, jnp.array([2.0, 1.0]), 1.0, 30)
    ax = gt.plotting.plot_eigen_errors(q, ws, 1.0)
    lines = {ln.get_gid(): np.asarray(ln.get_ydata()) for ln in ax.lines}
    assert np.isfinite(lines["error a_1"][0]) and np.all(np.isnan(lines["error a_1"][1:]))
    assert np.all(np.isfinite(lines["error a_2"]))  # 0.9^30 is data, far above rounding
    assert ax.get_ylim()[0] > 1e-3  # the axis shows the data, not decades of rounding noise


def test_one_colour_per_eigendirection_in_every_plot():
    q = quad.from_spectrum(jnp.array([1.0, 0.1]), jnp.array([[0.6, -0.8], [0.8, 0.6]]))
    ws = quad.gd_trajectory(q, jnp.array([2.0, 1.0]), 0.7, 20)
    ax1 = gt.plotting.plot_gd_2d(q, ws)
    ax2 = gt.plotting.plot_eigen_errors(q, ws, 0.7)
    ax3 = gt.plotting.plot_eigen_coordinates(q, ws)
    assert gt.plotting.drawn_eigen_colors(ax1, ax2, ax3) == {1: "tab:red", 2: "tab:blue"}
    assert gt.plotting.eigen_color(0) == "tab:red" and gt.plotting.eigen_color(2) == "tab:green"
    # and the red arrow is a_1's eigenvector (the larger eigenvalue), the blue one a_2's
    Q = np.asarray(quad.eigenbasis(q).Q)
    for j in range(2):
        (arrow,) = [t for t in ax1.texts if t.get_gid() == f"eigenvector a_{j + 1}"]
        d = np.subtract(arrow.xy, arrow.xyann)
        np.testing.assert_allclose(abs(d @ Q[:, j]) / np.linalg.norm(d), 1.0, atol=1e-9)
    # a figure that mixes them up is caught
    ax2.lines[0].set_color("tab:orange")
    with pytest.raises(ValueError, match="a_1 is drawn in 2 colours"):
        gt.plotting.drawn_eigen_colors(ax1, ax2)
    with pytest.raises(ValueError, match="j >= 0"):
        gt.plotting.eigen_color(-1)


def test_eigenvector_labels_sit_beside_their_arrows_away_from_the_other():
    q = quad.from_spectrum(jnp.array([1.0, 0.1]), jnp.array([[0.6, -0.8], [0.8, 0.6]]), w_star=jnp.array([0.5, 0.5]))
    ax = gt.plotting.plot_eigenvectors(q, length=1.0)
    Q = np.asarray(quad.eigenbasis(q).Q)
    for j in range(2):
        (arrow,) = [t for t in ax.texts if t.get_gid() == f"eigenvector a_{j + 1}"]
        (label,) = [t for t in ax.texts if t.get_gid() == f"eigenvalue a_{j + 1}"]
        v = np.subtract(arrow.xy, arrow.xyann)
        np.testing.assert_allclose(label.xy, np.asarray(arrow.xyann) + 0.55 * v)   # the middle of the shaft
        offset = np.asarray(label.xyann)                                           # in points, away from a_(other)
        assert offset @ Q[:, 1 - j] < 0 and abs(offset @ Q[:, j]) < 1e-9
        assert label.get_text().startswith(f"$a_{j + 1}=")
        assert label.get_bbox_patch().get_facecolor()[:3] == (1.0, 1.0, 1.0)  # white ground: readable over a path
        assert label.get_zorder() > 2  # above lines (zorder 2): a GD path drawn later passes under it


def test_eigenvectors_point_into_a_fixed_window():
    # w* at the window's lower right corner: both arrows must point up-left, into the picture
    q = quad.from_spectrum(jnp.array([1.0, 0.1]), jnp.array([[0.6, -0.8], [0.8, 0.6]]), w_star=jnp.array([1.0, -1.0]))
    ax = gt.plotting.plot_contours(q, xlim=(-1.0, 1.2), ylim=(-1.2, 1.0))
    gt.plotting.plot_eigenvectors(q, ax=ax, length=0.5)
    for j in range(2):
        (arrow,) = [t for t in ax.texts if t.get_gid() == f"eigenvector a_{j + 1}"]
        d = np.subtract(arrow.xy, arrow.xyann)
        assert d @ (np.array([0.1, -0.1]) - np.array([1.0, -1.0])) > 0


def test_plot_eigen_errors_skips_null_directions():
    q = quad.Quadratic(jnp.diag(jnp.array([1.0, 0.0])), jnp.array([-1.0, 0.0]), jnp.asarray(0.0))
    ax = gt.plotting.plot_eigen_errors(q, quad.gd_trajectory(q, jnp.ones(2), 0.5, 5))
    assert len(ax.lines) == 1


def test_plot_eigen_coordinates_shows_drift():
    q = quad.Quadratic(jnp.diag(jnp.array([1.0, 0.0])), jnp.array([-1.0, 0.5]), jnp.asarray(0.0))
    ws = quad.gd_trajectory(q, jnp.zeros(2), 0.5, 10)
    ax = gt.plotting.plot_eigen_coordinates(q, ws, labels=["a", "b"])
    np.testing.assert_allclose(ax.lines[1].get_ydata(), -0.25 * np.arange(11) * np.sign(
        float(quad.eigenbasis(q).Q[1, 1])), atol=1e-12)
    with pytest.raises(ValueError, match="expected 2 labels"):
        gt.plotting.plot_eigen_coordinates(q, ws, labels=["a"])


def test_plot_eigen_coordinates_in_a_given_basis_of_a_repeated_eigenvalue():
    # eigenvalues (1, 0, 0): eigh picks any basis of the 2-D null space; the given basis is kept
    R, _ = jnp.linalg.qr(jax.random.normal(jax.random.key(2), (3, 3)))
    q = quad.Quadratic(R @ jnp.diag(jnp.array([1.0, 0.0, 0.0])) @ R.T, R @ jnp.array([-1.0, 0.2, 0.0]), jnp.asarray(0.0))
    w0 = jax.random.normal(jax.random.key(3), (3,))
    ws = quad.gd_trajectory(q, w0, 0.3, 40)
    ax = gt.plotting.plot_eigen_coordinates(q, ws, basis=R)
    c = np.asarray(ws @ R)
    np.testing.assert_allclose(ax.lines[0].get_ydata()[-1], 1.0, atol=1e-5)      # converges to -b/a = 1
    np.testing.assert_allclose(ax.lines[1].get_ydata(), c[0, 1] - 0.06 * np.arange(41), atol=1e-12)  # drifts
    np.testing.assert_allclose(ax.lines[2].get_ydata(), c[0, 2], atol=1e-12)    # never moves
    with pytest.raises(ValueError, match="orthonormal"):
        gt.plotting.plot_eigen_coordinates(q, ws, basis=2 * R)
    with pytest.raises(ValueError, match="eigenvectors"):
        gt.plotting.plot_eigen_coordinates(q, ws, basis=jnp.eye(3))


def test_plot_loss_curves_does_not_draw_roundoff():
    vals = np.array([1.0, 1e-6, 1e-12, 1e-17, 0.0, -1e-18])
    ax = gt.plotting.plot_loss_curves({"a": vals})
    y = ax.lines[0].get_ydata()
    np.testing.assert_allclose(y[:3], vals[:3])
    assert np.all(np.isnan(y[3:]))
    assert ax.get_ylim()[0] > 1e-14


def test_plot_loss_curves_and_steps_vs_condition():
    ax = gt.plotting.plot_loss_curves({"a": jnp.array([1.0, 0.5, 0.0]), "b": jnp.array([2.0, 1.0, 0.5])})
    assert [ln.get_label() for ln in ax.lines] == ["a", "b"] and ax.get_yscale() == "log"
    ax = gt.plotting.plot_steps_vs_condition(
        jnp.array([1.0, 10.0, 100.0]), {"GD": jnp.array([3, 30, 300])}, {"GD": jnp.array([4, 40, 400])}
    )
    assert ax.get_xscale() == "log" and len(ax.lines) == 2
    np.testing.assert_allclose(ax.lines[1].get_ydata(), [4, 40, 400])


def test_rotated_quadratic_2d_has_the_asked_spectrum():
    q = gt.plotting.rotated_quadratic_2d(25.0, angle=0.3, lam_max=2.0)
    np.testing.assert_allclose(np.linalg.eigvalsh(np.asarray(q.A)), [2.0 / 25.0, 2.0], rtol=1e-12)
    np.testing.assert_allclose(quad.minimizer(q), 0.0, atol=1e-12)


@pytest.mark.parametrize("lr, verdict", [(1.0, "stable"), (2.1, "unstable")])
def test_plot_gd_quadratic_2d(lr, verdict):
    fig = gt.plotting.plot_gd_quadratic_2d(lr, 10.0, num_steps=15)
    ax1, ax2 = fig.axes
    assert ax1.get_title().endswith(": " + verdict)
    path = [ln for ln in ax1.lines if len(ln.get_xdata()) == 16][0]
    q = gt.plotting.rotated_quadratic_2d(10.0)
    np.testing.assert_allclose(path.get_xydata(), quad.gd_trajectory(q, jnp.array([-2.0, 2.0]), lr, 15), rtol=1e-10)
    fig2 = gt.plotting.plot_gd_quadratic_2d(0.5, 3.0, fig=fig)  # redraw into the same figure
    assert fig2 is fig and len(fig.axes) == 2


def test_bad_input():
    q3 = quad.from_spectrum(jnp.ones(3))
    with pytest.raises(ValueError, match=r"A of shape \(2, 2\)"):
        gt.plotting.plot_contours(q3)
    with pytest.raises(ValueError, match=r"shape \(num_steps \+ 1, 2\)"):
        gt.plotting.plot_trajectory(jnp.zeros((5, 3)))
    with pytest.raises(ValueError, match=r"shape \(num_steps \+ 1, 3\)"):
        gt.plotting.plot_eigen_errors(q3, jnp.zeros((5, 2)))
    with pytest.raises(TypeError, match="non-empty mapping"):
        gt.plotting.plot_loss_curves([1.0, 2.0])
    with pytest.raises(ValueError, match="like kappas"):
        gt.plotting.plot_steps_vs_condition(jnp.ones(3), {"x": jnp.ones(2)})
    with pytest.raises(ValueError, match="kappa must be >= 1"):
        gt.plotting.rotated_quadratic_2d(0.5)
    with pytest.raises(ValueError, match="lr must be positive"):
        gt.plotting.plot_gd_quadratic_2d(0.0, 10.0)


def test_explorer_figure_at_kappa_1_draws_the_rotated_eigenvectors_and_both_directions():
    # kappa = 1: every direction is an eigenvector and eigh returns the axes; the explorer's basis is its rotation
    angle = 0.5
    fig = gt.plotting.plot_gd_quadratic_2d(0.6, 1.0, num_steps=10, angle=angle)
    ax1, ax2 = fig.axes
    R = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    for j in range(2):
        (arrow,) = [t for t in ax1.texts if t.get_gid() == f"eigenvector a_{j + 1}"]
        d = np.subtract(arrow.xy, arrow.xyann)
        np.testing.assert_allclose(abs(d @ R[:, j]) / np.linalg.norm(d), 1.0, atol=1e-9)
    lines = {ln.get_gid(): ln for ln in ax2.lines}
    e0 = R.T @ np.array([-2.0, 2.0])  # the start's error along the rotated axes (w* = 0)
    t = np.arange(11)
    for j in range(2):
        np.testing.assert_allclose(lines[f"error a_{j + 1}"].get_ydata(), abs(e0[j]) * 0.4**t, rtol=1e-8)
    assert ax2.get_xlim()[1] >= 10  # every step drawn is on the axis
    assert gt.plotting.drawn_eigen_colors(ax1, ax2) == {1: "tab:red", 2: "tab:blue"}


def test_equal_errors_stay_visible_a_dot_inside_a_ring():
    # two directions with the same eigenvalue and the same start error: the markers coincide
    q = quad.from_spectrum(jnp.array([1.0, 1.0]))
    ws = quad.gd_trajectory(q, jnp.array([1.0, 1.0]), 0.3, 8)
    ax = gt.plotting.plot_eigen_errors(q, ws, 0.3, basis=jnp.eye(2))
    lines = {ln.get_gid(): ln for ln in ax.lines}
    ring, dot = lines["error a_1"], lines["error a_2"]
    np.testing.assert_allclose(ring.get_ydata(), dot.get_ydata())
    assert ring.get_markerfacecolor() == "none" and ring.get_markersize() > 1.5 * dot.get_markersize()
    assert dot.get_markerfacecolor() != "none"
    assert gt.plotting.drawn_eigen_colors(ax) == {1: "tab:red", 2: "tab:blue"}


def test_the_legend_says_the_lines_include_the_start_error():
    q = _q2()
    ws = quad.gd_trajectory(q, jnp.array([2.0, 1.0]), 1.0, 5)
    title = gt.plotting.plot_eigen_errors(q, ws, 1.0).get_legend().get_title().get_text()
    assert title == gt.plotting.PREDICTION_TITLE and r"|\tilde w_j(0)-\tilde w_{\star j}|" in title
    lines = {ln.get_gid(): ln for ln in plt.gca().lines}
    assert lines["prediction a_1"].get_linestyle() == "--"  # dashed, as the docstrings say
    assert gt.plotting.plot_eigen_errors(q, ws).get_legend().get_title().get_text() == ""


def test_a_basis_that_is_not_an_eigenbasis_is_refused():
    q = _q2()
    ws = quad.gd_trajectory(q, jnp.array([2.0, 1.0]), 1.0, 5)
    R = np.array([[0.6, -0.8], [0.8, 0.6]])
    with pytest.raises(ValueError, match="must be eigenvectors"):
        gt.plotting.plot_eigen_errors(q, ws, 1.0, basis=R)
    with pytest.raises(ValueError, match="orthonormal"):
        gt.plotting.plot_eigenvectors(q, basis=2 * np.eye(2))
