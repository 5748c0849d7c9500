"""course.integrity: the one check behind every exercise test that forbids a route.

Each family of route that scored full marks before the check existed (issue 15) is tried here
against the check directly; tests/test_exercise_shortcuts.py tries them through the grader on the
real exercises.
"""

import functools
import importlib
import itertools
import signal
import subprocess
import sys
import threading
import time
import types

import jax
import jax.extend.core
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

import gradtools as gt
from course import integrity
from course.integrity import Forbidden, forbid, traced

W = jnp.array([0.3, -1.2, 0.7])


def f(w):
    return jnp.sum(jnp.sin(w) ** 3) + w[0] * w[1]


def caught(fn, *banned, **kw):
    """The message of the Forbidden that ``fn`` run under ``forbid(*banned)`` raises, else None."""
    try:
        with forbid(*banned, **kw):
            fn()
    except Forbidden as e:
        return str(e)
    return None


# ----------------------------------------------------------------------------- honest answers pass


def test_an_answer_that_uses_allowed_functions_passes_and_computes():
    with forbid(jax.hessian, jax.jacfwd, jax.jacrev):
        got = jax.jvp(jax.grad(f), (W,), (jnp.ones(3),))[1]
    np.testing.assert_allclose(got, jax.hessian(f)(W) @ jnp.ones(3), rtol=1e-12)


def test_the_profile_and_timers_of_the_caller_are_given_back():
    before = sys.getprofile()
    old = [signal.setitimer(which, 0) for which in (signal.ITIMER_REAL, signal.ITIMER_PROF)]
    handler = signal.getsignal(signal.SIGPROF)
    try:
        with forbid(jax.hessian, seconds=30):
            jax.grad(f)(W)
        assert sys.getprofile() is before
        assert signal.getitimer(signal.ITIMER_REAL)[0] == 0
        assert signal.getitimer(signal.ITIMER_PROF)[0] == 0
        assert signal.getsignal(signal.SIGPROF) is handler
    finally:
        for which, timer in zip((signal.ITIMER_REAL, signal.ITIMER_PROF), old):
            signal.setitimer(which, *timer)


@pytest.mark.parametrize("which, sig", [("ITIMER_REAL", "SIGALRM"), ("ITIMER_PROF", "SIGPROF")])
def test_a_timer_set_before_the_block_keeps_running_after_it(which, sig):
    which, sig = getattr(signal, which), getattr(signal, sig)
    fired = []
    previous = signal.signal(sig, lambda *a: fired.append(1))
    try:
        signal.setitimer(which, 100.0)
        with forbid(seconds=5):
            pass
        left, _ = signal.getitimer(which)
        assert 90 < left <= 100.1, left   # (a processor-time timer rounds up to its clock tick)
    finally:
        signal.setitimer(which, 0)
        signal.signal(sig, previous)


def test_the_budget_is_processor_time_so_waiting_on_a_busy_machine_does_not_fail():
    # the clock runs while the kernel waits (for the processor, on a loaded machine); the budget does not
    with forbid(seconds=0.3):
        time.sleep(0.8)
    t0 = time.process_time()
    msg = caught(lambda: [sum(range(10_000)) for _ in range(100_000)], seconds=0.3)
    assert msg is not None and "longer than 0.3 s" in msg and "processor time" in msg, msg
    assert time.process_time() - t0 < 5   # interrupted near its budget, not run to the end


# ----------------------------------------------------------------------------- a banned function under any name


def test_the_banned_function_called_by_its_own_name():
    msg = caught(lambda: jax.hessian(f)(W), jax.hessian, why="use forward-over-reverse")
    assert msg is not None and "jax.hessian is not allowed here" in msg
    assert "use forward-over-reverse" in msg and "test_integrity.py" in msg  # where it was called


def test_an_import_alias():
    from jax import jacrev as _jr

    assert caught(lambda: _jr(f)(W), jax.jacrev) is not None


def test_a_default_argument_bound_before_the_ban():
    def answer(w, _h=jax.hessian):
        return _h(f)(w)

    assert caught(lambda: answer(W), "jax.hessian") is not None


def test_a_wrapper_and_a_copy_of_the_function():
    wrapped = functools.wraps(jax.jacfwd)(lambda *a, **k: jax.jacfwd(*a, **k))
    inner = jax.jacrev.__wrapped__
    copy = types.FunctionType(inner.__code__, inner.__globals__, "mine", inner.__defaults__, inner.__closure__)
    assert caught(lambda: wrapped(f)(W), jax.jacfwd) is not None
    assert caught(lambda: copy(f)(W), jax.jacrev) is not None


def test_a_closure_built_before_the_ban():
    jac = jax.jacfwd(f)  # built outside: only its inner function runs inside the block
    assert caught(lambda: jac(W), jax.jacfwd) is not None


def test_a_call_from_inside_another_library_function():
    # gt.hvp is forward-over-reverse: it calls jax.jvp, which is banned here
    assert "jax.jvp" in caught(lambda: gt.hvp(f, W, W), jax.jvp)


def test_an_equivalent_through_a_banned_module():
    assert "scipy.linalg.null_space" in caught(lambda: scipy.linalg.null_space(np.ones((2, 3))), "scipy.linalg")
    assert "gradtools" in caught(lambda: gt.metric_matrix(lambda w: jnp.stack([w[0], w[1] ** 2]), W[:2]), "gradtools")


def test_allow_lets_the_tests_own_library_model_run():
    init, apply = gt.problems.make_mlp((2, 3, 1))
    params = init(jax.random.key(0))
    x = jnp.ones((4, 2))
    with forbid("gradtools", allow=[apply]):
        apply(params, x)
    assert caught(lambda: gt.problems.make_mlp((2, 3, 1)), "gradtools", allow=[apply]) is not None


def test_a_swallowed_violation_still_fails_the_block():
    def answer():
        try:
            jax.hessian(f)(W)
        except Exception:
            pass
        return jax.grad(f)(W)

    assert caught(answer, jax.hessian) is not None


def test_numpy_and_jax_numpy_functions():
    assert caught(lambda: np.linalg.eigh(np.eye(3)), np.linalg.eigh) is not None
    assert caught(lambda: jnp.linalg.eigh(jnp.eye(3)), "jax.numpy.linalg.eigh") is not None
    assert caught(lambda: jnp.linalg.eigvalsh(jnp.eye(3)), "jax.numpy.linalg") is not None


def test_a_c_function_and_a_class_written_in_c():
    assert caught(lambda: sys.intern("abc"), sys.intern) is not None  # a C function: seen as a c_call
    # A class written in C is constructed without any call the check can see: banning it would be
    # a false promise, so it is refused with what to do instead (a size brute force cannot finish).
    with pytest.raises(TypeError, match="seconds="):
        forbid(itertools.permutations)


# ----------------------------------------------------------------------------- compiled traces


def test_a_trace_compiled_before_the_ban_is_traced_again():
    @jax.jit
    def answer(w):
        return jnp.linalg.eigh(jnp.outer(w, w))[0]

    answer(W)  # compiled for these shapes before the block
    assert caught(lambda: answer(W), jnp.linalg.eigh) is not None


# ----------------------------------------------------------------------------- escapes


def test_host_callbacks_are_always_violations():
    spec = jax.ShapeDtypeStruct((3,), W.dtype)
    assert "pure_callback" in caught(lambda: jax.pure_callback(lambda x: np.asarray(x), spec, W))
    assert caught(lambda: jax.jit(lambda x: jax.pure_callback(lambda y: np.asarray(y), spec, x))(W)) is not None


def test_a_tests_own_callback_records_at_run_time_and_no_other_runs():
    """A test's loss may record, through jax.debug.callback, every evaluation a compiled answer makes:
    a callback of a function the test allowed runs; the answer's own, or one of a function the test
    did not allow (even made inside an allowed one), is a violation as before."""
    runs = []

    def note(x):
        runs.append(float(x))

    def loss(w):
        jax.debug.callback(note, jnp.sum(w))
        return jnp.sum(w**2)

    def answer():  # a compiled loop of five gradient steps: five evaluations at run time
        step = lambda w, _: (w - 0.1 * jax.grad(loss)(w), None)
        out = jax.jit(lambda w: jax.lax.scan(step, w, None, length=5)[0])(W)
        jax.effects_barrier()
        return out

    assert caught(answer, jax.hessian, allow=[loss, note]) is None
    assert len(runs) == 5
    assert "debug_callback" in caught(answer, jax.hessian, allow=[loss])  # its recorder not allowed
    mine = lambda x: None
    assert "debug_callback" in caught(lambda: jax.jit(lambda w: (jax.debug.callback(mine, w), w)[1])(W)
                                      .block_until_ready(), jax.hessian, allow=[loss, note])


def test_printing_from_a_jitted_function_is_fine():
    with forbid(jax.hessian):
        jax.jit(lambda x: (jax.debug.print("{}", x[0]), x)[1])(W).block_until_ready()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_thread_started_inside_is_watched_too():
    def answer():
        out = []
        t = threading.Thread(target=lambda: out.append(jax.hessian(f)(W)))
        t.start()
        t.join()
        return out

    assert caught(answer, jax.hessian) is not None


def test_a_thread_pool_started_inside_is_fine_and_its_workers_are_watched():
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        assert caught(lambda: pool.submit(lambda: float(jnp.sum(W))).result(), jax.hessian) is None
    with ThreadPoolExecutor(1) as pool:
        assert "jax.hessian" in caught(lambda: pool.submit(lambda: jax.hessian(f)(W)).result(), jax.hessian)


class _EarlyThread(threading.Thread):
    def _bootstrap_inner(self):  # runs in the new thread before threading hands it the check's function
        self.out = jax.hessian(f)(W)
        super()._bootstrap_inner()


class _EarlyEvent:  # Thread._bootstrap_inner sets its _started event before the profile function
    def __init__(self):
        self.flag = threading.Event()

    def set(self):
        self.out = jax.hessian(f)(W)
        self.flag.set()

    def is_set(self):
        return self.flag.is_set()

    def wait(self, timeout=None):
        return self.flag.wait(timeout)


def _started_thread(make):
    t = make()
    t.start()
    t.join()
    return t


def test_a_thread_that_runs_code_before_the_check_reaches_it_is_a_violation():
    why = caught(lambda: _started_thread(lambda: _EarlyThread(target=lambda: None)), jax.hessian)
    assert "_bootstrap_inner is the answer's own code" in why

    def plain_thread_with_its_event_replaced():
        t = threading.Thread(target=lambda: None)
        t._started = _EarlyEvent()
        return t

    why = caught(lambda: _started_thread(plain_thread_with_its_event_replaced), jax.hessian)
    assert "_started holds the answer's own code" in why


class _ThreadWithReturnValue(threading.Thread):  # the common recipe: join() gives back what the target returned
    def __init__(self, target):
        super().__init__(target=target)
        self.value = None

    def run(self):
        self.value = self._target()

    def join(self, timeout=None):
        threading.Thread.join(self, timeout)
        return self.value

    @property
    def done(self):  # a property and methods of its own: run on the caller's thread or under the check
        return not self.is_alive()


class _EarlyHash(threading.Thread):  # threading puts the thread in a dict before the check reaches it
    def __hash__(self):
        if threading.current_thread() is self:
            jax.hessian(f)(W)
        return id(self)


def test_a_thread_class_of_the_answers_is_refused_only_for_what_runs_before_the_check():
    """Threading's bootstrap runs a few of the thread's attributes (and its hash, as it files the thread)
    on the new thread before that thread gets the check's function: those may not be the answer's code;
    run, join, a property or a helper method of the answer's run later, watched (rv17a's false refusals)."""
    t = _ThreadWithReturnValue(lambda: float(jnp.sum(W)))
    assert caught(lambda: (t.start(), t.join(), t.done)[1], jax.hessian) is None
    t = _ThreadWithReturnValue(lambda: jax.hessian(f)(W))
    assert "jax.hessian" in caught(lambda: (t.start(), t.join())[1], jax.hessian)
    assert "__hash__ is the answer's own code" in caught(lambda: _started_thread(lambda: _EarlyHash(target=lambda: None)),
                                                        jax.hessian)


