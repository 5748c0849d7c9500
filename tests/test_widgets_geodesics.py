"""gradtools.widgets.geodesics under Agg: the paths drawn are the right ones, and sliders redraw."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import scipy.integrate  # noqa: E402

from gradtools import widgets as gw  # noqa: E402


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def _geodesic_ode(w0, v0, t):
    # polar-coordinate geodesic equation written out: r'' = r phi'^2, phi'' = -2 r' phi' / r
    def rhs(_, y):
        r, phi, dr, dphi = y
        return [dr, dphi, r * dphi**2, -2 * dr * dphi / r]

    sol = scipy.integrate.solve_ivp(rhs, (0, t[-1]), [*w0, *v0], t_eval=t, rtol=1e-11, atol=1e-12)
    return sol.y[:2].T


@pytest.mark.parametrize("angle,speed", [(0.3, 1.0), (2.5, 0.6), (-1.2, 1.7)])
def test_sinusoid_paths_match_the_ode(angle, speed):
    w0 = np.array([1.0, 0.2])
    out = gw.sinusoid_paths(w0, angle, speed, num_points=11)
    v0 = speed * np.array([np.sin(angle), np.cos(angle)])  # (dr, dphi): angle from the phase axis
    t = np.linspace(0, 1, 11)
    np.testing.assert_allclose(out["geodesic"], _geodesic_ode(w0, v0, t), rtol=1e-7, atol=1e-7)
    np.testing.assert_allclose(out["straight line"], w0 + t[:, None] * v0, rtol=1e-12)


def test_sinusoid_paths_errors():
    with pytest.raises(ValueError, match="r > 0"):
        gw.sinusoid_paths([0.0, 0.0], 0.0, 1.0)
    with pytest.raises(ValueError, match="speed"):
        gw.sinusoid_paths([1.0, 0.0], 0.0, -1.0)
    with pytest.raises(ValueError, match="num_points"):
        gw.sinusoid_paths([1.0, 0.0], 0.0, 1.0, num_points=1)


def test_plot_sinusoid_explorer_draws_the_paths():
    fig, paths = gw.plot_sinusoid_explorer([1.0, 0.0], 0.5, 1.0)
    aw = fig.axes[0]
    drawn = {ln.get_label(): ln.get_xydata() for ln in aw.lines if ln.get_label() in paths}
    for name, p in paths.items():
        np.testing.assert_allclose(drawn[name], p[:, ::-1])
    assert "29°" in fig._suptitle.get_text()
    # the angle is the one drawn: the straight line leaves w0 at 0.5 rad from the horizontal (phase) axis
    (phi0, r0), (phi1, r1) = drawn["straight line"][0], drawn["straight line"][-1]
    np.testing.assert_allclose(np.arctan2(r1 - r0, phi1 - phi0), 0.5, rtol=1e-12)
    # the colours of the lecture: geodesic blue, straight line orange
    colors = {ln.get_label(): ln.get_color() for ln in aw.lines if ln.get_label() in paths}
    assert colors == {"geodesic": "tab:blue", "straight line": "tab:orange"}
    # the title sits above the panels' titles
    assert fig._suptitle.get_position()[1] > max(ax.title.get_position()[1] for ax in fig.axes[:2]) - 0.5


def test_geodesic_explorer_redraws_on_slider_change():
    box = gw.geodesic_explorer(angle_deg=60.0, speed=1.0)
    assert box.last_drawn == {"angle_deg": 60.0, "speed": 1.0}
    assert box.angle_slider.continuous_update is False and box.speed_slider.continuous_update is False
    first = box.last_figure
    box.angle_slider.value = 150.0
    box.speed_slider.value = 0.5
    assert box.last_drawn == {"angle_deg": 150.0, "speed": 0.5}
    assert box.status.value == "angle=150, speed=0.5"
    assert box.last_figure is not first
    v0 = 0.5 * np.array([np.sin(np.radians(150)), np.cos(np.radians(150))])
    np.testing.assert_allclose(box.last_paths["geodesic"][-1], _geodesic_ode([1.0, 0.0], v0, [0.0, 1.0])[-1], rtol=1e-7)
    with pytest.raises(ValueError, match="range"):
        gw.geodesic_explorer(speed=5.0)
    with pytest.raises(ValueError, match="range"):
        gw.geodesic_explorer(angle_deg=200.0)
