"""gradtools.widgets.behavior under Agg: the rank and dimension drawn are right, and sliders redraw."""

import matplotlib

matplotlib.use("Agg")

import jax.numpy as jnp  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from gradtools import behavior  # noqa: E402
from gradtools import widgets as gw  # noqa: E402


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


@pytest.mark.parametrize("a1, a2, rank", [(0, 90, 2), (0, 180, 1), (30, 210, 1), (45, 45, 1), (10, 20, 2), (90, 270, 1)])
def test_rank_matches_the_jacobian_of_the_linear_model(a1, a2, rank):
    X = gw.two_inputs(a1, a2)
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0)
    J = behavior.behavioral_gradients(lambda th: jnp.asarray(X) @ th, jnp.zeros(3))  # reference: autodiff
    np.testing.assert_allclose(J, X)
    ax = gw.plot_two_input_contours(a1, a2)
    assert ax.behavior_rank == rank and ax.manifold_dim == 3 - rank
    assert np.linalg.matrix_rank(np.asarray(J), tol=1e-9) == rank


def test_explorer_redraws_and_dimension_changes():
    box = gw.contour_plane_explorer(angle1=0.0, angle2=90.0)
    assert box.angle1_slider.continuous_update is False and box.angle2_slider.continuous_update is False
    assert box.last_drawn == {"angle1": 0.0, "angle2": 90.0, "rank": 2, "dim": 1}
    first = box.last_figure
    box.angle2_slider.value = 180.0
    assert box.last_drawn["dim"] == 2 and box.last_drawn["rank"] == 1
    assert box.status.value == "angle1=0, angle2=180"
    assert box.last_figure is not first
    box.angle1_slider.value = 45.0
    assert box.last_drawn["dim"] == 1
    with pytest.raises(ValueError, match="range"):
        gw.contour_plane_explorer(angle1=400.0)


@pytest.mark.parametrize("a1, a2", [(0, 90), (0, 180), (30, 210), (10, 20), (0, 60), (45, 45), (135, 300)])
def test_explorer_drawing_hides_nothing_and_parallel_contours_coincide(a1, a2):
    ax = gw.plot_two_input_contours(a1, a2)
    ax.figure.tight_layout()
    from gradtools import plotting as gp

    assert gp.unobstructed(ax) == {"clipped_markers": 0, "legend_overlaps": False}
    if ax.behavior_rank == 1:  # parallel inputs: the two families of drawn lines are the same lines
        assert ax.contour_lines_drawn[0] == ax.contour_lines_drawn[1]
    else:
        assert ax.contour_lines_drawn[0] != ax.contour_lines_drawn[1]