class _Collector(threading.Thread):
    """A worker whose API has names that threading's bootstrap reads on other objects (an Event's set, a
    set's add): its own methods, run under the check (rv18a's false refusal)."""

    def __init__(self):
        super().__init__()
        self.rows = []

    def add(self, row):
        self.rows.append(row)

    def set(self, row):
        self.rows.append(row)

    def run(self):
        self.add(float(jnp.sum(W)))
        self.set(1.0)


def test_a_thread_class_may_name_its_methods_like_what_the_bootstrap_reads_on_other_objects():
    t = _Collector()
    assert caught(lambda: (t.start(), t.join()), jax.hessian) is None
    assert t.rows == [float(jnp.sum(W)), 1.0]


def test_threading_changed_under_a_thread_start_is_a_violation():
    genuine_lock, genuine_ident = threading._active_limbo_lock, threading.Thread._set_ident

    class EarlyLock:  # Thread._bootstrap_inner takes this lock before the profile function is set
        def __enter__(self):
            if threading.current_thread() is not threading.main_thread():  # (Thread.start takes it too)
                jax.hessian(f)(W)
            return genuine_lock.__enter__()

        def __exit__(self, *exc):
            return genuine_lock.__exit__(*exc)

    def swapped(name, value, owner=threading):
        def answer():
            saved = getattr(owner, name)
            setattr(owner, name, value)
            try:
                return _started_thread(lambda: threading.Thread(target=lambda: None))
            finally:
                setattr(owner, name, saved)
        return answer

    assert "threading._active_limbo_lock was changed" in caught(swapped("_active_limbo_lock", EarlyLock()), jax.hessian)
    assert "threading.Thread._set_ident was changed" in caught(
        swapped("_set_ident", lambda self: genuine_ident(self), threading.Thread), jax.hessian)
    assert threading._active_limbo_lock is genuine_lock and threading.Thread._set_ident is genuine_ident


def test_a_new_process_is_a_violation():
    assert "new process" in caught(lambda: subprocess.run(["true"]))


def test_switching_the_check_off_is_a_violation():
    assert "sys.setprofile" in caught(lambda: sys.setprofile(None))
    assert "sys.getprofile" in caught(lambda: sys.getprofile())


def test_a_library_function_whose_code_was_replaced_is_tampering():
    original = jax.hessian.__wrapped__.__code__ if hasattr(jax.hessian, "__wrapped__") else jax.hessian.__code__
    target = jax.hessian.__wrapped__ if hasattr(jax.hessian, "__wrapped__") else jax.hessian
    target.__code__ = (lambda fun, argnums=0, has_aux=False, holomorphic=False: fun).__code__
    try:
        msg = caught(lambda: None, jax.hessian)
    finally:
        target.__code__ = original
    assert msg is not None and "tampered" in msg


def test_the_check_itself_modified_is_tampering():
    import course.integrity as ci

    original = ci._Guard._make_hook.__code__
    ci._Guard._make_hook.__code__ = (lambda self: (lambda *a: None)).__code__
    try:
        with pytest.raises(Forbidden, match="tampered"):
            with forbid(jax.hessian):
                pass
    finally:
        ci._Guard._make_hook.__code__ = original


def test_brute_force_past_the_budget_is_interrupted():
    def brute():
        n = 0
        for _ in itertools.permutations(range(12)):  # 479 million
            n += 1
        return n

    msg = caught(brute, seconds=0.5)
    assert msg is not None and "longer than 0.5 s" in msg


# ----------------------------------------------------------------------------- traced


def closed_form(x, t):
    return x * (1.0 - 0.1) ** t


def test_traced_accepts_jax_operations_and_returns_the_jaxpr():
    jaxpr = traced(closed_form, W, 5, loops=False)
    assert "pow" in str(jaxpr) or "integer_pow" in str(jaxpr)


def test_traced_refuses_a_compiled_loop_where_a_closed_form_is_asked():
    with pytest.raises(Forbidden, match="loop"):
        traced(lambda x, t: jax.lax.fori_loop(0, t, lambda i, y: 0.9 * y, x), W, 5, loops=False)
    traced(lambda x, t: jax.lax.fori_loop(0, t, lambda i, y: 0.9 * y, x), W, 5)  # loops allowed by default


def test_traced_refuses_a_python_loop_over_a_traced_count():
    def loop(x, t):
        for _ in range(t):
            x = 0.9 * x
        return x

    with pytest.raises(Forbidden, match="under jax.jit"):
        traced(loop, W, 5)


def test_traced_refuses_a_host_callback():
    def callback(x, t):
        return jax.pure_callback(lambda a, b: np.asarray(a * 0.9**b), jax.ShapeDtypeStruct(x.shape, x.dtype), x, t)

    with pytest.raises(Forbidden, match="pure_callback"):
        traced(callback, W, 5)


def test_traced_refuses_numpy_on_traced_values():
    with pytest.raises(Forbidden, match="under jax.jit"):
        traced(lambda x: np.linalg.norm(x), W)


def test_traced_max_size_refuses_a_dense_matrix():
    n = 200

    def dense(x):
        return jnp.outer(x, x) @ x

    def matrix_free(x):
        return x * (x @ x)

    with pytest.raises(Forbidden, match=r"\(200, 200\)"):
        traced(dense, jnp.ones(n), max_size=10 * n)
    traced(matrix_free, jnp.ones(n), max_size=10 * n)
    # a Jacobian built from vmapped jvps over the identity is dense too
    with pytest.raises(Forbidden, match="entries"):
        traced(lambda x: jax.vmap(lambda e: jax.jvp(jnp.sin, (x,), (e,))[1])(jnp.eye(n)), jnp.ones(n), max_size=10 * n)


def test_traced_with_a_ban():
    with pytest.raises(Forbidden, match="jax.hessian"):
        traced(lambda x: jax.hessian(f)(x) @ x, W, banned=[jax.hessian])


# ----------------------------------------------------------------------------- errors


def test_an_unknown_name_is_a_clear_error():
    with pytest.raises(ValueError, match="hesian"):
        forbid("jax.hesian")
    with pytest.raises(ValueError, match="seconds"):
        forbid(jax.hessian, seconds=-1)


def test_the_source_compiled_again_is_the_same_function():
    import inspect
    import textwrap

    import jax._src.api as api

    namespace = dict(vars(api))
    exec(compile(textwrap.dedent(inspect.getsource(api.jacrev)), "<a student's copy>", "exec"), namespace)
    copy = namespace["jacrev"]
    assert copy is not jax.jacrev and copy(f)(W).shape == (3,)  # a working copy, outside the block
    msg = caught(lambda: copy(f)(W), jax.jacrev)
    assert msg is not None and "a copy of it" in msg


def test_the_answers_code_called_back_by_an_allowed_function_is_checked(tmp_path):
    # An allowed library function that takes the answer's callable (a Krylov solver, say) runs it
    # under the ban again, wherever the answer put its code: a name posing as a frozen module, or a
    # module file written outside the working folder.
    def apply_op(op, x):  # stands for the allowed solver
        return op(x)

    for fname in ("<frozen helpers>", str(tmp_path / "helpers.py")):
        namespace = {"jax": jax, "f": f}
        exec(compile("def op(x):\n    return jax.hessian(f)(x) @ x\n", fname, "exec"), namespace)
        msg = caught(lambda: apply_op(namespace["op"], W), jax.hessian, allow=[apply_op])
        assert msg is not None and "jax.hessian" in msg, fname
    import posixpath  # a real frozen module stays library code
    assert not integrity._is_answer_code(posixpath.join.__code__, "/")


def test_an_allowed_numpy_function_brings_its_dispatcher():
    # numpy runs np.linalg.norm's argument dispatcher (defined in numpy.linalg) before norm itself:
    # allowing norm allows it; the rest of numpy.linalg stays banned
    x = np.arange(4.0).reshape(2, 2)
    assert caught(lambda: np.linalg.norm(x), "numpy.linalg", allow=[np.linalg.norm]) is None
    assert "svd" in caught(lambda: np.linalg.svd(x), "numpy.linalg", allow=[np.linalg.norm])


def test_functions_alike_but_for_their_lambdas_are_not_copies():
    # A curve and its velocity, each one tree_map over the control points: the same bytecode, names
    # and variables, told apart only by the lambda each passes (a correct tangent was refused as "a
    # copy" of the banned curve). A copy under another name, lambda included, is still caught.
    body = "(1 - t) ** 3 * p + 3 * (1 - t) ** 2 * t * q + 3 * (1 - t) * t ** 2 * r + t ** 3 * s"
    velocity = "3 * (1 - t) ** 2 * (q - p) + 6 * (1 - t) * t * (r - q) + 3 * t ** 2 * (s - r)"
    template = "def {name}(a, b, c, d, t):\n    return jax.tree_util.tree_map(lambda p, q, r, s: {body}, a, b, c, d)\n"
    namespace = {"jax": jax}
    for name, expr in (("curve", body), ("tangent", velocity), ("renamed", body)):
        exec(compile(template.format(name=name, body=expr), f"<{name}>", "exec"), namespace)
    documented = template.format(name="documented", body=body).replace("\n", '\n    "A docstring of its own."\n', 1)
    exec(compile(documented, "<documented>", "exec"), namespace)
    curve, tangent = namespace["curve"], namespace["tangent"]
    assert len(curve.__code__.co_code) >= 48  # long enough to be matched by content at all
    args = (W, 2 * W, 3 * W, 4 * W, 0.3)
    assert caught(lambda: tangent(*args), curve) is None
    for copy in ("renamed", "documented"):  # a docstring added to a copy does not hide it
        msg = caught(lambda: namespace[copy](*args), curve)
        assert msg is not None and "a copy of it" in msg, copy


def test_a_lazy_answer_is_caught_when_the_test_materialises_it_inside_the_block():
    # An answer that returns an object computing the result later (when the test compares it) would
    # run its banned call after the block: test cells convert answers to arrays inside the block.
    class Lazy:
        def __array__(self, dtype=None, copy=None):
            return np.asarray(jax.hessian(f)(W) @ W)

    def answer(w):
        return Lazy()

    assert caught(lambda: np.asarray(answer(W)), jax.hessian) is not None


def test_a_banned_module_bans_what_it_defines_not_what_its_namespace_holds():
    # gradtools' namespace holds namedtuples (their _replace is collections' code, shared by every
    # namedtuple, JAX's included) and functions imported from JAX: neither is gradtools' to ban.
    info = gt.cg_solve(lambda v: 2.0 * v, jnp.ones(3))[1]
    with forbid("gradtools"):
        info._replace(iterations=0)
        jax.flatten_util.ravel_pytree({"a": jnp.ones(2)})
        jax.jvp(jnp.sin, (W,), (W,))
    assert caught(lambda: gt.cg_solve(lambda v: 2.0 * v, jnp.ones(3)), "gradtools") is not None


def test_an_executable_compiled_ahead_of_time_is_refused():
    # its trace (with the banned call) was made before the block; clearing caches cannot undo it
    compiled = jax.jit(lambda x: jax.hessian(lambda v: jnp.sum(v**3))(x)).lower(W).compile()
    assert "Compiled.__call__" in caught(lambda: compiled(W), jax.hessian)
    exported = jax.export.export(jax.jit(lambda x: jax.hessian(lambda v: jnp.sum(v**3))(x)))(W)
    assert caught(lambda: exported.call(W), jax.hessian) is not None
    with forbid(jax.hessian):  # an ordinary jit is traced again inside the block, and is fine
        jax.jit(lambda x: jax.grad(lambda v: jnp.sum(v**3))(x))(W)


def test_run_traced_gives_the_values_of_the_checked_program():
    from course.integrity import run_traced

    def honest(x, t):
        return {"w": x * 0.9**t, "n": jnp.sum(x)}

    def two_faced(x, t):  # a closed form when traced, a numpy search on concrete inputs
        if isinstance(x, jax.core.Tracer):
            return x * 0.0
        return np.asarray(x) * 0.9 ** int(t)

    out = run_traced(honest, W, 5, loops=False)
    np.testing.assert_allclose(out["w"], W * 0.9**5, rtol=1e-12)
    assert float(out["n"]) == pytest.approx(float(jnp.sum(W)))
    np.testing.assert_allclose(run_traced(lambda x, k: x * k, W, 3, static_argnums=1), 3 * W)
    np.testing.assert_allclose(two_faced(W, 5), W * 0.9**5)  # called directly, it looks right
    np.testing.assert_allclose(run_traced(two_faced, W, 5, loops=False), 0.0)  # the checked program is not


