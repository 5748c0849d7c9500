r"""The Fisher information of a network's predictive distribution, and the empirical Fisher.

A model ``apply(w, x)`` maps a batch of inputs to the parameters :math:`z_i` of a predictive
distribution :math:`p(t \mid z_i)` over the target of each example. Three likelihoods are offered,
each with its outputs in *natural* parameters:

- ``"categorical"``: logits ``(batch, k)``, :math:`p = \mathrm{softmax}(z)`,
  output Fisher :math:`F_z = \mathrm{diag}(p) - p p^\top`;
- ``"gaussian"``: means ``(batch, k)`` (or ``(batch,)``) with a fixed variance :math:`\sigma^2`,
  :math:`F_z = I / \sigma^2`;
- ``"bernoulli"``: logits ``(batch,)`` or ``(batch, 1)``, :math:`p = \mathrm{sigmoid}(z)`,
  :math:`F_z = p (1 - p)`.

With :math:`J_i = \partial z_i / \partial w` and :math:`g(t) = \nabla_w \log p(t \mid x_i, w)`, all
matrices here are **means over the N examples**:

.. math::
    F &= \frac1N \sum_i J_i^\top F_{z_i} J_i
       = \frac1N \sum_i \mathbb{E}_{t \sim p(\cdot \mid x_i, w)}\big[g(t)\, g(t)^\top\big]
       \qquad \text{(Fisher: targets from the model)} \\
    F_{\mathrm{emp}} &= \frac1N \sum_i g(y_i)\, g(y_i)^\top
       \qquad \text{(empirical Fisher: the training targets } y_i)

Because the outputs are natural parameters, :math:`-\log p(t \mid z) = A(z) - t^\top z + c(t)`
(up to the scale :math:`1/\sigma^2` in the Gaussian case), so the Hessian of the NLL in ``z`` is
:math:`\nabla^2 A(z) = F_z` whatever the target. The exact Fisher is therefore the Gauss-Newton
matrix of the mean NLL: ``fisher_mvp(apply, w, x, v, likelihood=...)`` equals
``gnvp(lambda w: apply(w, x), lambda z: nll(z, y, likelihood=...), w, v)`` for any targets ``y``.

The empirical Fisher has the same form but puts the data's targets where the model's samples
belong. It is *not* the Fisher and, away from a model that already fits the data perfectly, it
need not resemble the Hessian or the Gauss-Newton matrix at all: it scales with the squared
residuals, and it is zero wherever the training gradient of every example is zero, however curved
the loss is there (Kunstner, Balles & Hennig 2019).

Every product linearizes the model once (``jax.linearize``), applies the output-space matrix to
``J v`` and maps back with the transpose (``jax.linear_transpose``); no per-example Jacobian and no
per-example gradient is ever formed. This needs examples to be processed independently by
``apply`` (no batch normalization or other coupling across the batch).

References:
    Lecture 3 (metrics) of this course; R. Grosse, CSC 2541 *Neural Net Training Dynamics*,
    lecture 3 (2022);
    J. Martens, *New insights and perspectives on the natural gradient method*, JMLR (2020),
    https://arxiv.org/abs/1412.1193;
    F. Kunstner, L. Balles, P. Hennig, *Limitations of the empirical Fisher approximation for
    natural gradient descent*, NeurIPS (2019), https://arxiv.org/abs/1905.12558.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from gradtools._checks import concrete as _concrete, check_callable, check_likelihood, check_same_tree
from gradtools.products import dense

PyTree = Any
MVP = Callable[[PyTree], PyTree]
Apply = Callable[[PyTree, jax.Array], jax.Array]

__all__ = [
    "nll",
    "sample_targets",
    "fisher_mvp",
    "empirical_fisher_mvp",
    "fisher_matrix",
    "empirical_fisher_matrix",
    "fisher_operator",
]


# --------------------------------------------------------------------------------------------
# checks


def _check_variance(variance: Any, likelihood: str) -> None:
    shape = jnp.shape(variance)
    if shape != ():
        raise ValueError(
            f"variance must be a positive scalar, got an array of shape {shape}. "
            f"Pass one number, e.g. variance=0.25."
        )
    value = _concrete(variance)
    if value is None:
        return
    value = float(value)
    if likelihood != "gaussian":
        if value != 1.0:
            raise ValueError(
                f"variance is used only by likelihood='gaussian', got variance={value} with "
                f"likelihood={likelihood!r}. Drop the variance argument."
            )
        return
    if not (math.isfinite(value) and value > 0.0):
        raise ValueError(
            f"variance must be a finite number > 0 (the fixed variance of the Gaussian "
            f"likelihood), got {value}. Pass e.g. variance=1.0, or the noise variance of the data."
        )


def _check_outputs(z: Any, likelihood: str) -> None:
    if not hasattr(z, "shape") or not jnp.issubdtype(z.dtype, jnp.floating):
        got = f"dtype {z.dtype}" if hasattr(z, "dtype") else type(z).__name__
        raise TypeError(
            f"the model outputs must be one floating-point array, got {got}. "
            f"apply(w, x) should return logits or means as a float array."
        )
    shape = tuple(z.shape)
    if likelihood == "categorical" and len(shape) != 2:
        raise ValueError(
            f"likelihood='categorical' expects logits of shape (batch, num_classes), got shape "
            f"{shape}. For one example pass a batch of one, x[None]."
        )
    if likelihood == "gaussian" and len(shape) < 1:
        raise ValueError(
            f"likelihood='gaussian' expects means of shape (batch, k) or (batch,), got shape "
            f"{shape}. For one example pass a batch of one, x[None]."
        )
    if likelihood == "bernoulli" and not (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)):
        raise ValueError(
            f"likelihood='bernoulli' expects one logit per example, shape (batch,) or (batch, 1), "
            f"got shape {shape}. For k independent binary outputs use k separate models, or "
            f"'categorical' for one k-way choice."
        )


def _check_targets(z: Any, t: Any, likelihood: str, name: str = "targets") -> jax.Array:
    """Check targets against outputs ``z`` (shape, dtype, concrete values); return them as used."""
    t = jnp.asarray(t)
    zs, ts = tuple(z.shape), tuple(t.shape)
    if likelihood == "categorical":
        if ts != zs[:1]:
            raise ValueError(
                f"likelihood='categorical' expects {name} to be integer class labels of shape "
                f"(batch,) = {zs[:1]}, got shape {ts}. Pass labels, not one-hot rows "
                f"(y.argmax(-1) turns one-hot rows into labels)."
            )
        if not jnp.issubdtype(t.dtype, jnp.integer):
            raise TypeError(
                f"likelihood='categorical' expects integer class labels, got dtype {t.dtype}. "
                f"Cast them with {name}.astype(jnp.int32)."
            )
        value = _concrete(t)
        if value is not None and value.size and (value.min() < 0 or value.max() >= zs[1]):
            raise ValueError(
                f"class labels must lie in [0, {zs[1] - 1}] for {zs[1]} logits, got labels from "
                f"{value.min()} to {value.max()}."
            )
        return t
    if likelihood == "gaussian":
        if ts != zs:
            raise ValueError(
                f"likelihood='gaussian' expects {name} with the shape of the model's means, "
                f"{zs}, got {ts}. Reshape them (e.g. y[:, None] for a (batch, 1) output) so that "
                f"nothing is broadcast."
            )
        if not (jnp.issubdtype(t.dtype, jnp.floating) or jnp.issubdtype(t.dtype, jnp.integer)):
            raise TypeError(f"likelihood='gaussian' expects real {name}, got dtype {t.dtype}.")
        return t.astype(z.dtype)
    # bernoulli
    if ts != zs and ts != zs[:1]:
        raise ValueError(
            f"likelihood='bernoulli' expects {name} of 0/1 values of shape (batch,) = {zs[:1]} "
            f"or the outputs' shape {zs}, got shape {ts}."
        )
    if not (
        jnp.issubdtype(t.dtype, jnp.integer)
        or jnp.issubdtype(t.dtype, jnp.bool_)
        or jnp.issubdtype(t.dtype, jnp.floating)
    ):
        raise TypeError(f"likelihood='bernoulli' expects 0/1 {name}, got dtype {t.dtype}.")
    value = _concrete(t)
    if value is not None and not np.all((value == 0) | (value == 1)):
        raise ValueError(
            f"likelihood='bernoulli' expects {name} that are 0 or 1, got values "
            f"{np.unique(value)[:6]}. Threshold or relabel them first."
        )
    return t.reshape(zs).astype(z.dtype)


def _check_key(key: Any, num_samples: Any) -> int | None:
    """Return the number of Monte-Carlo samples (None for the exact Fisher)."""
    if key is None:
        if num_samples is not None:
            raise ValueError(
                f"num_samples={num_samples} was given without a key. A Monte-Carlo Fisher samples "
                f"targets from the model: pass key=jax.random.key(0) too, or drop num_samples for "
                f"the exact Fisher."
            )
        return None
    if not hasattr(key, "dtype"):
        raise TypeError(
            f"key must be a JAX PRNG key, got {type(key).__name__}: {key!r:.40}. "
            f"Make one with jax.random.key(seed)."
        )
    if num_samples is None:
        return 1
    if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)):
        raise TypeError(
            f"num_samples must be a Python int (it sets an array shape), got "
            f"{type(num_samples).__name__}: {num_samples!r:.40}."
        )
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}.")
    return int(num_samples)


# --------------------------------------------------------------------------------------------
# the likelihoods in output space


def _example_axes(z: jax.Array) -> tuple[int, ...]:
    return tuple(range(1, z.ndim))


def _log_lik(z: jax.Array, t: jax.Array, likelihood: str, variance: Any) -> jax.Array:
    """Per-example :math:`\\log p(t_i | z_i)`, shape ``(batch,)``; targets already checked."""
    if likelihood == "categorical":
        logp = jax.nn.log_softmax(z, axis=-1)
        return jnp.take_along_axis(logp, t[:, None], axis=-1)[:, 0]
    if likelihood == "gaussian":
        k = math.prod(z.shape[1:])
        sq = jnp.sum((t - z) ** 2, axis=_example_axes(z))
        return -0.5 * sq / variance - 0.5 * k * jnp.log(2 * jnp.pi * jnp.asarray(variance, z.dtype))
    return jnp.sum(t * z - jax.nn.softplus(z), axis=_example_axes(z))


def _output_fisher(z: jax.Array, u: jax.Array, likelihood: str, variance: Any) -> jax.Array:
    """:math:`F_{z_i} u_i` for every example (closed form)."""
    if likelihood == "categorical":
        p = jax.nn.softmax(z, axis=-1)
        return p * u - p * jnp.sum(p * u, axis=-1, keepdims=True)
    if likelihood == "gaussian":
        return u / variance
    p = jax.nn.sigmoid(z)
    return p * (1 - p) * u


def _output_scores(z: jax.Array, t: jax.Array, likelihood: str, variance: Any) -> jax.Array:
    """:math:`\\nabla_{z_i} \\log p(t_i | z_i)` for every example, shape ``z.shape``.

    Examples are independent, so the gradient of the summed log-likelihood is the per-example one.
    """
    return jax.grad(lambda zz: jnp.sum(_log_lik(zz, t, likelihood, variance)))(z)


def _sample(z: jax.Array, likelihood: str, key: jax.Array, num_samples: int, variance: Any) -> jax.Array:
    if likelihood == "categorical":
        return jax.random.categorical(key, z, axis=-1, shape=(num_samples, z.shape[0])).astype(jnp.int32)
    if likelihood == "gaussian":
        noise = jax.random.normal(key, (num_samples, *z.shape), dtype=z.dtype)
        return z[None] + jnp.sqrt(jnp.asarray(variance, z.dtype)) * noise
    p = jax.nn.sigmoid(z)
    return jax.random.bernoulli(key, p[None], (num_samples, *z.shape)).astype(jnp.int32)


# --------------------------------------------------------------------------------------------
# public: likelihood helpers


def nll(outputs: jax.Array, targets: jax.Array, *, likelihood: str, variance: float = 1.0) -> jax.Array:
    r"""Mean negative log-likelihood of the targets under the model's predictive distribution.

    .. math::
        \mathrm{nll} = -\frac1N \sum_{i=1}^N \log p(t_i \mid z_i), \qquad
        -\log p(t \mid z) =
        \begin{cases}
            \log \sum_c e^{z_c} - z_t & \text{categorical (softmax cross-entropy)} \\
            \frac{\lVert t - z \rVert^2}{2\sigma^2} + \frac k2 \log(2\pi\sigma^2) & \text{gaussian} \\
            \log(1 + e^{z}) - t z & \text{bernoulli (logistic loss)}
        \end{cases}

    The Gaussian NLL keeps its constant, so it is the true negative log-density; its Hessian in
    ``z`` is :math:`I/\sigma^2`, the output Fisher.

    Args:
        outputs: model outputs ``z``: logits ``(batch, k)`` (categorical), means ``(batch, k)`` or
            ``(batch,)`` (gaussian), logits ``(batch,)`` or ``(batch, 1)`` (bernoulli).
        targets: integer labels ``(batch,)`` (categorical), reals with the shape of ``outputs``
            (gaussian), 0/1 values of shape ``(batch,)`` or ``outputs.shape`` (bernoulli).
        likelihood: ``"categorical"``, ``"gaussian"`` or ``"bernoulli"``.
        variance: the fixed variance :math:`\sigma^2` of the Gaussian likelihood (gaussian only).

    Returns:
        A scalar: the mean over the batch.

    Example:
        >>> import jax.numpy as jnp
        >>> from gradtools import fmt
        >>> fmt(nll(jnp.zeros((2, 4)), jnp.array([0, 3]), likelihood="categorical"))  # log 4
        '1.386'

    References:
        Lecture 3 of this course; C. Bishop, *Pattern Recognition and Machine Learning* (2006),
        sections 4.3.2 and 4.3.4.
    """
    check_likelihood(likelihood)
    _check_variance(variance, likelihood)
    outputs = jnp.asarray(outputs)
    _check_outputs(outputs, likelihood)
    t = _check_targets(outputs, targets, likelihood)
    return -jnp.mean(_log_lik(outputs, t, likelihood, variance))


def sample_targets(
    outputs: jax.Array, *, likelihood: str, key: jax.Array, num_samples: int, variance: float = 1.0
) -> jax.Array:
    r"""Draw targets from the model's own predictive distribution :math:`t \sim p(\cdot \mid z_i)`.

    These are the targets of the true Fisher (as opposed to the training targets of the empirical
    Fisher): categorical labels :math:`t \sim \mathrm{Cat}(\mathrm{softmax}(z_i))`, Gaussian
    :math:`t = z_i + \sigma \varepsilon`, Bernoulli :math:`t \sim \mathrm{Bern}(\mathrm{sigmoid}(z_i))`.

    Args:
        outputs: model outputs (see :func:`nll` for the shapes).
        likelihood: ``"categorical"``, ``"gaussian"`` or ``"bernoulli"``.
        key: a PRNG key, e.g. ``jax.random.key(0)``.
        num_samples: draws per example.
        variance: the Gaussian likelihood's fixed variance (gaussian only).

    Returns:
        Targets of shape ``(num_samples, batch)`` (int32 labels) for categorical,
        ``(num_samples, *outputs.shape)`` (floats) for gaussian and ``(num_samples, *outputs.shape)``
        (int32 0/1) for bernoulli; each slice ``[s]`` is a valid ``targets`` argument of :func:`nll`.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> t = sample_targets(jnp.zeros((3, 5)), likelihood="categorical",
        ...                    key=jax.random.key(0), num_samples=2)
        >>> t.shape
        (2, 3)

    References:
        Lecture 3 of this course; J. Martens, *New insights and perspectives on the natural
        gradient method* (2020), section 5, https://arxiv.org/abs/1412.1193.
    """
    check_likelihood(likelihood)
    _check_variance(variance, likelihood)
    if key is None:
        raise ValueError("sample_targets needs a PRNG key: pass key=jax.random.key(0).")
    n = _check_key(key, num_samples)
    outputs = jnp.asarray(outputs)
    _check_outputs(outputs, likelihood)
    return _sample(outputs, likelihood, key, n, variance)


# --------------------------------------------------------------------------------------------
# public: products and matrices


def _output_shape(apply: Apply, w: PyTree, x: jax.Array, likelihood: str):
    """Shape and dtype of ``apply(w, x)`` (no computation), checked against the likelihood."""
    check_callable(apply, "apply")
    out = jax.eval_shape(apply, w, x)
    _check_outputs(out, likelihood)
    return out


def _linearize(apply: Apply, w: PyTree, x: jax.Array):
    z, jvp = jax.linearize(lambda p: apply(p, x), w)
    vjp = jax.linear_transpose(jvp, w)
    return z, jvp, vjp


def _exact_operator(apply: Apply, w: PyTree, x: jax.Array, likelihood: str, variance: Any) -> MVP:
    _output_shape(apply, w, x, likelihood)
    z, jvp, vjp = _linearize(apply, w, x)
    scale = 1.0 / z.shape[0]

    def mvp(v: PyTree) -> PyTree:
        check_same_tree(w, v)
        u = jvp(v)
        return vjp(scale * _output_fisher(z, u, likelihood, variance))[0]

    return mvp


def _score_operator(jvp, vjp, w: PyTree, r: jax.Array) -> MVP:
    """Mean of :math:`g g^\\top v` with :math:`g = J_i^\\top r_{s,i}`; ``r`` is ``(S, *z.shape)``."""
    axes = tuple(range(2, r.ndim))
    scale = 1.0 / (r.shape[0] * r.shape[1])

    def mvp(v: PyTree) -> PyTree:
        check_same_tree(w, v)
        u = jvp(v)  # J v, shape z.shape
        coef = jnp.sum(r * u[None], axis=axes, keepdims=True)  # g^T v = r^T J_i v per sample/example
        return vjp(scale * jnp.sum(coef * r, axis=0))[0]

    return mvp


def _fisher_op(apply, w, x, likelihood, key, num_samples, variance) -> MVP:
    check_likelihood(likelihood)
    _check_variance(variance, likelihood)
    n = _check_key(key, num_samples)
    if n is None:
        return _exact_operator(apply, w, x, likelihood, variance)
    _output_shape(apply, w, x, likelihood)
    z, jvp, vjp = _linearize(apply, w, x)
    z = jax.lax.stop_gradient(z)
    t = _sample(z, likelihood, key, n, variance)
    r = jax.vmap(lambda ti: _output_scores(z, ti, likelihood, variance))(t)
    return _score_operator(jvp, vjp, w, r)


def _empirical_op(apply, w, x, y, likelihood, variance) -> MVP:
    check_likelihood(likelihood)
    _check_variance(variance, likelihood)
    t = _check_targets(_output_shape(apply, w, x, likelihood), y, likelihood, name="y")
    z, jvp, vjp = _linearize(apply, w, x)
    r = _output_scores(z, t, likelihood, variance)[None]
    return _score_operator(jvp, vjp, w, r)


def fisher_mvp(
    apply: Apply,
    w: PyTree,
    x: jax.Array,
    v: PyTree,
    *,
    likelihood: str,
    key: jax.Array | None = None,
    num_samples: int | None = None,
    variance: float = 1.0,
) -> PyTree:
    r"""Fisher-vector product :math:`F v`, exact or Monte-Carlo, for a batch of inputs.

    .. math::
        F v = \frac1N \sum_{i=1}^N J_i^\top F_{z_i} J_i\, v
            = \frac1N \sum_{i=1}^N \mathbb{E}_{t \sim p(\cdot \mid x_i, w)}
              \big[g(t)\, g(t)^\top v\big], \qquad g(t) = \nabla_w \log p(t \mid x_i, w)

    Without ``key``, the first form, exactly: one ``jax.linearize`` of the model gives
    :math:`u = Jv`, the closed-form output Fisher (``diag(p) - p p^T``, ``I / variance`` or
    ``p (1 - p)``) multiplies each example's :math:`u_i`, and the transposed linearization maps
    back. This equals the Gauss-Newton product of the mean NLL (:func:`gradtools.gnvp` with
    :func:`nll`), because the outputs are natural parameters.

    With ``key``, the second form by sampling: ``num_samples`` targets per example are drawn from
    the model (:func:`sample_targets`) and :math:`g g^\top v` is averaged over examples and
    samples (:math:`g^\top v = r^\top J_i v` with the output score :math:`r`, so this is again one
    linearization). It is unbiased and converges to the exact product like
    :math:`1/\sqrt{N S}`. Targets come from the model, never from the data: that would be
    :func:`empirical_fisher_mvp`.

    Args:
        apply: the model ``apply(w, x) -> outputs``, batched over the first axis of ``x``.
        w: parameters, any pytree.
        x: a batch of inputs, ``(batch, ...)``.
        v: direction, same pytree structure and shapes as ``w``.
        likelihood: ``"categorical"``, ``"gaussian"`` or ``"bernoulli"`` (see the module table).
        key: None for the exact product; a PRNG key for the Monte-Carlo one.
        num_samples: targets sampled per example (Monte-Carlo only; default 1).
        variance: the Gaussian likelihood's fixed variance (gaussian only).

    Returns:
        :math:`F v`, same structure as ``w``. Equals ``fisher_matrix(...) @ v`` in
        ``ravel_pytree`` order.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> import gradtools as gt
        >>> init, apply = gt.problems.make_mlp((3, 4, 2))
        >>> w = init(jax.random.key(0))
        >>> x = jnp.ones((5, 3))
        >>> Fv = fisher_mvp(apply, w, x, w, likelihood="categorical")
        >>> jax.tree_util.tree_structure(Fv) == jax.tree_util.tree_structure(w)
        True

    References:
        Lecture 3 of this course; J. Martens, *New insights and perspectives on the natural
        gradient method*, JMLR (2020), sections 5 and 9, https://arxiv.org/abs/1412.1193;
        N. Schraudolph, *Fast curvature matrix-vector products*, Neural Computation (2002).
    """
    check_same_tree(w, v)
    return _fisher_op(apply, w, x, likelihood, key, num_samples, variance)(v)


def empirical_fisher_mvp(
    apply: Apply,
    w: PyTree,
    x: jax.Array,
    y: jax.Array,
    v: PyTree,
    *,
    likelihood: str,
    variance: float = 1.0,
) -> PyTree:
    r"""Empirical-Fisher product :math:`F_{\mathrm{emp}} v`, at the training targets ``y``.

    .. math::
        F_{\mathrm{emp}} v = \frac1N \sum_{i=1}^N g_i\, g_i^\top v, \qquad
        g_i = \nabla_w \log p(y_i \mid x_i, w)

    **This is not the Fisher.** The Fisher averages :math:`g g^\top` over targets drawn from the
    *model* (:func:`fisher_mvp`); this uses the targets of the *data*. The two agree only in
    expectation when the data's targets happen to follow the model's predictive distribution,
    i.e. near a well-specified optimum with plenty of data. Elsewhere the empirical Fisher can be
    far from both the Fisher and the Hessian: it grows with the squared residuals, has rank at most
    ``N``, and vanishes wherever every per-example gradient vanishes (an interpolating fit), however
    curved the loss. Preconditioning with it is not natural gradient descent (Kunstner, Balles &
    Hennig 2019). It is offered to compare with, as in Lecture 3.

    Computed with one linearization: :math:`g_i^\top v = r_i^\top J_i v` with the output score
    :math:`r_i = \nabla_z \log p(y_i \mid z_i)`.

    Args:
        apply: the model ``apply(w, x) -> outputs``, batched over the first axis of ``x``.
        w: parameters, any pytree.
        x: a batch of inputs, ``(batch, ...)``.
        y: the training targets (shapes and dtypes as the ``targets`` of :func:`nll`).
        v: direction, same structure as ``w``.
        likelihood: ``"categorical"``, ``"gaussian"`` or ``"bernoulli"``.
        variance: the Gaussian likelihood's fixed variance (gaussian only).

    Returns:
        :math:`F_{\mathrm{emp}} v`, same structure as ``w``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> import gradtools as gt
        >>> init, apply = gt.problems.make_mlp((3, 4, 2))
        >>> w = init(jax.random.key(0))
        >>> x, y = jnp.ones((5, 3)), jnp.array([0, 1, 1, 0, 1])
        >>> Ev = empirical_fisher_mvp(apply, w, x, y, w, likelihood="categorical")

    References:
        Lecture 3 of this course; F. Kunstner, L. Balles, P. Hennig, *Limitations of the empirical
        Fisher approximation for natural gradient descent*, NeurIPS (2019),
        https://arxiv.org/abs/1905.12558; J. Martens (2020), section 11,
        https://arxiv.org/abs/1412.1193.
    """
    check_same_tree(w, v)
    return _empirical_op(apply, w, x, y, likelihood, variance)(v)


def fisher_matrix(
    apply: Apply,
    w: PyTree,
    x: jax.Array,
    *,
    likelihood: str,
    key: jax.Array | None = None,
    num_samples: int | None = None,
    variance: float = 1.0,
) -> jax.Array:
    r"""Dense Fisher matrix :math:`F = \frac1N \sum_i J_i^\top F_{z_i} J_i`, shape ``(n, n)``.

    Exact without ``key``; with ``key``, the Monte-Carlo matrix
    :math:`\frac{1}{NS} \sum_{i,s} g_{i,s} g_{i,s}^\top` for one draw of ``num_samples`` targets
    per example. Built column by column from the product (:func:`gradtools.dense`), in
    ``jax.flatten_util.ravel_pytree(w)`` order: for small models, teaching and tests.

    Args:
        apply: the model ``apply(w, x) -> outputs``, batched over the first axis of ``x``.
        w: parameters, any pytree.
        x: a batch of inputs, ``(batch, ...)``.
        likelihood: ``"categorical"``, ``"gaussian"`` or ``"bernoulli"``.
        key: None for the exact matrix; a PRNG key for the Monte-Carlo one.
        num_samples: targets sampled per example (Monte-Carlo only; default 1).
        variance: the Gaussian likelihood's fixed variance (gaussian only).

    Returns:
        The ``(n, n)`` symmetric positive semi-definite matrix, ``n`` the number of parameters.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> import gradtools as gt
        >>> init, apply = gt.problems.make_mlp((3, 4, 2))
        >>> F = fisher_matrix(apply, init(jax.random.key(0)), jnp.ones((5, 3)), likelihood="categorical")
        >>> F.shape
        (26, 26)

    References:
        Lecture 3 of this course; J. Martens (2020), https://arxiv.org/abs/1412.1193.
    """
    return dense(_fisher_op(apply, w, x, likelihood, key, num_samples, variance), w)


def empirical_fisher_matrix(
    apply: Apply,
    w: PyTree,
    x: jax.Array,
    y: jax.Array,
    *,
    likelihood: str,
    variance: float = 1.0,
) -> jax.Array:
    r"""Dense empirical Fisher :math:`\frac1N \sum_i g_i g_i^\top` at the training targets, ``(n, n)``.

    Not the Fisher: see :func:`empirical_fisher_mvp`. Rows and columns in ``ravel_pytree(w)``
    order; rank at most ``N``.

    Args:
        apply: the model ``apply(w, x) -> outputs``, batched over the first axis of ``x``.
        w: parameters, any pytree.
        x: a batch of inputs, ``(batch, ...)``.
        y: the training targets (as the ``targets`` of :func:`nll`).
        likelihood: ``"categorical"``, ``"gaussian"`` or ``"bernoulli"``.
        variance: the Gaussian likelihood's fixed variance (gaussian only).

    Returns:
        The ``(n, n)`` symmetric positive semi-definite matrix.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> import gradtools as gt
        >>> init, apply = gt.problems.make_mlp((3, 4, 2))
        >>> E = empirical_fisher_matrix(apply, init(jax.random.key(0)), jnp.ones((5, 3)),
        ...                             jnp.array([0, 1, 1, 0, 1]), likelihood="categorical")
        >>> E.shape
        (26, 26)

    References:
        F. Kunstner, L. Balles, P. Hennig (2019), https://arxiv.org/abs/1905.12558.
    """
    return dense(_empirical_op(apply, w, x, y, likelihood, variance), w)


def fisher_operator(
    apply: Apply, w: PyTree, x: jax.Array, *, likelihood: str, variance: float = 1.0
) -> MVP:
    r"""Linearize the model once at ``w``; return ``v -> F v`` (the exact Fisher product).

    Each call of the returned function costs one linearized JVP and one transposed JVP, with no
    new forward pass. Use it where the same Fisher is applied many times (CG in a natural-gradient
    step, Lanczos); ``fisher_operator(apply, w, x, likelihood=l)(v)`` equals
    ``fisher_mvp(apply, w, x, v, likelihood=l)``.

    Args:
        apply: the model ``apply(w, x) -> outputs``, batched over the first axis of ``x``.
        w: parameters, any pytree: the point of linearization.
        x: a batch of inputs, ``(batch, ...)``.
        likelihood: ``"categorical"``, ``"gaussian"`` or ``"bernoulli"``.
        variance: the Gaussian likelihood's fixed variance (gaussian only).

    Returns:
        ``mvp(v) -> F v``, with ``v`` and the result pytrees shaped like ``w``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> import gradtools as gt
        >>> init, apply = gt.problems.make_mlp((3, 4, 2))
        >>> w = init(jax.random.key(0))
        >>> F = fisher_operator(apply, w, jnp.ones((5, 3)), likelihood="categorical")
        >>> Fv = F(w)

    References:
        Lecture 3 of this course; J. Martens (2020), https://arxiv.org/abs/1412.1193.
    """
    return _fisher_op(apply, w, x, likelihood, None, None, variance)
