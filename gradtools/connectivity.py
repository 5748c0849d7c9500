r"""Mode connectivity (lecture 5): trained pairs of networks, permutation alignment, data along a path.

The lecture walks through weight space between two networks trained from different seeds. This
module holds what it needs beyond the curves themselves (those are in :mod:`gradtools.paths`):

- training small classifiers with one compiled loop (:func:`train_classifiers`), their loss
  (:func:`classifier_loss`) and error along a stacked path (:func:`evaluate_path`), and the
  ensemble of the networks on a path (:func:`ensemble_probs`, :func:`ensemble_error`);
- the permutation (and, for odd activations, sign) symmetry of hidden units
  (:func:`permute_hidden`) and weight matching (:func:`weight_matching`, Ainsworth, Hayase and
  Srinivasa, ICLR 2023);
- the 2-D plane through three points of weight space (:func:`plane_basis`, :func:`plane_point`,
  :func:`plane_coords`, :func:`plane_losses`), as in Garipov et al.'s figures;
- local data at a point: gradient norm and top Hessian eigenvalues (:func:`local_data`), the count
  of near-zero eigenvalues (:func:`count_near_zero`), Hessian-vector-product norms along chosen
  directions (:func:`hvp_norms`), the tangent of a quadratic Bezier curve (:func:`curve_tangent`);
- pruning by walking along the Rashomon manifold (:func:`prune_along_manifold`,
  :func:`remove_hidden_unit`).

Networks are in :func:`gradtools.problems.make_mlp`'s format: a list of ``{"w": (fan_in, fan_out),
"b": (fan_out,)}`` layers.

References:
    T. Garipov, P. Izmailov, D. Podoprikhin, D. Vetrov and A. G. Wilson, *Loss surfaces, mode
    connectivity, and fast ensembling of DNNs*, NeurIPS (2018), https://arxiv.org/abs/1802.10026;
    L. Sagun, U. Evci, V. U. Guney, Y. Dauphin and L. Bottou, *Empirical analysis of the Hessian
    of over-parametrized neural networks* (2017), https://arxiv.org/abs/1706.04454;
    L. Semenova, C. Rudin and R. Parr, *On the existence of simpler machine learning models*
    (Rashomon sets), https://arxiv.org/abs/1908.01755;
    S. Ainsworth, J. Hayase and S. Srinivasa, *Git Re-Basin: merging models modulo permutation
    symmetries*, ICLR (2023), https://arxiv.org/abs/2209.04836; lecture 5 of this course.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
import scipy.optimize
from jax.flatten_util import ravel_pytree

from gradtools import products, spectrum
from gradtools._checks import check_callable, check_same_tree

PyTree = Any
Apply = Callable[[PyTree, jax.Array], jax.Array]

__all__ = [
    "cross_entropy",
    "classifier_loss",
    "evaluate_path",
    "train_classifiers",
    "ensemble_probs",
    "ensemble_error",
    "permute_hidden",
    "weight_matching",
    "remove_hidden_unit",
    "prune_along_manifold",
    "PruneInfo",
    "Plane",
    "plane_basis",
    "plane_point",
    "plane_coords",
    "plane_losses",
    "curve_tangent",
    "hvp_norms",
    "LocalData",
    "local_data",
    "count_near_zero",
]


# --------------------------------------------------------------------------------------------
# checks


def _check_mlp(w: Any, name: str = "w", *, min_layers: int = 2) -> None:
    ok = isinstance(w, (list, tuple)) and len(w) >= min_layers and all(
        isinstance(layer, dict) and set(layer) == {"w", "b"} for layer in w
    )
    if ok:
        for i, layer in enumerate(w):
            wi, bi = jnp.shape(layer["w"]), jnp.shape(layer["b"])
            if len(wi) != 2 or bi != (wi[1],):
                ok = False
            elif i > 0 and wi[0] != jnp.shape(w[i - 1]["w"])[1]:
                ok = False
    if not ok:
        raise ValueError(
            f"{name} must be an MLP in gradtools.problems.make_mlp's format: a list of at least "
            f"{min_layers} layers {{'w': (fan_in, fan_out), 'b': (fan_out,)}} with matching widths, got "
            f"{jax.tree_util.tree_map(jnp.shape, w)!r:.200}. Build it with gt.problems.make_mlp(sizes)[0](key)."
        )


def _check_labels(x: Any, y: Any) -> None:
    if jnp.ndim(x) != 2:
        raise ValueError(f"x must be a batch of inputs, expected shape (N, d), got shape {jnp.shape(x)}.")
    if jnp.shape(y) != (jnp.shape(x)[0],) or not jnp.issubdtype(jnp.result_type(y), jnp.integer):
        raise ValueError(
            f"y must hold one integer label per input, expected shape ({jnp.shape(x)[0]},) of ints, got "
            f"shape {jnp.shape(y)} of {jnp.result_type(y)}."
        )


def _stack_size(ws: PyTree, name: str = "ws") -> int:
    leaves = jax.tree_util.tree_leaves(ws)
    sizes = {jnp.shape(a)[0] if jnp.ndim(a) else None for a in leaves}
    if not leaves or len(sizes) != 1 or None in sizes:
        raise ValueError(
            f"{name} must be a stacked pytree (every leaf with the same leading axis = points), got "
            f"leading sizes {sorted(map(str, sizes))}. Stack points with gt.paths.path_points or "
            f"jax.tree_util.tree_map(lambda *a: jnp.stack(a), *points)."
        )
    return sizes.pop()


def _check_unit(w: Sequence[dict], unit: Any, layer: int) -> int:
    if not isinstance(layer, (int, np.integer)) or not 0 <= layer < len(w) - 1:
        raise ValueError(f"layer must index a hidden layer, expected an int in [0, {len(w) - 2}], got {layer!r}.")
    width = jnp.shape(w[layer]["b"])[0]
    if not isinstance(unit, (int, np.integer)) or not 0 <= unit < width:
        raise ValueError(f"unit must be a hidden unit of layer {layer}, expected an int in [0, {width - 1}], got {unit!r}.")
    if width < 2:
        raise ValueError(f"layer {layer} has a single unit; removing it would disconnect the network.")
    return int(unit)


# --------------------------------------------------------------------------------------------
# loss, error, training, ensembles


def cross_entropy(logits: jax.Array, y: jax.Array) -> jax.Array:
    r"""Per-example softmax cross-entropy, accurate to full relative precision however small it is.

    .. math::
        \ell_i = \log\Big(1 + \sum_{k \ne y_i} e^{f_{ik} - f_{iy_i}}\Big)
        = \operatorname{softplus}\Big(\operatorname{logsumexp}_{k \ne y_i}(f_{ik} - f_{iy_i})\Big),

    which equals the textbook :math:`\operatorname{logsumexp}_k f_{ik} - f_{iy_i}`. The textbook
    form subtracts two numbers of the size of the logits to get a loss that, for a well-trained
    network, is orders of magnitude smaller: its relative error is about
    :math:`\varepsilon |f| / \ell_i` (in float32, 0.4% at a mean loss of 2e-5 with logits of size 7).
    Here the small quantity :math:`e^{z}` is formed directly and ``softplus`` (``log1p``) keeps it,
    so the loss and its derivatives (:math:`p_k` for :math:`k \neq y`, and
    :math:`p_y - 1 = -\sum_{k\neq y} p_k`) keep a relative error of order :math:`\varepsilon |f|`
    in float32 as in float64.

    Args:
        logits: shape ``(N, C)``.
        y: integer labels, shape ``(N,)``.

    Returns:
        Shape ``(N,)``.

    Example:
        >>> import math, jax, jax.numpy as jnp
        >>> logits = jnp.array([[30.0, 0.0, 0.0]], dtype=jnp.float32)
        >>> ce = float(cross_entropy(logits, jnp.array([0]))[0])
        >>> textbook = float(jax.nn.logsumexp(logits[0]) - logits[0, 0])
        >>> abs(ce / (2 * math.exp(-30)) - 1) < 1e-5, textbook     # exact: 2 exp(-30) = 1.87e-13
        (True, 0.0)
    """
    logits = jnp.asarray(logits)
    mask = jax.nn.one_hot(y, jnp.shape(logits)[-1], dtype=bool)
    margin = logits - jnp.take_along_axis(logits, jnp.asarray(y)[:, None], axis=-1)
    z = jax.nn.logsumexp(jnp.where(mask, -jnp.inf, margin), axis=-1)
    return jax.nn.softplus(z)


def classifier_loss(apply: Apply) -> Callable[[PyTree, tuple[jax.Array, jax.Array]], jax.Array]:
    r"""The mean softmax cross-entropy of a classifier, as ``loss(w, (x, y))``.

    .. math::
        L(w) = \frac1N \sum_{i=1}^N \Big(\log\sum_k e^{f_k(w, x_i)} - f_{y_i}(w, x_i)\Big)

    with logits :math:`f(w, x) =` ``apply(w, x)``, each term computed by :func:`cross_entropy` (full
    relative precision at the tiny losses of trained networks, in float32 too). The batch is a
    pair ``(x, y)`` (a pytree with a leading example axis), the form
    :func:`gradtools.paths.train_bezier` takes.

    Args:
        apply: ``apply(w, x) -> logits (N, C)``.

    Returns:
        ``loss(w, batch) -> scalar``.

    Example:
        >>> import jax.numpy as jnp
        >>> loss = classifier_loss(lambda w, x: x @ w)
        >>> round(float(loss(jnp.zeros((2, 4)), (jnp.ones((3, 2)), jnp.array([0, 1, 3])))), 4)  # log 4
        1.3863
    """
    check_callable(apply, "apply")

    def loss(w: PyTree, batch: tuple[jax.Array, jax.Array]) -> jax.Array:
        x, y = batch
        return jnp.mean(cross_entropy(apply(w, x), y))

    return loss


@jax.jit
def _ce_and_errors(logits: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
    ce = jnp.mean(cross_entropy(logits, y))
    return ce, jnp.sum(jnp.argmax(logits, -1) != y)


@functools.partial(jax.jit, static_argnums=0)
def _evaluate_path(apply: Apply, ws: PyTree, x: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
    # ``apply`` is static: one compilation per model and shapes, reused by every later call (a
    # ``jax.jit`` of a fresh lambda compiled again on each call, half a second in the explorer).
    return jax.vmap(lambda w: _ce_and_errors(apply(w, x), y))(ws)


def evaluate_path(apply: Apply, ws: PyTree, x: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
    r"""Loss and error rate of every network on a stacked path.

    For points :math:`w_0, \dots, w_{K}` (the leading axis of every leaf of ``ws``) returns the mean
    cross-entropy :math:`L(w_k)` and the error rate :math:`\frac1N\#\{i: \arg\max_c f_c(w_k, x_i)
    \ne y_i\}` on ``(x, y)``. Error rates are exact fractions of counts, so they print the same on
    every machine.

    Args:
        apply: ``apply(w, x) -> logits``.
        ws: stacked pytree of points (e.g. :func:`gradtools.paths.path_points`).
        x, y: inputs ``(N, d)`` and integer labels ``(N,)``.

    Returns:
        ``(losses, errors)``, each shape ``(K + 1,)``.

    Example:
        >>> import jax.numpy as jnp
        >>> ws = jnp.stack([jnp.eye(2), -jnp.eye(2)])
        >>> losses, errors = evaluate_path(lambda w, x: x @ w, ws, jnp.eye(2), jnp.array([0, 1]))
        >>> [float(e) for e in errors]
        [0.0, 1.0]
    """
    check_callable(apply, "apply")
    _check_labels(x, y)
    _stack_size(ws)
    try:
        hash(apply)
    except TypeError:  # an unhashable callable cannot be a static argument: compile for this call
        losses, counts = jax.jit(jax.vmap(lambda w: _ce_and_errors(apply(w, x), y)))(ws)
    else:
        losses, counts = _evaluate_path(apply, ws, x, y)
    return losses, counts / jnp.shape(y)[0]


class _TrainState(NamedTuple):
    w: PyTree
    opt: Any


def train_classifiers(
    init: Callable[[jax.Array], PyTree],
    apply: Apply,
    x: jax.Array,
    y: jax.Array,
    *,
    keys: jax.Array,
    num_steps: int = 3000,
    learning_rate: float = 1e-2,
) -> tuple[list[PyTree], jax.Array]:
    r"""Train one classifier per key to (near) zero training loss, all in one compiled program.

    Full-batch Adam on the mean cross-entropy (:func:`classifier_loss`) with a cosine-decayed
    learning rate (from ``learning_rate`` to 1% of it), run by ``jax.lax.scan`` and ``jax.vmap``
    over the keys: the networks differ only in their initialization ``init(key)``. Parameters are
    cast to the dtype of ``x``.

    Args:
        init: ``init(key) -> params``.
        apply: ``apply(params, x) -> logits``.
        x, y: training inputs ``(N, d)`` and integer labels ``(N,)``.
        keys: PRNG keys, shape ``(k,)`` (e.g. ``jax.random.split(key, 2)``).
        num_steps: Adam steps.
        learning_rate: peak learning rate.

    Returns:
        ``(ws, losses)``: a list of ``k`` trained parameter pytrees and the training losses, shape
        ``(k, num_steps)`` (loss before each step).

    Example:
        >>> import jax, gradtools as gt
        >>> init, apply = gt.problems.make_mlp([2, 8, 2])
        >>> x = jax.random.normal(jax.random.key(0), (20, 2)); y = (x[:, 0] > 0).astype(int)
        >>> ws, losses = train_classifiers(init, apply, x, y, keys=jax.random.split(jax.random.key(1), 2), num_steps=300)
        >>> len(ws), bool(losses[0, -1] < 0.1 * losses[0, 0])
        (2, True)

    References:
        D. Kingma and J. Ba, *Adam* (2015), https://arxiv.org/abs/1412.6980; lecture 5.
    """
    check_callable(init, "init")
    check_callable(apply, "apply")
    _check_labels(x, y)
    if not isinstance(num_steps, (int, np.integer)) or num_steps < 1:
        raise ValueError(f"num_steps must be a positive int, expected e.g. 3000, got {num_steps!r}.")
    if not (isinstance(keys, jax.Array) and jnp.issubdtype(keys.dtype, jax.dtypes.prng_key) and keys.ndim == 1):
        raise TypeError(
            f"keys must be a 1-D array of PRNG keys, expected e.g. jax.random.split(jax.random.key(0), 2), "
            f"got {type(keys).__name__} of shape {jnp.shape(keys)}."
        )
    loss = classifier_loss(apply)
    dtype = jnp.result_type(x)
    schedule = optax.cosine_decay_schedule(learning_rate, int(num_steps), alpha=0.01)
    opt = optax.adam(schedule)

    def train_one(key: jax.Array) -> tuple[PyTree, jax.Array]:
        w = jax.tree_util.tree_map(lambda a: a.astype(dtype), init(key))

        def body(state: _TrainState, _: None) -> tuple[_TrainState, jax.Array]:
            value, g = jax.value_and_grad(loss)(state.w, (x, y))
            updates, opt_state = opt.update(g, state.opt, state.w)
            return _TrainState(optax.apply_updates(state.w, updates), opt_state), value

        state, values = jax.lax.scan(body, _TrainState(w, opt.init(w)), None, length=int(num_steps))
        return state.w, values

    stacked, losses = jax.jit(jax.vmap(train_one))(keys)
    ws = [jax.tree_util.tree_map(lambda a, i=i: a[i], stacked) for i in range(jnp.shape(keys)[0])]
    return ws, losses


def ensemble_probs(apply: Apply, ws: PyTree, x: jax.Array) -> jax.Array:
    r"""The ensemble's predictive distribution: softmax probabilities averaged over the networks.

    .. math::
        \bar p(c \mid x) = \frac{1}{K}\sum_{k=1}^{K} \operatorname{softmax}(f(w_k, x))_c

    Garipov et al. ensemble the networks along a trained curve this way.

    Args:
        apply: ``apply(w, x) -> logits (N, C)``.
        ws: stacked pytree of ``K`` networks.
        x: inputs ``(N, d)``.

    Returns:
        Probabilities, shape ``(N, C)`` (rows sum to 1).

    Example:
        >>> import jax.numpy as jnp
        >>> p = ensemble_probs(lambda w, x: x * w, jnp.array([[0.0, 0.0], [1.0, 1.0]]), jnp.array([[0.0, 2.0]]))
        >>> [round(float(v), 4) for v in p[0]]
        [0.3096, 0.6904]
    """
    check_callable(apply, "apply")
    _stack_size(ws)
    return jax.jit(lambda ws: jnp.mean(jax.vmap(lambda w: jax.nn.softmax(apply(w, x), axis=-1))(ws), axis=0))(ws)


def ensemble_error(apply: Apply, ws: PyTree, x: jax.Array, y: jax.Array) -> jax.Array:
    """Error rate of the ensemble :func:`ensemble_probs` (argmax of the averaged probabilities).

    Example:
        >>> import jax.numpy as jnp
        >>> ws = jnp.stack([jnp.eye(2), jnp.eye(2)])
        >>> float(ensemble_error(lambda w, x: x @ w, ws, jnp.eye(2), jnp.array([0, 0])))
        0.5
    """
    _check_labels(x, y)
    p = ensemble_probs(apply, ws, x)
    return jnp.sum(jnp.argmax(p, -1) != y) / jnp.shape(y)[0]


# --------------------------------------------------------------------------------------------
# permutation symmetry


def permute_hidden(w: Sequence[dict], perms: Sequence[Any], signs: Sequence[Any] | None = None) -> list[dict]:
    r"""Reorder (and optionally flip the signs of) the hidden units of an MLP: the same function.

    For hidden layer :math:`\ell` with permutation :math:`\pi` and signs :math:`s \in \{\pm1\}^h`,
    new unit :math:`i` is old unit :math:`\pi(i)` times :math:`s_i`:

    .. math::
        W_\ell' = W_\ell P S, \quad b_\ell' = S P^\top b_\ell, \quad W_{\ell+1}' = S P^\top W_{\ell+1},
        \qquad P_{ji} = [j = \pi(i)],\; S = \operatorname{diag}(s).

    Unit :math:`i`'s pre-activation is :math:`s_i` times old unit :math:`\pi(i)`'s, and the
    outgoing weights undo the sign when the activation is odd (:math:`\sigma(-a) = -\sigma(a)`,
    e.g. tanh): the network computes exactly the same function. Permutations alone (``signs=None``)
    work for every activation.

    Args:
        w: an MLP (list of ``{"w", "b"}`` layers).
        perms: one permutation per hidden layer (``len(w) - 1`` integer arrays).
        signs: ``None`` or one array of :math:`\pm 1` per hidden layer (odd activations only).

    Returns:
        The permuted MLP (a new list).

    Example:
        >>> import jax, jax.numpy as jnp, gradtools as gt
        >>> init, apply = gt.problems.make_mlp([3, 4, 2])
        >>> w = init(jax.random.key(0)); x = jnp.ones((1, 3))
        >>> wp = permute_hidden(w, [jnp.array([2, 0, 3, 1])], [jnp.array([1, -1, -1, 1])])
        >>> bool(jnp.allclose(apply(wp, x), apply(w, x), atol=1e-6))
        True
    """
    _check_mlp(w)
    if len(perms) != len(w) - 1:
        raise ValueError(
            f"perms must hold one permutation per hidden layer: expected {len(w) - 1}, got {len(perms)}."
        )
    if signs is not None and len(signs) != len(w) - 1:
        raise ValueError(f"signs must hold one sign vector per hidden layer: expected {len(w) - 1}, got {len(signs)}.")
    out = [dict(layer) for layer in w]
    for l, p in enumerate(perms):
        width = jnp.shape(w[l]["b"])[0]
        p_np = np.asarray(p)
        if p_np.shape != (width,) or sorted(p_np.tolist()) != list(range(width)):
            raise ValueError(
                f"perms[{l}] must be a permutation of range({width}), got {p_np.tolist()!r:.120}. "
                f"Use e.g. np.random.default_rng(0).permutation({width})."
            )
        s = jnp.ones(width, dtype=jnp.result_type(w[l]["w"])) if signs is None else jnp.asarray(signs[l], dtype=jnp.result_type(w[l]["w"]))
        if signs is not None and (s.shape != (width,) or not bool(jnp.all(jnp.abs(s) == 1))):
            raise ValueError(f"signs[{l}] must hold {width} entries of +1 or -1, got {np.asarray(signs[l]).tolist()!r:.120}.")
        out[l] = {"w": out[l]["w"][:, p_np] * s, "b": out[l]["b"][p_np] * s}
        out[l + 1] = {"w": out[l + 1]["w"][p_np, :] * s[:, None], "b": out[l + 1]["b"]}
    return out


def weight_matching(wa: Sequence[dict], wb: Sequence[dict], *, signs: bool = False) -> tuple[np.ndarray, np.ndarray]:
    r"""Align the hidden units of a one-hidden-layer MLP ``wb`` to those of ``wa`` (weight matching).

    Each hidden unit is described by its incoming weights, bias and outgoing weights. Weight
    matching (Ainsworth et al., "Git Re-Basin", ICLR 2023) picks the permutation :math:`\pi` that makes
    ``permute_hidden(wb, [pi])`` closest to ``wa`` in Euclidean distance, i.e. maximizes
    :math:`\sum_i C_{i\pi(i)}` with

    .. math::
        C_{ij} = \langle W^a_{1,:i}, W^b_{1,:j}\rangle + b^a_{1,i} b^b_{1,j} + \langle W^a_{2,i:}, W^b_{2,j:}\rangle,

    a linear assignment problem solved exactly by ``scipy.optimize.linear_sum_assignment``. With
    ``signs=True`` (odd activations such as tanh, where flipping a unit's incoming and outgoing
    weights leaves the function unchanged) the best sign of each pair is :math:`\operatorname{sign}
    C_{ij}`, so the assignment maximizes :math:`\sum_i |C_{i\pi(i)}|`.

    Args:
        wa, wb: MLPs with one hidden layer of the same width.
        signs: also match signs (only for odd activations).

    Returns:
        ``(perm, sgn)``: NumPy arrays of shape ``(h,)``; ``permute_hidden(wb, [perm], [sgn])`` is the
        aligned network (``sgn`` is all ones when ``signs=False``).

    Example:
        >>> import jax, numpy as np, gradtools as gt
        >>> init, apply = gt.problems.make_mlp([3, 5, 2])
        >>> w = init(jax.random.key(0)); p = np.array([3, 1, 4, 0, 2])
        >>> perm, sgn = weight_matching(w, permute_hidden(w, [p]))
        >>> [int(i) for i in p[perm]]
        [0, 1, 2, 3, 4]

    References:
        S. Ainsworth, J. Hayase and S. Srinivasa, *Git Re-Basin*, ICLR (2023),
        https://arxiv.org/abs/2209.04836, algorithm 1 (one layer: exact).
    """
    _check_mlp(wa, "wa")
    _check_mlp(wb, "wb")
    if len(wa) != 2 or len(wb) != 2:
        raise ValueError(
            f"weight_matching handles one hidden layer (two layers of weights), got {len(wa)} and {len(wb)} layers. "
            "For deeper nets, match layer by layer with coordinate descent (Ainsworth et al., algorithm 1)."
        )
    check_same_tree(wa, wb, wname="wa", vname="wb")
    a1, ab, a2 = (np.asarray(wa[0]["w"]), np.asarray(wa[0]["b"]), np.asarray(wa[1]["w"]))
    b1, bb, b2 = (np.asarray(wb[0]["w"]), np.asarray(wb[0]["b"]), np.asarray(wb[1]["w"]))
    C = a1.T @ b1 + np.outer(ab, bb) + a2 @ b2.T
    score = np.abs(C) if signs else C
    rows, perm = scipy.optimize.linear_sum_assignment(score, maximize=True)
    assert np.array_equal(rows, np.arange(len(rows)))
    sgn = np.where(C[rows, perm] < 0, -1, 1) if signs else np.ones(len(perm), dtype=int)
    return perm.astype(int), sgn.astype(int)


# --------------------------------------------------------------------------------------------
# pruning along the manifold


def remove_hidden_unit(w: Sequence[dict], unit: int, *, layer: int = 0) -> list[dict]:
    r"""Delete one hidden unit: its column of incoming weights, its bias and its row of outgoing weights.

    If the unit's outgoing weights are zero, the smaller network computes exactly the same function
    (the unit contributed :math:`\sigma(a_j) \cdot 0`).

    Args:
        w: an MLP (list of ``{"w", "b"}`` layers).
        unit: index of the unit in hidden layer ``layer``.
        layer: which hidden layer (0 = the first).

    Returns:
        The MLP with one unit fewer in that layer.

    Example:
        >>> import jax, gradtools as gt
        >>> w = gt.problems.make_mlp([3, 4, 2])[0](jax.random.key(0))
        >>> [tuple(l["w"].shape) for l in remove_hidden_unit(w, 2)]
        [(3, 3), (3, 2)]
    """
    _check_mlp(w)
    unit = _check_unit(w, unit, layer)
    keep = np.array([i for i in range(jnp.shape(w[layer]["b"])[0]) if i != unit])
    out = [dict(l) for l in w]
    out[layer] = {"w": w[layer]["w"][:, keep], "b": w[layer]["b"][keep]}
    out[layer + 1] = {"w": w[layer + 1]["w"][keep, :], "b": w[layer + 1]["b"]}
    return out


class PruneInfo(NamedTuple):
    """What :func:`prune_along_manifold` measured, one entry per stage (stage 0 = the start).

    Attributes:
        losses: loss after each stage's correction, shape ``(num_stages + 1,)`` (entry 0: the start).
        out_norms: norm of the unit's outgoing weights at each stage, shape ``(num_stages + 1,)``.
        grad_norms: norm of the corrector's direction :math:`g` (the gradient with the unit's
            outgoing entries zeroed) at the end of each stage, shape ``(num_stages + 1,)``. During
            the walk the point lies on the stage's slice (the unit's outgoing row fixed at its
            shrunken value), parallel to the prunable subspace: the level set meets that slice
            transversally exactly where this norm is non-zero, and the prunable subspace itself
            at the last stage, where the row is zero.
    """

    losses: jax.Array
    out_norms: jax.Array
    grad_norms: jax.Array


def prune_along_manifold(
    loss: Callable[[PyTree], jax.Array],
    w: Sequence[dict],
    unit: int,
    *,
    layer: int = 0,
    num_stages: int = 20,
    steps_per_stage: int = 5,
) -> tuple[list[dict], PruneInfo]:
    r"""Walk from ``w`` along its level set :math:`L^{-1}(c)`, :math:`c = L(w)`, to a point where ``unit`` can be pruned.

    The prunable models form the linear subspace :math:`\{W_{\ell+1, j:} = 0\}` (unit :math:`j`'s
    outgoing weights vanish). Stage :math:`s = 1, \dots, S` (predictor) sets those weights to
    :math:`(1 - s/S)` times their starting value, a small step off the level set, then
    (corrector) takes ``steps_per_stage`` Newton steps for the scalar equation :math:`L(v) = c`
    over all *other* weights,

    .. math::
        v \leftarrow v - \frac{L(v) - c}{\|g\|^2}\, g, \qquad g = \text{the gradient of } L
        \text{ with the unit's outgoing entries set to } 0,

    the step to the nearest point of the level set of the linearized loss. The corrector moves only
    inside the affine slice :math:`A_s = \{W_{\ell+1, j:} = (1 - s/S)\,W^{(0)}_{\ell+1, j:}\}`, so
    each stage ends on :math:`L^{-1}(c) \cap A_s`, and the last one on :math:`L^{-1}(c) \cap P` with
    :math:`P = A_S` the prunable subspace. :math:`g` is the projection of :math:`\nabla L` onto the
    slice's directions, and :math:`g \neq 0` is exactly the condition that the level set and the
    slice meet *transversally* there (their tangent spaces span :math:`\mathbb R^d`); then, near that
    point, the intersection is a smooth manifold of dimension :math:`d - 1 - C` (:math:`C` outgoing
    weights fixed). ``info.grad_norms`` records :math:`\|g\|` after every stage; the walk fails
    where it reaches 0. All stages run in one compiled ``lax.scan``.

    Args:
        loss: ``loss(w) -> scalar`` (e.g. the full-batch training loss).
        w: the starting MLP (list of ``{"w", "b"}`` layers).
        unit: index of the hidden unit to prune.
        layer: its hidden layer (0 = the first).
        num_stages: :math:`S`, how many shrink steps.
        steps_per_stage: Newton corrections after each shrink.

    Returns:
        ``(w_end, info)``: ``w_end`` has the unit's outgoing weights exactly zero (remove it with
        :func:`remove_hidden_unit`); ``info`` is a :class:`PruneInfo`.

    Example:
        >>> import jax, jax.numpy as jnp, gradtools as gt
        >>> init, apply = gt.problems.make_mlp([2, 3, 1])
        >>> x = jax.random.normal(jax.random.key(0), (10, 2))
        >>> loss = lambda w: jnp.mean((apply(w, x)[:, 0] - x[:, 0]) ** 2)
        >>> w = init(jax.random.key(1))
        >>> w_end, info = prune_along_manifold(loss, w, 0, num_stages=4)
        >>> float(jnp.abs(w_end[1]["w"][0]).max()), bool(abs(loss(w_end) - loss(w)) < 1e-5)
        (0.0, True)

    References:
        Lecture 5 of this course (the pruning idea of the Rashomon-manifold notes); E. Allgower and
        K. Georg, *Introduction to Numerical Continuation Methods* (2003), ch. 2 (predictor-corrector).
    """
    check_callable(loss, "loss")
    _check_mlp(w)
    unit = _check_unit(w, unit, layer)
    for name, v in (("num_stages", num_stages), ("steps_per_stage", steps_per_stage)):
        if not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}.")
    w = [dict(l) for l in w]
    row0 = w[layer + 1]["w"][unit]
    mask = jax.tree_util.tree_map(jnp.ones_like, w)
    mask[layer + 1] = {"w": mask[layer + 1]["w"].at[unit].set(0.0), "b": mask[layer + 1]["b"]}

    def set_row(v: list[dict], scale: jax.Array) -> list[dict]:
        v = [dict(l) for l in v]
        v[layer + 1] = {"w": v[layer + 1]["w"].at[unit].set(scale * row0), "b": v[layer + 1]["b"]}
        return v

    def masked_grad(v: list[dict]) -> tuple:
        value, g = jax.value_and_grad(loss)(v)
        g = jax.tree_util.tree_map(jnp.multiply, g, mask)
        return value, g, sum(jnp.vdot(a, a) for a in jax.tree_util.tree_leaves(g))

    def stage(carry: tuple, scale: jax.Array) -> tuple:
        v, c = carry

        def correct(v: list[dict], _: None) -> tuple:
            value, g, gg = masked_grad(v)
            step = (value - c) / jnp.maximum(gg, jnp.finfo(gg.dtype).tiny)
            return jax.tree_util.tree_map(lambda a, b: a - step * b, v, g), None

        v, _ = jax.lax.scan(correct, set_row(v, scale), None, length=int(steps_per_stage))
        value, _, gg = masked_grad(v)
        return (v, c), (value, jnp.linalg.norm(v[layer + 1]["w"][unit]), jnp.sqrt(gg))

    @jax.jit
    def run(v: list[dict]) -> tuple:
        scales = 1.0 - jnp.arange(1, num_stages + 1, dtype=row0.dtype) / num_stages
        c, _, gg0 = masked_grad(v)
        (v, _), (losses, norms, gnorms) = jax.lax.scan(stage, (v, c), scales)
        return (v, jnp.concatenate([c[None], losses]), jnp.concatenate([jnp.linalg.norm(row0)[None], norms]),
                jnp.concatenate([jnp.sqrt(gg0)[None], gnorms]))

    w_end, losses, norms, gnorms = run(w)
    return w_end, PruneInfo(losses, norms, gnorms)


# --------------------------------------------------------------------------------------------
# the plane through three points


class Plane(NamedTuple):
    r"""The affine plane :math:`\{o + a u + b v\}` through three points of weight space.

    Attributes:
        origin: the first point :math:`w_0` (a pytree).
        u: unit vector (pytree) along :math:`w_1 - w_0`.
        v: unit vector (pytree) along the part of :math:`\theta - w_0` orthogonal to ``u``.
        points: the plane coordinates of :math:`(w_0, \theta, w_1)`, shape ``(3, 2)``.
    """

    origin: PyTree
    u: PyTree
    v: PyTree
    points: jax.Array


def plane_basis(w0: PyTree, theta: PyTree, w1: PyTree) -> Plane:
    r"""Orthonormal coordinates of the plane through ``w0``, ``theta`` and ``w1`` (Gram-Schmidt).

    .. math::
        u = \frac{w_1 - w_0}{\|w_1 - w_0\|}, \qquad
        v = \frac{(\theta - w_0) - \langle \theta - w_0, u\rangle u}{\|\cdots\|},

    with the Euclidean inner product of the flattened pytrees. A quadratic Bezier curve with
    control point :math:`\theta` lies in this plane (its coefficients sum to 1), as does the
    straight line; Garipov et al. draw the loss over it.

    Args:
        w0, theta, w1: three points (pytrees of the same structure), not on one line.

    Returns:
        A :class:`Plane`; ``points`` holds ``(0, 0)``, :math:`(\langle\theta-w_0,u\rangle,
        \langle\theta-w_0,v\rangle)` and :math:`(\|w_1-w_0\|, 0)`.

    Example:
        >>> import jax.numpy as jnp
        >>> P = plane_basis(jnp.zeros(3), jnp.array([1.0, 2.0, 0.0]), jnp.array([3.0, 0.0, 0.0]))
        >>> P.points.tolist()
        [[0.0, 0.0], [1.0, 2.0], [3.0, 0.0]]
    """
    check_same_tree(w0, theta, wname="w0", vname="theta")
    check_same_tree(w0, w1, wname="w0", vname="w1")
    f0, unravel = ravel_pytree(w0)
    ft, f1 = ravel_pytree(theta)[0], ravel_pytree(w1)[0]
    d1, dt = f1 - f0, ft - f0
    n1 = jnp.linalg.norm(d1)
    u = d1 / n1
    r = dt - (dt @ u) * u
    nr = jnp.linalg.norm(r)
    scale = jnp.maximum(n1, jnp.linalg.norm(dt))
    if not bool(nr > 1e-10 * scale) or not bool(n1 > 0):
        raise ValueError(
            "w0, theta and w1 must not lie on one line (the plane through them is not defined): "
            f"got |w1 - w0| = {float(n1):.3g} and a distance {float(nr):.3g} of theta from the line. "
            "Use a trained or perturbed theta."
        )
    v = r / nr
    points = jnp.array([[0.0, 0.0], [dt @ u, dt @ v], [n1, 0.0]], dtype=f0.dtype)
    return Plane(w0, unravel(u), unravel(v), points)


def plane_point(plane: Plane, a: Any, b: Any) -> PyTree:
    """The point ``origin + a u + b v`` (a pytree) at plane coordinates ``(a, b)`` (scalars).

    Example:
        >>> import jax.numpy as jnp
        >>> P = plane_basis(jnp.zeros(2), jnp.array([0.0, 1.0]), jnp.array([2.0, 0.0]))
        >>> plane_point(P, 1.0, 3.0).tolist()
        [1.0, 3.0]
    """
    return jax.tree_util.tree_map(lambda o, u, v: o + a * u + b * v, plane.origin, plane.u, plane.v)


def plane_coords(plane: Plane, w: PyTree) -> jax.Array:
    r"""Coordinates :math:`(\langle w - o, u\rangle, \langle w - o, v\rangle)` of a point (or a stacked path).

    For a stacked pytree (leading axis = points) returns shape ``(K, 2)``, else ``(2,)``. The
    orthogonal projection onto the plane; exact for points of the plane.

    Example:
        >>> import jax.numpy as jnp
        >>> P = plane_basis(jnp.zeros(2), jnp.array([0.0, 1.0]), jnp.array([2.0, 0.0]))
        >>> plane_coords(P, jnp.array([[1.0, 3.0], [0.5, 0.0]])).tolist()
        [[1.0, 3.0], [0.5, 0.0]]
    """
    fo = ravel_pytree(plane.origin)[0]
    fu, fv = ravel_pytree(plane.u)[0], ravel_pytree(plane.v)[0]
    lw = jax.tree_util.tree_leaves(w)
    lo = jax.tree_util.tree_leaves(plane.origin)
    if jax.tree_util.tree_structure(w) != jax.tree_util.tree_structure(plane.origin):
        check_same_tree(plane.origin, w, wname="plane.origin", vname="w")
    stacked = all(jnp.ndim(a) == jnp.ndim(b) + 1 for a, b in zip(lw, lo))
    flat = jax.vmap(lambda x: ravel_pytree(x)[0])(w) if stacked else ravel_pytree(w)[0]
    d = flat - fo
    return jnp.stack([d @ fu, d @ fv], axis=-1)


def plane_losses(loss: Callable[[PyTree], jax.Array], plane: Plane, a_grid: Any, b_grid: Any) -> jax.Array:
    r"""The loss on a grid of the plane: ``out[i, j] = loss(plane_point(plane, a_grid[j], b_grid[i]))``.

    Rows follow ``b`` and columns ``a``, the layout ``matplotlib.pyplot.contour(a_grid, b_grid,
    out)`` expects. Computed with ``jax.lax.map`` over rows (one compiled program).

    Example:
        >>> import jax.numpy as jnp
        >>> P = plane_basis(jnp.zeros(2), jnp.array([0.0, 1.0]), jnp.array([1.0, 0.0]))
        >>> plane_losses(lambda w: w[0] + 10 * w[1], P, jnp.array([0.0, 1.0]), jnp.array([0.0, 2.0])).tolist()
        [[0.0, 1.0], [20.0, 21.0]]
    """
    check_callable(loss, "loss")
    a_grid, b_grid = jnp.asarray(a_grid), jnp.asarray(b_grid)
    if a_grid.ndim != 1 or b_grid.ndim != 1:
        raise ValueError(f"a_grid and b_grid must be 1-D, got shapes {a_grid.shape} and {b_grid.shape}.")

    @jax.jit
    def grid(a_grid, b_grid):
        row = lambda b: jax.vmap(lambda a: loss(plane_point(plane, a, b)))(a_grid)
        return jax.lax.map(row, b_grid)

    return grid(a_grid, b_grid)


# --------------------------------------------------------------------------------------------
# local data


def curve_tangent(w0: PyTree, theta: PyTree, w1: PyTree, t: Any) -> PyTree:
    r"""The velocity of the quadratic Bezier curve :math:`c(t) = (1-t)^2 w_0 + 2t(1-t)\theta + t^2 w_1`.

    .. math::
        c'(t) = 2(1-t)(\theta - w_0) + 2t(w_1 - \theta).

    At :math:`t = 1/2` it equals :math:`w_1 - w_0`, the straight line's direction. Because
    :math:`c` is quadratic, the central difference :math:`(c(t+h) - c(t-h))/2h` equals
    :math:`c'(t)` exactly for every :math:`h`.

    Example:
        >>> import jax.numpy as jnp
        >>> curve_tangent(jnp.zeros(2), jnp.array([1.0, 1.0]), jnp.array([2.0, 0.0]), 0.5).tolist()
        [2.0, 0.0]
    """
    check_same_tree(w0, theta, wname="w0", vname="theta")
    check_same_tree(w0, w1, wname="w0", vname="w1")
    if jnp.ndim(t) != 0:
        raise ValueError(f"t must be a scalar, expected shape (), got shape {jnp.shape(t)}; vmap over t for many.")
    return jax.tree_util.tree_map(lambda a, c, b: 2 * (1 - t) * (c - a) + 2 * t * (b - c), w0, theta, w1)


def hvp_norms(loss: Callable[[PyTree], jax.Array], w: PyTree, directions: Sequence[PyTree]) -> jax.Array:
    r"""Norms :math:`\|H \hat d\|` of Hessian-vector products along unit directions :math:`\hat d = d/\|d\|`.

    ``H`` is the Hessian of ``loss`` at ``w``, applied by one linearization of the gradient
    (:func:`gradtools.hessian_operator`) reused for every direction. For an eigenvector of
    eigenvalue :math:`\lambda` the norm is :math:`|\lambda|`; always :math:`\le \lambda_{\max}(|H|)`.

    Args:
        loss: ``loss(w) -> scalar``.
        w: the point.
        directions: pytrees shaped like ``w`` (nonzero).

    Returns:
        Shape ``(len(directions),)``.

    Example:
        >>> import jax.numpy as jnp
        >>> loss = lambda w: 3 * w[0] ** 2 + 5 * w[1] ** 2
        >>> hvp_norms(loss, jnp.zeros(3), [jnp.array([1.0, 0, 0]), jnp.array([0, 2.0, 0]), jnp.array([0, 0, 1.0])]).tolist()
        [6.0, 10.0, 0.0]
    """
    check_callable(loss, "loss")
    if len(directions) == 0:
        raise ValueError("directions must hold at least one pytree shaped like w, got none.")
    for i, d in enumerate(directions):
        check_same_tree(w, d, wname="w", vname=f"directions[{i}]")
    D = jnp.stack([ravel_pytree(d)[0] for d in directions])
    D = D / jnp.linalg.norm(D, axis=1, keepdims=True)
    _, unravel = ravel_pytree(w)

    @jax.jit
    def norms(w, D):
        H = products.hessian_operator(loss, w)
        return jax.vmap(lambda d: jnp.linalg.norm(ravel_pytree(H(unravel(d)))[0]))(D)

    return norms(w, D)


class LocalData(NamedTuple):
    """Local data at one point (:func:`local_data`).

    Attributes:
        loss: the loss value.
        grad_norm: :math:`\\|\\nabla L\\|`.
        top_eigvals: the ``k`` largest Hessian eigenvalues (Lanczos), descending.
    """

    loss: jax.Array
    grad_norm: jax.Array
    top_eigvals: jax.Array


def local_data(loss: Callable[[PyTree], jax.Array], w: PyTree, *, key: jax.Array, k: int = 5, num_iters: int | None = None) -> LocalData:
    r"""Loss, gradient norm and top-``k`` Hessian eigenvalues at ``w``, from products only.

    The eigenvalues come from :func:`gradtools.top_eigenpairs` on
    :func:`gradtools.hessian_operator` (Lanczos with full reorthogonalization, ``num_iters``
    products; default ``min(n, 2k + 30)``), the PyHessian recipe the Rashomon notes used.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> loss = lambda w: 3 * w[0] ** 2 + 5 * w[1] ** 2
        >>> d = local_data(loss, jnp.array([0.0, 0.0, 1.7]), key=jax.random.key(0), k=3, num_iters=3)
        >>> [round(float(v), 4) + 0.0 for v in d.top_eigvals], float(d.grad_norm)
        ([10.0, 6.0, 0.0], 0.0)

    References:
        L. Sagun et al. (2017), https://arxiv.org/abs/1706.04454; Z. Yao et al., PyHessian (2020),
        https://arxiv.org/abs/1912.07145.
    """
    check_callable(loss, "loss")
    value, g = jax.value_and_grad(loss)(w)
    vals, _ = spectrum.top_eigenpairs(products.hessian_operator(loss, w), w, k, key=key, num_iters=num_iters)
    return LocalData(value, jnp.linalg.norm(ravel_pytree(g)[0]), vals)


def count_near_zero(eigvals: Any, *, rtol: float) -> int:
    r"""How many eigenvalues are zero relative to the largest: :math:`\#\{i : |\lambda_i| \le \mathrm{rtol}\cdot\max_j|\lambda_j|\}`.

    The complement of :func:`gradtools.numerical_rank` (with the same ``rtol``). At a minimum whose
    set of minimizers is a manifold, every direction tangent to it has :math:`H v = 0`, so this
    count bounds the manifold's dimension from above; it equals it when the Hessian is
    nondegenerate across the manifold (Morse-Bott). A relative threshold makes the count
    independent of the loss's units.

    Args:
        eigvals: 1-D array of eigenvalues (concrete values).
        rtol: relative threshold, e.g. ``1e-6``.

    Returns:
        A Python ``int``.

    Example:
        >>> count_near_zero([10.0, 6.0, 1e-9, -2e-9], rtol=1e-6)
        2
    """
    a = np.asarray(eigvals)
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"eigvals must be a non-empty 1-D array, got shape {a.shape}.")
    if not (np.ndim(rtol) == 0 and float(rtol) >= 0):
        raise ValueError(f"rtol must be a non-negative scalar, expected e.g. 1e-6, got {rtol!r}.")
    return int(a.size - spectrum.numerical_rank(a, rtol=float(rtol)))