def test_the_answers_code_called_back_from_an_allowed_function_is_checked_again():
    # The test allows its own model (built by gradtools) while gradtools is banned. An answer that
    # hands the model an object whose method the model calls gets its own code run "inside" the
    # allowed model: that code is checked again, until it returns.
    init, apply = gt.problems.make_mlp((2, 3, 1))
    params = init(jax.random.key(0))
    x = jnp.ones((4, 2))

    class Sneaky(dict):
        def __getitem__(self, key):
            gt.hvp(lambda w: jnp.sum(w**2), jnp.ones(2), jnp.ones(2))  # the library, from the answer's code
            return dict.__getitem__(self, key)

    sneaky = [Sneaky(layer) for layer in params] if isinstance(params, list) else params
    exec_ns = {"Sneaky": Sneaky}  # a class defined in text compiled at run time counts as the answer's too
    with forbid("gradtools", allow=[apply]):
        apply(params, x)  # the allowed model itself, with honest parameters
    if isinstance(params, list):
        assert caught(lambda: apply(sneaky, x), "gradtools", allow=[apply]) is not None


def test_an_allowed_function_is_handed_plain_data_only(tmp_path):
    # rv21a: inside an allowed function the check is off until the answer's code is called back. An object
    # whose __array__ (or __str__) is a chain of library callables ran jax.jacrev inside the allowed
    # numerical rank's np.asarray, and scipy's null_space inside jax.debug.print's str(), with none of the
    # answer's code on the stack. An allowed function now takes arrays, numbers, strings, containers of
    # them and the answer's own functions; anything else fails the block before it runs.
    import functools
    import operator

    def rank(M):  # stands for gt.numerical_rank: np.asarray of what it is handed
        return int(np.linalg.matrix_rank(np.asarray(M)))

    class Lazy:
        __array__ = functools.partial(functools.reduce, operator.call,
                                      [functools.partial(jax.jacrev, f), W], )

    msg = caught(lambda: rank(Lazy()), jax.jacrev, allow=[rank])
    assert msg is not None and "not plain data" in msg and "Lazy" in msg
    msg = caught(lambda: rank(functools.partial(jax.jacrev, f)), jax.jacrev, allow=[rank])
    assert msg is not None and "not plain data" in msg
    msg = caught(lambda: rank(jax.tree_util.Partial(functools.reduce, operator.call)), jax.jacrev, allow=[rank])
    assert msg is not None and "not plain data" in msg
    class Loud:
        __str__ = functools.partial(functools.reduce, operator.call, [functools.partial(jax.jacrev, f), W])

    msg = caught(lambda: jax.debug.print("{}", Loud()), jax.jacrev)  # printing is checked as everything is (rv22)
    assert msg is not None and "jax.jacrev" in msg
    # rv22: a class object (jnp.float32, once taken as a dtype) given an __array__, and a plain type's class changed
    jnp.float32.__array__ = functools.partial(jax.jacrev(f), W)
    try:
        assert "not plain data" in caught(lambda: rank(jnp.float32), jax.jacrev, allow=[rank])
    finally:
        del jnp.float32.__array__
    np.memmap.__str__ = functools.partial(str, "patched")
    try:
        assert "class was changed" in caught(lambda: rank(np.memmap(tmp_path / "m.dat", mode="w+", shape=(2,))),
                                             jax.jacrev, allow=[rank])
    finally:
        del np.memmap.__str__
    boxed = np.empty(1, dtype=object)
    boxed[0] = Lazy()
    assert "not plain data" in caught(lambda: rank(boxed), jax.jacrev, allow=[rank])

    def mine(x):  # the answer's own function, followed by the check when the allowed function calls it
        return x

    def apply_fn(fn, tree, k=2):
        return fn(tree["a"][0]) * k

    def carrier(x):  # rv23: the answer's own function (or a partial of it) with an __array__ stored on it
        return x

    carried = functools.partial(carrier)
    carried.__array__ = functools.partial(functools.reduce, operator.call, [functools.partial(jax.jacrev, f), W])
    carrier.__jax_array__ = carried.__array__
    for thing in (carried, carrier, jax.tree_util.Partial(carrier)):
        assert "attributes of its own" in caught(lambda: rank(thing), jax.jacrev, allow=[rank]), thing
    del carrier.__jax_array__

    @functools.wraps(mine)
    def decorated(x):
        return mine(x)

    honest = {"a": [jnp.ones(3), np.ones(2), 1.5, np.float32(2.0)], "b": (None, "s", 3, np.dtype("float32"))}
    assert caught(lambda: (rank(jnp.eye(3)), rank(np.eye(2)), apply_fn(mine, honest),
                           apply_fn(functools.partial(mine), honest), apply_fn(jax.tree_util.Partial(mine), honest),
                           apply_fn(jax.linearize(jnp.sin, W)[1], honest),  # a linearized program: JAX's own
                           apply_fn(decorated, honest),
                           jax.jit(lambda x: rank(x.shape[0]) + x)(W),
                           jax.debug.print("{x} {y} {z}", x=W, y=2.0, z=jax.random.key(0))), jax.jacrev,
                  allow=[rank, apply_fn]) is None
    with forbid(jax.jacrev, allow=[rank]):
        assert rank(jnp.eye(3)) == 3  # computes as before


def test_max_ops_refuses_a_loop_unrolled_while_tracing():
    from course.integrity import op_count

    def bisection(target):  # 60 unrolled steps: no loop primitive, a long program
        lo, hi = jnp.asarray(0.0), jnp.asarray(1.0)
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            lo, hi = jnp.where(mid**2 < target, mid, lo), jnp.where(mid**2 < target, hi, mid)
        return lo

    def closed(target):
        return jnp.sqrt(target)

    assert op_count(traced(closed, 0.3)) <= 3 < op_count(traced(bisection, 0.3))
    traced(closed, 0.3, loops=False, max_ops=20)
    with pytest.raises(Forbidden, match="operations"):
        traced(bisection, 0.3, loops=False, max_ops=20)


def test_op_count_counts_every_equation_nested_programs_included():
    from course.integrity import op_count

    def flat(x):
        return jnp.sin(x) * x + 1.0

    inner = jax.jit(lambda y: jnp.cos(y) + y)

    def nested(x):
        return inner(x) * 2.0

    x = jnp.ones(3)
    assert op_count(traced(flat, x)) == len(jax.make_jaxpr(flat)(x).jaxpr.eqns)
    outer = jax.make_jaxpr(nested)(x).jaxpr
    call = next(e for e in outer.eqns if "jaxpr" in e.params)
    inner_eqns = len(call.params["jaxpr"].jaxpr.eqns)
    assert op_count(traced(nested, x)) == len(outer.eqns) + inner_eqns  # the call, its body, the rest


# --- answers that postpone the work past the block, and JAX's own differentiation under other names


class _LazyArray:
    """Computes with a banned function only when read (numpy's ``__array__``)."""

    def __array__(self, dtype=None, copy=None):
        return np.asarray(jax.hessian(f)(W))


class _LazyInt(int):
    def __int__(self):
        return int(jnp.linalg.matrix_rank(jnp.eye(3)))


@jax.tree_util.register_pytree_node_class
class _LazyTree:
    """A pytree whose flatten does the banned work (the test's ravel_pytree would run it)."""

    def tree_flatten(self):
        return (jax.hessian(f)(W),), None

    @classmethod
    def tree_unflatten(cls, aux, children):
        return cls()


def test_concrete_reads_the_answer_inside_the_block_and_refuses_its_own_types():
    from course.integrity import concrete

    # plain values come back as numpy, with their structure
    got = concrete({"a": jnp.ones(2), "b": [1, 2.5, (np.float64(3.0), True)]})
    assert isinstance(got["a"], np.ndarray) and got["b"][0] == 1 and type(got["b"][2][1]) is bool
    assert isinstance(got["b"][2][0], np.ndarray)
    # an __array__ of the answer's own: its type is refused; inside the block, reading it runs the ban
    assert "_LazyArray" in caught(lambda: concrete(_LazyArray()))
    assert "jax.hessian" in caught(lambda: np.asarray(_LazyArray()), jax.hessian)
    # an int subclass with its own __int__ (int(g) after the block would run it unchecked)
    assert "_LazyInt" in caught(lambda: concrete(_LazyInt(0)))
    # a custom pytree: its flatten runs inside concrete, under the ban
    assert "jax.hessian" in caught(lambda: concrete(_LazyTree()), jax.hessian)
    assert "_LazyTree" in caught(lambda: concrete(_LazyTree()))


def test_run_traced_refuses_an_output_structure_of_the_answers_own():
    from course.integrity import run_traced

    @jax.tree_util.register_pytree_node_class
    class Box:
        def __init__(self, x):
            self.x = x

        def tree_flatten(self):
            return (self.x,), None

        @classmethod
        def tree_unflatten(cls, aux, children):
            return cls(*children)

    with pytest.raises(Forbidden, match="Box"):
        run_traced(lambda w: Box(2 * w), W)
    np.testing.assert_allclose(run_traced(lambda w: {"y": 2 * w}, W)["y"], 2 * W)


def test_a_named_tuple_answer_is_read_as_the_plain_tuple_of_its_fields_and_its_class_never_runs():
    import collections
    import typing

    from course.integrity import concrete, spec, traced_program

    class Rates(typing.NamedTuple):  # a statement's "return a tuple" allows a named tuple (rv27b H1)
        lo: jax.Array
        hi: jax.Array

    Pair = collections.namedtuple("Pair", "a b")
    got = concrete(Rates(jnp.ones(2), {"k": Pair(2.0, [jnp.zeros(1), None])}))
    assert type(got) is tuple and type(got[1]["k"]) is tuple and got[1]["k"][0] == 2.0
    np.testing.assert_array_equal(got[0], np.ones(2))
    program = traced_program(lambda w: Rates(w.sum(), 2 * w), spec(W.shape))
    out = program(W)
    assert type(out) is tuple
    np.testing.assert_allclose(out[1], 2 * W)

    class Loud(Pair):  # a named tuple whose constructor is the answer's: reading it must not call it
        def __new__(cls, *args):
            raise AssertionError("the answer's __new__ ran")

    assert concrete(tuple.__new__(Loud, (1.0, 2.0))) == (1.0, 2.0)

    @jax.tree_util.register_pytree_node_class
    class Told(tuple):  # a tuple subclass with its own flatten is still the answer's type
        def tree_flatten(self):
            return tuple(self), None

        @classmethod
        def tree_unflatten(cls, aux, children):
            return cls(children)

    assert "Told" in caught(lambda: concrete(Told((1.0, 2.0))))


def test_autodiff_catches_private_entry_points_and_jet_but_not_plain_jax():
    from jax._src import api
    from jax.experimental import jet

    from course.integrity import AUTODIFF

    def plain():
        x = jnp.arange(6.0).reshape(2, 3)
        y = jax.jit(lambda a: jnp.sum(jax.nn.log_softmax(a) * jax.nn.relu(a)))(x)
        jax.vmap(jnp.dot)(x, x)
        jax.lax.scan(lambda c, r: (c + r.sum(), c), 0.0, x)
        A = x @ x.T + jnp.eye(2)
        jax.scipy.sparse.linalg.cg(lambda v: A @ v, jnp.ones(2))
        jnp.linalg.eigh(A)
        jnp.linalg.solve(A, jnp.ones(2))
        jnp.linalg.inv(A)
        jax.scipy.linalg.solve(A, jnp.ones(2), assume_a="pos")
        jax.jit(jnp.linalg.solve)(A, jnp.ones(2))
        return y

    assert caught(plain, *AUTODIFF) is None
    import jax.extend.linear_util as lu

    for route in (lambda: jax.grad(f)(W), lambda: jax.jvp(f, (W,), (W,)), lambda: jax.linearize(f, W),
                  lambda: api._jvp(lu.wrap_init(f, debug_info=api.debug_info("f", f, (W,), {})), (W,), (W,)),
                  lambda: jet.jet(jnp.sin, (1.0,), ((1.0, 0.0),))):
        assert caught(route, *AUTODIFF) is not None


