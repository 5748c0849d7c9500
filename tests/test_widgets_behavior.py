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
