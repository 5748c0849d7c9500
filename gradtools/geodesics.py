r"""Weight-space geodesics (lecture 6): a two-parameter model with closed forms, and the
functionally-invariant-path (FIP) experiments on networks.

**The two-parameter model.** :func:`sinusoid` is a sinusoid of amplitude :math:`r` and phase
:math:`\varphi`, :math:`f(x; r, \varphi) = r\cos(x - \varphi)`, on :math:`N \ge 3` inputs evenly
spaced over one period (:func:`sinusoid_inputs`). Its root-mean-square output distance is the
Euclidean distance of the point :math:`z = (r\cos\varphi, r\sin\varphi)/\sqrt2` of a plane
(:func:`sinusoid_coords`): weight space :math:`(r, \varphi)` is that plane in polar coordinates.
So the output metric, its Christoffel symbols and its geodesics (straight lines of the plane,
at constant speed) all have closed forms: :func:`sinusoid_metric`, :func:`sinusoid_christoffel`,
:func:`sinusoid_geodesic`, :func:`sinusoid_geodesic_between`.

**Networks.** Data (:func:`split_digits`: scikit-learn's digits, task 1 = digits 0-4, task 2 =
digits 5-9), full-batch training (:func:`train_classifier`), accuracy as exact counts
(:func:`accuracy_count`), magnitude pruning (:func:`magnitude_mask`, :func:`apply_mask`,
:func:`weight_sparsity`), the two FIP experiments built on :func:`gradtools.paths.fip_step`
(:func:`fip_sparsify`, :func:`fip_second_task`), the problem sizes of the lecture on a CPU and on
a GPU (:func:`lecture_sizes`) and the memory a FIP step needs (:func:`fip_memory_estimate`).

References:
    G. Raghavan, M. Thomson, *Solving hybrid machine learning tasks by traversing weight space
    geodesics* (2021), https://arxiv.org/abs/2106.02793, and the authors' response to the
    NeurIPS 2021 reviewers; G. Raghavan, B. Tharwat, S. N. Hari, D. Satani, R. Liu, M. Thomson,
    *Engineering flexible machine learning systems by traversing functionally invariant paths*,
    Nature Machine Intelligence (2024), https://doi.org/10.1038/s42256-024-00902-x.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.typing import ArrayLike

from gradtools import paths, problems

PyTree = Any
Apply = Callable[[PyTree, jax.Array], jax.Array]

__all__ = [
    "sinusoid_inputs",
    "sinusoid",
    "sinusoid_coords",
    "sinusoid_weights",
    "sinusoid_metric",
    "sinusoid_christoffel",
    "sinusoid_geodesic",
    "sinusoid_geodesic_between",
    "TaskSplit",
    "split_digits",
    "cross_entropy",
    "accuracy_count",
    "train_classifier",
    "magnitude_mask",
    "apply_mask",
    "weight_sparsity",
    "FipHistory",
    "metric_trace",
    "fip_sparsify",
    "fip_second_task",
    "LectureSizes",
    "lecture_sizes",
    "mlp_num_params",
    "fip_memory_estimate",
]


# --------------------------------------------------------------------------------------------
# the two-parameter model


def _check_w2(w: Any, name: str = "w") -> jax.Array:
    w = jnp.asarray(w)
    if w.shape[-1:] != (2,):
        raise ValueError(
            f"{name} must be (amplitude r, phase phi) with last axis of size 2, got shape {w.shape}. "
            f"Build it as jnp.array([r, phi])."
        )
    if not jnp.issubdtype(w.dtype, jnp.floating):
        w = w.astype(jnp.result_type(float))
    return w


def sinusoid_inputs(num_inputs: int = 16) -> jax.Array:
    r"""``num_inputs`` inputs :math:`x_i = 2\pi i / N` evenly spaced over one period, shape ``(N,)``.

    For :math:`N \ge 3` the sums :math:`\frac1N\sum_i \cos^2(x_i - \varphi) = \frac12` and
    :math:`\frac1N\sum_i \cos(x_i - \varphi)\sin(x_i - \varphi) = 0` hold exactly, which is what
    makes :func:`sinusoid_metric` a closed form.

    Example:
        >>> [round(float(v), 4) for v in sinusoid_inputs(4)]
        [0.0, 1.5708, 3.1416, 4.7124]
    """
    if int(num_inputs) != num_inputs or num_inputs < 3:
        raise ValueError(
            f"num_inputs must be an int >= 3 (fewer points do not average cos^2 to 1/2), got {num_inputs}."
        )
    return 2 * jnp.pi * jnp.arange(int(num_inputs), dtype=jnp.result_type(float)) / int(num_inputs)


def sinusoid(w: ArrayLike, x: ArrayLike) -> jax.Array:
    r"""The two-parameter model :math:`f(x; r, \varphi) = r\cos(x - \varphi)`, outputs of shape ``(N,)``.

    Args:
        w: ``(r, phi)``, shape ``(2,)``: amplitude and phase.
        x: inputs, shape ``(N,)`` (see :func:`sinusoid_inputs`).

    Returns:
        ``(N,)`` outputs.

    Example:
        >>> import jax.numpy as jnp
        >>> [round(float(v), 4) for v in sinusoid(jnp.array([2.0, 0.0]), jnp.array([0.0, jnp.pi]))]
        [2.0, -2.0]
    """
    w = _check_w2(w)
    if w.shape != (2,):
        raise ValueError(f"w must have shape (2,), got {w.shape}.")
    x = jnp.asarray(x)
    if x.ndim != 1:
        raise ValueError(f"x must be a 1-D array of inputs, shape (N,), got shape {x.shape}.")
    return w[0] * jnp.cos(x - w[1])


def sinusoid_coords(w: ArrayLike) -> jax.Array:
    r"""The output-space point of :func:`sinusoid`: :math:`z = (r\cos\varphi,\ r\sin\varphi)/\sqrt2`.

    On evenly spaced inputs, :math:`\sqrt{\tfrac1N\sum_i (f(x_i; w) - f(x_i; w'))^2} = \|z(w) - z(w')\|`
    exactly: the RMS output distance is the Euclidean distance of these points. Works on a batch
    ``(..., 2)``.

    Example:
        >>> import jax.numpy as jnp
        >>> [round(float(a), 4) for a in sinusoid_coords(jnp.array([jnp.sqrt(2.0), 0.0]))]
        [1.0, 0.0]
    """
    w = _check_w2(w)
    return jnp.stack([w[..., 0] * jnp.cos(w[..., 1]), w[..., 0] * jnp.sin(w[..., 1])], -1) / jnp.sqrt(2.0)


def sinusoid_weights(z: ArrayLike, phi_ref: ArrayLike = 0.0) -> jax.Array:
    r"""Invert :func:`sinusoid_coords`: :math:`r = \sqrt2\|z\|` and the phase nearest ``phi_ref``.

    The phase is defined up to :math:`2\pi`; the one returned lies in
    :math:`(\varphi_{ref} - \pi, \varphi_{ref} + \pi]`. Works on a batch ``(..., 2)`` (with
    ``phi_ref`` broadcasting against ``z[..., 0]``).

    Example:
        >>> import jax.numpy as jnp
        >>> [round(float(a), 4) for a in sinusoid_weights(jnp.array([0.0, 1.0]) / jnp.sqrt(2.0))]
        [1.0, 1.5708]
    """
    z = _check_w2(z, "z")
    phi_ref = jnp.asarray(phi_ref, z.dtype)
    c, s = jnp.cos(phi_ref), jnp.sin(phi_ref)
    # angle of z measured from the direction phi_ref
    dphi = jnp.arctan2(c * z[..., 1] - s * z[..., 0], c * z[..., 0] + s * z[..., 1])
    return jnp.stack([jnp.sqrt(2.0) * jnp.linalg.norm(z, axis=-1), phi_ref + dphi], -1)


def sinusoid_metric(w: ArrayLike) -> jax.Array:
    r"""The output metric of :func:`sinusoid` in closed form: :math:`g(r, \varphi) = \tfrac12\operatorname{diag}(1, r^2)`.

    It equals :math:`\frac1N\sum_i J_i^\top J_i` with :math:`J_i = (\cos(x_i - \varphi),\ r\sin(x_i - \varphi))`
    on evenly spaced inputs (the flat metric of the plane in polar coordinates, halved).
    Singular at :math:`r = 0`.

    Example:
        >>> import jax.numpy as jnp
        >>> sinusoid_metric(jnp.array([2.0, 0.3])).tolist()
        [[0.5, 0.0], [0.0, 2.0]]
    """
    w = _check_w2(w)
    if w.shape != (2,):
        raise ValueError(f"w must have shape (2,), got {w.shape}.")
    return 0.5 * jnp.diag(jnp.stack([jnp.ones_like(w[0]), w[0] ** 2]))


def sinusoid_christoffel(w: ArrayLike) -> jax.Array:
    r"""The Christoffel symbols of :func:`sinusoid_metric`, ``Gamma[k, i, j]`` :math:`= \Gamma^k_{ij}`.

    .. math::
        \Gamma^r_{\varphi\varphi} = -r, \qquad \Gamma^\varphi_{r\varphi} = \Gamma^\varphi_{\varphi r} = \frac1r,

    all others zero (those of polar coordinates: a constant factor in the metric cancels in
    :math:`\Gamma^k_{ij} = \tfrac12 g^{kl}(\partial_i g_{jl} + \partial_j g_{il} - \partial_l g_{ij})`).
    The geodesic equation :math:`\ddot w^k + \Gamma^k_{ij}\dot w^i \dot w^j = 0` reads
    :math:`\ddot r = r\dot\varphi^2`, :math:`\ddot\varphi = -2\dot r\dot\varphi / r`.

    Example:
        >>> import jax.numpy as jnp
        >>> sinusoid_christoffel(jnp.array([2.0, 0.0]))[:, 1, 1].tolist()   # Gamma^k_{phi phi}
        [-2.0, 0.0]
    """
    w = _check_w2(w)
    if w.shape != (2,):
        raise ValueError(f"w must have shape (2,), got {w.shape}.")
    r = w[0]
    zero = jnp.zeros_like(r)
    return jnp.stack(
        [
            jnp.stack([jnp.stack([zero, zero]), jnp.stack([zero, -r])]),
            jnp.stack([jnp.stack([zero, 1 / r]), jnp.stack([1 / r, zero])]),
        ]
    )


def sinusoid_geodesic(w0: ArrayLike, v0: ArrayLike, t: ArrayLike) -> jax.Array:
    r"""The geodesic of :func:`sinusoid_metric` from ``w0`` with velocity ``v0``, at times ``t``.

    In output coordinates :math:`z` (:func:`sinusoid_coords`) it is the straight line
    :math:`z(t) = z_0 + t\,\dot z_0`, :math:`\dot z_0 = \partial z/\partial w\; v_0`, run at constant
    speed; mapped back to :math:`(r, \varphi)` with the phase followed continuously. Valid while
    the line stays away from the origin :math:`r = 0` (where the metric is singular).

    Args:
        w0: start ``(r0, phi0)``, ``r0 > 0``.
        v0: start velocity ``(dr/dt, dphi/dt)``.
        t: times, any shape ``S``.

    Returns:
        ``S + (2,)`` points.

    Example:
        >>> import jax.numpy as jnp
        >>> [round(float(a), 4) for a in sinusoid_geodesic(jnp.array([1.0, 0.0]), jnp.array([0.0, 1.0]), 1.0)]
        [1.4142, 0.7854]
    """
    w0, v0 = _check_w2(w0, "w0"), _check_w2(v0, "v0")
    if w0.shape != (2,) or v0.shape != (2,):
        raise ValueError(f"w0 and v0 must have shape (2,), got {w0.shape} and {v0.shape}.")
    t = jnp.asarray(t, w0.dtype)
    z0, dz = jax.jvp(sinusoid_coords, (w0,), (v0.astype(w0.dtype),))
    z = z0 + t[..., None] * dz
    # the line never turns by pi or more, so measuring the angle from z0 follows it continuously
    return sinusoid_weights(z, jnp.broadcast_to(w0[1], t.shape))


def sinusoid_geodesic_between(w0: ArrayLike, w1: ArrayLike, t: ArrayLike) -> jax.Array:
    r"""The geodesic of :func:`sinusoid_metric` from ``w0`` to ``w1``, at times ``t`` in ``[0, 1]``.

    The straight segment between :math:`z(w_0)` and :math:`z(w_1)` at constant speed, mapped back.
    It is a geodesic of weight space when the phases differ by less than :math:`\pi` (otherwise the
    segment passes the singular origin, or runs round the other way).

    Example:
        >>> import jax.numpy as jnp
        >>> ws = sinusoid_geodesic_between(jnp.array([1.0, 0.0]), jnp.array([1.0, 1.0]), jnp.linspace(0, 1, 3))
        >>> bool(ws[1, 0] < 1.0)   # cuts the corner: the amplitude dips
        True
    """
    w0, w1 = _check_w2(w0, "w0"), _check_w2(w1, "w1")
    if w0.shape != (2,) or w1.shape != (2,):
        raise ValueError(f"w0 and w1 must have shape (2,), got {w0.shape} and {w1.shape}.")
    if abs(float(w1[1] - w0[1])) >= np.pi:
        raise ValueError(
            f"the phases must differ by less than pi for a geodesic to join the points, got "
            f"{float(w1[1] - w0[1]):.4g}. Shift w1's phase by a multiple of 2 pi."
        )
    t = jnp.asarray(t, w0.dtype)
    z0, z1 = sinusoid_coords(w0), sinusoid_coords(w1)
    z = z0 + t[..., None] * (z1 - z0)
    return sinusoid_weights(z, jnp.broadcast_to(w0[1], t.shape))


# --------------------------------------------------------------------------------------------
# data, training and evaluation of small classifiers


class TaskSplit(NamedTuple):
    """Two tasks on one dataset: ``task1`` and ``task2`` are :class:`gradtools.problems.Dataset` s."""

    task1: problems.Dataset
    task2: problems.Dataset


def split_digits(*, seed: int = 0, split_at: int = 5, dtype: Any = None) -> tuple[problems.Dataset, TaskSplit]:
    r"""scikit-learn's digits, and the same split into two tasks by class.

    Task 1 holds the images of digits ``0 .. split_at - 1``, task 2 the others; labels keep their
    values (0-9), so one 10-way classifier can solve both, as in the split-MNIST experiments of
    Raghavan et al. (2024). Nothing is downloaded.

    Args:
        seed: seed of the train/test permutation (:func:`gradtools.problems.load_digits`).
        split_at: first class of task 2, in ``1 .. 9``.
        dtype: floating dtype of the inputs (default JAX's default float).

    Returns:
        ``(full, TaskSplit(task1, task2))``.

    Example:
        >>> full, tasks = split_digits()
        >>> int(tasks.task1.y_train.max()), int(tasks.task2.y_train.min())
        (4, 5)
    """
    if int(split_at) != split_at or not 1 <= split_at <= 9:
        raise ValueError(f"split_at must be an int in 1..9 (the first class of task 2), got {split_at}.")
    d = problems.load_digits(seed=seed)
    dtype = jnp.result_type(float) if dtype is None else dtype
    xtr, xte = jnp.asarray(d.x_train, dtype), jnp.asarray(d.x_test, dtype)
    full = problems.Dataset(xtr, d.y_train, xte, d.y_test)
    ytr, yte = np.asarray(d.y_train), np.asarray(d.y_test)

    def part(mtr, mte):
        return problems.Dataset(xtr[mtr], d.y_train[mtr], xte[mte], d.y_test[mte])

    return full, TaskSplit(part(ytr < split_at, yte < split_at), part(ytr >= split_at, yte >= split_at))


def cross_entropy(apply: Apply, w: PyTree, x: jax.Array, y: jax.Array) -> jax.Array:
    r"""Mean softmax cross-entropy :math:`-\frac1N\sum_i \log\operatorname{softmax}(f(x_i; w))_{y_i}`.

    (The seed's equation (11) sums instead of averaging; the mean keeps step sizes independent of N.)

    Example:
        >>> import jax.numpy as jnp
        >>> apply = lambda w, x: x @ w
        >>> round(float(cross_entropy(apply, jnp.zeros((2, 3)), jnp.ones((4, 2)), jnp.zeros(4, int))), 4)
        1.0986
    """
    logits = apply(w, x)
    y = jnp.asarray(y)
    if logits.ndim != 2 or y.shape != logits.shape[:1]:
        raise ValueError(
            f"expected logits (N, classes) and labels (N,), got {logits.shape} and {y.shape}."
        )
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1))


def accuracy_count(apply: Apply, w: PyTree, x: jax.Array, y: jax.Array) -> jax.Array:
    """The number of examples whose arg-max output equals the label (an int: the same on every machine
    unless an output is a near tie).

    Example:
        >>> import jax.numpy as jnp
        >>> int(accuracy_count(lambda w, x: x * w, 1.0, jnp.eye(3), jnp.array([0, 1, 0])))
        2
    """
    logits = apply(w, x)
    y = jnp.asarray(y)
    if logits.ndim != 2 or y.shape != logits.shape[:1]:
        raise ValueError(f"expected logits (N, classes) and labels (N,), got {logits.shape} and {y.shape}.")
    return jnp.sum(jnp.argmax(logits, axis=-1) == y)


def train_classifier(
    apply: Apply,
    w: PyTree,
    x: jax.Array,
    y: jax.Array,
    *,
    num_steps: int,
    learning_rate: float = 1e-2,
    batch_size: int | None = None,
    key: jax.Array | None = None,
    mask: PyTree | None = None,
    penalty: Callable[[PyTree], jax.Array] | None = None,
    evaluate: Callable[[PyTree], Any] | None = None,
) -> PyTree | tuple[PyTree, Any]:
    r"""Adam on :func:`cross_entropy` (plus an optional penalty), ``num_steps`` steps in one compiled ``lax.scan``.

    Each step lowers :math:`\mathcal L(w) + P(w)` on the whole of ``(x, y)`` (full batch), or on
    ``batch_size`` examples drawn afresh without replacement (minibatches, with ``key``). Used to
    train the lecture's networks and as the baselines of its functionally-invariant-path
    experiments:

    - *plain fine-tuning*: training on a second task from the first task's weights;
    - *fine-tuning with a penalty* ``penalty(w)`` that keeps the first task's outputs;
    - *retraining after pruning*: with ``mask`` (from :func:`magnitude_mask`), the pruned weights
      are set to zero first and their gradients are dropped, so they stay exactly zero (projected
      Adam on the remaining weights).

    Args:
        apply: ``apply(w, x) -> logits (N, classes)``.
        w: initial weights (a pytree).
        x, y: inputs ``(N, d)`` and integer labels ``(N,)``.
        num_steps: Adam steps (``>= 0``).
        learning_rate: Adam's step size.
        batch_size: examples per step (default all ``N``: full batch).
        key: PRNG key of the minibatches (required with ``batch_size < N``).
        mask: pruning mask like ``w`` (1 = pruned), or ``None``.
        penalty: ``w -> scalar`` added to the loss (jit-compatible), or ``None``.
        evaluate: optional jit-compatible ``w -> pytree`` recorded after each step.

    Returns:
        The trained weights; with ``evaluate``, ``(weights, evaluations stacked over steps)``.

    Example:
        >>> import jax.numpy as jnp
        >>> apply = lambda w, x: x @ w
        >>> x, y = jnp.array([[1.0, 0.0], [0.0, 1.0]]), jnp.array([1, 0])
        >>> w = train_classifier(apply, jnp.zeros((2, 2)), x, y, num_steps=50, learning_rate=0.1)
        >>> int(accuracy_count(apply, w, x, y))
        2
    """
    if int(num_steps) != num_steps or num_steps < 0:
        raise ValueError(f"num_steps must be an int >= 0, got {num_steps}.")
    n = int(jnp.shape(y)[0])
    if batch_size is None or int(batch_size) >= n:
        batch_size = n
    elif int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size}.")
    elif key is None:
        raise ValueError(f"batch_size={batch_size} < N={n} draws minibatches: pass key=jax.random.key(...).")
    if key is None:
        key = jax.random.key(0)  # unused: every step takes the whole batch
    if mask is not None:
        w = apply_mask(w, mask)
    if penalty is not None and not callable(penalty):
        raise TypeError(f"penalty must be a callable w -> scalar or None, got {type(penalty).__name__}.")
    w, hist = _train_jit(apply, evaluate, penalty, w, x, y, mask, jnp.asarray(learning_rate), key,
                         int(num_steps), int(batch_size))
    return w if evaluate is None else (w, hist)


def _train_impl(apply, evaluate, penalty, w, x, y, mask, lr, key, num_steps, batch_size):
    opt = optax.adam(lr)
    n = y.shape[0]

    def loss(v, xb, yb):
        out = cross_entropy(apply, v, xb, yb)
        return out if penalty is None else out + penalty(v)

    def body(carry, k):
        w, s = carry
        if batch_size == n:
            xb, yb = x, y
        else:
            idx = jax.random.choice(k, n, (batch_size,), replace=False)
            xb, yb = x[idx], y[idx]
        g = jax.grad(loss)(w, xb, yb)
        if mask is not None:
            g = jax.tree_util.tree_map(lambda a, m: a * (1 - m), g, mask)
        u, s = opt.update(g, s, w)
        if mask is not None:
            u = jax.tree_util.tree_map(lambda a, m: a * (1 - m), u, mask)
        w = optax.apply_updates(w, u)
        return (w, s), (None if evaluate is None else evaluate(w))

    (w, _), hist = jax.lax.scan(body, (w, opt.init(w)), jax.random.split(key, num_steps))
    return w, hist


_train_jit = jax.jit(_train_impl, static_argnums=(0, 1, 2, 9, 10))


# --------------------------------------------------------------------------------------------
# pruning


def _is_weight(leaf: Any) -> bool:
    return jnp.ndim(leaf) >= 2


def magnitude_mask(w: PyTree, sparsity: ArrayLike) -> PyTree:
    r"""Which weights one-shot magnitude pruning removes: the fraction ``sparsity`` of smallest :math:`|w|`.

    Only weight matrices (leaves with two or more axes) are pruned; biases are never. The mask is a
    pytree like ``w`` of floats, 1 where a weight is pruned and 0 where it is kept; exactly
    ``floor(sparsity * M)`` of the ``M`` matrix entries are pruned (ties broken by position).
    Jit-compatible in ``sparsity``.

    Args:
        w: weights (e.g. a list of ``{"w", "b"}`` layers from :func:`gradtools.problems.make_mlp`).
        sparsity: fraction in ``[0, 1)``.

    Returns:
        The mask, same structure and shapes as ``w``.

    Example:
        >>> import jax.numpy as jnp
        >>> m = magnitude_mask({"w": jnp.array([[3.0, -1.0], [0.5, 2.0]]), "b": jnp.ones(2)}, 0.5)
        >>> m["w"].tolist(), m["b"].tolist()
        ([[0.0, 1.0], [1.0, 0.0]], [0.0, 0.0])
    """
    s = _concrete_float(sparsity)
    if s is not None and not 0.0 <= s < 1.0:
        raise ValueError(f"sparsity must be a fraction in [0, 1), got {s}.")
    leaves, treedef = jax.tree_util.tree_flatten(w)
    mats = [a for a in leaves if _is_weight(a)]
    if not mats:
        raise ValueError("w has no weight matrix (a leaf with two or more axes) to prune.")
    flat = jnp.concatenate([jnp.ravel(a) for a in mats])
    k = jnp.floor(jnp.asarray(sparsity) * flat.size).astype(jnp.int32)
    order = jnp.argsort(jnp.abs(flat), stable=True)
    ranks = jnp.zeros(flat.size, jnp.int32).at[order].set(jnp.arange(flat.size, dtype=jnp.int32))
    pruned = (ranks < k).astype(flat.dtype)
    out, start = [], 0
    for a in leaves:
        if _is_weight(a):
            out.append(jnp.reshape(pruned[start : start + a.size], a.shape).astype(a.dtype))
            start += a.size
        else:
            out.append(jnp.zeros_like(a))
    return jax.tree_util.tree_unflatten(treedef, out)


def _concrete_float(x: Any) -> float | None:
    try:
        return float(x)
    except (TypeError, jax.errors.ConcretizationTypeError, jax.errors.TracerArrayConversionError):
        return None


def apply_mask(w: PyTree, mask: PyTree) -> PyTree:
    """Zero the pruned weights: ``w * (1 - mask)`` leaf by leaf (``mask`` from :func:`magnitude_mask`).

    Example:
        >>> import jax.numpy as jnp
        >>> apply_mask(jnp.array([[1.0, 2.0]]), jnp.array([[1.0, 0.0]])).tolist()
        [[0.0, 2.0]]
    """
    if jax.tree_util.tree_structure(w) != jax.tree_util.tree_structure(mask):
        raise ValueError("mask must have the pytree structure of w; build it with magnitude_mask(w, sparsity).")
    return jax.tree_util.tree_map(lambda a, m: a * (1 - m), w, mask)


def weight_sparsity(w: PyTree) -> jax.Array:
    """The fraction of weight-matrix entries that are exactly zero (biases not counted).

    Example:
        >>> import jax.numpy as jnp
        >>> float(weight_sparsity({"w": jnp.array([[0.0, 1.0], [0.0, 0.0]]), "b": jnp.zeros(2)}))
        0.75
    """
    mats = [a for a in jax.tree_util.tree_leaves(w) if _is_weight(a)]
    if not mats:
        raise ValueError("w has no weight matrix (a leaf with two or more axes).")
    return jnp.mean(jnp.concatenate([jnp.ravel(a) == 0 for a in mats]).astype(jnp.float32))


# --------------------------------------------------------------------------------------------
# functionally invariant paths


class FipHistory(NamedTuple):
    """What a FIP run recorded after each step.

    Attributes:
        target: ``(num_steps,)``: the sparsity aimed at (:func:`fip_sparsify`) or the secondary
            loss before the step (:func:`fip_second_task`).
        movement: ``(num_steps,)``: the actual RMS output distance moved by the step,
            :math:`\\|f(w_{k+1}) - f(w_k)\\|/\\sqrt B` on the step's batch of kept inputs.
        scale: ``(num_steps,)``: the factor the step was cut by (1, or :math:`2^{-j}` after ``j``
            halvings by ``max_output_change``).
        cg_residual: ``(num_steps,)``: the relative residual the CG solve stopped at.
        cg_converged: ``(num_steps,)``: whether CG reached ``tol`` within ``maxiter``.
        secondary_drop: ``(num_steps,)``: the secondary loss before the step minus after it (in
            :func:`fip_sparsify`, the penalty on that step's marked weights): positive when the
            step lowered it. A CG solve stopped early still gives a descent direction, since CG
            started from zero lowers its quadratic model at every iteration.
        metrics: ``evaluate(w)`` after each step, stacked (``None`` without ``evaluate``).
    """

    target: jax.Array
    movement: jax.Array
    scale: jax.Array
    cg_residual: jax.Array
    cg_converged: jax.Array
    secondary_drop: jax.Array
    metrics: Any


def metric_trace(model: Apply, w: PyTree, x: jax.Array, *, key: jax.Array, num_probes: int = 16) -> jax.Array:
    r"""Hutchinson's estimate of the trace of the output metric :math:`g = \frac1N\sum_i J_i^\top J_i`.

    .. math::
        \operatorname{tr} g = \mathbb E_v\, v^\top g\, v \approx \frac1P \sum_{p=1}^P \frac1N \|J v_p\|^2,

    with :math:`P` = ``num_probes`` Rademacher vectors :math:`v_p` (entries :math:`\pm1`): one JVP
    each, never the matrix. :math:`\operatorname{tr} g` is the mean squared output change, summed
    over the weights, when each weight moves by one unit: a scale for the metric that does not
    depend on how many weights there are. Lecture 6 sets the FIP damping as a fraction of it.

    Args:
        model: ``model(w, x) -> outputs (N, ...)``.
        w: weights, a pytree.
        x: the inputs of the metric, ``(N, ...)``.
        key: PRNG key of the probes.
        num_probes: :math:`P \ge 1`.

    Returns:
        The estimate, a scalar.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> model = lambda w, x: x @ w                       # g = X^T X / N: trace (1 + 4 + 1) / 2
        >>> x = jnp.array([[1.0, 0.0], [2.0, 1.0]])
        >>> round(float(metric_trace(model, jnp.zeros(2), x, key=jax.random.key(0), num_probes=4000)), 1)
        3.0
    """
    if int(num_probes) != num_probes or num_probes < 1:
        raise ValueError(f"num_probes must be an int >= 1, got {num_probes}.")
    return _trace_jit(model, w, x, key, int(num_probes))


def _trace_impl(model, w, x, key, num_probes):
    out, f_jvp = jax.linearize(lambda u: model(u, x), w)
    n = jax.tree_util.tree_leaves(out)[0].shape[0]
    leaves, treedef = jax.tree_util.tree_flatten(w)

    def one(k):
        ks = jax.random.split(k, len(leaves))
        v = jax.tree_util.tree_unflatten(
            treedef, [jax.random.rademacher(kk, jnp.shape(a), jnp.result_type(a)) for kk, a in zip(ks, leaves)]
        )
        return sum(jnp.sum(jnp.square(o)) for o in jax.tree_util.tree_leaves(f_jvp(v))) / n

    return jnp.mean(jax.lax.map(one, jax.random.split(key, num_probes)))


_trace_jit = jax.jit(_trace_impl, static_argnums=(0, 4))


def _batches(key: jax.Array | None, n: int, batch_size: int | None, num_steps: int) -> tuple[int, jax.Array]:
    """Check the batch options of the FIP drivers; return ``(B, keys)``."""
    if batch_size is None or int(batch_size) >= n:
        batch_size = n
    elif int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size}.")
    elif key is None:
        raise ValueError(f"batch_size={batch_size} < N={n}: each step draws a batch, pass key=jax.random.key(...).")
    keys = jax.random.split(jax.random.key(0) if key is None else key, num_steps)
    return int(batch_size), keys


def _pick(x: jax.Array, k: jax.Array, batch_size: int) -> jax.Array:
    n = x.shape[0]
    if batch_size == n:
        return x
    return x[jax.random.choice(k, n, (batch_size,), replace=False)]


def _check_fip_args(num_steps, maxiter, max_output_change):
    if int(num_steps) != num_steps or num_steps < 1:
        raise ValueError(f"num_steps must be an int >= 1, got {num_steps}.")
    if int(maxiter) != maxiter or maxiter < 1:
        raise ValueError(f"maxiter must be an int >= 1, got {maxiter}.")
    if max_output_change is not None and not float(max_output_change) > 0:
        raise ValueError(f"max_output_change must be > 0 or None, got {max_output_change}.")


def fip_sparsify(
    model: Apply,
    w: PyTree,
    x: jax.Array,
    *,
    sparsity: float,
    num_steps: int,
    step_size: float,
    damping: float,
    max_output_change: float | None = None,
    batch_size: int | None = None,
    key: jax.Array | None = None,
    maxiter: int = 20,
    tol: float = 1e-8,
    ramp: float = 0.7,
    evaluate: Callable[[PyTree], Any] | None = None,
) -> tuple[PyTree, PyTree, FipHistory]:
    r"""A functionally invariant path from ``w`` to a sparse network, then the final prune.

    Step :math:`k` is :func:`gradtools.paths.fip_step` with the secondary loss
    :math:`\tfrac12\|m_k \odot w\|^2`, where :math:`m_k` = :func:`magnitude_mask` of the current
    weights at sparsity :math:`s_k = s \min(1, (k+1)/(\text{ramp}\cdot K))` (the target grows
    linearly over the first ``ramp`` of the ``K`` steps, then stays): each step pulls the smallest
    weights towards zero along the directions that move the outputs least,
    :math:`\delta w = -\eta\,(g + \lambda I)^{-1} (m_k \odot w)`. Along directions that do not move
    the outputs at all, one step removes the fraction :math:`\eta/\lambda` of the marked weights.
    The metric :math:`g` is that of the outputs on ``x``, or on ``batch_size`` of its inputs drawn
    afresh at each step. After the path the weights still in the final mask are set to zero
    exactly (they are already small).

    Args:
        model: ``model(w, x) -> (N, ...)`` outputs whose movement is kept small (e.g. softmax
            probabilities, as in Raghavan & Thomson).
        w: the trained network.
        x: the inputs ``(N, ...)`` of the output metric.
        sparsity: final fraction of weight-matrix entries set to zero, in ``[0, 1)``.
        num_steps: FIP steps ``K >= 1``.
        step_size: :math:`\eta`.
        damping: :math:`\lambda > 0`.
        max_output_change: optional bound on each step's actual RMS output change on its batch
            (see :func:`gradtools.paths.fip_step`).
        batch_size: inputs of ``x`` in each step's metric (default all).
        key: PRNG key of the batches (required when ``batch_size < N``).
        maxiter: the most CG iterations per step.
        tol: CG's relative residual.
        ramp: fraction of the steps over which the target grows, in ``(0, 1]``.
        evaluate: optional jit-compatible ``w -> pytree`` recorded after each step (e.g. test
            accuracy counts).

    Returns:
        ``(w_pruned, w_end, history)``: the pruned network (exactly ``sparsity`` of its matrix
        entries zero), the end of the path before pruning, and a :class:`FipHistory`.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> init, apply = problems.make_mlp([3, 8, 2])
        >>> w = init(jax.random.key(0)); x = jax.random.normal(jax.random.key(1), (20, 3))
        >>> wp, _, hist = fip_sparsify(apply, w, x, sparsity=0.5, num_steps=5, step_size=0.05, damping=0.1)
        >>> float(weight_sparsity(wp)) >= 0.5, hist.movement.shape
        (True, (5,))

    References:
        Raghavan et al., Nature Machine Intelligence (2024), https://doi.org/10.1038/s42256-024-00902-x.
    """
    if not 0.0 <= float(sparsity) < 1.0:
        raise ValueError(f"sparsity must be a fraction in [0, 1), got {sparsity}.")
    if not 0.0 < float(ramp) <= 1.0:
        raise ValueError(f"ramp must be in (0, 1], got {ramp}.")
    _check_fip_args(num_steps, maxiter, max_output_change)
    bsz, keys = _batches(key, int(jnp.shape(jax.tree_util.tree_leaves(x)[0])[0]), batch_size, int(num_steps))
    w_end, hist = _sparsify_jit(
        model, evaluate, w, x, jnp.asarray(float(sparsity)), jnp.asarray(float(step_size)),
        jnp.asarray(float(damping)), jnp.asarray(float(tol)), keys,
        None if max_output_change is None else float(max_output_change), float(ramp), int(num_steps),
        int(maxiter), bsz,
    )
    w_pruned = apply_mask(w_end, magnitude_mask(w_end, sparsity))
    return w_pruned, w_end, hist


def _sparsify_impl(model, evaluate, w, x, sparsity, step_size, damping, tol, keys, guard, ramp, num_steps, maxiter,
                   batch_size):
    def body(w, inp):
        k, key = inp
        s = sparsity * jnp.minimum(1.0, (k + 1) / (ramp * num_steps))
        mask = jax.lax.stop_gradient(magnitude_mask(w, s))

        def secondary(v):
            return 0.5 * sum(jnp.sum((m * a) ** 2) for m, a in zip(jax.tree_util.tree_leaves(mask), jax.tree_util.tree_leaves(v)))

        w_new, info = paths.fip_step(
            model, w, _pick(x, key, batch_size), secondary, step_size=step_size, damping=damping,
            max_output_change=guard, maxiter=maxiter, tol=tol,
        )
        rec = None if evaluate is None else evaluate(w_new)
        return w_new, (s, info.output_change, info.scale, info.cg_residual, info.cg_converged,
                       info.secondary_before - info.secondary_after, rec)

    w, out = jax.lax.scan(body, w, (jnp.arange(num_steps), keys))
    return w, FipHistory(*out)


_sparsify_jit = jax.jit(_sparsify_impl, static_argnums=(0, 1, 9, 10, 11, 12, 13))


def fip_second_task(
    model: Apply,
    w: PyTree,
    x_keep: jax.Array,
    secondary_loss: Callable[[PyTree], jax.Array],
    *,
    num_steps: int,
    step_size: float,
    damping: float,
    max_output_change: float | None = None,
    batch_size: int | None = None,
    key: jax.Array | None = None,
    maxiter: int = 20,
    tol: float = 1e-8,
    evaluate: Callable[[PyTree], Any] | None = None,
) -> tuple[PyTree, FipHistory]:
    r"""A functionally invariant path that learns a second task while keeping the first.

    ``num_steps`` steps of :func:`gradtools.paths.fip_step`: each decreases ``secondary_loss``
    (the second task's loss) by a damped natural-gradient step under the output metric of the
    first task's inputs ``x_keep`` (all of them, or ``batch_size`` drawn afresh at each step),
    :math:`\delta w = -\eta\,(g + \lambda I)^{-1}\nabla\mathcal L_2(w)`, so the outputs on task 1
    move as little as the step allows. Compare with :func:`train_classifier` on task 2 alone
    (plain fine-tuning), which forgets task 1, and with a penalty on task 1's output change.

    Args:
        model: ``model(w, x) -> (N, ...)`` outputs to keep on ``x_keep``.
        w: the network trained on task 1.
        x_keep: the first task's inputs.
        secondary_loss: ``w -> scalar``, the second task's loss (closing over its data).
        num_steps, step_size, damping, max_output_change, batch_size, key, maxiter, tol: as in
            :func:`fip_sparsify`.
        evaluate: optional jit-compatible ``w -> pytree`` recorded after each step.

    Returns:
        ``(w_end, history)``; ``history.target`` holds the secondary loss before each step.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> init, apply = problems.make_mlp([3, 8, 2])
        >>> w = init(jax.random.key(0)); x = jax.random.normal(jax.random.key(1), (20, 3))
        >>> loss2 = lambda v: jnp.sum(apply(v, x[:3] + 2.0) ** 2)
        >>> w2, hist = fip_second_task(apply, w, x, loss2, num_steps=5, step_size=0.01, damping=0.1)
        >>> bool(loss2(w2) < hist.target[0])
        True

    References:
        Raghavan et al., Nature Machine Intelligence (2024), https://doi.org/10.1038/s42256-024-00902-x.
    """
    if not callable(secondary_loss):
        raise TypeError(f"secondary_loss must be a callable w -> scalar, got {type(secondary_loss).__name__}.")
    _check_fip_args(num_steps, maxiter, max_output_change)
    bsz, keys = _batches(key, int(jnp.shape(jax.tree_util.tree_leaves(x_keep)[0])[0]), batch_size, int(num_steps))
    return _second_jit(
        model, secondary_loss, evaluate, w, x_keep, jnp.asarray(float(step_size)), jnp.asarray(float(damping)),
        jnp.asarray(float(tol)), keys, None if max_output_change is None else float(max_output_change),
        int(num_steps), int(maxiter), bsz,
    )


def _second_impl(model, secondary_loss, evaluate, w, x, step_size, damping, tol, keys, guard, num_steps, maxiter,
                 batch_size):
    def body(w, key):
        before = secondary_loss(w)
        w_new, info = paths.fip_step(
            model, w, _pick(x, key, batch_size), secondary_loss, step_size=step_size, damping=damping,
            max_output_change=guard, maxiter=maxiter, tol=tol,
        )
        rec = None if evaluate is None else evaluate(w_new)
        return w_new, (before, info.output_change, info.scale, info.cg_residual, info.cg_converged,
                       info.secondary_before - info.secondary_after, rec)

    w, out = jax.lax.scan(body, w, keys)
    return w, FipHistory(*out)


_second_jit = jax.jit(_second_impl, static_argnums=(0, 1, 2, 9, 10, 11, 12))


# --------------------------------------------------------------------------------------------
# problem sizes and memory


class LectureSizes(NamedTuple):
    """Problem sizes of lecture 6 (see :func:`lecture_sizes`)."""

    mlp: tuple[int, ...]
    train_steps: int
    train_batch: int
    fip_steps: int
    fip_batch: int
    cg_iters: int
    geodesic_points: int
    geodesic_examples: int
    lbfgs_iters: int


def lecture_sizes(big: bool) -> LectureSizes:
    """The sizes of lecture 6: the CPU configuration (default) and the GPU one (``big=True``).

    Only the network changes between them, by one rule: the GPU configuration's hidden layers are
    16 times wider and one deeper, 64-1024-1024-10 (1,126,410 parameters) against 64-64-10 (4,810).
    Every run keeps its length in steps (Adam: 300 steps on batches of 128 images; FIP: 100 steps of
    10 CG iterations, sparsification with a metric on 256 images per step), except the L-BFGS search for a discrete
    geodesic (9 points, 256 images), which runs 300 iterations at CPU size and 100 at GPU size: it
    converges at neither, and its cost grows with the width.

    Example:
        >>> mlp_num_params(lecture_sizes(True).mlp) >= 1_000_000
        True
    """
    if big:
        return LectureSizes((64, 1024, 1024, 10), 300, 128, 100, 256, 10, 9, 256, 100)
    return LectureSizes((64, 64, 10), 300, 128, 100, 256, 10, 9, 256, 300)


def mlp_num_params(sizes: Sequence[int]) -> int:
    """Parameters of :func:`gradtools.problems.make_mlp` ``(sizes)``: :math:`\\sum_l (n_l + 1) n_{l+1}`.

    Example:
        >>> mlp_num_params((64, 64, 10))
        4810
    """
    sizes = [int(s) for s in sizes]
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"sizes must list at least two positive widths, got {sizes}.")
    return sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))


def fip_memory_estimate(
    sizes: Sequence[int], batch: int, *, bytes_per_float: int = 4, cg_vectors: int = 5
) -> dict[str, int]:
    r"""Bytes a FIP step of an MLP needs, counted from the model (not measured).

    - ``params``: the weights, :math:`n` floats, plus the gradient of the secondary loss and the
      new weights (:math:`3n`).
    - ``cg_vectors``: conjugate gradients keeps ``cg_vectors`` vectors of length :math:`n`
      (solution, residual, search direction, its metric product, right-hand side).
    - ``activations``: a metric product :math:`J^\top J v` is a JVP and a VJP through the batch:
      the forward values, their tangents and the cotangents, :math:`3 B \sum_l n_l` floats.

    No :math:`n \times n` matrix appears: the dense metric alone would need :math:`n^2` floats
    (reported as ``dense_metric`` for comparison, not included in ``total``).

    Args:
        sizes: MLP widths, input first.
        batch: examples in the metric's batch :math:`B`.
        bytes_per_float: 4 (float32, the GPU default) or 8 (float64).
        cg_vectors: vectors of length :math:`n` kept by CG.

    Returns:
        ``{"params", "cg_vectors", "activations", "total", "dense_metric"}`` in bytes.

    Example:
        >>> est = fip_memory_estimate((64, 64, 10), 1000)
        >>> est["params"], est["activations"]
        (57720, 1656000)
    """
    if int(batch) != batch or batch < 1:
        raise ValueError(f"batch must be an int >= 1, got {batch}.")
    n = mlp_num_params(sizes)
    out = {
        "params": 3 * n * bytes_per_float,
        "cg_vectors": cg_vectors * n * bytes_per_float,
        "activations": 3 * int(batch) * sum(int(s) for s in sizes) * bytes_per_float,
    }
    out["total"] = sum(out.values())
    out["dense_metric"] = n * n * bytes_per_float
    return out
