"""Cost of gradtools' products and steps, as multiples of one gradient measured in the same run.

Usage (from the repository root):

    .venv/bin/python benchmarks/run.py                  # print the table
    .venv/bin/python benchmarks/run.py --write-readme   # also update README.md's table

Models are tanh MLPs on a batch of random inputs with softmax cross-entropy: 64-128-128-10
(about 26k parameters) and 784-512-512-10 (about 670k). Each operation is jitted, warmed up, and
timed as the median of several calls; the gradient of the same loss, timed the same way, is the
unit. Beside each gradtools function stands the same computation hand-written in plain JAX
(the baseline), so the table shows what the library's checks and structure cost, and the cost
of the dense alternative (n products to build the matrix, and its memory).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402
from jax.flatten_util import ravel_pytree  # noqa: E402

import gradtools as gt  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODELS = {"26k": (64, 128, 128, 10), "670k": (784, 512, 512, 10)}
CG_ITERS = 10
PATH_STEPS = 5  # train_bezier steps and geodesic L-BFGS iterations per timed call
PATH_POINTS = 4  # points of the benchmarked geodesic (2 optimised)


def timeit(fn, *args, repeats: int) -> float:
    """Median wall time of ``fn(*args)`` in seconds, after a compile-and-warm-up call."""
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def build(sizes, batch, key):
    init, apply = gt.problems.make_mlp(sizes, activation="tanh")
    kw, kx, ky, kv = jax.random.split(key, 4)
    w = init(kw)
    x = jax.random.normal(kx, (batch, sizes[0]))
    y = jax.random.randint(ky, (batch,), 0, sizes[-1])
    flat, unravel = ravel_pytree(w)
    v = unravel(jax.random.normal(kv, flat.shape))

    def f(w):
        return apply(w, x)

    def loss(z):
        return gt.nll(z, y, likelihood="categorical")

    def J(w):
        return loss(f(w))

    return w, v, f, loss, J, flat.size, apply, x, y


def operations(f, loss, J, apply, x):
    """(name, gradtools version, hand-written JAX baseline or None); each takes (w, v)."""

    def hvp_base(w, v):
        return jax.jvp(jax.grad(J), (w,), (v,))[1]

    def gnvp_base(w, v):
        z, jv = jax.jvp(f, (w,), (v,))
        hjv = jax.jvp(jax.grad(loss), (z,), (jv,))[1]
        return jax.vjp(f, w)[1](hjv)[0]

    def ng_base(w, v):
        g = jax.grad(J)(w)
        z, f_jvp = jax.linearize(f, w)
        f_vjp = jax.linear_transpose(f_jvp, w)
        _, l_hvp = jax.linearize(jax.grad(loss), z)

        def mvp(u):
            gu = f_vjp(l_hvp(f_jvp(u)))[0]
            return jax.tree_util.tree_map(lambda a, b: a + 1e-3 * b, gu, u)

        d, _ = jax.scipy.sparse.linalg.cg(mvp, g, tol=1e-12, atol=0.0, maxiter=CG_ITERS)
        return jax.tree_util.tree_map(lambda a, b: a - b, w, d)

    def ng_gt(w, v):
        G = gt.gauss_newton_operator(f, loss, w)
        return gt.natural_gradient_step(J, G, w, 1.0, damping=1e-3, maxiter=CG_ITERS, tol=1e-12)[0]

    return [
        ("hvp", lambda w, v: gt.hvp(J, w, v), hvp_base),
        ("gnvp", lambda w, v: gt.gnvp(f, loss, w, v), gnvp_base),
        ("fisher_mvp (exact)", lambda w, v: gt.fisher_mvp(apply, w, x, v, likelihood="categorical"), None),
        (f"natural_gradient_step ({CG_ITERS} CG)", ng_gt, ng_base),
    ]


def path_operations(f, apply, x, y):
    """gradtools.paths: (name, gradtools version, hand-written baseline, calls per run); each takes (w, v).

    A run of ``train_bezier`` is ``PATH_STEPS`` steps and one of ``geodesic`` ``PATH_STEPS``
    L-BFGS iterations (``tol`` so small that it never stops early): the table shows one of each.
    """
    N = x.shape[0]
    key = jax.random.key(1)
    tmap = jax.tree_util.tree_map

    def curve_loss(w, batch):
        return gt.nll(apply(w, batch[0]), batch[1], likelihood="categorical")

    def bezier_gt(w, v):
        w1 = tmap(jnp.add, w, v)
        return gt.paths.train_bezier(curve_loss, w, w1, (x, y), key=key, num_steps=PATH_STEPS, batch_size=N)[0]

    def bezier_base(w, v):
        w1 = tmap(jnp.add, w, v)
        opt = optax.adam(1e-2)

        def step(carry, k):
            theta, state = carry
            t = jax.random.uniform(jax.random.split(k)[0])

            def curve(th):
                return tmap(lambda a, b, c: (1 - t) ** 2 * a + 2 * t * (1 - t) * b + t**2 * c, w, th, w1)

            g = jax.grad(lambda th: curve_loss(curve(th), (x, y)))(theta)
            updates, state = opt.update(g, state, theta)
            return (optax.apply_updates(theta, updates), state), None

        theta0 = tmap(lambda a, b: 0.5 * (a + b), w, w1)
        (theta, _), _ = jax.lax.scan(step, (theta0, opt.init(theta0)), jax.random.split(key, PATH_STEPS))
        return theta

    def fs(w):
        return f(w) / jnp.sqrt(N)

    def geodesic_gt(w, v):
        ws, info = gt.paths.geodesic(fs, w, tmap(jnp.add, w, v), num_points=PATH_POINTS, max_iter=PATH_STEPS, tol=1e-30)
        return ws, info.iterations

    def geodesic_base(w, v):
        w1 = tmap(jnp.add, w, v)
        ts = jnp.linspace(0.0, 1.0, PATH_POINTS)[1:-1]
        inner = tmap(lambda a, b: a[None] + ts.reshape((-1,) + (1,) * a.ndim) * (b - a)[None], w, w1)
        z0, unravel = ravel_pytree(inner)

        def energy(z):
            ws = tmap(lambda a, b, c: jnp.concatenate([a[None], b, c[None]]), w, unravel(z), w1)
            u = jax.vmap(fs)(ws)
            return (PATH_POINTS - 1) * jnp.sum((u[1:] - u[:-1]) ** 2)

        opt = optax.lbfgs()
        vg = optax.value_and_grad_from_state(energy)

        def body(_, c):
            z, state = c
            value, g = vg(z, state=state)
            updates, state = opt.update(g, state, z, value=value, grad=g, value_fn=energy)
            return optax.apply_updates(z, updates), state

        z, _ = jax.lax.fori_loop(0, PATH_STEPS, body, (z0, opt.init(z0)))
        return unravel(z)

    def penalty(w):
        return sum(jnp.sum(a**2) for a in jax.tree_util.tree_leaves(w))

    def fip_gt(w, v):
        return gt.paths.fip_step(apply, w, x, penalty, step_size=1e-2, damping=1e-3, maxiter=CG_ITERS, tol=1e-12)

    def fip_base(w, v):
        s0, g = jax.value_and_grad(penalty)(w)
        z, f_jvp = jax.linearize(lambda u: apply(u, x), w)
        f_vjp = jax.linear_transpose(f_jvp, w)

        def mvp(u):
            return tmap(lambda a, b: a / N + 1e-3 * b, f_vjp(f_jvp(u))[0], u)

        d, _ = jax.scipy.sparse.linalg.cg(mvp, tmap(jnp.negative, g), tol=1e-12, atol=0.0, maxiter=CG_ITERS)
        move = 1e-2 * jnp.sqrt(jnp.sum(f_jvp(d) ** 2) / N)
        w_new = tmap(lambda a, b: a + 1e-2 * b, w, d)
        change = jnp.sqrt(jnp.sum((apply(w_new, x) - z) ** 2) / N)
        return w_new, (s0, penalty(w_new), move, change)

    def accel_gt(w, v):
        return gt.paths.geodesic_acceleration(f, w, v, damping=1e-3, maxiter=CG_ITERS, tol=1e-12)[0]

    def accel_base(w, v):
        _, d2 = jax.jvp(lambda u: jax.jvp(f, (u,), (v,))[1], (w,), (v,))
        _, f_jvp = jax.linearize(f, w)
        f_vjp = jax.linear_transpose(f_jvp, w)

        def mvp(u):
            return tmap(lambda a, b: a + 1e-3 * b, f_vjp(f_jvp(u))[0], u)

        rhs = tmap(jnp.negative, f_vjp(d2)[0])
        return jax.scipy.sparse.linalg.cg(mvp, rhs, tol=1e-12, atol=0.0, maxiter=CG_ITERS)[0]

    return [
        ("train_bezier (one step)", bezier_gt, bezier_base, PATH_STEPS),
        (f"geodesic ({PATH_POINTS} points, one L-BFGS iteration)", geodesic_gt, geodesic_base, PATH_STEPS),
        (f"fip_step ({CG_ITERS} CG)", fip_gt, fip_base, 1),
        (f"geodesic_acceleration ({CG_ITERS} CG)", accel_gt, accel_base, 1),
    ]


def run(model: str, batch: int, repeats: int) -> list[dict]:
    sizes = MODELS[model]
    w, v, f, loss, J, n, apply, x, y = build(sizes, batch, jax.random.key(0))
    grad = jax.jit(jax.grad(J))
    forward = jax.jit(J)
    t_grad = timeit(grad, w, repeats=repeats)
    rows = [
        dict(model=model, n=n, op="gradient", t=t_grad, ratio=1.0, base=None),
        dict(model=model, n=n, op="loss (forward)", t=timeit(forward, w, repeats=repeats), base=None),
    ]
    rows[-1]["ratio"] = rows[-1]["t"] / t_grad
    t_hvp = None
    for name, fn, base in operations(f, loss, J, apply, x):
        t = timeit(jax.jit(fn), w, v, repeats=repeats)
        tb = timeit(jax.jit(base), w, v, repeats=repeats) if base else None
        rows.append(dict(model=model, n=n, op=name, t=t, ratio=t / t_grad, base=None if tb is None else tb / t_grad))
        if name == "hvp":
            t_hvp = t
    for name, fn, base, per in path_operations(f, apply, x, y):
        fn, base = jax.jit(fn), jax.jit(base)
        if name.startswith("geodesic ("):  # it must not stop before PATH_STEPS iterations
            assert int(fn(w, v)[1]) == PATH_STEPS
        r = max(3, repeats // per)
        t, tb = timeit(fn, w, v, repeats=r) / per, timeit(base, w, v, repeats=r) / per
        rows.append(dict(model=model, n=n, op=name, t=t, ratio=t / t_grad, base=tb / t_grad))
    dense_gb = n * n * 4 / 1e9
    rows.append(
        dict(model=model, n=n, op=f"dense Hessian ({n} HVPs, {dense_gb:.3g} GB)", t=n * t_hvp, ratio=n * t_hvp / t_grad, base=None)
    )
    return rows


def table(rows: list[dict], batch: int) -> str:
    lines = [
        f"Measured by `make bench` ({platform.machine()}, {os.cpu_count()} cores, jax {jax.__version__}, "
        f"{jax.default_backend()}; tanh MLPs, batch {batch}, softmax cross-entropy; median wall time).",
        "Cost is in gradients of the same loss, timed in the same run; the baseline is the same",
        "computation hand-written in plain JAX.",
        "",
        "| model (params) | operation | cost / gradient | hand-written baseline / gradient | gradtools / baseline |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        base = "" if r["base"] is None else f"{r['base']:.2f}"
        rel = "" if r["base"] is None else f"{r['ratio'] / r['base']:.2f}"
        ratio = f"{r['ratio']:.3g}" if r["ratio"] >= 100 else f"{r['ratio']:.2f}"
        lines.append(f"| {r['model']} ({r['n']:,}) | {r['op']} | {ratio} | {base} | {rel} |")
    return "\n".join(lines)


def write_readme(text: str) -> None:
    path = ROOT / "README.md"
    readme = path.read_text()
    new, count = re.subn(
        r"(<!-- bench:start -->\n).*?(<!-- bench:end -->)", lambda m: m.group(1) + text + "\n" + m.group(2), readme, flags=re.S
    )
    if count != 1:
        raise SystemExit("README.md has no <!-- bench:start --> ... <!-- bench:end --> block to update")
    path.write_text(new)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--write-readme", action="store_true", help="replace README.md's benchmark table")
    args = parser.parse_args(argv)
    rows = []
    for model in args.models:
        rows += run(model, args.batch, args.repeats)
        print(f"measured {model}", file=sys.stderr)
    text = table(rows, args.batch)
    print(text)
    if args.write_readme:
        write_readme(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