def test_a_comprehension_inside_a_banned_class_does_not_match_the_same_loop_elsewhere():
    # JVPTrace's list comprehensions have the bytecode of ones in custom_vjp.__call__: matched by
    # content, they made plain evaluation of any custom_vjp function, and jax.vjp, look banned.
    from course.integrity import AUTODIFF

    @jax.custom_vjp
    def double(x):
        return 2 * x

    double.defvjp(lambda x: (2 * x, None), lambda _, g: (2 * g,))
    assert caught(lambda: double(jnp.arange(3.0)), *AUTODIFF) is None
    assert caught(lambda: jax.vjp(jnp.sin, 1.0), "jax._src.interpreters.ad.JVPTrace") is None
    assert caught(lambda: jax.jvp(jnp.sin, (1.0,), (1.0,)), "jax._src.interpreters.ad.JVPTrace") is not None


def _values_seen_while_tracing(fn_name="_seen"):
    """An answer that walks up every frame while it is traced and records each concrete array it finds
    in their locals (in lists and tuples too): a route that reads the test's inputs at trace time and
    computes its answer from them in numpy, handing it back as a constant of an otherwise checked program."""
    seen = []

    def peek(a, b):
        frame = sys._getframe(1)
        while frame is not None:
            for value in list(frame.f_locals.values()):
                for v in list(value) if isinstance(value, (list, tuple)) and value is not seen else [value]:
                    if isinstance(v, (np.ndarray, jax.Array)) and not isinstance(v, jax.core.Tracer) and np.shape(v) == (7,):
                        seen.append(np.asarray(v))
            frame = frame.f_back
        if seen:  # the inputs found: the answer, in numpy, as a constant
            return jnp.asarray(np.asarray(seen[0]) * 2.0) + 0.0 * a
        return a * b

    return peek, seen


def test_traced_program_traces_from_shapes_so_no_input_exists_to_be_read():
    from course.integrity import Program, spec, traced_program

    peek, seen = _values_seen_while_tracing()
    program = traced_program(peek, spec((7,)), spec((7,)), loops=False)   # traced before the inputs exist
    assert isinstance(program, Program) and not seen
    a, b = jnp.arange(7.0), jnp.full(7, 3.0)                           # the hidden inputs, made after the trace
    np.testing.assert_allclose(program(a, b), a * b)                  # the checked program, no answer code run
    assert not seen

    # run_traced traces from shapes too, but its caller holds the inputs while the answer is traced:
    # a frame walk finds them, so a hidden case uses traced_program and builds its inputs afterwards
    from course.integrity import run_traced

    peek2, seen2 = _values_seen_while_tracing()
    run_traced(peek2, a, b)
    assert seen2, "the caller's inputs were reachable (this is why hidden cases trace first)"


def test_a_program_is_called_with_inputs_of_the_traced_shapes_and_static_values():
    from course.integrity import spec, traced_program

    program = traced_program(lambda x, k, n: x[:n] * k, spec((5,)), spec((), "int64"), 3, static_argnums=2)
    np.testing.assert_allclose(program(jnp.arange(5.0), 2, 3), [0.0, 2.0, 4.0])
    with pytest.raises(ValueError, match=r"traced for \[\(\(5,\), 'float64'\)\]; got \[\(\(4,\), 'float64'\)\]"):
        program(jnp.arange(4.0), 2, 3)
    with pytest.raises(ValueError, match="static"):
        program(jnp.arange(5.0), 2, 4)
    with pytest.raises(TypeError, match="3 arguments; got 2"):
        program(jnp.arange(5.0), 2)
    # arrays as specs: their values are dropped, only shape and dtype are traced
    program = traced_program(lambda d: {"y": d["x"] @ d["x"]}, {"x": np.ones((2, 2))})
    np.testing.assert_allclose(program({"x": np.eye(2) * 3})["y"], np.eye(2) * 9)


def test_op_count_can_leave_out_layout_primitives():
    from course.integrity import LAYOUT_PRIMITIVES, op_count, spec, traced_program

    def indexed(g):  # a formula written over entries: many slices and squeezes, four multiplications
        return g[0, 0] * g[1, 1] - g[0, 1] * g[1, 0] + g[0, 0] * g[0, 0]

    program = traced_program(indexed, spec((2, 2)))
    total, arithmetic = op_count(program), op_count(program, skip=LAYOUT_PRIMITIVES)
    assert arithmetic == 5 and total > arithmetic  # 3 products, a difference and a sum
    assert op_count(program.jaxpr) == total


def test_a_programs_seed_is_reproducible_and_depends_on_what_the_answer_returns():
    from course.integrity import spec, traced_program

    honest = lambda a: 2.0 * a
    first, again = traced_program(honest, spec((3,))), traced_program(honest, spec((3,)))
    assert first.seed == again.seed and 0 <= first.seed < 2**63   # the same answer, the same hidden case
    # an answer that returns constants computed at trace time changes its own seed with them
    consts = [traced_program(lambda a, c=c: jnp.asarray(np.full(3, c)) + 0.0 * a, spec((3,))).seed for c in (1.0, 2.0)]
    assert consts[0] != consts[1]
    assert traced_program(honest, spec((4,))).seed != first.seed   # and the shapes traced for
    with_static = [traced_program(lambda x, n: x * n, spec(()), n, static_argnums=1).seed for n in (3, 4)]
    assert with_static[0] != with_static[1]                         # and static arguments, by their value


def test_nested_programs_stay_visible_when_an_answer_rebinds_jaxs_classes(monkeypatch):
    import jax.extend.core as jex

    from course.integrity import op_count, spec, traced_program

    inner = jax.jit(lambda y: jnp.sin(y) * jnp.cos(y) + y**2)
    program = traced_program(lambda x: inner(x) + 1.0, spec((3,)))
    before = op_count(program)
    monkeypatch.setattr(jex, "ClosedJaxpr", type("Fake", (), {}))  # what an answer cell could do
    assert op_count(program) == before > 3


def test_op_count_and_the_seed_are_part_of_the_checked_code():
    from course.integrity import Program, op_count

    code = op_count.__code__
    try:
        op_count.__code__ = (lambda closed, skip=(): 0).__code__
        assert caught(lambda: None) is not None and "tamper" in caught(lambda: None)
    finally:
        op_count.__code__ = code
    assert caught(lambda: None) is None
    assert any(f is Program.seed.fget for f, _ in integrity._OWN)


def _norm2_primitive(rule_reads_inputs: bool):
    """A primitive of the answer's own (jax.extend.core.Primitive), as an answer could make one: its
    lowering runs when the program is compiled, and with ``rule_reads_inputs`` it walks the stack to
    the caller's inputs and emits the result as a constant, so the checked program reads ``norm2 a``."""
    from jax._src import core as jcore
    from jax._src.interpreters import mlir
    from jax.extend.core import Primitive

    prim = Primitive("norm2")
    prim.def_abstract_eval(lambda x: jcore.ShapedArray((), x.dtype))

    def lowering(ctx, x):
        frame = sys._getframe()
        while rule_reads_inputs and frame is not None:
            if "hidden" in frame.f_locals:
                return [mlir.ir_constant(np.array(float(np.sum(np.asarray(frame.f_locals["hidden"]) ** 2))))]
            frame = frame.f_back
        return [mlir.ir_constant(np.array(0.0))]

    mlir.register_lowering(prim, lowering)
    return prim


def test_a_primitive_of_the_answers_own_is_refused():
    from course.integrity import spec, traced_program

    prim = _norm2_primitive(rule_reads_inputs=True)
    with pytest.raises(Forbidden, match=r"primitive 'norm2', whose abstract_eval .* is the answer's own code"):
        traced_program(lambda x: prim.bind(x), spec((5,)))

    # what it would do: a clean-looking program whose value the lowering read from the caller's frames
    closed = jax.make_jaxpr(lambda x: prim.bind(x))(jnp.zeros(5))
    hidden = np.random.default_rng(0).normal(size=5)
    assert str(closed).count("norm2") == 1
    np.testing.assert_allclose(jax.jit(jax.extend.core.jaxpr_as_fun(closed))(hidden)[0], np.sum(hidden**2))

    class Subclass(type(prim)):  # the answer's own class of primitive, JAX's rules otherwise
        def bind(self, *args, **params):
            return super().bind(*args, **params)

    sub = Subclass("sin2")
    sub.def_abstract_eval(lambda x: x)
    with pytest.raises(Forbidden, match=r"primitive 'sin2', whose class .*bind"):
        traced_program(lambda x: sub.bind(x), spec((5,)))


def test_a_lowering_rule_replaced_by_the_answer_is_refused_and_jaxs_own_are_not():
    from jax._src.interpreters import mlir
    from jax._src.lax import lax as lax_internal

    from course.integrity import spec, traced_program

    def honest(x):  # JAX's operations, a custom derivative, a loop, a decomposition: all JAX's rules
        @jax.custom_jvp
        def g(y):
            return jnp.sin(y) @ y

        g.defjvp(lambda p, t: (g(p[0]), t[0].sum()))
        return g(x) + jnp.linalg.eigvalsh(jnp.outer(x, x)).sum() + jax.lax.fori_loop(0, 3, lambda i, c: 2 * c, x).sum()

    program = traced_program(honest, spec((4,)))
    x = jnp.arange(4.0)
    np.testing.assert_allclose(program(x), honest(x), rtol=1e-12)

    genuine = mlir._lowerings[lax_internal.sin_p]
    try:
        mlir.register_lowering(lax_internal.sin_p, lambda ctx, x, **params: genuine.rule(ctx, x, **params))
        with pytest.raises(Forbidden, match=r"primitive 'sin', whose lowering rule in .*_lowerings"):
            traced_program(lambda y: jnp.sin(y), spec((4,)))
        # replaced after the trace, before the first evaluation compiles the program: checked then too
        mlir._lowerings[lax_internal.sin_p] = genuine
        program = traced_program(lambda y: jnp.sin(y) * 2.0, spec((4,)))
        mlir.register_lowering(lax_internal.sin_p, lambda ctx, x, **params: genuine.rule(ctx, x, **params))
        with pytest.raises(Forbidden, match="primitive 'sin'"):
            program(x)
    finally:
        mlir._lowerings[lax_internal.sin_p] = genuine
        jax.clear_caches()
    np.testing.assert_allclose(program(x), 2 * np.sin(x), rtol=1e-12)


def test_a_thread_of_the_answers_still_running_is_refused():
    from course.integrity import spec, traced_program

    stop = threading.Event()

    def lurk():  # could rewrite a rule between the check and the compilation
        stop.wait(30)

    def answer(x):
        threading.Thread(target=lurk, daemon=True).start()
        return 2.0 * x

    try:
        with pytest.raises(Forbidden, match=r"a thread the answer started is still running \(lurk"):
            traced_program(answer, spec((3,)))
    finally:
        stop.set()


def test_the_seed_covers_a_nested_programs_own_constants():
    from course.integrity import spec, traced_program

    # a closed program inside an equation keeps its constants apart from the outer ones, and the
    # printed text only names them: two programs differing only there must differ in their seeds
    def with_branch(c):
        program = traced_program(lambda x: jax.lax.cond(x.sum() > 0, lambda y: y + 1.0, lambda y: y - 1.0, x),
                                 spec((3,)))
        inner = jax.make_jaxpr(lambda y: y + np.asarray(c))(np.zeros(3))  # one constant, [c, c, c]
        assert len(inner.consts) == 1
        for eqn in program.jaxpr.jaxpr.eqns:
            if "branches" in eqn.params:
                eqn.params["branches"] = (inner, *eqn.params["branches"][1:])
                return program
        pytest.fail("no cond in the program")

    one, two = with_branch([1.0, 1.0, 1.0]), with_branch([2.0, 2.0, 2.0])
    assert str(one.jaxpr) == str(two.jaxpr) and one.seed != two.seed


def _guard_module():
    """The grader's kernel-side guard (course/_guard.py), loaded here as the grading kernel does."""
    import importlib.machinery
    import importlib.util
    from pathlib import Path

    import course

    spec = importlib.util.spec_from_file_location("_course_grader_test", Path(course.__file__).parent / "_guard.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_guard_judges_an_extension_by_the_name_cpython_reads():
    """rv21b: CPython reads a spec's name with getattr, so a property set on ModuleSpec itself made
    _testcapi (a sub-interpreter, no guard in it) while the guard read a harmless name from the
    instance's dict. A ModuleSpec class changed since the guard's install names nothing."""
    from importlib.machinery import ModuleSpec

    guard = _guard_module()
    guard._SPEC_CLASS[:] = [ModuleSpec, dict(vars(ModuleSpec))]  # as install() takes it
    assert guard._new_extension((ModuleSpec("harmless_ext", None),))
    assert not guard._new_extension((ModuleSpec("_testcapi", None),))
    made = ModuleSpec("harmless_ext", None)
    ModuleSpec.name = property(lambda self: "_testcapi")  # (set after the spec is made, as the route did)
    try:
        assert made.name == "_testcapi" and vars(made)["name"] == "harmless_ext"
        assert not guard._new_extension((made,)) and guard._spec_name(made) is None
    finally:
        del ModuleSpec.name
    assert guard._spec_name(ModuleSpec("harmless_ext", None)) == "harmless_ext"

    class Twice(str):  # rv22: a key with the hash of "name", equal to it only when the guard asks
        asked = []

        def __hash__(self):
            return str.__hash__("name")

        def __eq__(self, other):
            Twice.asked.append(1)
            return len(Twice.asked) == 2

    odd = ModuleSpec.__new__(ModuleSpec)
    odd.__dict__[Twice("nam_")] = "harmless_ext"
    odd.__init__("_testcapi", None)
    assert guard._spec_name(odd) is None and not guard._new_extension((odd,))


def test_a_process_left_running_before_a_test_cell_is_found_and_stopped():
    """rv21b: a thread pool's worker started a child process in the answer cell (none of the answer's
    code on its stack), which read the kernel's memory as the test ran. As a test cell begins, the guard
    stops every live descendant of the kernel and reports it (here in a process of its own, since it
    stops every child of the process it runs in)."""
    import subprocess
    from pathlib import Path

    import course

    code = (
        "import importlib.util, subprocess, sys\n"
        f"spec = importlib.util.spec_from_file_location('g', {str(Path(course.__file__).parent / '_guard.py')!r})\n"
        "g = importlib.util.module_from_spec(spec); spec.loader.exec_module(g)\n"
        "assert g._other_processes() == [], 'none yet'\n"
        "done = subprocess.Popen([sys.executable, '-c', 'pass']); done.wait()\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "found = g._other_processes()\n"
        "print(found == [child.pid], child.wait(timeout=20))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "-9"], out.stdout  # found, and stopped (SIGKILL)


def test_the_guard_puts_back_jaxs_rules_and_internals_the_answer_replaced():
    """An answer cell that replaces what JAX runs below its public names (a lowering in its rule
    tables, a primitive's attribute, a private module's function, a method of JAX's classes) would
    change the test's own reference: the grader's guard puts each back before a test cell (and fails
    one that replaces them as it runs); what JAX itself replaces (not the answer's code) it leaves."""
    from jax._src import core as jcore
    from jax._src.interpreters import mlir
    from jax._src.lax import lax as lax_internal
    from jax._src.numpy import ufuncs

    guard = _guard_module()
    guard._deep_snapshot({"jax", "jaxlib", "numpy"})
    assert guard._deep_changed(fix=False) == []
    x = jnp.arange(3.0)
    sin_rule, sin_abstract = mlir._lowerings[lax_internal.sin_p], lax_internal.sin_p.abstract_eval
    cos, bind, name = ufuncs.cos, jcore.Primitive.bind, lax_internal.sin_p.name
    eval_code = jcore.eval_jaxpr.__code__
    try:
        mlir.register_lowering(lax_internal.sin_p, lambda ctx, y, **p: mlir.lower_fun(jnp.cos, False)(ctx, y))
        jax.clear_caches()
        np.testing.assert_allclose(jnp.sin(x), np.cos(x))  # what a test's reference would compute now
        lax_internal.sin_p.abstract_eval = lambda *a, **k: sin_abstract(*a, **k)
        ufuncs.cos = lambda y: y
        jcore.Primitive.bind = lambda self, *a, **k: bind(self, *a, **k)
        lax_internal.sin_p.name = "add"
        jcore.eval_jaxpr.__code__ = (lambda jaxpr, consts, *args, propagate_source_info=True: args).__code__
        changed = guard._deep_changed(fix=True)
        assert jcore.eval_jaxpr.__code__ is eval_code and "the code of jax._src.core.eval_jaxpr" in changed
        assert any("_lowerings[add]" in c or "_lowerings[sin]" in c for c in changed), changed
        assert {"the primitive sin.abstract_eval", "the primitive sin.name", "jax._src.numpy.ufuncs.cos",
                "jax._src.core.Primitive.bind"} <= set(changed), changed
        assert mlir._lowerings[lax_internal.sin_p] is sin_rule and ufuncs.cos is cos
        assert jcore.Primitive.bind is bind and lax_internal.sin_p.name == name
        np.testing.assert_allclose(jnp.sin(x), np.sin(x))  # and the compiled caches were dropped
        assert guard._deep_changed(fix=False) == []
        # JAX's own rebinding (library code, not the answer's) is not tampering
        ufuncs.cos = np.cos
        assert guard._deep_changed(fix=False) == []
    finally:
        mlir._lowerings[lax_internal.sin_p] = sin_rule
        lax_internal.sin_p.abstract_eval, lax_internal.sin_p.name = sin_abstract, name
        ufuncs.cos, jcore.Primitive.bind, jcore.eval_jaxpr.__code__ = cos, bind, eval_code
        jax.clear_caches()


def test_a_foreign_function_call_is_refused_like_a_callback():
    """A function registered with XLA as a custom-call target can be Python behind ctypes: a program
    that calls one (jax.ffi.ffi_call) runs code no trace shows, with the test's inputs."""
    import ctypes

    from course.integrity import spec, traced_program

    seen = []

    def target(out, ins):  # XLA's legacy custom-call signature: the output and input buffers
        seen.append(True)
        x = np.ctypeslib.as_array(ctypes.cast(ins[0], ctypes.POINTER(ctypes.c_double)), shape=(3,))
        ctypes.cast(out, ctypes.POINTER(ctypes.c_double))[0] = float(np.sum(x**2))

    c_target = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p))(target)
    capsule_new = ctypes.pythonapi.PyCapsule_New
    capsule_new.restype, capsule_new.argtypes = ctypes.py_object, (ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p)
    jax.ffi.register_ffi_target("course_test_sum_of_squares",
                                capsule_new(ctypes.cast(c_target, ctypes.c_void_p).value, b"xla._CUSTOM_CALL_TARGET", None),
                                platform="cpu", api_version=0)

    def answer(x):
        call = jax.ffi.ffi_call("course_test_sum_of_squares", jax.ShapeDtypeStruct((), x.dtype),
                                custom_call_api_version=1, legacy_backend_config="")
        return call(x)

    x = jnp.array([1.0, 2.0, 3.0])
    assert float(jax.jit(answer)(x)) == 14.0 and seen  # what the program would compute, in Python
    with pytest.raises(Forbidden, match=r"compiled code outside JAX \(ffi_call\)"):
        traced_program(answer, spec((3,)))


def test_a_pytree_node_of_the_answers_own_is_refused_whatever_module_it_claims():
    from course.integrity import concrete, spec, traced_program

    class Later:  # a node of the answer's, claiming to be JAX's: its unflatten would run after the check
        __module__ = "jax.tree_util"

        def __init__(self, leaves):
            self.leaves = leaves

    jax.tree_util.register_pytree_node(Later, lambda n: (tuple(n.leaves), None), lambda aux, leaves: Later(leaves))
    program = traced_program(lambda x: Later([2.0 * x]), spec((3,)))
    with pytest.raises(Forbidden, match="Later, defined by the answer"):
        program(jnp.ones(3))  # before anything is unflattened
    with pytest.raises(Forbidden, match="Later, defined by the answer"):
        with forbid():
            concrete(Later([jnp.ones(3)]))

    class Quiet:  # no method of its own: the functions registered for it are the answer's
        __module__ = "jax.tree_util"

    jax.tree_util.register_pytree_node(Quiet, lambda n: ((), None), lambda aux, leaves: Quiet())
    program = traced_program(lambda x: Quiet(), spec((3,)))
    with pytest.raises(Forbidden, match="Quiet, defined by the answer"):
        program(jnp.ones(3))
    # Python's and JAX's containers, JAX's named tuples included, are fine
    program = traced_program(lambda x: {"e": jnp.linalg.eigh(jnp.outer(x, x)), "l": [x, (x,)]}, spec((3,)))
    out = program(jnp.ones(3))
    assert type(out["e"]).__name__ == "EighResult" and isinstance(out["l"][1], tuple)


def test_the_guard_takes_the_submissions_hooks_out_of_the_main_thread():
    """A gc callback, a signal handler, an import hook or a trace function of the submission's runs in
    the main thread at moments the test does not choose (a collection, an import), where it could
    rebind the test's names: the guard takes those holding the submission's code out before each
    test cell, and leaves the library's; a signal handler whatever it is (it is handed the frame it
    interrupts), and the collector's debug flags (DEBUG_SAVEALL hands out what it collects)."""
    import gc
    import signal

    guard = _guard_module()
    guard._deep_snapshot({"jax", "jaxlib", "numpy"})
    guard._hooks_snapshot()
    assert guard._hooks_changed(fix=False) == []

    def answers_callback(phase, info):
        pass

    class Finder:
        def find_spec(self, *args):
            return None

    library_callback = functools.partial(print)  # the library's code: left alone
    handlers = {s: signal.getsignal(s) for s in (signal.SIGUSR1, signal.SIGUSR2)}
    debug = gc.get_debug()
    gc.callbacks.extend([answers_callback, library_callback])
    sys.meta_path.insert(0, Finder())
    signal.signal(signal.SIGUSR1, lambda *a: None)
    signal.signal(signal.SIGUSR2, {}.__setitem__)  # a library's callable stores the frame just as well
    gc.set_debug(gc.DEBUG_SAVEALL)  # gc.garbage would hand out what the collector finds, frames too
    try:
        changed = guard._hooks_changed(fix=True)
        assert {"gc.callbacks (a hook of the submission's)", "sys.meta_path (a hook of the submission's)",
                f"the handler of signal {signal.SIGUSR1}", f"the handler of signal {signal.SIGUSR2}",
                "the garbage collector's debug flags"} <= set(changed), changed
        assert answers_callback not in gc.callbacks and library_callback in gc.callbacks
        assert not any(isinstance(f, Finder) for f in sys.meta_path)
        assert all(signal.getsignal(s) == h for s, h in handlers.items())
        assert gc.get_debug() == debug
        assert guard._hooks_changed(fix=False) == []
    finally:
        gc.callbacks[:] = [c for c in gc.callbacks if c is not answers_callback and c is not library_callback]
        sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, Finder)]
        for s, h in handlers.items():
            signal.signal(s, h)
        gc.set_debug(debug)


def test_the_guards_own_code_is_the_librarys_and_a_copy_under_its_name_is_not():
    """course.grading.build compiles the guard under a name of its own: its code is the library's
    (compiled again from course/_guard.py, it matches); text of the answer's compiled under that name,
    or under a library file's name, does not match and is the answer's."""
    from pathlib import Path

    from course.grading import build

    assert f"'{integrity._GUARD_NAME}'" in Path(build.__file__).read_text()
    guard = {}
    exec(compile(build.GUARD.read_text(encoding="utf-8"), integrity._GUARD_NAME, "exec"), guard)
    assert not integrity._is_foreign_code(guard["_wrap_answer"].__code__)
    fake = {}
    exec(compile("def _wrap_answer(f):\n    return f\n", integrity._GUARD_NAME, "exec"), fake)
    assert integrity._is_foreign_code(fake["_wrap_answer"].__code__)
    spoof = {}
    exec(compile("def hessian(f):\n    return f\n", jax.__file__, "exec"), spoof)  # claims jax/__init__.py
    assert integrity._is_foreign_code(spoof["hessian"].__code__)
    assert not integrity._is_foreign_code(jax.hessian.__code__)
    assert not integrity._is_foreign_code(np.linalg.norm._implementation.__code__)
    assert integrity._answer_code_in(spoof["hessian"]) and integrity._answer_code_in(guard["_wrap_answer"]) is None


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_thread_that_already_runs_is_watched_too_and_let_go_after():
    """A pool's worker started before the check (warmed) gets the check at its next event, and has no
    profile function once the check is over."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        pool.submit(int).result()  # the worker runs now, before any check
        assert "jax.hessian" in caught(lambda: pool.submit(lambda: jax.hessian(f)(W)).result(), jax.hessian)
        assert caught(lambda: pool.submit(lambda: float(jnp.sum(W))).result(), jax.hessian) is None
        assert pool.submit(sys.getprofile).result() is None  # let go after the check
        assert float(pool.submit(lambda: jnp.sum(jax.hessian(f)(W))).result()) == float(jnp.sum(jax.hessian(f)(W)))


def test_a_code_object_the_compiler_cannot_make_runs_nothing_inside_the_check():
    """CodeType.replace takes any object as a constant and a str subclass as a name: a lookup of such a
    code object in the check's tables would run the answer's __hash__ inside the profile function, where
    nothing is watched (rv16a's r1 did gradtools there). The check looks codes up by id, and takes one
    the compiler cannot make for the answer's own."""
    ran = []

    class Spy:
        def __hash__(self):
            ran.append(jax.hessian(f)(W))
            return 0

        def __eq__(self, other):
            return self is other

    class Name(str):
        def __hash__(self):
            ran.append(jax.hessian(f)(W))
            return 0

        def __eq__(self, other):
            ran.append(jax.hessian(f)(W))
            return False

        __ne__ = __eq__

        def startswith(self, *a):
            ran.append(jax.hessian(f)(W))
            return False

    def template():
        return 1

    code = template.__code__
    for odd in (code.replace(co_consts=code.co_consts + (Spy(),)), code.replace(co_name=Name("template")),
                code.replace(co_filename=Name(code.co_filename))):
        probe = types.FunctionType(odd, {})
        assert caught(probe, jax.hessian) is None
    assert not ran
    from course.integrity import _is_foreign_code, _plain_code

    assert _plain_code(code) and not _plain_code(code.replace(co_consts=(Spy(),)))

    class Table(bytes):  # hashing a code hashes its exception table, == compares its line table (rv17a's r6)
        __hash__, __eq__ = Name.__hash__, Name.__eq__

    for odd in (code.replace(co_exceptiontable=Table(code.co_exceptiontable)), code.replace(co_linetable=Table(code.co_linetable))):
        assert not _plain_code(odd) and _is_foreign_code(odd.replace(co_filename=jax.__file__))
        assert caught(types.FunctionType(odd, {}), jax.hessian) is None
    assert _is_foreign_code(code.replace(co_filename=jax.__file__, co_consts=code.co_consts + (Spy(),)))
    assert not ran


def test_the_guard_judges_an_opened_file_by_its_exact_name_and_where_it_leads():
    """An open event can carry the path-like object itself (io.FileIO): its methods are the answer's and
    may name another file than the one opened (rv18a's r5, rv19), so it is refused unread. A name that
    leads into /proc through a link (made dangling, pointed there later: rv19) is refused too."""
    import os
    import pathlib
    import tempfile

    guard = _guard_module()
    ran = []

    class Sneaky(pathlib.PurePosixPath):
        @property
        def _str(self):
            ran.append(1)
            return "/dev/null"

    assert guard._is_mem(Sneaky("/dev/null")) and guard._is_mem(pathlib.PosixPath("/tmp/data.npz")) and not ran
    assert guard._is_mem("/proc/1/mem") and guard._is_mem(b"/proc/self/pagemap") and not guard._is_mem(3)
    assert not guard._is_mem("/tmp/mem.txt") and not guard._is_mem("/proc/cpuinfo")
    with tempfile.TemporaryDirectory() as tmp:
        os.symlink(os.path.join(tmp, "g", "proc", "self", "mem"), os.path.join(tmp, "M"))
        assert not guard._is_mem(os.path.join(tmp, "M"))  # (dangling: it leads nowhere yet)
        os.symlink("/", os.path.join(tmp, "g"))
        for name in ("", "/proc/self/root", "/proc/.."):  # (now into /proc, under the name M, however written: rv20)
            assert guard._is_mem(name + os.path.join(tmp, "M")), name
        assert not guard._is_mem("/proc/self/status") and not guard._is_mem("/etc/mtab")  # (world-readable)
        assert not guard._links_to_proc(("data.npz", os.path.join(tmp, "L"), -1))  # a relative link elsewhere
        # The kernel's own counters, owner-only but no memory, stay open (psutil's io_counters, as_dict: rv21b),
        # however named; the same names of another process, and the kernel's memory under their names, do not.
        fd = os.open("/dev/null", os.O_RDONLY)
        try:
            for name in ("io", "environ", "auxv", f"fdinfo/{fd}"):
                assert not guard._is_mem(f"/proc/self/{name}") and not guard._is_mem(f"/proc/{os.getpid()}/{name}"), name
        finally:
            os.close(fd)
        os.symlink("/proc/self/mem", os.path.join(tmp, "io"))
        assert guard._is_mem(os.path.join(tmp, "io")) and guard._is_mem(f"/proc/{os.getppid()}/io")


def test_the_guard_makes_no_copy_of_cpythons_test_modules():
    """CPython's test and experimental extension modules make sub-interpreters, which have neither the
    guard's audit hook nor the check's profile function (rv18a's r1-r3): they are not made, whoever asks."""
    import importlib.machinery
    import importlib.util

    guard = _guard_module()
    spec_class = importlib.machinery.ModuleSpec
    guard._SPEC_CLASS[:] = [spec_class, dict(vars(spec_class))]  # as install() takes it
    for name in ("_xxsubinterpreters", "_testcapi", "_testinternalcapi", "_testmultiphase", "xxlimited",
                 "_ctypes_test", "_interpreters", "some.package._xxsubinterpreters"):
        assert not guard._new_extension((importlib.machinery.ModuleSpec(name, None, origin="x.so"),)), name
    for name in ("_sqlite3", "_ctypes", "scipy.linalg._flapack", "numpy.core._multiarray_umath"):
        assert guard._new_extension((importlib.machinery.ModuleSpec(name, None, origin="x.so"),)), name
    assert importlib.util.find_spec("_xxsubinterpreters") is not None  # (installed: the rule is needed)


def test_inside_an_allowed_function_only_the_banned_functions_it_calls_itself_run(monkeypatch):
    # rv24: inside an allowed function the check was off until the answer's code was called back, so a chain of
    # library callables stored where the allowed function reads it (the truth value of an entry of a genuine
    # jax.linearize result's out_known list, an __array__ in a shard_map tracer's own dict) ran jax.hessian
    # inside cg and jax.jacrev inside numerical_rank. Now only the banned functions the allowed one reaches by
    # name (cg: custom_linear_solve and linear_transpose) may run there.
    import functools
    import operator

    cg = jax.scipy.sparse.linalg.cg
    H = jnp.array([[3.0, 1.0], [1.0, 2.0]])
    b = jnp.array([1.0, -1.0])
    solves = (jax.lax.custom_linear_solve, jax.linear_transpose)
    assert caught(lambda: (cg(lambda u: H @ u, b), jax.grad(lambda c: cg(lambda u: H @ u, c)[0].sum())(b)),
                  *solves, jax.hessian, allow=[cg]) is None  # what cg runs itself, under grad too
    _, used = jax.linearize(lambda w: H @ w, b)  # a linearize result already called: its FlatTrees cache their length
    used(b)
    assert caught(lambda: cg(used, b), *solves, jax.hessian, allow=[cg]) is None
    reach = integrity._reach(cg)
    assert all(integrity._unwrap(g).__code__ is not None and id(integrity._unwrap(g).__code__) in reach
               for g in solves)
    assert id(integrity._unwrap(jax.hessian).__code__) not in reach
    assert id(integrity._unwrap(jax.jacrev).__code__) not in integrity._reach(gt.numerical_rank)

    box = []

    class Known:  # an out_known entry whose truth value traces jax.hessian of f
        __bool__ = functools.partial(box.extend, map(functools.partial(functools.reduce, operator.call),
                                                     [[W]], [functools.partial(jax.hessian, f)]))

    def answer():
        _, fj = jax.linearize(lambda v: v * 1.0, W)
        fj.func.fun.args[3][0] = Known()
        try:
            cg(fj, W)
        except TypeError:
            pass

    msg = caught(answer, jax.hessian, allow=[cg])
    assert msg is not None and "not plain data" in msg and "linearized program" in msg
    monkeypatch.setattr(integrity, "_unplain_argument", lambda frame, foreign: None)  # the next rule alone
    msg = caught(answer, jax.hessian, allow=[cg])
    assert msg is not None and "jax.hessian is not allowed here, not even inside cg" in msg
    monkeypatch.undo()

    def shard_answer():
        from jax.sharding import PartitionSpec

        def body(t):
            t.__array__ = functools.partial(functools.reduce, operator.call, [functools.partial(jax.jacrev, f), W])
            try:
                gt.numerical_rank(t)
            except ValueError:  # (numpy: __array__ did not return an array)
                pass
            return t

        jax.shard_map(body, mesh=jax.make_mesh((1,), ("x",)), in_specs=PartitionSpec(),
                      out_specs=PartitionSpec())(jnp.zeros((2, 2)))

    msg = caught(shard_answer, jax.jacrev, allow=[gt.numerical_rank])
    assert msg is not None and "not plain data" in msg and "ShardMapTracer" in msg
    monkeypatch.setattr(integrity, "_unplain_argument", lambda frame, foreign: None)
    # (shard_map's own trace, which holds its mesh, is JAX's: the rule after the argument's alone)
    msg = caught(shard_answer, jax.jacrev, allow=[gt.numerical_rank])
    assert msg is not None and "not even inside numerical_rank" in msg


def test_what_an_allowed_function_reaches_is_read_from_the_library_as_imported(monkeypatch):
    # rebinding a name in a library module after import (cg's module's `lax` to a module whose
    # custom_linear_solve is jax.hessian) adds nothing to what may run inside cg
    import jax._src.scipy.sparse.linalg as sparse

    fake = types.ModuleType("fake_lax")
    fake.custom_linear_solve = jax.hessian
    monkeypatch.setattr(sparse, "lax", fake)
    monkeypatch.setattr(integrity, "_REACH_CACHE", {})
    reach = integrity._reach(jax.scipy.sparse.linalg.cg)
    assert id(integrity._unwrap(jax.hessian).__code__) not in reach
    assert id(integrity._unwrap(jax.lax.custom_linear_solve).__code__) in reach


def test_library_code_an_allowed_function_runs_may_not_be_changed_under_it():
    # rv25: an answer rebound, for one call, a name in cg's own module (its _normalize_matvec to a chain of
    # library callables ending in jax.linear_transpose, which cg reaches itself) and numpy.linalg's asarray;
    # the grader watches public modules only. Entering an allowed function now checks that what its reach was
    # read from (module names, classes, functions' defaults and closures) is as imported.
    import functools

    import jax._src.scipy.sparse.linalg as sparse

    cg = jax.scipy.sparse.linalg.cg
    H = jnp.array([[3.0, 1.0], [1.0, 2.0]])
    b = jnp.array([1.0, -1.0])
    saved = sparse._normalize_matvec

    def answer():
        sparse._normalize_matvec = functools.partial(saved)
        try:
            return cg(lambda u: H @ u, b)
        finally:
            sparse._normalize_matvec = saved

    msg = caught(answer, jax.linear_transpose, allow=[cg])
    assert msg is not None and "library code changed under cg" in msg and "_normalize_matvec" in msg
    assert sparse._normalize_matvec is saved
    assert caught(lambda: cg(lambda u: H @ u, b), jax.linear_transpose, allow=[cg]) is None  # as imported: runs

    space = integrity._unwrap(np.linalg.norm).__globals__  # numpy.linalg's own module (numpy 2: _linalg)
    saved_asarray = space["asarray"]
    space["asarray"] = functools.partial(saved_asarray)  # the module's dict written directly
    try:
        msg = caught(lambda: np.linalg.norm(np.ones(3)), "numpy.linalg", allow=[np.linalg.norm])
    finally:
        space["asarray"] = saved_asarray
    assert msg is not None and "library code changed under" in msg and "asarray" in msg
    assert caught(lambda: np.linalg.norm(np.ones(3)), "numpy.linalg", allow=[np.linalg.norm]) is None

    class_method = jax.core.Tracer.__array__  # a class the reach reads, changed
    jax.core.Tracer.__array__ = functools.partial(class_method)
    try:
        msg = caught(lambda: cg(lambda u: H @ u, b), jax.hessian, allow=[cg])
    finally:
        jax.core.Tracer.__array__ = class_method
    assert msg is not None and "changed" in msg, msg


def test_what_the_answers_code_hands_back_to_an_allowed_function_is_judged_too():
    # rv25 R8: the answer's operator returned to cg an object whose `shape` property was a chain of library
    # callables; cg's shape check ran jax.linear_transpose (which cg reaches itself) there. R4: the answer's
    # operator rebound a name in a library module cg runs, after cg was entered.
    import functools

    import jax._src.scipy.sparse.linalg as sparse

    cg = jax.scipy.sparse.linalg.cg
    b = jnp.array([1.0, -1.0])
    ran = []

    class Out:
        shape = property(functools.partial(ran.append))

    msg = caught(lambda: cg(lambda x: Out(), b), jax.linear_transpose, allow=[cg])
    assert msg is not None and "not plain data returned to cg" in msg, msg
    saved = sparse._normalize_matvec

    def operator(x):
        sparse._normalize_matvec = functools.partial(saved)
        return 2.0 * x

    try:
        msg = caught(lambda: cg(operator, b), jax.linear_transpose, allow=[cg])
    finally:
        sparse._normalize_matvec = saved
    assert msg is not None and "library code changed under cg" in msg and "_normalize_matvec" in msg, msg
    # honest: arrays, tuples of them, handed back; a namedtuple JAX makes inside cg is JAX's
    assert caught(lambda: cg(lambda x: 2.0 * x, b), jax.linear_transpose, allow=[cg]) is None
    assert caught(lambda: cg(lambda x: (2.0 * x[0], 3.0 * x[1]), (b, b)), jax.linear_transpose, allow=[cg]) is None


def test_the_defaults_of_library_code_an_allowed_function_runs_are_as_imported():
    # a library function cg runs with its keyword defaults replaced before the check (its M, a Partial, is called)
    import jax._src.scipy.sparse.linalg as sparse

    cg = jax.scipy.sparse.linalg.cg
    b = jnp.array([1.0, -1.0])
    saved = sparse._cg_solve.__kwdefaults__
    sparse._cg_solve.__kwdefaults__ = dict(saved)
    try:
        msg = caught(lambda: cg(lambda x: 2.0 * x, b), jax.hessian, allow=[cg])
    finally:
        sparse._cg_solve.__kwdefaults__ = saved
    assert msg is not None and "the defaults of the library's _cg_solve" in msg, msg
    saved_m = saved["M"]
    saved["M"] = jax.tree_util.Partial(saved_m.func)  # in place: the dict's contents are compared at each entry
    try:
        msg = caught(lambda: cg(lambda x: 2.0 * x, b), jax.hessian, allow=[cg])
    finally:
        saved["M"] = saved_m
    assert msg is not None and "keyword defaults" in msg, msg
    assert caught(lambda: cg(lambda x: 2.0 * x, b), jax.hessian, allow=[cg]) is None


def test_an_exception_the_answers_code_raises_into_an_allowed_function_is_judged():
    # rv26 A3: the answer's operator raised into cg an exception whose class had a __traceback__ property made
    # of library callables; JAX's traceback filtering read it inside cg, where linear_transpose may run.
    # rv26 A1, A1b: an operator named like a special method, or made with eval as a namedtuple's __new__ is,
    # handed back an object that was not plain; code the library made with exec is told apart by identity now.
    import functools

    cg = jax.scipy.sparse.linalg.cg
    b = jnp.array([1.0, -1.0])
    ran = []

    # (in a subprocess: refused inside JAX's except block, the exception leaves JAX's tracing state in this one)
    code = (
        "import functools, jax, jax.numpy as jnp\n"
        "from course.integrity import Forbidden, forbid\n"
        "class Stop(Exception): pass\n"
        "Stop.__traceback__ = property(functools.partial(print), slice)\n"
        "def op(x): raise Stop()\n"
        "try:\n"
        "    with forbid(jax.linear_transpose, allow=[jax.scipy.sparse.linalg.cg]):\n"
        "        jax.scipy.sparse.linalg.cg(op, jnp.array([1.0, -1.0]))\n"
        "except Forbidden as e: print('REFUSED', e)\n"
        "except Exception as e: print('OTHER', type(e).__name__, e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300).stdout
    assert "REFUSED" in out and "not plain data raised into cg" in out, out

    class Out:
        shape = property(functools.partial(ran.append))

    def __op__(x):
        return Out()

    msg = caught(lambda: cg(__op__, b), jax.linear_transpose, allow=[cg])
    assert msg is not None and "not plain data returned to cg" in msg, msg
    made = eval("lambda x: _mk()", {"_tuple_new": tuple.__new__, "__name__": "namedtuple_op", "_mk": Out})
    msg = caught(lambda: cg(made, b), jax.linear_transpose, allow=[cg])
    assert msg is not None and "not plain data returned to cg" in msg, msg

    def honest(x):  # an exception of Python's own, with a message, raised through cg and caught by the answer
        raise ValueError("not positive definite")

    def answer():
        try:
            cg(honest, b)
        except ValueError:
            return cg(lambda x: 2.0 * x, b)

    assert caught(answer, jax.linear_transpose, allow=[cg]) is None


def test_the_state_jax_reads_of_its_own_arrays_and_tracers_is_judged_too():
    # rv27a B1-B3: the answer set the aval slot of a tracer (handed back to cg) or of an eager array (handed to
    # jnp.linalg.solve or norm) to an object of its own whose shape or __getattr__ was a chain of library callables;
    # JAX read the aval inside the allowed function. B4: a library class gained a method it used to inherit.
    import functools

    from jax._src import core as jcore

    cg = jax.scipy.sparse.linalg.cg
    b = jnp.array([1.0, -1.0])
    ran = []

    class Aval:
        shape = property(functools.partial(ran.append))

    def operator(x):
        x.aval = Aval()
        return x

    msg = caught(lambda: cg(operator, b), jax.linear_transpose, allow=[cg])
    assert msg is not None and "whose aval is a" in msg and "Aval" in msg, msg
    A = jnp.eye(2)
    A.aval = Aval()

    def solve():
        with jax.disable_jit():  # (solve's Python body entered with the array itself)
            return jnp.linalg.solve(A, b)

    msg = caught(solve, jax.linear_transpose, allow=[jnp.linalg.solve])
    assert msg is not None and "whose aval is a" in msg, msg
    assert not ran

    def operator_b4(x):  # ShapedArray.normalize, inherited from AbstractValue, defined on the class itself
        jcore.ShapedArray.normalize = property(functools.partial(ran.append))
        return 2.0 * x

    try:
        msg = caught(lambda: cg(operator_b4, b), jax.linear_transpose, allow=[cg])
    finally:
        if "normalize" in vars(jcore.ShapedArray):
            del jcore.ShapedArray.normalize
    assert msg is not None and "ShapedArray object whose class was changed" in msg, msg
    assert not ran
    integrity._reach(cg)  # the same change seen as library code cg reads, whatever it is handed back
    jcore.ShapedArray.normalize = property(functools.partial(ran.append))
    try:
        why = integrity._reads_changed(integrity._unwrap(cg))
    finally:
        del jcore.ShapedArray.normalize
    assert why is not None and "normalize added since it was imported" in why, why
    jcore.ShapedArray._a_cache_of_its_own = {}  # plain data a library adds to its class as it runs is no change
    try:
        assert integrity._reads_changed(integrity._unwrap(cg)) is None
    finally:
        del jcore.ShapedArray._a_cache_of_its_own

    # honest: cg on an operator that is a partial of the answer's function, given a function JAX made (jax.grad);
    # eager arrays, and tracers under jit, vmap and jvp, handed to and back from cg
    grad = jax.grad(lambda w: 0.5 * w @ jnp.array([[3.0, 1.0], [1.0, 2.0]]) @ w)

    def hvp(g, u):
        return jax.jvp(g, (b,), (u,))[1]

    assert caught(lambda: cg(functools.partial(hvp, grad), b), jax.linear_transpose, allow=[cg]) is None
    H = jnp.array([[3.0, 1.0], [1.0, 2.0]])
    for run in (lambda: cg(lambda u: H @ u, b), lambda: jax.jit(lambda c: cg(lambda u: H @ u, c)[0])(b),
                lambda: jax.vmap(lambda c: cg(lambda u: H @ u, c)[0])(jnp.stack([b, b])),
                lambda: jnp.linalg.solve(H, b), lambda: jax.jit(jnp.linalg.solve)(H, b)):
        assert caught(run, jax.linear_transpose, allow=[cg, jnp.linalg.solve]) is None


def test_a_librarys_own_copy_of_a_banned_function_is_not_the_answers():
    # optax vendors JAX's deprecation __getattr__ (optax._src.deprecations): with optax banned, reading a name of
    # jax.scipy.special ran JAX's own, the same code, refused as "a copy" (an honest L3 ex1 answer, logit and expit)
    import optax._src.deprecations as vendored

    def answer():  # (from-import asks the module for __path__, which runs its deprecation __getattr__)
        from jax.scipy.special import expit, logit

        return float(expit(logit(0.3)))

    with forbid("optax"):
        got = answer()
    assert abs(got - 0.3) < 1e-12
    # the same code as the answer's own (a notebook cell's file name) is a copy
    inner = vendored.deprecation_getattr("m", {"x": ("gone", 1)})
    code = inner.__code__.replace(co_filename="/tmp/ipykernel_1/1234.py")
    getter = types.FunctionType(code, inner.__globals__, "mine", None, inner.__closure__)
    msg = caught(lambda: getter("x"), "optax")
    assert msg is not None and "a copy of it" in msg, msg


def test_what_an_array_or_a_partial_of_the_answers_holds_is_judged_where_jax_reads_it():
    # rv28a D1-D4: an eager array handed to cg (as its right-hand side), solve or norm, its is_deleted (a method JAX
    # calls as it hands the array to a compiled program) stored on the array itself as a chain of library callables.
    # K1: a partial of the answer's function whose keyword name is a str of the answer's class (compared with the
    # parameters' names as the partial is called); K2: the answer's function's __wrapped__ (read by JAX's debug info).
    import functools

    cg = jax.scipy.sparse.linalg.cg
    ran = []
    rhs = jnp.ones(3)
    rhs.is_deleted = functools.partial(ran.append)
    msg = caught(lambda: cg(lambda u: u, rhs), jax.linear_transpose, allow=[cg])
    assert msg is not None and "is_deleted hides its class's" in msg, msg
    rhs.other = functools.partial(ran.append)  # not a name of the class, but not data either
    del rhs.is_deleted
    msg = caught(lambda: cg(lambda u: u, rhs), jax.linear_transpose, allow=[cg])
    assert msg is not None and "attribute other is a partial object" in msg, msg

    class Key(str):
        pass

    def op(x, k=None):
        return x

    b = jnp.ones(3)
    msg = caught(lambda: cg(functools.partial(op, **{Key("k"): None}), b), jax.linear_transpose, allow=[cg])
    assert msg is not None and "keyword names are not plain strings" in msg, msg

    class Wrapped:
        pass

    def op2(x):
        return x

    op2.__wrapped__ = Wrapped()
    msg = caught(lambda: cg(functools.partial(op2), b), jax.linear_transpose, allow=[cg])
    assert msg is not None and "a Wrapped object" in msg, msg
    assert not ran
    # honest: plain keywords and arguments of any kind given to the answer's own function
    assert caught(lambda: cg(functools.partial(op, k=jax.grad(jnp.sum)), b), jax.linear_transpose, allow=[cg]) is None


def test_what_jax_and_inspect_read_of_the_answers_function_and_jaxs_traces_and_objects_is_judged(monkeypatch):
    # rv29a: a chain of library callables carried into an allowed function where no argument holds it
    from jax._src import core as jcore

    cg = jax.scipy.sparse.linalg.cg
    H = jnp.diag(jnp.array([2.0, 3.0, 4.0]))
    box = []
    chain = functools.partial(max, 0, key=functools.partial(next, filter(None, map(box.append, map(
        functools.partial(jax.hessian, f), [W])))))

    # N1, N2: the operator's __name__ (cg's debug information formats it) and its __defaults__ (inspect asks
    # "if defaults:"), of classes of the answer's own
    class Name(str):
        __format__ = staticmethod(lambda spec: chain() or "op")

    class Defaults(tuple):
        __bool__ = staticmethod(lambda: chain() or True)

    def named(u):
        return H @ u

    def defaulted(u, scale=1.0):
        return scale * (H @ u)

    named.__name__ = Name("named")
    defaulted.__defaults__ = Defaults((1.0,))
    for op, what in ((named, "__name__ is a Name"), (defaulted, "defaults are a Defaults")):
        msg = caught(lambda: cg(op, W), jax.hessian, allow=[cg])
        assert msg is not None and what in msg, msg

    # T: process_primitive stored on the trace of the answer's own jvp; handed a tracer, or only run under it
    def on_trace(hand_tracer):
        def vehicle(r):
            r._trace.process_primitive = chain
            return cg(lambda u: H @ u, r if hand_tracer else W)[0] * r

        try:
            jax.jvp(vehicle, (W,), (W,))
        except TypeError:
            pass

    for hand, what in ((True, "JVPTracer whose trace is not JAX's"), (False, "JAX's state changed under cg")):
        msg = caught(lambda: on_trace(hand), jax.hessian, allow=[cg])
        assert msg is not None and what in msg and "process_primitive hides its class's" in msg, msg

    # E1: JAX's own eval_trace, the trace at the top; E3: a callable stored on a primitive norm binds (it is not
    # in norm's reach either: the primitive's attributes are read as imported)
    norm = jnp.linalg.norm

    def on_eval_trace():
        jcore.eval_trace.process_primitive = chain
        try:
            with jax.disable_jit():
                norm(W)
        finally:
            vars(jcore.eval_trace).pop("process_primitive", None)

    msg = caught(on_eval_trace, jax.hessian, allow=[norm])
    assert msg is not None and "EvalTrace object (its process_primitive set to a partial" in msg, msg
    monkeypatch.setattr(jax.lax.mul_p, "_note", functools.partial(jax.hessian, f), raising=False)
    msg = caught(lambda: norm(W), jax.hessian, allow=[norm])
    assert msg is not None and "Primitive object (its _note set to a partial" in msg, msg
    assert id(integrity._unwrap(jax.hessian).__code__) not in integrity._reach(jax.lax.mul_p)
    monkeypatch.undo()
    assert not box  # (jax.hessian never ran)

    # honest: a named operator under grad through JAX's solvers (partial evaluation's trace holds a counter)
    def matvec(u, scale=1.0):
        """H u."""
        return scale * (H @ u)

    for solver in (cg, jax.scipy.sparse.linalg.gmres, jax.scipy.sparse.linalg.bicgstab):
        with forbid(jax.hessian, allow=[solver]):
            got = jax.grad(lambda b: solver(functools.partial(matvec, scale=2.0), b)[0].sum())(W)
        np.testing.assert_allclose(got, 1 / (2 * jnp.diag(H)), rtol=1e-6)


def test_what_jaxs_objects_hold_and_its_rule_tables_are_as_jax_made_them(monkeypatch):
    # rv30 S: a SourceInfo of JAX's stored in its source-info context, its traceback an object of the answer's
    # whose __bool__ runs as the first primitive is bound; R: a rule registered for mul_p, before the test, in a
    # platform's table JAX does not compile for (it widened norm's reach)
    from jax._src import source_info_util as siu
    from jax._src.interpreters import mlir

    ran = []

    class Traceback:
        def __bool__(self):
            ran.append(1)
            return False

    norm = jnp.linalg.norm

    def carried():
        before = siu._source_info_context.context
        siu._source_info_context.context = siu.SourceInfo(Traceback(), before.name_stack)
        try:
            norm(W)
        finally:
            siu._source_info_context.context = before

    msg = caught(carried, jax.hessian, allow=[norm])
    assert msg is not None and "_SourceInfoContext object (its context holds a Traceback object" in msg, msg
    table = mlir._platform_specific_lowerings.setdefault("oneapi", {})
    monkeypatch.setitem(table, jax.lax.mul_p, functools.partial(jax.hessian, f))
    msg = caught(lambda: norm(W), jax.hessian, allow=[norm])
    assert msg is not None and "JAX's rule for its primitive mul (set since import)" in msg, msg
    assert id(integrity._unwrap(jax.hessian).__code__) not in integrity._reach(jax.lax.mul_p)
    monkeypatch.undo()

    # honest: a module of JAX's imported after the check registers rules for its own new primitives
    importlib.import_module("jax.experimental.sparse")

    with forbid(jax.hessian, allow=[norm]):
        got = integrity.concrete(jax.jit(lambda v: norm(v) * 2)(W))
    np.testing.assert_allclose(got, 2 * np.linalg.norm(np.asarray(W)), rtol=1e-12)


def test_an_allowed_function_under_jet_or_shard_map_is_read_as_under_jax_s_other_transformations(monkeypatch):
    # rv30 left open: jet's trace class was not among JAX's, and shard_map's trace holds its mesh, a callable
    # object (contextlib's decorator) with a NumPy array of devices and a dict of JAX's axis types
    from jax.experimental import jet
    from jax.sharding import PartitionSpec

    norm = jnp.linalg.norm
    cg = jax.scipy.sparse.linalg.cg
    H = jnp.array([[3.0, 1.0], [1.0, 2.0]])
    w, d = jnp.array([1.0, 2.0, 2.0]), jnp.array([0.0, 1.0, 0.0])
    mesh = jax.make_mesh((1,), ("x",))
    with forbid(jax.hessian, "jax.lax.linalg", allow=[norm, cg]):
        n0, (n1,) = jet.jet(norm, (w,), ((d,),))
        x = jax.shard_map(lambda b: cg(lambda u: H @ u, b)[0], mesh=mesh, in_specs=PartitionSpec(),
                          out_specs=PartitionSpec())(jnp.ones(2))
    np.testing.assert_allclose([n0, n1], [3.0, 2.0 / 3.0], rtol=1e-12)  # d|w|/dt = w.d / |w|
    np.testing.assert_allclose(H @ x, np.ones(2), rtol=1e-6)

    # still read: a rule jet has for a primitive JAX had at import, replaced; something of the answer's stored on
    # the mesh shard_map's trace holds; a mesh of a subclass of the answer's
    monkeypatch.setitem(jet.jet_rules, jax.lax.mul_p, functools.partial(jax.hessian, f))
    msg = caught(lambda: jet.jet(norm, (w,), ((d,),)), jax.hessian, allow=[norm])
    assert msg is not None and "JAX's rule for its primitive mul (set since import)" in msg, msg
    monkeypatch.undo()

    def on_mesh(m):
        return lambda: jax.shard_map(lambda b: norm(b) * b, mesh=m, in_specs=PartitionSpec(),
                                     out_specs=PartitionSpec())(jnp.ones(2))

    carrier = jax.make_mesh((1,), ("y",))
    carrier.__dict__["_payload"] = functools.partial(jax.hessian, f)
    msg = caught(on_mesh(carrier), jax.hessian, allow=[norm])
    assert msg is not None and "_payload is a partial object" in msg, msg

    class MyMesh(jax.sharding.Mesh):
        pass

    other = jax.make_mesh((1,), ("z",))
    object.__setattr__(other, "__class__", MyMesh)  # (Mesh(...) makes a Mesh whatever the class)
    msg = caught(on_mesh(other), jax.hessian, allow=[norm])
    assert msg is not None and "MyMesh" in msg, msg


def test_jax_s_configuration_and_what_decorators_run_are_read_as_they_are(monkeypatch):
    # rv31a C: a value of JAX's configuration (a C++ config state, set through its own swap_local) that is an object
    # of the answer's class, whose __hash__ runs the payload as JAX hashes the configuration into a cache key
    from jax._src import config as jconfig

    norm = jnp.linalg.norm
    ran = []

    class Key:
        def __hash__(self):
            ran.append(1)
            return 0

    state = jconfig.config_states["jax_random_seed_offset"]

    def carried():
        prev = state.swap_local(Key())
        try:
            norm(W)
        finally:
            state.swap_local(prev)

    msg = caught(carried, jax.hessian, allow=[norm])
    assert msg is not None and "JAX's configuration jax_random_seed_offset holds a Key object" in msg, msg

    # honest: configuration changed the documented ways, a mesh set, the key-reuse checker on
    mesh = jax.make_mesh((1,), ("x",))
    with forbid(jax.hessian, allow=[norm]):
        with jax.set_mesh(mesh), jax.default_matmul_precision("highest"), jax.numpy_dtype_promotion("strict"), \
                jax.debug_key_reuse(True), jax.named_scope("honest"):
            got = [norm(W), jax.jit(norm)(W), jax.vmap(norm, axis_name="i")(W[None])[0]]
    np.testing.assert_allclose(got, [np.linalg.norm(np.asarray(W))] * 3, rtol=1e-12)

    # rv31a W, B: __wrapped__ set on what a test allows (numpy's norm "wraps" numpy's svd) or bans
    # (jax.linear_transpose "wraps" fftshift): what a decorator runs is read, not what it says it wraps
    monkeypatch.setattr(np.linalg.norm, "__wrapped__", np.linalg.svd, raising=False)
    msg = caught(lambda: np.linalg.svd(np.eye(2)), "numpy.linalg", allow=[np.linalg.norm])
    assert msg is not None and "is not allowed here" in msg, msg
    monkeypatch.setattr(jax.linear_transpose, "__wrapped__", jnp.fft.fftshift, raising=False)
    msg = caught(lambda: jax.linear_transpose(lambda v: 2 * v, W)(W), jax.linear_transpose)
    assert msg is not None and "jax.linear_transpose is not allowed here" in msg, msg
    monkeypatch.undo()
    for item in (jnp.linalg.norm, np.linalg.norm, jax.linear_transpose, jax.jit(jnp.tanh)):
        assert not hasattr(integrity._unwrap(item), "__wrapped__") or integrity._unwrap(item) is item
    jitted = jax.jit(jnp.tanh)
    jitted.__wrapped__ = gt.fisher_matrix  # (rv31a A: a jitted function made since import)
    assert integrity._unwrap(jitted) is integrity._unwrap(jnp.tanh)
    wrapper = functools.wraps(gt.fisher_matrix)(lambda *a: jnp.tanh(*a))  # (it cannot call what it names)
    assert integrity._unwrap(wrapper) is wrapper

    # a dotted name is read from the modules as imported (a module put in sys.modules in its place moves nothing)
    import sys
    import types

    monkeypatch.setitem(sys.modules, "jax.lax.linalg", types.ModuleType("jax.lax.linalg"))
    msg = caught(lambda: jax.lax.linalg.cholesky(jnp.eye(2)), "jax.lax.linalg")
    assert msg is not None and "is not allowed here" in msg, msg
    monkeypatch.undo()

    # rv31a A: a table gradtools' modules hold, changed since import (the activations the test's models use)
    import gradtools.problems as gp

    monkeypatch.setitem(gp._ACTIVATIONS, "tanh", jax.jit(jnp.tanh))
    msg = caught(lambda: norm(W), jax.hessian, allow=[norm])
    assert msg is not None and "gradtools.problems._ACTIVATIONS (changed since import)" in msg, msg


def test_a_traced_program_is_made_of_jax_s_own_operations(monkeypatch):
    # rv31b N: equinox's noinline, one operation that calls back into Python as the program runs, its function
    # hidden in a jax.tree_util.Partial (a treedef's node data): found there, and the operation is not JAX's
    import equinox.internal as eqxi

    fn = jax.tree_util.Partial(lambda p, v: jnp.sin(v) * 2.0, jnp.zeros(()))
    wrapped = eqxi.noinline(fn)
    with pytest.raises(Forbidden, match=r"holds its own code in an operation \(noinline static="):
        traced(lambda v: wrapped(v), jnp.ones(3))
    monkeypatch.setattr(integrity, "_foreign_code", lambda prims, eqns=(): None)  # (the next rule alone)
    with pytest.raises(Forbidden, match=r"operations JAX does not define \(noinline\)"):
        traced(lambda v: wrapped(v), jnp.ones(3))
    monkeypatch.undo()
    where = integrity._answer_code_in(jax.tree_util.tree_structure(fn))
    assert where is not None and "<lambda>" in where, where
    assert integrity._answer_code_in({"k": fn.func}) is not None
    # JAX's own operations, a loop and a custom rule among them, pass
    closed = traced(lambda v: jax.lax.fori_loop(0, 3, lambda i, a: jax.nn.relu(a) + jnp.linalg.norm(a), v),
                    jnp.ones(3))
    assert "scan" in {e.primitive.name for e in closed.jaxpr.eqns}
