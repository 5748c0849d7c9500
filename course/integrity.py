"""The one check behind every exercise test that forbids a route.

A test cell that forbids something runs the student's code inside :func:`forbid`, and checks a
compiled answer with :func:`traced`::

    from course.integrity import forbid, spec, traced, traced_program

    with forbid(jax.hessian, jax.jacfwd, "gradtools", allow=[apply], seconds=30,
                why="build the product from one jvp and one vjp"):
        got = gauss_newton_vp(f, L, w, v)           # the student's function

    traced(gd_iterate, X, y, lr, t, loops=False)     # JAX operations only: no callback, no loop
    program = traced_program(gd_iterate, spec((N, d)), spec((N,)), spec(()), spec((), "int64"), loops=False)
    X, y, lr, t = hidden_case(np.random.default_rng(program.seed))  # after the trace, from its own seed
    w = program(X, y, lr, t)                          # ... the values the checked program computes

What :func:`forbid` catches, while the block runs:

- **A banned function, under any name.** A function is recognised by its code object, not by the
  name it is called through, so an import alias, a default argument, a wrapper, a re-export, a
  closure built from it before the block, a copy made with ``types.FunctionType`` and a call from
  inside another library function all count; so does its source compiled again (same bytecode,
  names and variables), for functions longer than a few lines. Banning a module bans every function defined in it
  (for a package, in any of its files). ``sys.setprofile`` sees every Python call and every call of
  a C function, in this thread, in threads started with :mod:`threading` inside the block, and in
  threads that already ran when the block began (a thread pool's worker: :mod:`course._threads`). A
  thread must start through threading's own code: one whose class or fields hold the answer's code
  that runs before the thread is handed the check (``_bootstrap_inner``, its ``_started`` event), or
  started after threading's functions or profile function were changed, is a violation.
- **A compiled trace made before the block.** ``jax.clear_caches()`` runs first, so a function
  jitted and called before the ban is traced again, and the ban sees what its trace calls.
- **Escapes.** Host callbacks (``jax.pure_callback``, ``io_callback``, ``jax.debug.callback``, whose
  Python runs on another thread), executables compiled ahead of time
  (``jax.jit(f).lower(x).compile()``) or exported (``jax.export``), whose traces were made before
  the block, new processes, raw threads (``_thread.start_new_thread``), and touching the check itself
  (``sys.setprofile``, ``sys.settrace``, ``sys.getprofile``, ``gc.get_referrers``, ...) are
  violations.
- **Brute force**, with ``seconds=``: past the budget, Python code is interrupted and the block
  fails; a block that ran over in C fails when it returns. The budget is the kernel's processor
  time (all its threads), not the clock's: a machine busy with other work (a test suite run in
  parallel, a grader's other kernels) slows an honest answer down but does not fail it.
- **A value read later.** What the answer returns is read inside the block with
  :func:`concrete`: an answer's own ``__array__``, ``__int__`` or pytree flatten would otherwise do
  the banned work when the test compares it, after the block. A type counts as the answer's by its
  methods and its registered flatten/unflatten, whatever module it claims. :data:`AUTODIFF` bans
  every way JAX differentiates, private entry points and ``jet`` included.
- **The test's names rebound.** The answer's functions share the test's namespace: one that rebinds
  ``np`` there as it is called (to a module whose asserts pass) fails the block.

What :func:`traced` and :func:`traced_program` add: the program must be JAX's operations run by
JAX's own rules. A host callback or a foreign-function call (``ffi_call``, whose target can be
Python behind ``ctypes``), under any name (a JAX primitive renamed is refused); a primitive whose
class, attributes or any rule in JAX's tables (lowering, abstract evaluation, printing...) is the
answer's code (a primitive of its own, or a lowering of ``sin_p`` registered again): such a rule
runs when the program is compiled, with the test's inputs at hand; an equation that holds the
answer's function (custom derivative and batching rules, run only when the program is
transformed, excepted); a thread of the answer's still running. A program is checked again before
its first evaluation compiles it.

Every violation is recorded, then raised as :class:`Forbidden` (an ``AssertionError``, so a test
cell that meets one scores zero). An answer that catches the exception still fails: the block
re-raises what was recorded when it ends.

Tampering. The check compares its own functions, and each banned function, with the code they
had when this module was first imported; in the grader that is before any cell of the submission
runs, and the grader's guard also puts back module attributes and code objects before each test
cell (and JAX's rule tables, private functions and class methods, IPython's hooks, the test's
names; see ``course/_guard.py``). A difference is a violation. What is not defended: code that
rewrites the recorded snapshot itself through the interpreter's internals (``ctypes`` on live
objects), a custom-call target registered under the name of one of XLA's own, a name rebound and
put back within one call of the answer. The grader runs submissions in a sandbox; this check is
about routes, not about attacks on the grader.
"""

from __future__ import annotations

import builtins as _builtins
import collections as _collections
import functools as _functools
import gc as _gc
import importlib as _importlib
import os as _os
import re as _re
import signal as _signal
import sys as _sys
import threading as _threading
import time as _time
import types as _types

import jax as _jax
from course._threads import others_setter as _others_setter

__all__ = ["Forbidden", "forbid", "concrete", "traced", "traced_program", "spec", "Program", "run_traced", "op_count",
           "AUTODIFF", "LAYOUT_PRIMITIVES", "LIBRARIES"]


class Forbidden(AssertionError):
    """An answer used a route its exercise forbids (or tampered with the check)."""


# ----------------------------------------------------------------------------- genuine references
# Taken once, when this module is first imported (before a submission runs, under the grader).

_setprofile = _sys.setprofile
_getprofile = _sys.getprofile
_thread_setprofile = _threading.setprofile
_thread_getprofile = _threading.getprofile
_perf_counter = _time.perf_counter
_process_time = _time.process_time
_monotonic = _time.monotonic
_clear_caches = _jax.clear_caches
_make_jaxpr = _jax.make_jaxpr
from jax.extend.core import jaxpr_as_fun as _jaxpr_as_fun  # noqa: E402
# bound once, here: looked up at each use, jax.extend.core.ClosedJaxpr rebound by an answer would hide
# the nested programs from every structure check
from jax.extend.core import ClosedJaxpr as _ClosedJaxpr, Jaxpr as _Jaxpr, Primitive as _Primitive  # noqa: E402
_jit = _jax.jit
# jax.debug.print imports this module the first time it runs, and its body registers an autodiff rule
# (ad.deflinear2): imported here, before any check, so that a first print inside one is not a banned call (rv23)
_importlib.import_module("jax.experimental.multihost_utils")
# the libraries whose functions tests allow (JAX's solvers and linear algebra, numpy's norms, gradtools): imported
# before the answer runs, so that the snapshots below (their code, their module namespaces) are as shipped
for _name in ("jax.scipy.sparse.linalg", "jax.scipy.linalg", "jax.numpy.linalg", "jax.lax.linalg", "numpy.linalg",
              "gradtools"):
    _importlib.import_module(_name)
# lineax registers a transpose rule for JAX's own stop_gradient as it is imported (which a test's ban of LIBRARIES
# does): imported here, so that JAX's rule tables are copied with it (a rule set later for a primitive JAX had is
# refused, _rule_tables_changed)
try:
    _importlib.import_module("lineax")
except ImportError:  # (not installed: nothing of it to copy)
    pass
# jax.experimental.jet's trace class and its rule table (jet_rules, keyed by JAX's primitives) are JAX's own: imported
# here, so that an allowed function called under jet is read as under JAX's other transformations (rv30 left open)
_importlib.import_module("jax.experimental.jet")
# jax.experimental.key_reuse (jax.debug_key_reuse's checker) makes its named tuples' __new__ with eval, as a
# "<string>" function that would pass for the answer's own code if it were made after the check (rv31a)
_importlib.import_module("jax.experimental.key_reuse._core")
_import_module = _importlib.import_module
_isinstance = _builtins.isinstance
_getattr = _builtins.getattr
_hasattr = _builtins.hasattr
_callable = _builtins.callable
_len = _builtins.len
_id = _builtins.id
_list = _builtins.list
_tuple = _builtins.tuple
_issubclass = _builtins.issubclass
_repr = _builtins.repr
_type = _builtins.type
_frozenset = _builtins.frozenset
_sorted = _builtins.sorted
_str = _builtins.str
_bool = _builtins.bool
_vars = _builtins.vars
_FunctionType = _types.FunctionType
_ModuleType = _types.ModuleType
_CodeType = _types.CodeType
_BuiltinType = _types.BuiltinFunctionType
_main_thread = _threading.main_thread

#: Top-level packages whose functions are snapshotted (their code objects) at import.
WATCHED = ("jax", "numpy", "scipy", "gradtools", "optax", "sklearn", "course", "itertools", "math")


_PJIT_TYPE = _type(_jax.jit(_builtins.abs))
_PJIT_CACHE_MISS = _type.__dict__["__dict__"].__get__(_PJIT_TYPE)["_cache_miss"]
_DISPATCHER_TYPE = _type(__import__("numpy").concatenate)
_DISPATCHER_IMPL = _type.__dict__["__dict__"].__get__(_DISPATCHER_TYPE).get("_implementation")
#: id -> (object, its __wrapped__ as imported, or None): filled once the library's namespaces are read (below)
_WRAPPED_AT_IMPORT: dict = {}


def _cell_named(f, name):
    """The content of the closure cell ``name`` of function ``f`` (read through the function type's own
    descriptors), or None."""
    code = _FunctionType.__dict__["__code__"].__get__(f)
    cells = _FunctionType.__dict__["__closure__"].__get__(f) or ()
    names = code.co_freevars
    if name not in names or _len(cells) != _len(names):
        return None
    try:
        return cells[names.index(name)].cell_contents
    except ValueError:  # (an empty cell)
        return None


def _jitted_function(obj):
    """The function a jitted function of JAX's runs: read from the cache-miss closure JAX made for it (its
    ``fun``), through api_boundary's wrapper, not from ``__wrapped__``, which anyone can set (rv31a A)."""
    f = _PJIT_CACHE_MISS.__get__(obj)
    for _ in range(4):
        if _type(f) is not _FunctionType:
            return None
        inner = _cell_named(f, "fun")
        if "jit_info" in _FunctionType.__dict__["__code__"].__get__(f).co_freevars:
            return inner
        f = inner
    return None


def _dict_getset(t):
    """The C descriptor that reads the own dict of instances of ``t`` (the first in its MRO), or None."""
    for c in _type.__dict__["__mro__"].__get__(t):
        d = _type.__dict__["__dict__"].__get__(c).get("__dict__")
        if d is not None and _type(d).__name__ == "getset_descriptor":
            return d
    return None


def _own_dict_of(obj):
    """The own dict of ``obj``, read by the descriptor its class's C type defines for it (none of its code
    runs), or None."""
    d = _dict_getset(_type(obj))
    if d is None:
        return None
    try:
        own = d.__get__(obj)
    except Exception:  # noqa: BLE001
        return None
    return own if _type(own) is dict else None


def _inner_of(obj):
    """What the decorator ``obj`` runs, or None. A jitted function: the function JAX's jit holds; numpy's
    dispatcher: its implementation (a C slot); an object the library held at import: its ``__wrapped__`` as
    imported (rv31a W, B: ``np.linalg.norm.__wrapped__`` or ``jax.linear_transpose.__wrapped__`` set by the
    answer moved what a test allowed or banned); one made since: a function's ``__wrapped__`` only if its closure
    holds it in its closure or defaults (what it can call), another object's as it is."""
    t = _type(obj)
    if t is _PJIT_TYPE:
        return _jitted_function(obj)
    if t is _DISPATCHER_TYPE and _DISPATCHER_IMPL is not None:
        return _DISPATCHER_IMPL.__get__(obj)
    known = _WRAPPED_AT_IMPORT.get(_id(obj))
    if known is not None and known[0] is obj:
        return known[1]
    own = _own_dict_of(obj)  # (no __getattribute__ of its class runs, equinox's among them)
    inner = own.get("__wrapped__") if own is not None else None
    if inner is not None and t is _FunctionType and _WRAPPED_AT_IMPORT:
        cells = _FunctionType.__dict__["__closure__"].__get__(obj) or ()
        held = _list(_FunctionType.__dict__["__defaults__"].__get__(obj) or ())
        held += _list((_FunctionType.__dict__["__kwdefaults__"].__get__(obj) or {}).values())  # (the grader's
        for c in cells:  # guard wraps each answer function so, in a function holding it as a keyword default)
            try:
                held.append(c.cell_contents)
            except ValueError:
                continue
        if not any(x is inner for x in held):
            return None
    return inner


def _unwrap(obj):
    """The innermost function behind decorators (``functools.wraps``, ``jax.jit``, numpy dispatch): what each
    runs (_inner_of), not what it says it wraps."""
    seen = set()
    while _id(obj) not in seen:
        seen.add(_id(obj))
        inner = _inner_of(obj)
        if inner is None or not _callable(inner):
            break
        obj = inner
    if _type(obj) is _types.MethodType:
        obj = obj.__func__
    return obj


def _nested(code, out: set) -> set:
    """``code`` and every function body defined inside it (closures it returns, lambdas)."""
    out.add(code)
    for c in code.co_consts:
        if _isinstance(c, _CodeType):
            _nested(c, out)
    return out


def _code_of(obj):
    f = _unwrap(obj)
    return _getattr(f, "__code__", None) if _isinstance(f, _FunctionType) else None


def _module_values(tops):
    """Every value in the namespace of a loaded module whose top-level package is in ``tops``."""
    for name, mod in _list(_sys.modules.items()):
        if mod is None or name.split(".")[0] not in tops:
            continue
        try:
            yield from _list(_vars(mod).values())
        except TypeError:
            continue


def _snapshot() -> dict:
    """``{id(function): (function, code)}`` for every function attribute of the watched modules."""
    snap = {}
    for value in _module_values(WATCHED):
        if not _callable(value) or _isinstance(value, (_ModuleType, type)):
            continue
        f = _unwrap(value)
        if _isinstance(f, _FunctionType):
            snap[_id(f)] = (f, f.__code__)
    return snap


_SNAPSHOT = _snapshot()
_MAIN = _main_thread()
#: Bytecode shorter than this is not matched by content (tiny lambdas would match innocent ones).
_MIN_SIGNATURE = 48
_IDENTITY_ONLY = _frozenset({"<genexpr>", "<listcomp>", "<dictcomp>", "<setcomp>", "<lambda>"})


# ----------------------------------------------------------------------------- what an allowed function may run


def _module_dicts() -> dict:
    """``{id(module dict): (module, a copy of it)}`` for the watched modules, as imported: what an allowed
    function reaches is read from these copies, so that rebinding a name in a library module (its ``lax``
    to an object whose ``custom_linear_solve`` is ``jax.hessian``) after import adds nothing to it. With them
    the standard library's modules of functions (not sys, warnings or logging, which the kernel and test
    runners rebind as they run: sys.excepthook, warnings.showwarning)."""
    out = {}
    for name, mod in _list(_sys.modules.items()):
        if _isinstance(mod, _ModuleType) and (name.split(".")[0] in WATCHED or name in _STDLIB_READ):
            try:
                d = _vars(mod)
            except TypeError:
                continue
            out[_id(d)] = (mod, dict(d))
    return out


_STDLIB_READ = _frozenset({"functools", "operator", "itertools", "collections", "math", "weakref", "contextlib",
                           "types", "inspect", "dataclasses", "typing", "enum", "abc", "copy", "numbers", "re",
                           "_functools", "_operator", "_collections", "_weakref"})
_MODULE_DICTS = _module_dicts()
_MODULES_AS_IMPORTED = {mod.__name__: mod for mod, _ in _list(_MODULE_DICTS.values())
                        if _isinstance(_getattr(mod, "__name__", None), _str)}


def _primitive_registries(outer=None) -> list:
    """The dicts, keyed by JAX primitives, in which JAX registers each primitive's rules (its lowering,
    batching, differentiation and partial-evaluation rules): how a primitive's own code is reached. The dicts
    of such dicts (per-platform tables) go to ``outer``."""
    out = []
    for name in ("jax._src.interpreters.mlir", "jax._src.interpreters.ad", "jax._src.interpreters.batching",
                 "jax._src.interpreters.partial_eval", "jax._src.dispatch", "jax._src.interpreters.pxla",
                 "jax.experimental.jet", "jax.experimental.key_reuse._core"):
        mod = _sys.modules.get(name)
        if mod is None:
            continue
        stack = [v for v in _list(_vars(mod).values()) if _isinstance(v, dict)]
        while stack:
            d = stack.pop()
            keys = _list(d.keys())[:64]
            if any(_isinstance(k, _Primitive) for k in keys):
                out.append(d)
            else:  # (per-platform tables: a dict of such dicts)
                inner = [v for v in _list(d.values())[:64] if _isinstance(v, dict)]
                if inner and outer is not None:
                    outer.append(d)
                stack.extend(inner)
    return out


_REGISTRY_TABLES: list = []  # the dicts of per-platform rule tables
_PRIMITIVE_REGISTRIES = _primitive_registries(_REGISTRY_TABLES)
#: the rule tables as imported (rv30 R: a rule registered for mul_p before the test, in a platform's table JAX does
#: not compile for, put a banned function into norm's reach): what _reach reads, and what is compared at each entry
_REGISTRY_SNAPSHOT = _tuple((r, dict(r)) for r in _PRIMITIVE_REGISTRIES)
_REGISTRY_IDS = _frozenset(_id(r) for r in _PRIMITIVE_REGISTRIES)
_REGISTRY_FLAT = (_tuple(r for r, snap in _REGISTRY_SNAPSHOT for _ in snap),
                  _tuple(k for _, snap in _REGISTRY_SNAPSHOT for k in snap),
                  _tuple(v for _, snap in _REGISTRY_SNAPSHOT for v in snap.values()))


def _jit_miss_code():
    """The code of the Python function a jitted function runs when it is not compiled yet (pjit's
    ``cache_miss``): it traces the function, then lowers and compiles the program, after the function's
    own frame has returned. An allowed jitted function (``jnp.linalg.norm``) covers its compilation too:
    the lowering of the SVD its matrix 2-norm binds is JAX's, not the answer's."""
    try:
        from jax._src import pjit

        return next((c for c in _nested(pjit._cpp_pjit.__code__, set()) if c.co_name == "cache_miss"
                     and "fun" in c.co_freevars), None)
    except (ImportError, AttributeError):
        return None


_JIT_MISS = _jit_miss_code()


def _jitted_target(frame, allow):
    """The id of the allowed code a ``cache_miss`` frame is compiling (read from its closure), or None."""
    try:
        fun = frame.f_locals.get("fun")
    except Exception:  # noqa: BLE001
        return None
    f = _unwrap(fun) if _type(fun) is _FunctionType or _callable(fun) else None
    code = f.__code__ if _type(f) is _FunctionType else None
    return _id(code) if code is not None and _id(code) in allow else None


def _library_state():
    """As imported: ``{id(class): (class, a copy of its dict)}`` for the classes the watched modules hold, and
    ``{id(function): (function, defaults, keyword defaults, its closure's contents, __wrapped__)}`` for their
    functions (behind decorators too): what an allowed function's reach is read from (see _reach)."""
    classes, functions = {}, {}
    grader = _os.path.dirname(_os.path.abspath(__file__)) + _os.sep  # (the grader's own functions, its
    # trampolines among them, are not read: their code and defaults are the guard's)
    for _, space in _list(_MODULE_DICTS.values()):
        for value in _list(space.values()):
            if _isinstance(value, type):
                if _type.__dict__["__flags__"].__get__(value) & (1 << 9):  # (a heap type: Python code can change it)
                    classes[_id(value)] = (value, dict(_vars(value)))
                continue
            for _ in range(8):
                if _type(value) is _FunctionType and _id(value) not in functions:
                    if _str.__str__(value.__code__.co_filename).startswith(grader):
                        _GRADER_FUNCTIONS[_id(value)] = value
                        break
                    functions[_id(value)] = _function_state(value)
                value = _getattr(value, "__wrapped__", None) if _callable(value) else None
                if value is None:
                    break
    return classes, functions


def _function_state(f):
    """(f, its defaults, its keyword defaults' dict and a copy of it, its closure's cells, their contents,
    its __wrapped__): what of a function an answer could change without changing its code."""
    cells = _tuple(f.__closure__ or ())
    contents = []
    for cell in cells:
        try:
            contents.append(cell.cell_contents)
        except ValueError:
            contents.append(_MISSING)
    kw = f.__kwdefaults__
    return (f, f.__defaults__, kw, dict(kw) if kw is not None else None, cells, _tuple(contents),
            _vars(f).get("__wrapped__", _MISSING))


_MISSING = object()
_GRADER_FUNCTIONS: dict = {}  # id -> the grader's functions met in the library's namespaces (left out of reaches)
_CLASS_DICTS, _FUNCTION_STATE = _library_state()


def _wrapped_at_import() -> dict:
    """``{id(object): (object, its __wrapped__ or None)}`` for the callables the watched modules and their
    classes hold as imported, down their chains of ``__wrapped__``: what _inner_of reads for them."""
    out = {}
    values = [v for _, space in _list(_MODULE_DICTS.values()) for v in _list(space.values())]
    for _, space in _list(_CLASS_DICTS.values()):
        for v in _list(space.values()):
            values.append(_getattr(v, "__func__", v) if _isinstance(v, (staticmethod, classmethod)) else v)
    for value in values:
        for _ in range(8):
            if _isinstance(value, (_ModuleType, type)) or not _callable(value) or _id(value) in out:
                break
            try:
                inner = _getattr(value, "__wrapped__", None)
            except Exception:  # noqa: BLE001
                break
            out[_id(value)] = (value, inner)
            if inner is None:
                break
            value = inner
    return out


_WRAPPED_AT_IMPORT.update(_wrapped_at_import())
_BUILTINS_DICT = _vars(_builtins)
#: builtins an IPython kernel rebinds as it runs each cell (ipykernel's input forwarding, the display hooks)
_KERNEL_BUILTINS = _frozenset({"input", "raw_input", "display", "get_ipython", "exit", "quit", "help", "copyright",
                               "credits", "license", "dreload", "__IPYTHON__", "_", "__", "___"})
_BUILTINS_AS_IMPORTED = dict(_BUILTINS_DICT)
_REACH_CACHE: dict = {}  # id(function) -> (function, frozenset of ids of the code objects and C functions it reaches)
_READS: dict = {}  # id(function) -> (function, what its reach was read from: checked when it is entered)


def _reach(function) -> frozenset:
    """The ids of every code object and C function ``function`` can call by name: the functions its code
    (and the code nested in it) names, looked up in its module's globals and in the modules it names, as
    imported; what those name in turn; the methods of the classes it names; the rules registered for the
    JAX primitives it binds; its closure's and its defaults' functions. Inside a function a test allows,
    a banned function runs only if it is one of these (``cg`` runs ``custom_linear_solve``; not a
    ``jax.hessian`` that a chain of library callables stored on an argument calls there: rv24).

    Module namespaces, classes and functions' defaults and closures are read as imported (a name in a
    library module rebound, rv25, would otherwise add to the reach); what was read is recorded, and
    :func:`_reads_changed` tells, each time the function is entered, whether any of it was changed since."""
    entry = _REACH_CACHE.get(_id(function))
    if entry is not None and entry[0] is function:
        return entry[1]
    out: set = set()
    keep: list = []  # (the objects whose ids are in out stay alive while it is cached)
    seen: set = set()
    names_read: dict = {}  # id(live dict) -> (live dict, {name: value as imported, or _MISSING})
    classes_read: dict = {}  # id(class) -> (class, its dict as imported)
    functions_read: dict = {}  # id(function) -> its state as imported
    stack = [function]

    def read(live, name, value):
        if not (_callable(value) or _isinstance(value, (_ModuleType, _Primitive))):
            return  # (what it calls or looks in: a rebound constant changes no call)
        entry = names_read.get(_id(live))
        if entry is None:
            entry = names_read[_id(live)] = (live, {})
        entry[1].setdefault(name, value)

    while stack and _len(seen) < 200_000:
        obj = stack.pop()
        if _id(obj) in seen:
            continue
        seen.add(_id(obj))
        keep.append(obj)
        if _isinstance(obj, _functools.partial):
            stack.append(obj.func)
            stack.extend(v for v in (*obj.args, *obj.keywords.values()) if _callable(v))
            continue
        if _isinstance(obj, _Primitive):  # (its attributes as imported: rv29a E3 stored SciPy's svd on mul_p)
            snap = _OBJECT_SNAPSHOT.get(_id(obj))
            stack.extend(v for v in _list((snap if snap is not None else _vars(obj)).values()) if _callable(v))
            for _, registry in _REGISTRY_SNAPSHOT:  # (as imported)
                rule = registry.get(obj)
                if rule is not None and not _callable(rule):  # (mlir's LoweringRuleEntry: a slotted dataclass)
                    rule = _getattr(rule, "rule", None)
                if rule is not None:
                    stack.append(rule)
            continue
        if _isinstance(obj, type):
            snap = _CLASS_DICTS.get(_id(obj))
            if snap is not None and snap[0] is obj:  # (its size, and what it holds that is called or describes:
                # a class's plain settings change at run time, weakref.finalize's _registered_with_atexit)
                code_like = {k: v for k, v in snap[1].items()
                             if _callable(v) or _isinstance(v, (staticmethod, classmethod, property))}
                classes_read[_id(obj)] = (obj, _len(snap[1]), _tuple(code_like), _tuple(code_like.values()))
            for value in _list((snap[1] if snap is not None and snap[0] is obj else _vars(obj)).values()):
                if _isinstance(value, (staticmethod, classmethod)):
                    value = value.__func__
                if _isinstance(value, property):
                    stack.extend(f for f in (value.fget, value.fset, value.fdel) if f is not None)
                elif _isinstance(value, _FunctionType):
                    stack.append(value)
            continue
        if _type(obj) is _FunctionType and _GRADER_FUNCTIONS.get(_id(obj)) is obj:
            continue
        state = _FUNCTION_STATE.get(_id(obj)) if _type(obj) is _FunctionType else None
        if state is not None and state[0] is not obj:
            state = None
        if state is not None:
            functions_read[_id(obj)] = state
            if state[6] is not _MISSING and _callable(state[6]):
                stack.append(state[6])  # (behind a decorator: the function it wraps, as imported)
            f = obj
        else:
            f = _unwrap(obj)
            if f is not obj:
                stack.append(f)
                continue
        if _isinstance(f, _BuiltinType):
            out.add(_id(f))
            continue
        if not _isinstance(f, _FunctionType):
            call = _getattr(_type(f), "__call__", None)
            if _isinstance(call, _FunctionType):
                stack.append(call)
            continue
        dispatcher = _numpy_dispatcher(f)
        if dispatcher is not None:  # (numpy's __array_function__ protocol runs it before f)
            stack.append(dispatcher)
        codes = _nested(f.__code__, set())
        out.update(_id(c) for c in codes)
        keep.extend(codes)
        names = _builtins.set()
        for c in codes:
            names.update(c.co_names)
        live = f.__globals__
        home = _MODULE_DICTS.get(_id(live))
        g = home[1] if home is not None and home[0].__dict__ is live else live
        for n in (names if g is not live else ()):  # (a global it reads, or a builtin it falls back to, in a
            # module as imported: neither may change, nor be shadowed)
            if n in g:
                read(live, n, g[n])
            elif n in _BUILTINS_AS_IMPORTED and n not in _KERNEL_BUILTINS:
                read(_BUILTINS_DICT, n, _BUILTINS_AS_IMPORTED[n])
                entry = names_read.get(_id(live))
                if entry is None:
                    entry = names_read[_id(live)] = (live, {})
                entry[1].setdefault(n, _MISSING)
        spaces, modules = [g], {_id(live)}
        found = [g.get(n) for n in names]
        while found:  # the modules it names, and the modules they hold under a name it uses (jnp.linalg)
            more = []
            for v in found:
                if _isinstance(v, _ModuleType) and _id(_vars(v)) not in modules:
                    d = _vars(v)
                    modules.add(_id(d))
                    snap = _MODULE_DICTS.get(_id(d))
                    space = snap[1] if snap is not None and snap[0] is v else d
                    spaces.append(space)
                    for n in (names if space is not d else ()):
                        if n in space:
                            read(d, n, space[n])
                    more.extend(space.get(n) for n in names)
            found = more
        for space in spaces:
            for n in names:
                v = space.get(n)
                if v is not None and not _isinstance(v, _ModuleType) and (_callable(v) or _isinstance(v, _Primitive)):
                    stack.append(v)
        if state is not None:
            defaults, kwdefaults, cells = state[1], state[3], state[5]
        else:
            defaults, kwdefaults = f.__defaults__, f.__kwdefaults__
            cells = _function_state(f)[5]
        stack.extend(v for v in cells if _callable(v) or _isinstance(v, _Primitive))
        stack.extend(v for v in (*(defaults or ()), *(kwdefaults or {}).values()) if _callable(v))
    result = _frozenset(out)
    _REACH_CACHE[_id(function)] = (function, result)
    _READS[_id(function)] = (function, _compile_reads(names_read, classes_read, functions_read))
    keep.append(result)
    _REACH_KEEP.append(keep)
    return result


_REACH_KEEP: list = []


_CLASS_KEYS_AS_IMPORTED: dict = {}  # id(a class's dict proxy, kept in _READS) -> its keys as imported
_CLASS_OF_PROXY: dict = {}  # id(a class's dict proxy, kept in _READS) -> the class


def _compile_reads(names_read, classes_read, functions_read):
    """What _reach read, as flat tuples that :func:`_reads_changed` compares by identity in C loops (an allowed
    function entered in a loop is checked each time: a few thousand names, well under a millisecond)."""
    lookups = []  # (a dict's or a class's get, keys, values as imported, what to call a change)
    for live, m in names_read.values():
        lookups.append((live.get, _tuple(m.keys()), _tuple(m.values()), "the library's {} (rebound since it was imported)"))
    proxies, sizes = [], []
    for cls, size, keys, values in classes_read.values():
        proxy = _type.__dict__["__dict__"].__get__(cls)
        proxies.append(proxy)
        sizes.append(size)
        _CLASS_KEYS_AS_IMPORTED[_id(proxy)] = _frozenset(_CLASS_DICTS[_id(cls)][1])
        _CLASS_OF_PROXY[_id(proxy)] = cls
        lookups.append((proxy.get, keys, values, "the library's class attribute {} (changed since it was imported)"))
    functions, defaults, kwobjs, cells, contents, own, wrapped_then = [], [], [], [], [], [], []
    for f, d, kw, kwcopy, fcells, fcontents, wrapped in functions_read.values():
        functions.append(f)
        defaults.append(d)
        kwobjs.append(kw)
        cells.extend(fcells)
        contents.extend(fcontents)
        own.append(_vars(f))
        wrapped_then.append(wrapped)
        if kwcopy:
            lookups.append((kw.get, _tuple(kwcopy.keys()), _tuple(kwcopy.values()),
                            "the keyword defaults of the library's {}"))
    return (_tuple(lookups), _tuple(proxies), _tuple(sizes), _tuple(functions), _tuple(defaults), _tuple(kwobjs),
            _tuple(cells), _tuple(contents), _tuple(own), _tuple(wrapped_then))


_is = __import__("operator").is_
_repeat = __import__("itertools").repeat
_CONTENTS_OF = __import__("operator").attrgetter("cell_contents")


def _defaults_changed(function) -> str | None:
    """Which library function ``function``'s reach holds has defaults other than as imported, or None. Read
    when the test makes its check (reading a function's defaults is an audit event the grader refuses to the
    answer's code); a write of them while the test runs is the grader's to see."""
    entry = _READS.get(_id(function))
    if entry is None or entry[0] is not function:
        return None
    functions, defaults, kwobjs = entry[1][3], entry[1][4], entry[1][5]
    for f, d, kw in zip(functions, defaults, kwobjs):
        if f.__defaults__ is not d or f.__kwdefaults__ is not kw:
            return f"the defaults of the library's {_str_exact(f.__qualname__)!s:.60} (changed since it was imported)"
    return None


def _is_code_like(v) -> bool:
    """What a library's read of a class attribute can run: a callable, a descriptor, an iterator."""
    t = _type(v)
    return _callable(v) or _hasattr(t, "__get__") or _hasattr(t, "__next__")


_INERT_CALL = __import__("contextlib").ContextDecorator.__call__


def _jax_object_runs_code(v, t) -> bool:
    """Whether an object of JAX's class ``t``, held by another of JAX's objects, can run code when JAX uses it:
    code-like (_is_code_like), unless the only call its class has is contextlib's ContextDecorator's, which wraps
    the function it is handed and runs nothing it holds (a Mesh, held by shard_map's trace: rv30 left open)."""
    if not _is_code_like(v):
        return False
    if _hasattr(t, "__get__") or _hasattr(t, "__next__"):
        return True
    return _getattr(t, "__call__", None) is not _INERT_CALL


def _added_matters(cls, k, v) -> bool:
    """Whether ``k = v``, added to library class ``cls`` since import, changes what library code runs: code-like
    itself, or hiding a code-like attribute the class inherits (plain data a library caches there does not)."""
    if _is_code_like(v):
        return True
    for c in _type.__dict__["__mro__"].__get__(cls)[1:]:
        space = _type.__dict__["__dict__"].__get__(c)
        if k in space and _is_code_like(space[k]):
            return True
    return False


def _reads_changed(function) -> str | None:
    """What the library an allowed function reaches reads has had changed since it was imported (a module's
    name rebound, a class's method replaced, a function's defaults or closure changed), or None. Compared by
    identity only: no method of anything stored there runs here."""
    entry = _READS.get(_id(function))
    if entry is None or entry[0] is not function:
        return None
    lookups, proxies, sizes, functions, defaults, kwobjs, cells, contents, own, wrapped = entry[1]
    missing = _MISSING
    for get, keys, values, what in lookups:
        if not all(map(_is, map(get, keys, _repeat(missing)), values)):
            for k, v in zip(keys, values):
                if get(k, missing) is not v:
                    return what.format(f"{k!s:.60}")
    if _tuple(map(_len, proxies)) != sizes:  # (a library adds plain data to its classes as it runs, caches and
        # counters, __annotations__ made on first use, copyreg's __slotnames__: only a callable, a descriptor or an
        # iterator added since import, or a name that hides a method the class inherits, changes what a library call
        # runs; rv27a B4 set ShapedArray.normalize, inherited until then, to a property made of library callables)
        for proxy, size in zip(proxies, sizes):
            if _len(proxy) != size:
                known = _CLASS_KEYS_AS_IMPORTED.get(_id(proxy), ())
                cls = _CLASS_OF_PROXY[_id(proxy)]
                for k, v in _list(proxy.items()):
                    if _type(k) is not _str or (k not in known and _added_matters(cls, k, v)):
                        return f"a library class the allowed function uses (its {k!s:.40} added since it was imported)"
    # (a function's __defaults__ and __kwdefaults__ are not read here: each read is an audit event, and a
    # write of them while a test cell runs is the grader's to see; the keyword defaults' contents are)
    if not all(map(_is, map(dict.get, own, _repeat("__wrapped__"), _repeat(missing)), wrapped)):
        return "what a library function the allowed function uses wraps (changed since it was imported)"
    try:
        same = all(map(_is, map(_CONTENTS_OF, cells), contents))
    except ValueError:  # (a cell emptied)
        same = False
    if not same:
        return "the closure of a library function the allowed function uses (changed since it was imported)"
    return None


# ----------------------------------------------------------------------------- what a ban covers


def _resolve(item):
    """An object for a banned item: a callable, a module, or a dotted name of either, read from the modules as
    imported where they were (a module or a name in one rebound since does not move what a test bans)."""
    if not _isinstance(item, _str):
        return item
    known = _MODULES_AS_IMPORTED.get(item)
    if known is not None:
        return known
    try:
        return _import_module(item)
    except ImportError:
        pass
    head, _, attr = item.rpartition(".")
    if not head:
        raise ValueError(f"forbid: cannot find {item!r}; give a dotted name such as 'jax.hessian' or the object")
    parent = _resolve(head)
    entry = _MODULE_DICTS.get(_id(_vars(parent))) if _isinstance(parent, _ModuleType) else None
    if entry is not None and entry[0] is parent and attr in entry[1]:
        return entry[1][attr]
    if not _hasattr(parent, attr):
        raise ValueError(f"forbid: {head!r} has no attribute {attr!r}; give a dotted name such as 'jax.hessian'")
    return _getattr(parent, attr)


def _label(obj) -> str:
    mod = _getattr(obj, "__module__", None) or ""
    name = _getattr(obj, "__qualname__", None) or _getattr(obj, "__name__", None) or repr(obj)
    if _isinstance(obj, _ModuleType):
        return obj.__name__
    return f"{mod}.{name}" if mod else name


def _numpy_dispatcher(f):
    """The argument dispatcher numpy's ``__array_function__`` protocol calls before ``f`` (numpy names
    it ``_<name>_dispatcher`` in ``f``'s module), or None."""
    module = _sys.modules.get(_getattr(f, "__module__", None) or "")
    name = _getattr(f, "__name__", None)
    if module is None or not name or not (_getattr(module, "__name__", "") or "").startswith("numpy"):
        return None
    d = _getattr(module, f"_{name}_dispatcher", None)
    return d if _isinstance(d, _FunctionType) else None


def _signature(code) -> tuple:
    """What makes two code objects the same function under another name: bytecode, names, variables
    and constants, nested functions (lambdas, closures) compared the same way. Line numbers and the
    function's own name do not count, nor its docstring (the first constant, or None when it has none);
    any other constant does (two one-line tree_maps differ by their lambdas)."""
    consts = code.co_consts
    if consts and (consts[0] is None or _isinstance(consts[0], _str)):
        consts = consts[1:]
    consts = _tuple(_signature(c) if _isinstance(c, _CodeType) else (_type(c).__name__, _repr(c)) for c in consts)
    return (code.co_code, code.co_names, code.co_varnames, consts)


class _Ban:
    """The code objects, C functions and source files a list of banned items stands for."""

    def __init__(self, items, allow):
        self.codes: dict = {}  # code -> label
        self.cfuncs: dict = {}  # id(C function) -> label
        self.prefixes: list[tuple[str, str]] = []  # (file or folder, label)
        self.functions: list = []  # banned Python functions, to check against the snapshot
        self.signatures: dict = {}  # _signature of banned code -> label: copies count too
        for item in items:
            self._add(_resolve(item), _label_for(item))
        self.allow: set = set()
        self.reach: dict = {}  # id(code of an allowed function) -> ids of what may run inside it (_reach)
        self.entries: dict = {}  # id(code of an allowed function) -> the functions whose reach it has
        self.defaults_changed: list = []  # library functions an allowed function runs whose defaults changed
        for item in allow:
            f = _unwrap(_resolve(item))
            code = _getattr(f, "__code__", None)
            dispatcher = _numpy_dispatcher(f)
            reach = _reach(f) | (_reach(dispatcher) if dispatcher is not None else _frozenset())
            for c in (code, dispatcher.__code__ if dispatcher is not None else None):
                if c is not None:  # (numpy runs the dispatcher before the function: allowed with it)
                    for inner in _nested(c, set()):
                        self.allow.add(inner)
                        self.reach[_id(inner)] = self.reach.get(_id(inner), _frozenset()) | reach
                        self.entries.setdefault(_id(inner), []).extend(g for g in (f, dispatcher) if g is not None)
            for g in (f, dispatcher):
                why = _defaults_changed(g) if g is not None else None
                if why is not None and why not in self.defaults_changed:
                    self.defaults_changed.append(why)

    def _add(self, obj, label, depth=0, home=None):
        """Ban ``obj``. Within a banned module or class (``home`` set), only what is defined in the
        same top-level package is banned: ``gradtools`` bans its own functions, not the JAX functions
        or the namedtuple methods its namespace happens to hold. What is read of the objects met runs
        none of their code (read through the types' own descriptors: a ban made inside another check's
        block, of a library whose classes read their attributes in Python, equinox's, ran that code)."""
        t = _type(obj)
        if _issubclass(t, _ModuleType):
            path = _getattr(obj, "__file__", None)
            if path:
                package = _os.path.basename(path) == "__init__.py"
                if package:
                    path = _os.path.dirname(path) + _os.sep
                self.prefixes.append((path, label))
                if not package and any(_getattr(_code_or_none(_unwrap(v)), "co_filename", None) == path
                                       for v in _list(_vars(obj).values())):
                    # A file that defines functions (jax._src.interpreters.ad, jax.experimental.jet)
                    # is banned by its own code, not by the helpers it imports; a module that only
                    # re-exports (jax.numpy.linalg) bans what it exports, below.
                    return
            home = _home(obj.__name__)
            for value in _list(_vars(obj).values()):
                if _issubclass(_type(value), _ModuleType):
                    continue  # its own file is covered by the prefix when inside the package
                if _callable(value) and depth < 1:
                    self._add(value, f"{label}.{_name_of(value)}", depth + 1, home)
            return
        if _issubclass(t, type):
            found = False
            space = _type.__dict__["__dict__"].__get__(obj)
            home = home or _home(space.get("__module__", "") if _type(space.get("__module__")) is _str else "")
            for key, value in _list(space.items()):
                if _type(value) in (staticmethod, classmethod):
                    value = value.__func__
                if _type(value) is _FunctionType:
                    found = True
                    self._add(value, f"{label}.{key}", depth + 1, home)
            if not found and depth == 0:
                raise TypeError(f"forbid: {label} is a class written in C, whose use no check can see; "
                                "test at a size the forbidden route cannot finish instead (seconds=)")
            return
        f = _unwrap(obj)
        if _type(f) is _FunctionType:
            if home is not None and not f.__code__.co_filename.startswith(home):
                return  # defined elsewhere: not what this ban is about
            self.functions.append((f, label))
            for code in _nested(f.__code__, set()):
                self.codes.setdefault(code, label)
                # A comprehension's or lambda's body is matched by identity only: the same small loop
                # is written alike in many places (JVPTrace's listcomps equal ones in custom_vjp.__call__).
                if _len(code.co_code) >= _MIN_SIGNATURE and code.co_name not in _IDENTITY_ONLY:
                    self.signatures.setdefault(_signature(code), label)
        elif _type(f) is _BuiltinType:
            module = f.__module__ or ""
            if home is None or _home(module) == home:
                self.cfuncs[_id(f)] = label
        elif _callable(f):
            call = _class_attribute(_type(f), "__call__")
            if _type(call) is _FunctionType:
                self._add(call, label, depth + 1, home)
            elif depth == 0:  # a C callable met while banning a whole module is covered by its files
                raise TypeError(f"forbid: cannot recognise calls of {label} ({_type(f).__name__}); "
                                "ban the Python function it runs instead")


def _class_attribute(t, name):
    """``name`` as class ``t`` and its bases define it (their own dicts, no metaclass's code), or None."""
    for c in _type.__dict__["__mro__"].__get__(t):
        space = _type.__dict__["__dict__"].__get__(c)
        if name in space:
            return space[name]
    return None


def _code_or_none(f):
    return f.__code__ if _type(f) is _FunctionType else None


def _name_of(value) -> str:
    """The ``__name__`` of a function, class, builtin or decorated object (its own dict), read without running
    any of its code; "?" where it has none so readable."""
    t = _type(value)
    if t is _FunctionType:
        return value.__name__
    if _issubclass(t, type):
        return _type.__dict__["__name__"].__get__(value)
    if t is _BuiltinType:
        return value.__name__
    own = _own_dict_of(value)
    name = own.get("__name__") if own is not None else None
    return name if _type(name) is _str else "?"


def _home(module_name: str) -> str | None:
    """The folder (or file) of the top-level package of ``module_name``, ending in a separator for a folder."""
    top = _sys.modules.get(module_name.split(".")[0])
    path = _getattr(top, "__file__", None) if top is not None else None
    if not path:
        return None
    if _os.path.basename(path) == "__init__.py":
        return _os.path.dirname(path) + _os.sep
    return path


def _label_for(item) -> str:
    """The name to show for a banned item: the dotted name given, else its shortest public name."""
    if _isinstance(item, _str):
        return item
    best = None
    name = _getattr(item, "__name__", None)
    if name is not None:
        for modname, mod in _list(_sys.modules.items()):
            if mod is None or modname.split(".")[0] not in WATCHED or "._" in "." + modname:
                continue
            try:
                if _vars(mod).get(name) is item and (best is None or _len(modname) < _len(best)):
                    best = modname
            except TypeError:
                continue
    return f"{best}.{name}" if best else _label(item)


_LIBRARY_DIRS = tuple({_os.path.dirname(_os.__file__) + _os.sep, *(
    p + _os.sep for p in _sys.path if p.endswith(("site-packages", "dist-packages")))})


def _caller(frame) -> str:
    """Where the call came from: the first frame outside the Python library and installed packages."""
    f = frame.f_back if frame is not None else None
    for _ in range(200):
        if f is None:
            return ""
        fname = _str_exact(f.f_code.co_filename)
        if not fname.startswith(_LIBRARY_DIRS) and not fname.startswith("<frozen"):
            if fname.startswith(_HERE):
                return ""
            if _is_cell_file(fname):
                return f" (called at line {f.f_lineno} of a notebook cell)"  # no kernel's temporary path
            return f" (called at {fname}:{f.f_lineno})"
        f = f.f_back
    return ""


_HERE = _os.path.dirname(_os.path.abspath(__file__)) + _os.sep


def _package_dirs() -> tuple:
    dirs = [_HERE]
    for name in ("gradtools",):
        mod = _sys.modules.get(name)
        path = _getattr(mod, "__file__", None) if mod is not None else None
        if path:
            dirs.append(_os.path.dirname(_os.path.abspath(path)) + _os.sep)
    return tuple(dirs)


def _is_cell_file(fname: str) -> bool:
    """Whether ``fname`` is the name IPython compiles a notebook cell under (ipykernel's
    ``/tmp/ipykernel_<pid>/<hash>.py``, or ``<ipython-input-...>``), not ipykernel's own files."""
    return fname.startswith("<ipython-input") or _CELL_FILE.search(fname) is not None


_CELL_FILE = _re.compile(r"[/\\]ipykernel_[0-9]+[/\\]")

# A code object is looked up in sets and dicts here (which hashes it, and so its name and constants) and
# its names compared: CodeType.replace accepts any object as a constant and a str subclass as a name, so an
# answer could make one whose lookup runs its own __hash__ or __eq__ inside the check's profile function,
# where nothing is watched. The compiler makes str names and literal constants only: anything else is the
# answer's, found touching nothing but types (compared by identity) and tuples.
_LITERAL_TYPES = (str, bytes, int, float, complex, bool, type(None), type(Ellipsis))
_str_exact = _str.__str__  # an exact copy of a str subclass, running none of its methods
# a class's MRO, own namespace and name, read with type's own descriptors: a metaclass of the answer's
# can define __mro__ or __dict__ as properties, which reading them the usual way would run
_mro_of = type.__dict__["__mro__"].__get__
_dict_of = type.__dict__["__dict__"].__get__
_qualname_of = type.__dict__["__qualname__"].__get__


def _plain_constant(c, depth: int) -> bool:
    t = _type(c)
    for lit in _LITERAL_TYPES:
        if t is lit:
            return True
    if t is _tuple or t is _frozenset:
        return depth < 50 and all(_plain_constant(x, depth + 1) for x in c)
    return t is _CodeType and _plain_code(c, depth + 1)


def _plain_code(code, depth: int = 0) -> bool:
    """Whether ``code`` is a code object with ``str`` names and literal constants (and such code
    objects among them): what compiling source text gives, and safe to hash and compare."""
    if _type(code) is not _CodeType or depth > 50:
        return False
    if _type(code.co_filename) is not _str or _type(code.co_name) is not _str or _type(code.co_qualname) is not _str:
        return False
    for names in (code.co_names, code.co_varnames, code.co_freevars, code.co_cellvars):
        if _type(names) is not _tuple or not all(_type(n) is _str for n in names):
            return False
    # (hashing a code hashes its exception table, and == compares its line table: CodeType.replace keeps a
    # bytes subclass there, whose __hash__ or __eq__ would run wherever the code is looked up)
    for raw in (code.co_code, code.co_exceptiontable, code.co_linetable):
        if _type(raw) is not bytes:
            return False
    consts = code.co_consts
    return _type(consts) is _tuple and all(_plain_constant(c, depth) for c in consts)


def _is_answer_code(code, cwd: str) -> bool:
    """Whether ``code`` may be the answer's own: a notebook cell, text compiled at run time
    (``exec``, ``<string>``, a ``<frozen ...>`` name that is no frozen module), or any file outside
    Python's library, the installed packages and this course's packages (an answer can write a
    module anywhere and import it). ``cwd`` is kept for callers; every such file counts now. A code
    object that compiling text cannot give (see :func:`_plain_code`) is the answer's."""
    if _type(code) is _CodeType and not _plain_code(code):
        return True
    fname = code.co_filename
    if fname.startswith("<frozen ") and fname.endswith(">"):
        spec = _getattr(_sys.modules.get(fname[len("<frozen "):-1]), "__spec__", None)
        return _getattr(spec, "origin", None) != "frozen"
    if fname.startswith("<") or _is_cell_file(fname):
        return True
    return not (fname.startswith(_LIBRARY_DIRS) or fname.startswith(_package_dirs()))


_FILE_CODES: dict = {}  # a library file -> the code objects compiled from its source (None: unreadable)
_GUARD_NAME = "<course grader guard>"  # the file name course.grading.build compiles the grader's guard under
_compile = _builtins.compile


def _is_foreign_code(code, cwd: str = "") -> bool:
    """:func:`_is_answer_code`, and also code that claims a library file it was not compiled from: an
    answer can ``compile(text, jax.__file__, "exec")`` so that its functions look like JAX's. A code
    object naming a library file is JAX's (or numpy's...) only if compiling that file's source gives
    it (cached per file)."""
    if not _plain_code(code):
        return True
    fname = code.co_filename
    source = _HERE + "_guard.py" if fname == _GUARD_NAME else fname  # the grader's guard: compiled from its text
    if fname != _GUARD_NAME:
        if _is_answer_code(code, ""):
            return True
        if fname.startswith("<"):  # a frozen module of Python's own
            return False
    codes = _FILE_CODES.get(fname, _MISSING)
    if codes is _MISSING:
        codes = None
        try:
            with open(source, "rb") as fh:
                text = fh.read()
            if fname == _GUARD_NAME:
                text = text.decode("utf-8")  # as course.grading.build compiles it
            codes = _nested(_compile(text, fname, "exec", dont_inherit=True), set())
        except (OSError, SyntaxError, ValueError):
            pass
        _FILE_CODES[fname] = codes
    return codes is None or code not in codes


# Calls that escape or disable the check: always violations inside the block.
def _escape_functions() -> dict:
    out = {}
    for mod, names in (
        (_sys, ("setprofile", "settrace", "getprofile", "gettrace", "setswitchinterval")),
        (_gc, ("get_referrers", "get_referents", "get_objects")),
        (_os, ("fork", "forkpty", "posix_spawn", "posix_spawnp", "system", "execv", "execve", "kill")),
    ):
        for n in names:
            f = _getattr(mod, n, None)
            if f is not None:
                out[_id(f)] = f"{mod.__name__}.{n}"
    try:
        import _posixsubprocess

        out[_id(_posixsubprocess.fork_exec)] = "a new process (subprocess)"
    except ImportError:
        pass
    import _thread

    for n in ("start_new_thread", "start_new"):  # (start_new: the old alias, a builtin object of its own)
        f = _getattr(_thread, n, None)
        if f is not None:
            out[_id(f)] = "_thread.start_new_thread (a thread the check cannot see)"
    return out


def _callback_functions() -> list:
    """Always banned: host callbacks (their Python runs on another thread), and executables
    compiled ahead of time or exported before the block (no trace of theirs can be seen)."""
    from jax._src.stages import Compiled
    from jax.experimental import io_callback

    out = [_jax.pure_callback, io_callback, _jax.debug.callback, Compiled.__call__]
    try:
        from jax.export import Exported

        out.append(Exported.call)
    except ImportError:  # an older JAX without jax.export
        pass
    return out


#: Allowed in every check. (jax.debug.print was, until rv22: inside an allowed function the check was off, and
#: printing an object runs its __str__, which a chain of library callables could make run a banned function;
#: this JAX's debug.print calls no banned function of its own, and its run-time callback runs on the calling
#: thread, so it is checked like any other code now.)
_ALWAYS_ALLOWED = ()


def _debug_runners() -> frozenset:
    """The code ``jax.debug.callback`` runs when a compiled function reaches the callback (its
    ``_flat_callback``, which holds the function in ``callback``). A test may record what its own loss
    sees at run time: such a callback of a function the test allowed runs, any other is a violation."""
    try:
        from jax._src import debugging

        codes = _nested(debugging.debug_callback.__code__, set())
    except (ImportError, AttributeError):  # another JAX: every run-time callback stays a violation
        return _frozenset()
    return _frozenset(c for c in codes if c.co_name == "_flat_callback" and "callback" in c.co_freevars)


_DEBUG_RUNNERS = _debug_runners()
_DEBUG_RUNNER_IDS = _frozenset(_id(c) for c in _DEBUG_RUNNERS)


def _plain_types() -> frozenset:
    """The types of what a function the test allows may be handed (see :func:`_unplain_argument`):
    Python's numbers, strings and None, NumPy's arrays, scalars and dtypes, JAX's arrays and every tracer
    class JAX has defined when this module is imported (under the grader: before the submission runs)."""
    import numpy as np
    from jax._src import core as jcore
    from jax._src.array import ArrayImpl

    out = {_type(None), _bool, int, float, complex, _str, bytes, np.ndarray, np.memmap, ArrayImpl}
    out.update(t for t in _builtins.set(np.sctypeDict.values()) if _isinstance(t, _type))
    for root in (jcore.Tracer, np.dtype):
        stack = [root]
        while stack:
            t = stack.pop()
            out.add(t)
            stack.extend(_type.__subclasses__(t))
    return _frozenset(out)


_PLAIN_TYPES = _plain_types()


def _class_snapshot() -> dict:
    """id(class) -> (class, a copy of its dict), for every class a plain type is made of that Python code can
    change (not object, not a static type written in C): an answer that sets jnp.float32.__array__ or
    ArrayImpl.__str__ to a chain of library callables (rv22) changes one of them."""
    out = {}
    extra = []
    try:  # (and what jax.linearize stores with its program: its FlatTrees, their abstract values, the program)
        from jax._src import core as jcore, tree_util as jtu

        extra = [jtu.FlatTree, jcore.Jaxpr, jcore.JaxprEqn, jcore.Var, jcore.Literal]
        stack = [jcore.AbstractValue]
        while stack:
            extra.append(stack.pop())
            stack.extend(_type.__subclasses__(extra[-1]))
    except (ImportError, AttributeError):
        pass
    for t in (*_PLAIN_TYPES, *extra):
        for c in _type.__dict__["__mro__"].__get__(t):
            if c is not object and _type.__dict__["__flags__"].__get__(c) & (1 << 9):  # Py_TPFLAGS_HEAPTYPE
                out[_id(c)] = (c, dict(_vars(c)))
    return out


_CLASS_SNAPSHOT = _class_snapshot()


def _changed_class(t) -> str | None:
    """Why a plain type ``t`` no longer is what it was when this module was imported, or None."""
    for c in _type.__dict__["__mro__"].__get__(t):
        entry = _CLASS_SNAPSHOT.get(_id(c))
        if entry is None or entry[0] is not c:
            continue
        now, then = _vars(c), entry[1]
        if any(k not in now or now[k] is not v for k, v in then.items()) or (_len(now) != _len(then) and any(
                _type(k) is not _str or (k not in then and _added_matters(c, k, v)) for k, v in _list(now.items()))):
            return f"a {_type.__dict__['__qualname__'].__get__(t)!s:.80} object whose class was changed"
    return None
_OBJECT_DTYPE_KIND = "O"
_ARRAY_TYPES = (__import__("numpy").ndarray,)
from jax.tree_util import Partial as _JAX_PARTIAL  # noqa: E402
from jax._src.tree_util import _HashableCallableShim as _HASHABLE_SHIM  # noqa: E402
_SHIM_KEYS = _frozenset({"fun", "func", "args", "keywords"})
_WRAPPED_KEY, _NO_KEYS = _frozenset({"__wrapped__"}), _frozenset()
_DICT_OF = {t: t.__dict__["__dict__"] for t in (_FunctionType, _functools.partial)}


_PJIT_KEYS = _frozenset({"__module__", "__name__", "__qualname__", "__doc__", "__annotations__", "__type_params__",
                         "__wrapped__", "_fun", "_jit_info"})


def _unplain_jitted(value) -> str | None:
    """Why a jitted function handed to an allowed function is not just the function it runs under jit, or None:
    its own dict holds only what jit's functools.wraps put there (plain names, its doc and annotations, the
    function itself as __wrapped__ and _fun) and JAX's record of the jit's options."""
    try:
        own = _PJIT_TYPE.__dict__["__dict__"].__get__(value)
        fun = _jitted_function(value)
    except Exception:  # noqa: BLE001
        return "a jitted function that could not be read"
    if _type(own) is not dict or fun is None or not _builtins.set(dict.keys(own)) <= _PJIT_KEYS:
        return "a jitted function with attributes of its own (an __array__ stored on it is called unseen)"
    for k in ("__wrapped__", "_fun"):
        if dict.get(own, k, fun) is not fun:
            return f"a jitted function whose {k} is not the function it runs"
    for k in ("__module__", "__name__", "__qualname__", "__doc__"):
        if _type(dict.get(own, k)) not in (_str, _type(None)):
            return f"a jitted function whose {k} is not a str"
    info = dict.get(own, "_jit_info")
    if info is not None and (_type(info) not in _JAX_CLASSES or _changed_class(_type(info))):
        return "a jitted function whose options are not JAX's record of them"
    why = _unplain_jit_options(value, info)
    if why is not None:
        return why
    for k in ("__annotations__", "__type_params__"):
        why = _unplain_values([dict.get(own, k, ())], _NO_FUNCTIONS) if k in own else None
        if why is not None:
            return f"a jitted function whose {k} holds {why}"
    return None


_INSPECT = __import__("inspect")


def _unplain_jit_options(value, info) -> str | None:
    """Why the options JAX's compiled path reads of a jitted function handed over (the record its cache-miss
    closure holds) are not plain, or None (rv32 J: an object of the answer's class as ``backend``, whose
    ``__bool__`` JAX evaluates on every trace, carried the payload). An operator's jit sets no backend, device or
    donation; the rest is data or JAX's own, its signature's defaults and annotations plain."""
    try:
        inner = _cell_named(_PJIT_CACHE_MISS.__get__(value), "fun")
        cell = _cell_named(inner, "jit_info") if _type(inner) is _FunctionType else None
    except Exception:  # noqa: BLE001
        return "a jitted function whose options could not be read"
    if cell is None or (info is not None and cell is not info) or _type(cell) not in _JAX_CLASSES:
        return "a jitted function whose options are not JAX's record of them"
    fields = dict(_builtins.zip(_type(cell)._fields, _tuple.__iter__(cell)))
    for k in ("backend", "device"):
        if fields.get(k) is not None:
            return f"a jitted function with a {k} of its own (an operator's jit needs none)"
    for k in ("donate_argnums", "donate_argnames"):
        if fields.get(k, ()) != () or _type(fields.get(k, ())) is not _tuple:
            return f"a jitted function that donates its arguments ({k})"
    for k, v in _list(fields.items()):
        if k == "fun_signature":
            if v is None:
                continue
            if _type(v) is not _INSPECT.Signature:
                return "a jitted function whose signature is not inspect's"
            for prm in _list(v.parameters.values()):
                if _type(prm) is not _INSPECT.Parameter:
                    return "a jitted function whose signature is not inspect's"
                for part in (prm.default, prm.annotation):
                    if part is not _INSPECT.Parameter.empty and _unplain_values([part], _NO_FUNCTIONS):
                        return "a jitted function whose signature holds what is not plain data"
            continue
        why = _judge_deep(v, f"a jitted function's option {_str_exact(k)!s:.40}")
        if why:
            return why
    return None


def _object_dict(value):
    """The instance dict of a function, a partial or a jax Partial, read by its type's own descriptor (no
    method of the object runs), or None where it has none that can be read so."""
    t = _type(value)
    try:
        if t is _FunctionType or t is _functools.partial:
            return _DICT_OF[t].__get__(value)
        if t is _JAX_PARTIAL or t is _HASHABLE_SHIM:
            return object.__getattribute__(value, "__dict__")
    except Exception:  # noqa: BLE001
        return None
    return None


def _linearized_codes() -> list:
    """The code of the function jax.linearize hands back (a partial of it), which evaluates a traced program."""
    from jax._src import api

    f = _getattr(api, "_lift_linearized", None)
    return [f.__code__] if _type(f) is _FunctionType else []


_LINEARIZED = _linearized_codes()  # (kept alive: the ids below stay theirs)
_LINEARIZED_IDS = _frozenset(_id(c) for c in _LINEARIZED)


def _linearized_parts():
    """The types and the registry of what jax.linearize stores with its program: (FlatTree, its instance
    dict's keys, the tracing registry, the abstract-value base class), or None in a JAX without them."""
    try:
        from jax._src import core as jcore, tree_util as jtu

        cached = _frozenset(k for k, v in _vars(jtu.FlatTree).items() if _isinstance(v, _functools.cached_property))
        keys = _tuple(t for t in (jtu.SequenceKey, jtu.DictKey, jtu.GetAttrKey, jtu.FlattenedIndexKey))
        return (jtu.FlatTree, _frozenset({"vals", "tree", "statics", "registry"}), jtu.tracing_registry,
                jcore.AbstractValue, _type(jtu.tracing_registry.flatten(())[1]), cached, keys)
    except (ImportError, AttributeError):
        return None


_LINEARIZED_PARTS = _linearized_parts()


def _bools(value, depth=0) -> bool:
    """Whether ``value`` is a bool, or a tuple or dict (str keys) of such, as FlatTree's statics are."""
    t = _type(value)
    if t is _bool:
        return True
    if depth < 16 and t is _tuple:
        return all(_bools(v, depth + 1) for v in _tuple.__iter__(value))
    if depth < 16 and t is dict:
        return all(_type(k) is _str and _bools(v, depth + 1) for k, v in dict.items(value))
    return False


def _flat_tree(tree, leaf, depth=0) -> bool:
    """Whether ``tree`` is a FlatTree as JAX makes it: its own dict's keys and what they hold (its
    leaves each passing ``leaf``; what it caches on itself once used: its length, its leaves' key paths)."""
    flat, keys, registry, _, treedef, cached, key_types = _LINEARIZED_PARTS
    if _type(tree) is not flat or _changed_class(flat) or depth > 2:
        return False
    own = object.__getattribute__(tree, "__dict__")
    if (_type(own) is not dict or any(_type(k) is not _str for k in own)
            or not keys <= _builtins.set(dict.keys(own)) <= keys | cached):
        return False
    vals = dict.get(own, "vals")
    if (dict.get(own, "registry") is not registry or not _bools(dict.get(own, "statics"))
            or _type(dict.get(own, "tree")) is not treedef or _type(vals) is not _tuple
            or not all(leaf(v) for v in _tuple.__iter__(vals))):
        return False
    if "len" in own and _type(dict.get(own, "len")) is not int:
        return False
    return "paths" not in own or _flat_tree(dict.get(own, "paths"), lambda path: _type(path) is _tuple and all(
        _type(k) in key_types and not _changed_class(_type(k)) for k in _tuple.__iter__(path)), depth + 1)


def _unplain_linearized(args) -> str | None:
    """Why the arguments stored in jax.linearize's partial are not the ones it makes, or None: a program,
    two FlatTrees of abstract values and a list of bools (rv24: an entry of that list replaced by an
    object whose truth value ran jax.hessian inside cg)."""
    parts = _LINEARIZED_PARTS
    why = "a linearized program with arguments of its own"
    if parts is None or _len(args) != 4 or _type(args[0]) is not _Jaxpr:
        return why
    aval_base = parts[3]
    for tree in args[1:3]:
        if not _flat_tree(tree, lambda v: _issubclass(_type(v), aval_base) and not _changed_class(_type(v))):
            return why
    known = args[3]
    if _type(known) is not _list or any(_type(k) is not _bool for k in _list.__iter__(known)):
        return why
    return None


def _instance_dict_types() -> dict:
    """Plain types whose instances carry a dict of their own (ArrayImpl, np.memmap, shard_map's and
    remat's tracers): type -> the descriptor that reads it without running any of the object's methods."""
    out = {}
    for t in _PLAIN_TYPES:
        for c in _type.__dict__["__mro__"].__get__(t):
            d = _type.__dict__["__dict__"].__get__(c).get("__dict__")
            if d is not None and _type(d).__name__ == "getset_descriptor":
                out[t] = d
                break
    return out


_INSTANCE_DICTS = _instance_dict_types()


def _unplain_instance(value, t, push=None) -> str | None:
    """Why a plain-typed value's own dict makes it not plain, or None: a special name stored on the
    instance (an ``__array__`` numpy calls, rv24: on an eager shard_map's tracer), a key that is not a str,
    a name its class defines (rv28a: ``is_deleted``, which JAX calls as it hands an array to a compiled
    program, stored on the array), or a value that is not data; the data values are handed to ``push``."""
    own = _INSTANCE_DICTS[t].__get__(value)
    name = _type.__dict__["__qualname__"].__get__(t)
    if _type(own) is not dict:
        return f"a {name!s:.80} object with a dict of another kind"
    mro = _type.__dict__["__mro__"].__get__(t)
    for k, v in _list(dict.items(own)):
        if _type(k) is not _str or (_str.startswith(k, "__") and _str.endswith(k, "__")):
            return f"a {name!s:.80} object with attributes of its own (an __array__ stored on it is called unseen)"
        if any(k in _type.__dict__["__dict__"].__get__(c) for c in mro):
            return f"a {name!s:.80} object whose own {k!s:.40} hides its class's (a method JAX calls)"
        why = _judge_part(v, push, f"a {name!s:.60} whose attribute {k!s:.30}")
        if why:
            return why
    return None


def _judge_part(v, push, what, depth=0, nest=0) -> str | None:
    """A value JAX's own objects hold (an aval's shape, a tracer's primal, an attribute stored on an array):
    plain data is handed to ``push`` to be judged as the rest; an object of a class of JAX's as imported,
    unchanged and not callable, is taken with its own dict judged (_unplain_own_dict), a frozenset of names as it
    is; anything else is not JAX's. In a tuple, list, dict or NumPy array of objects that holds JAX's objects (a
    mesh's devices and axis types, held by shard_map's trace), each of those is judged so, the rest pushed."""
    vt = _type(v)
    if nest < 8 and (vt in _HELD_CONTAINERS
                     or (vt is _ARRAY_TYPES[0] and v.dtype.kind == _OBJECT_DTYPE_KIND and v.size <= 4096)):
        if vt is _tuple or vt is _list:
            parts = _list((_tuple.__iter__ if vt is _tuple else _list.__iter__)(v))
        elif vt is _builtins.set or vt is _frozenset:  # (a mesh's set of devices)
            parts = _list((_builtins.set.__iter__ if vt is _builtins.set else _frozenset.__iter__)(v))
        elif vt is _ARRAY_TYPES[0]:
            parts = _ARRAY_TYPES[0].tolist(_ARRAY_TYPES[0].ravel(v))
        else:
            parts = [y for kv in dict.items(v) for y in kv]
        for x in parts:
            xt = _type(x)
            if xt in _PLAIN_TYPES or not (xt in _JAX_CLASSES or xt in _HELD_CONTAINERS
                                          or (xt is _ARRAY_TYPES[0] and x.dtype.kind == _OBJECT_DTYPE_KIND)):
                if push is not None:
                    push(x)
                continue
            why = (_unplain_trace(x, push, depth) if _isinstance(x, _TRACE_BASE)
                   else _judge_part(x, push, what, depth, nest + 1))
            if why:
                return why
        return None
    if vt in _PLAIN_TYPES or vt in (_tuple, _list, dict):
        if push is not None:
            push(v)
        return None
    if vt is _frozenset and all(_type(x) in _SIMPLE for x in _frozenset.__iter__(v)):
        return None
    if vt is _COUNT and all(_type(x) is int for x in _COUNT.__reduce__(v)[1]):  # (a JaxprTrace's counter)
        return None
    if vt not in _JAX_CLASSES or _changed_class(vt) or _jax_object_runs_code(v, vt):
        return f"{what} is a {_type.__dict__['__name__'].__get__(vt)!s:.60} object (JAX's objects hold JAX's own state)"
    if depth < 4 and vt in _OWN_DICT_OF:  # (rv29a: what JAX reads of its own objects, a mesh's cached properties, an
        # AxisData's fields, is in their own dicts: no name of the class hidden there, and data as the rest)
        return _unplain_own_dict(v, vt, push, what, depth + 1)
    return None


_HELD_CONTAINERS = (_tuple, _list, dict, _collections.OrderedDict, _builtins.set, _frozenset)
_DEEP_SLOTS: dict = {}  # class -> its slots' readers (for _judge_deep)
_THREAD_LOCAL = __import__("_thread")._local


class _LocalDict:
    """Reads a thread-local object's dict for the current thread (threading.local's own C lookup)."""

    @staticmethod
    def __get__(obj):
        return _THREAD_LOCAL.__getattribute__(obj, "__dict__")


_LOCAL_DICT = _LocalDict()


def _judge_deep(v, what) -> str | None:
    """Why a value stored in one of JAX's objects since import is not data or JAX's own, read all the way down:
    containers, the own dicts and slots of JAX's objects, the fields of JAX's named tuples (rv30 S: a SourceInfo of
    JAX's, stored in JAX's source-info context, whose traceback was an object of the answer's class: its __bool__
    ran as the first primitive was bound). Plain values, arrays (judged as arguments are) and functions refused."""
    stack, seen = [(v, 0)], 0
    while stack:
        x, depth = stack.pop()
        seen += 1
        if seen > 20_000 or depth > 12:
            return f"{what} holds more than the check reads"
        t = _type(x)
        if t in _SIMPLE or t is bytes or t is complex:
            continue
        if t is _tuple or t is _list:
            stack.extend((y, depth + 1) for y in (_tuple.__iter__ if t is _tuple else _list.__iter__)(x))
            continue
        if t is dict or t is _collections.OrderedDict:  # (a mesh's cached shape is an OrderedDict)
            for k, y in dict.items(x):
                stack.append((k, depth + 1))
                stack.append((y, depth + 1))
            continue
        if t is _PYTREEDEF:  # (a jit's sharding structures: their node data is compared and hashed)
            data = x.node_data()
            if data is not None:
                stack.append((data[1], depth + 1))
            stack.extend((y, depth + 1) for y in x.children()[:64])
            continue
        if t is _WEAKREF:  # (JAX's trace state refers to its trace weakly)
            stack.append((_WEAKREF.__call__(x), depth + 1))
            continue
        if t is _frozenset or t is _builtins.set:  # (a mesh's set of devices)
            stack.extend((y, depth + 1) for y in (_frozenset.__iter__ if t is _frozenset else _builtins.set.__iter__)(x))
            continue
        if t is _ARRAY_TYPES[0] and x.dtype.kind == _OBJECT_DTYPE_KIND and x.size <= 4096:  # (a mesh's devices)
            stack.extend((y, depth + 1) for y in _ARRAY_TYPES[0].tolist(_ARRAY_TYPES[0].ravel(x)))
            continue
        if t in _PLAIN_TYPES:
            why = _unplain_values([x], _NO_FUNCTIONS)
            if why:
                return f"{what} holds {why}"
            continue
        if t is _COUNT and all(_type(y) is int for y in _COUNT.__reduce__(x)[1]):
            continue
        name = _type.__dict__["__name__"].__get__(t)
        if t not in _JAX_CLASSES or _changed_class(t) or _jax_object_runs_code(x, t):
            return f"{what} holds a {name!s:.60} object (JAX's objects hold JAX's own state)"
        if t in _OWN_DICT_OF:
            items = _own_items(x, t)
            if _type(items) is _str:
                return f"{what} holds a {name!s:.60} {items}"
            stack.extend((y, depth + 1) for k, y in items if not (k == "__objclass__" and y is t))
        slots = _DEEP_SLOTS.get(t)
        if slots is None:
            slots = _DEEP_SLOTS[t] = _slot_readers(t)
        for _, read in slots:
            try:
                stack.append((read(x), depth + 1))
            except Exception:  # noqa: BLE001 (a slot not set)
                continue
        if _issubclass(t, _tuple):
            stack.extend((y, depth + 1) for y in _tuple.__iter__(x))
    return None


def _NO_FUNCTIONS(code) -> bool:
    return False


def _own_dict_descriptor(t):
    """The descriptor that reads the own dict of instances of ``t`` (no method of the object runs), or None.
    A thread-local object's is the one of ``threading.local``'s C type: the current thread's dict (rv30 S: JAX's
    source-info context keeps its state there; its subclass's own descriptor reads an empty dict)."""
    return _LOCAL_DICT if _issubclass(t, _THREAD_LOCAL) else _dict_getset(t)


def _hides_code(t, k) -> bool:
    """Whether an instance attribute ``k`` hides what class ``t`` defines as code (a method, a property, a
    descriptor); a value a ``functools.cached_property`` stored under its own name does not."""
    for c in _type.__dict__["__mro__"].__get__(t):
        space = _type.__dict__["__dict__"].__get__(c)
        if k in space:
            return _is_code_like(space[k]) and _type(space[k]) is not _functools.cached_property
    return False


def _own_items(v, t):
    """The (name, value) pairs of the own dict of a JAX object of class ``t`` (read by the dict's descriptor, no
    method of the object runs), or a str: why that dict is not JAX's own (a dict of another kind, a key not a str,
    a name that hides code its class defines, e.g. ``process_primitive`` stored on a trace, rv29a)."""
    d = _OWN_DICT_OF[t].__get__(v)
    if _type(d) is not dict:
        return "with a dict of another kind"
    items = _list(dict.items(d))
    for k, _ in items:
        if _type(k) is not _str:
            return "with a key that is not a str"
        if _hides_code(t, k):
            return f"whose own {k!s:.40} hides its class's"
    return items


def _unplain_own_dict(v, vt, push, what, depth) -> str | None:
    """Why the own dict of a JAX object is not JAX's: a key not a str, a name that hides one of its class's
    methods (rv29a: ``process_primitive`` stored on a trace), a callable stored there, or a value not data."""
    items = _own_items(v, vt)
    if _type(items) is _str:
        return f"{what} is a {_type.__dict__['__name__'].__get__(vt)!s:.60} object {items}"
    for k, x in items:
        if k == "__objclass__" and x is vt and _isinstance(v, _Enum):  # (an enum member's class: its own)
            continue
        if _isinstance(x, _TRACE_BASE):
            why = _unplain_trace(x, push, depth)
        else:
            why = _judge_part(x, push, f"{what}'s {k!s:.30}", depth)
        if why:
            return why
    return None


def _jax_classes() -> frozenset:
    """Every class defined in a module of JAX's when this module is imported (under the grader: before the
    submission runs), so that no class of the answer's, whatever module it claims, is among them."""
    return _frozenset(v for v in _module_values(("jax", "jaxlib")) if _isinstance(v, _type)
                      and (_getattr(v, "__module__", "") or "").split(".")[0] in ("jax", "jaxlib"))


def _slot_readers(t) -> tuple:
    """(name, reader) for each slot of ``t`` and its bases, read by the slot's own descriptor (no method of
    the object runs)."""
    out = []
    for c in _type.__dict__["__mro__"].__get__(t):
        space = _type.__dict__["__dict__"].__get__(c)
        slots = space.get("__slots__", ())
        for name in ((slots,) if _type(slots) is _str else slots):
            d = space.get(name)
            if _type(name) is _str and name != "__weakref__" and _type(d).__name__ == "member_descriptor":
                out.append((name, d.__get__))
    return _tuple(out)


def _jax_state_readers() -> tuple:
    """What JAX reads of its own arrays and tracers whatever the function: type -> its readers (a tracer's
    slots: aval, _trace and its subclass's val, primal, tangent...; an ArrayImpl's aval, a C getter), and
    abstract value type -> its slots' readers."""
    from jax._src import core as jcore
    from jax._src.array import ArrayImpl

    values = {}
    for t in _PLAIN_TYPES:
        if t is ArrayImpl:
            prop = _type.__dict__["__dict__"].__get__(ArrayImpl).get("aval")
            if _type(prop) is property and not _isinstance(prop.fget, _FunctionType):
                values[t] = (("aval", prop.fget),)
        elif _issubclass(t, jcore.Tracer):
            values[t] = _slot_readers(t)
    avals = {}
    stack = [jcore.AbstractValue]
    while stack:
        t = stack.pop()
        avals[t] = _slot_readers(t)
        stack.extend(_type.__subclasses__(t))
    return values, avals, jcore.Trace


_JAX_STATE, _AVAL_SLOTS, _TRACE_BASE = _jax_state_readers()
_JAX_CLASSES = _jax_classes()
_SIMPLE = (_type(None), _bool, int, float, _str)
#: JAX's classes whose instances have an own dict: class -> the descriptor that reads it
_OWN_DICT_OF = {t: d for t in _JAX_CLASSES for d in (_own_dict_descriptor(t),) if d is not None}
_WEAKREF = __import__("weakref").ref
_Enum = __import__("enum").Enum
_COUNT = __import__("itertools").count
_TRACE_SLOTS: dict = {}  # trace class -> its slots' readers


def _unplain_trace(tr, push, depth=0) -> str | None:
    """Why a trace, and the traces it holds (its parent...), is not JAX's own, or None: a class of JAX's as
    imported and unchanged, nothing in its own dict that hides a method (rv29a T1-T3: ``process_primitive``
    stored on the trace of the answer's own jvp or vmap, which the allowed function's first primitive ran), no
    callable there, and JAX's objects or data in its slots and dict."""
    seen = _builtins.set()
    stack = [tr]
    while stack:
        tr = stack.pop()
        if tr is None or _id(tr) in seen:
            continue
        seen.add(_id(tr))
        if _len(seen) > 64:
            return "a chain of more than 64 traces"
        t = _type(tr)
        name = _type.__dict__["__name__"].__get__(t)
        if t not in _JAX_CLASSES or not _issubclass(t, _TRACE_BASE) or _changed_class(t):
            return f"a trace of class {name!s:.60} (JAX's traces are JAX's own)"
        slots = _TRACE_SLOTS.get(t)
        if slots is None:
            slots = _TRACE_SLOTS[t] = _slot_readers(t)
        for slot, read in slots:
            try:
                v = read(tr)
            except Exception:  # noqa: BLE001 (a slot not set)
                continue
            if _isinstance(v, _TRACE_BASE):
                stack.append(v)
            elif not (_type(v) is _WEAKREF and v() is tr):  # (a trace's weak reference to itself)
                why = _judge_part(v, push, f"a {name!s:.60} whose {slot!s:.30}", depth + 1)
                if why:
                    return why
        if t in _OWN_DICT_OF:
            items = _own_items(tr, t)
            if _type(items) is _str:
                return f"a {name!s:.60} {items} (a method JAX calls on it)"
            for k, v in items:
                if _isinstance(v, _TRACE_BASE):
                    stack.append(v)
                    continue
                why = _judge_part(v, push, f"a {name!s:.60} whose {k!s:.30}", depth + 1)
                if why:
                    return why
    return None


try:
    from jax._src.core import trace_ctx as _TRACE_CTX, trace_state as _TRACE_WEAK, \
        trace_state_strong_ref as _TRACE_STRONG
except ImportError:  # another JAX: the current trace is not read
    _TRACE_CTX = _TRACE_WEAK = _TRACE_STRONG = None


def _unplain_current_trace(foreign) -> str | None:
    """Why the trace JAX binds primitives on now (and its parents) is not JAX's own, or None: read as an
    allowed function is entered and as the answer's code returns into it (rv29a T3, E1: an allowed function
    handed only concrete arrays still binds on the current trace, JAX's eval_trace at the top). Never raises."""
    if _TRACE_CTX is None:
        return None
    try:
        found = []
        why = _unplain_trace(_TRACE_CTX.trace, found.append)
        return why if why is not None else _unplain_values(found, foreign)
    except Exception:  # noqa: BLE001
        return "a trace that could not be read"


def _library_objects() -> tuple:
    """JAX's objects with a dict of their own, as imported: those the modules of JAX hold (its primitives, its
    eval_trace, its jitted and custom_jvp functions, its configuration) and the primitives its rule tables hold,
    each as (object, descriptor of its dict, the dict, a copy of it)."""
    out, seen = [], _builtins.set()
    values = _list(_module_values(("jax", "jaxlib")))
    for table in _PRIMITIVE_REGISTRIES:
        values.extend(_list(table))
    for v in values:
        t = _type(v)
        if _id(v) in seen or t not in _OWN_DICT_OF or _isinstance(v, (type, _ModuleType)):
            continue
        seen.add(_id(v))
        try:
            d = _OWN_DICT_OF[t].__get__(v)
        except TypeError:  # (a class JAX names after NumPy's scalar types)
            continue
        if _type(d) is dict:
            out.append((v, _OWN_DICT_OF[t], d, dict(d)))
    return _tuple(out)


_LIBRARY_OBJECTS = _library_objects()
_OBJECT_SNAPSHOT = {_id(o): snap for o, _, _, snap in _LIBRARY_OBJECTS}  # (read by _reach: a primitive's rules)
_LO_OBJECTS = _tuple(o for o, _, _, _ in _LIBRARY_OBJECTS)
_LO_DESCRIPTORS = _tuple(d for _, d, _, _ in _LIBRARY_OBJECTS)
_LO_DICTS = _tuple(d for _, _, d, _ in _LIBRARY_OBJECTS)
_LO_SIZES = _tuple(_len(s) for _, _, _, s in _LIBRARY_OBJECTS)
_LO_OWNER = _tuple(i for i, (_, _, _, s) in enumerate(_LIBRARY_OBJECTS) for _ in s)
_compress = __import__("itertools").compress
_not = __import__("operator").not_
_ne = __import__("operator").ne
_LO_FLAT = (_tuple(d for _, _, d, s in _LIBRARY_OBJECTS for _ in s),
            _tuple(k for _, _, _, s in _LIBRARY_OBJECTS for k in s),
            _tuple(v for _, _, _, s in _LIBRARY_OBJECTS for v in s.values()))


def _library_objects_changed() -> str | None:
    """Which of JAX's objects had a callable stored on it since import, or a name hiding its class's, or a
    value not data, or None (rv29a E1: a chain of library callables stored as ``process_primitive`` on JAX's
    eval_trace; E3: a partial of SciPy's svd stored on ``mul_p``, which jnp.linalg.norm binds). A library's own
    caches (a mesh's cached properties, the configuration a notebook sets) are data, and pass. Compared by
    identity first, in C loops; never raises."""
    try:
        if (_tuple(map(_len, _LO_DICTS)) == _LO_SIZES
                and all(map(_is, map(_call_get, _LO_DESCRIPTORS, _LO_OBJECTS), _LO_DICTS))
                and all(map(_is, map(dict.get, _LO_FLAT[0], _LO_FLAT[1], _repeat(_MISSING)), _LO_FLAT[2]))):
            return None
        lives = _tuple(map(_call_get, _LO_DESCRIPTORS, _LO_OBJECTS))
        which = _builtins.set(_compress(_LO_OWNER, map(_not, map(_is, map(dict.get, _LO_FLAT[0], _LO_FLAT[1],
                                                                        _repeat(_MISSING)), _LO_FLAT[2]))))
        which.update(_compress(_builtins.range(_len(lives)), map(_not, map(_is, lives, _LO_DICTS))))
        which.update(_compress(_builtins.range(_len(lives)), map(_ne, map(_len, lives), _LO_SIZES)))
        for i in _sorted(which):  # (in C above: which of them changed; each of those read below)
            obj, desc, d, snap = _LIBRARY_OBJECTS[i]
            live = lives[i]
            if _type(live) is not dict:
                return f"JAX's {_type.__dict__['__name__'].__get__(_type(obj))!s:.60} object (its dict replaced)"
            t = _type(obj)
            name = _type.__dict__["__name__"].__get__(t)
            for k, v in _list(dict.items(live)):
                if _type(k) is not _str:  # (before any lookup: a key's own __hash__ and __eq__ would run here)
                    return f"JAX's {name!s:.60} object (a key that is not a str stored on it)"
                if dict.get(snap, k, _MISSING) is v:
                    continue
                if _is_code_like(v):
                    return f"JAX's {name!s:.60} object (its {k!s:.40} set to a {_type(v).__name__!s:.40} since import)"
                if k not in snap and _hides_code(t, k):
                    return f"JAX's {name!s:.60} object (its own {k!s:.40} hides its class's)"
                why = _judge_deep(v, f"its {k!s:.40}")
                if why:
                    return f"JAX's {name!s:.60} object ({why})"
        return None
    except Exception:  # noqa: BLE001
        return "JAX's objects could not be read"


def _config_states() -> tuple:
    """JAX's configuration states (jaxlib's C++ Config objects: every option of jax.config and the context
    managers JAX keeps there, a mesh set with jax.set_mesh among them), with the class whose methods read them."""
    cfg = _sys.modules.get("jax._src.config")
    cls = _getattr(_getattr(cfg, "config_ext", None), "Config", None)
    if cls is None:
        return (), None, None
    found = {}
    for v in _list(_module_values(("jax",))) + _list(_getattr(cfg, "config_states", {}).values()):
        if _isinstance(v, cls):
            found[_id(v)] = v
    return _tuple(found.values()), cls, cfg.config_ext.unset


_CONFIG_STATES, _CONFIG_CLASS, _CONFIG_UNSET = _config_states()
_CONFIG_READERS = ((_CONFIG_CLASS.get_global, _CONFIG_CLASS.get_local) if _CONFIG_CLASS is not None else ())
_CONFIG_AT_IMPORT = _tuple(_tuple(map(r, _CONFIG_STATES)) for r in _CONFIG_READERS)
_GRADTOOLS_TABLES = _tuple((name, k, v, dict(v) if _type(v) is dict else _list(v))
                           for _, (mod, space) in _list(_MODULE_DICTS.items())
                           for name in ((_getattr(mod, "__name__", "") or ""),)
                           if name.split(".")[0] == "gradtools"
                           for k, v in _list(space.items())
                           if _type(v) in (dict, _list) and not (k.startswith("__") and k.endswith("__")))


def _jit_closures() -> tuple:
    """For every jitted function the watched modules held at import: the closure cells of the cache-miss
    functions JAX made for it (api_boundary's wrapper and cache_miss itself: its function and its options) with
    their contents and the functions' code, as imported (rv32 K: norm's jit_info cell rewritten)."""
    cells, contents, functions, codes = [], [], [], []
    seen = _builtins.set()
    for _, space in _list(_MODULE_DICTS.values()):
        for v in _list(space.values()):
            if _type(v) is not _PJIT_TYPE or _id(v) in seen:
                continue
            seen.add(_id(v))
            try:
                f = _PJIT_CACHE_MISS.__get__(v)
            except Exception:  # noqa: BLE001
                continue
            for _ in range(3):
                if _type(f) is not _FunctionType:
                    break
                functions.append(f)
                codes.append(f.__code__)
                nxt = None
                for name, cell in _builtins.zip(f.__code__.co_freevars, f.__closure__ or ()):
                    try:
                        content = cell.cell_contents
                    except ValueError:
                        continue
                    cells.append(cell)
                    contents.append(content)
                    if name == "fun" and _type(content) is _FunctionType and "jit_info" in content.__code__.co_freevars:
                        nxt = content
                f = nxt
    return _tuple(cells), _tuple(contents), _tuple(functions), _tuple(codes)


_JIT_CELLS, _JIT_CONTENTS, _JIT_FUNCTIONS, _JIT_CODES = _jit_closures()
_CELL_CONTENTS = _types.CellType.__dict__["cell_contents"].__get__
_FUNCTION_CODE = _FunctionType.__dict__["__code__"].__get__


def _context_changed() -> str | None:
    """What of the context JAX traces and compiles in holds something not data or JAX's own, or None (rv31a C:
    a value of JAX's configuration, set through a state's own swap_local, an object of the answer's class whose
    __hash__ ran the payload as JAX hashed the configuration into a cache key inside an allowed function): every
    configuration state's global and thread-local value, the axis environment of the current trace, and the
    tables gradtools' modules hold (rv31a A: an activation replaced in the table the test's models are built
    from). Compared by identity first; never raises."""
    try:
        for read, before in _builtins.zip(_CONFIG_READERS, _CONFIG_AT_IMPORT):
            now = _tuple(map(read, _CONFIG_STATES))
            if all(map(_is, now, before)):
                continue
            for state, v, b in _builtins.zip(_CONFIG_STATES, now, before):
                if v is b or v is _CONFIG_UNSET or state is _TRACE_STRONG:  # (the current trace: read as a trace,
                    continue  # by _unplain_current_trace)
                if state is _TRACE_WEAK:  # (a weak reference to the current trace, in JAX's cache keys)
                    if v is None or (_type(v) is _WEAKREF and _WEAKREF.__call__(v) is _TRACE_CTX.trace):
                        continue
                    return "JAX's trace state (not a reference to the trace JAX binds on)"
                why = _judge_deep(v, f"JAX's configuration {_str_exact(_getattr(state, 'name', '?'))!s:.50}")
                if why:
                    return why
        if not (all(map(_is, map(_CELL_CONTENTS, _JIT_CELLS), _JIT_CONTENTS))
                and all(map(_is, map(_FUNCTION_CODE, _JIT_FUNCTIONS), _JIT_CODES))):
            return "a jitted function of JAX's whose compiled path was changed since import (its options or function)"
        for name, k, table, copy in _GRADTOOLS_TABLES:
            same = (_type(table) is dict and dict.__len__(table) == _len(copy)
                    and all(dict.get(table, key, _MISSING) is val for key, val in dict.items(copy))) or \
                   (_type(table) is _list and _list.__len__(table) == _len(copy) and all(map(_is, table, copy)))
            if not same:
                return f"gradtools' table {name}.{_str_exact(k)!s:.40} (changed since import)"
        return None
    except Exception:  # noqa: BLE001
        return "JAX's configuration could not be read"


def _rule_tables_changed() -> str | None:
    """Which of JAX's rule tables had a rule for a primitive JAX had at import replaced or added since, or None
    (rv30 R). Modules imported later register rules for their own new primitives (jax.experimental.sparse's):
    those pass. Compared by identity first; never raises."""
    try:
        if all(map(_is, map(dict.get, _REGISTRY_FLAT[0], _REGISTRY_FLAT[1], _repeat(_MISSING)), _REGISTRY_FLAT[2])) \
                and all(_len(r) == _len(snap) for r, snap in _REGISTRY_SNAPSHOT) \
                and all(_id(t) in _REGISTRY_IDS or not t for d in _REGISTRY_TABLES for t in _list(dict.values(d))
                        if _type(t) is dict):
            return None
        tables = [(r, snap) for r, snap in _REGISTRY_SNAPSHOT]
        tables += [(t, {}) for d in _REGISTRY_TABLES for t in _list(dict.values(d))
                   if _type(t) is dict and _id(t) not in _REGISTRY_IDS]
        for r, snap in tables:
            for k, v in _list(dict.items(r)):
                kt = _type(k)
                if kt not in _JAX_CLASSES or not _issubclass(kt, _Primitive) or _changed_class(kt):
                    return (f"a rule table of JAX's keyed by a {_type.__dict__['__name__'].__get__(kt)!s:.60} object "
                            f"(its keys are JAX's primitives)")
                if dict.get(snap, k, _MISSING) is v:
                    continue
                if _id(k) in _OBJECT_SNAPSHOT:  # (a primitive JAX had at import: its rules are as imported)
                    return f"JAX's rule for its primitive {_str_exact(k.name)!s:.40} (set since import)"
        return None
    except Exception:  # noqa: BLE001
        return "JAX's rule tables could not be read"


def _call_get(desc, obj):
    return desc.__get__(obj)


def _unplain_jax_state(value, t, push) -> str | None:
    """Why the state JAX reads of a JAX array or tracer (its aval, its trace, a tracer's other slots) is not
    JAX's own, or None. rv27a: an answer set ``x.aval`` (a slot of every tracer, and settable on an ArrayImpl)
    to an object whose ``shape`` was a chain of library callables, then handed ``x`` to cg or solve, where
    JAX read it. Values that may be plain data (a shape, a tracer's primal) are handed to ``push``."""
    name = _type.__dict__["__name__"].__get__(t)
    for slot, read in _JAX_STATE[t]:
        try:
            v = read(value)
        except Exception:  # noqa: BLE001 (a slot not set, an array deleted)
            continue
        vt = _type(v)
        if slot == "aval":
            if vt not in _AVAL_SLOTS:
                return f"a {name!s:.60} whose aval is a {_type.__dict__['__name__'].__get__(vt)!s:.60} object"
            changed = _changed_class(vt)
            if changed:
                return f"a {name!s:.60} whose aval is {changed}"
            parts = []
            for part, read_part in _AVAL_SLOTS[vt]:
                try:
                    parts.append((part, read_part(v)))
                except Exception:  # noqa: BLE001
                    continue
        elif slot == "_trace":
            why = _unplain_trace(v, push)
            if why:
                return f"a {name!s:.60} whose trace is not JAX's: {why}"
            continue
        else:
            parts = [(slot, v)]
        for part, pv in parts:
            why = _judge_part(pv, push, f"a {name!s:.60} whose {part!s:.30}")
            if why:
                return why
    return None


def _unplain_argument(frame, foreign) -> str | None:
    """What a function the test allows was handed that is not plain data, or ``None``.

    Inside an allowed function the answer's code is not on the stack until it is called back: an object
    whose ``__array__`` or ``__str__`` is a chain of library callables (``functools.partial``,
    ``jax.tree_util.Partial``, ``lru_cache``) runs library code there that the answer chose (rv21a:
    jax.jacrev inside gt.numerical_rank's ``np.asarray``, scipy's null_space inside jax.debug.print's
    ``str``; since rv24 a banned function outside the allowed one's reach is refused there too, but one
    inside it is not). So an allowed function takes arrays, numbers, strings, None,
    tuples, lists and dicts of them, and the answer's own functions (which the check follows). Never
    raises: an error inside the profile function would switch the check off."""
    try:
        return _unplain_walk(frame, foreign)
    except Exception:  # noqa: BLE001 - unreadable arguments: not plain
        return "arguments that could not be read"


def _unplain_walk(frame, foreign) -> str | None:
    code = frame.f_code  # (its arguments only: f_locals also holds the free variables of a closure, the test's own)
    n = code.co_argcount + code.co_kwonlyargcount + _bool(code.co_flags & 0x04) + _bool(code.co_flags & 0x08)
    local = frame.f_locals
    return _unplain_values([local[name] for name in code.co_varnames[:n] if name in local], foreign)


def _library_exec_codes() -> dict:
    """id(code) -> code, for the methods of the library's classes that the library made with exec (a
    dataclass's __init__, a namedtuple's __new__: JAX's PjitInfo and DebugInfo are made so inside cg), which
    a file name like "<string>" would otherwise count as the answer's own code."""
    out = {}
    for cls, space in _list(_CLASS_DICTS.values()):
        for value in _list(space.values()):
            if _isinstance(value, (staticmethod, classmethod)):
                value = value.__func__
            for f in ((value.fget, value.fset, value.fdel) if _isinstance(value, property) else (value,)):
                if _type(f) is _FunctionType and _str.__str__(f.__code__.co_filename).startswith("<"):
                    out[_id(f.__code__)] = f.__code__
    return out


_LIBRARY_EXEC = _library_exec_codes()
_RETURNS = _frozenset(__import__("dis").opmap[n] for n in ("RETURN_VALUE", "YIELD_VALUE") if n in __import__("dis").opmap)
_exc_info = _sys.exc_info
_BaseException = _builtins.BaseException
_EXC_CAUSE = _BaseException.__dict__["__cause__"]
_EXC_CONTEXT = _BaseException.__dict__["__context__"]
_EXC_ARGS = _BaseException.__dict__["args"]
_EXC_DICT = _BaseException.__dict__["__dict__"]


def _raised(frame) -> bool:
    """Whether ``frame``, at its return event, is leaving by an exception (not at a return or a yield)."""
    try:
        return frame.f_code.co_code[frame.f_lasti] not in _RETURNS
    except Exception:  # noqa: BLE001
        return True


def _unplain_exception(exc, foreign, depth=0) -> str | None:
    """What makes an exception the answer's code raised into an allowed function not plain, or None: a class of
    the answer's (or a library's, changed), arguments or attributes that are not plain data, or a cause or
    context that is not (rv26 A3: a class whose __traceback__ property was a chain of library callables, read
    by JAX's traceback filtering inside cg, ran jax.linear_transpose there). Never raises."""
    try:
        t = _type(exc)
        name = _type.__dict__["__qualname__"].__get__(t)
        if _type.__dict__["__flags__"].__get__(t) & (1 << 9):  # a heap type: the library's as imported only
            entry = _CLASS_DICTS.get(_id(t))
            now = _vars(t)
            if (entry is None or entry[0] is not t or _len(now) != _len(entry[1])
                    or any(now.get(k, _MISSING) is not v for k, v in entry[1].items())):
                return f"an exception of a class of your own ({name!s:.60})"
        why = _unplain_values([_EXC_ARGS.__get__(exc), dict(_EXC_DICT.__get__(exc))], foreign)
        if why is not None:
            return f"an exception ({name!s:.60}) carrying {why}"
        if depth < 3:
            for link in (_EXC_CAUSE.__get__(exc), _EXC_CONTEXT.__get__(exc)):
                if link is not None:
                    why = _unplain_exception(link, foreign, depth + 1)
                    if why is not None:
                        return why
        return None
    except Exception:  # noqa: BLE001
        return "an exception that could not be read"


def _unplain_returned(value, foreign) -> str | None:
    """What the answer's code called back by an allowed function hands back to it that is not plain data, or
    None (rv25 R8: an object whose ``shape`` property is a chain of library callables, returned by the
    answer's operator to ``cg``, whose shape check ran ``jax.linear_transpose`` there). Never raises."""
    try:
        return _unplain_values([value], foreign)
    except Exception:  # noqa: BLE001
        return "a value that could not be read"


def _unplain_function_fields(f) -> str | None:
    """Why what JAX's debug information and ``inspect.signature`` read of the answer's function, outside its
    dict, is not plain, or None: its names (rv29a N1: a ``__name__`` of a str class of the answer's, whose
    ``__format__`` ran a chain of library callables as cg's debug information formatted it), its module and
    doc, its defaults (N2: a tuple class whose ``__bool__`` did), its keyword defaults and annotations (their
    keys; the values are handed to the function only, or kept as they are)."""
    code = f.__code__
    for what, v in (("__name__", f.__name__), ("__qualname__", f.__qualname__), ("code's name", code.co_name),
                    ("code's qualified name", code.co_qualname), ("code's file name", code.co_filename)):
        if _type(v) is not _str:
            return f"a function whose {what} is a {_type.__dict__['__name__'].__get__(_type(v))!s:.40}, not a str"
    for what, v in (("__module__", f.__module__), ("__doc__", f.__doc__)):
        if v is not None and _type(v) is not _str:
            return f"a function whose {what} is a {_type.__dict__['__name__'].__get__(_type(v))!s:.40}, not a str"
    if not all(_type(n) is _str for n in _tuple.__iter__(code.co_varnames)):
        return "a function whose parameter names are not plain strings"
    d = f.__defaults__
    if d is not None and _type(d) is not _tuple:
        return f"a function whose defaults are a {_type.__dict__['__name__'].__get__(_type(d))!s:.40}, not a tuple"
    for what, m in (("keyword defaults", f.__kwdefaults__), ("annotations", f.__annotations__)):
        if m is not None and (_type(m) is not dict or not all(_type(k) is _str for k in dict.keys(m))):
            return f"a function whose {what} are not a dict with plain string keys"
    return None


def _unplain_values(values, foreign) -> str | None:
    stack = [(v, 0) for v in values]
    seen = 0
    while stack:
        value, depth = stack.pop()
        seen += 1
        t = _type(value)
        if t in _PLAIN_TYPES:
            push = (lambda v, d=depth + 1: stack.append((v, d))) if depth < 16 else None
            changed = _changed_class(t) or (_unplain_instance(value, t, push) if t in _INSTANCE_DICTS else None)
            if changed is None and t in _JAX_STATE and push is not None:
                changed = _unplain_jax_state(value, t, push)
            if changed:
                return changed
            if _issubclass(t, _ARRAY_TYPES) and value.dtype.kind == _OBJECT_DTYPE_KIND:
                return "a NumPy array of Python objects"
            continue
        if t is _HASHABLE_SHIM:  # (jax.tree_util.Partial wraps a functools.partial so)
            own = _object_dict(value)
            if own is None or not _builtins.set(dict.keys(own)) <= _SHIM_KEYS:
                return "a wrapped callable with attributes of its own (an __array__ stored on it is called unseen)"
            stack.append((dict.get(own, "fun"), depth + 1))
            continue
        if t is _PJIT_TYPE:  # (rv31b: the answer's own function under @jax.jit, handed to cg): what it runs is
            # judged as the rest (a function of the answer's, a partial of one), and nothing else is stored on it
            why = _unplain_jitted(value)
            if why is not None:
                return why
            stack.append((_jitted_function(value), depth + 1))
            continue
        if t is _functools.partial or t is _JAX_PARTIAL or t is _FunctionType:
            # (an __array__ or __jax_array__ stored on the function or partial itself: numpy and JAX call it when
            # the allowed function converts what it is handed: rv23)
            own = _object_dict(value)
            if own is None or not _builtins.set(dict.keys(own)) <= (_WRAPPED_KEY if t is _FunctionType else _NO_KEYS):
                return "a function or partial with attributes of its own (an __array__ stored on it is called unseen)"
            if own:
                stack.append((dict.get(own, "__wrapped__"), depth + 1))
        if t is _FunctionType:
            if foreign(value.__code__):  # the answer's own function: the check follows it when it is called, and
                # what JAX and inspect read of it without calling it is plain (rv29a N1, N2)
                why = _unplain_function_fields(value)
                if why is not None:
                    return why
                continue
            made = _str_exact(value.__code__.co_filename)
            for root in _LIBRARY_DIRS:
                if made.startswith(root):
                    made = made[_len(root):]
            return (f"the library function {_str_exact(value.__code__.co_qualname)!s:.60} (from {made!s:.60}: pass a "
                    "function of your own, a lambda or a functools.partial of one, that calls it)")
        if t is _functools.partial and _type(value.func) is _FunctionType and foreign(value.func.__code__):
            # a partial of the answer's own function: what it is given reaches only that function, which the check
            # follows, as the cells of a closure do (cg(partial(my_hvp, grad_w, w), b), with grad_w = jax.grad(cost));
            # the function itself is judged (its __wrapped__, read by JAX's debug info: rv28a K2), and the keywords'
            # names are str (one of the answer's class is compared with the parameters' names as it is called: K1)
            if not all(_type(k) is _str for k in dict.keys(value.keywords)):
                return "a partial whose keyword names are not plain strings"
            stack.append((value.func, depth + 1))
            continue
        if (t is _functools.partial and _type(value.func) is _FunctionType
                and _id(value.func.__code__) in _LINEARIZED_IDS):
            # jax.linearize's result: a program JAX traced (under the check) and now only evaluates, with its
            # own structures as arguments (a program or structures made by hand from JAX's private classes
            # are not told apart: OPEN.md)
            why = "a linearized program with keywords" if value.keywords else _unplain_linearized(value.args)
            if why is not None:
                return why
            continue
        if depth < 16 and (t is _functools.partial or t is _JAX_PARTIAL):  # (cg(partial(my_hvp, w), b): the
            # function and what it is given are judged as the rest; a library function is not the answer's)
            stack.append((value.func, depth + 1))
            stack.extend((v, depth + 1) for v in _tuple.__iter__(value.args))
            stack.extend((v, depth + 1) for v in dict.values(value.keywords))
            continue
        if t is _types.MethodType and _type(value.__func__) is _FunctionType:
            stack.append((value.__func__, depth + 1))  # (a method's attributes are its function's: judged as it)
            continue
        if depth < 16 and seen < 1_000_000 and (t is _tuple or t is _list):
            stack.extend((v, depth + 1) for v in (_tuple.__iter__ if t is _tuple else _list.__iter__)(value))
            continue
        if depth < 16 and seen < 1_000_000 and t is dict:
            for k, v in dict.items(value):
                stack.append((k, depth + 1))
                stack.append((v, depth + 1))
            continue
        return f"a {_type.__getattribute__(t, '__name__')!s:.80} object"
    return None


_ESCAPES = _escape_functions()
_THREAD_START = _threading.Thread.start.__code__  # threads it starts inherit the check


def _start_trampoline():
    """Under the grader, ``_thread.start_new_thread`` (and threading's ``_start_new_thread``) is the
    grader's trampoline, a Python function (so that a ``functools.partial`` of it, which gives no
    ``c_call`` event, still shows): its code (shared by the grader's trampolines, told apart by the
    name each is made for, ``_START_NAME``), or None."""
    import _thread

    f = _thread.start_new_thread
    return f.__code__ if _type(f) is _FunctionType else None


_START_CODE, _START_NAME = _start_trampoline(), "_thread.start_new_thread"


def _bootstrap_snapshot():
    """What a new thread runs before threading hands it the check's profile function: the methods of
    threading's Thread, Event and Condition (Thread._bootstrap_inner sets an Event, which takes a
    Condition) with their code, and the module's globals they read, as imported."""
    methods = {}
    for owner in (_threading.Thread, _threading.Event, _threading.Condition):
        for name, f in _vars(owner).items():
            if _type(f) is _FunctionType:
                methods[(owner, name)] = (f, f.__code__)
    module = _vars(_threading)
    import dis

    names = {i.argval for f, _ in methods.values() for i in dis.get_instructions(f)
             if i.opname == "LOAD_GLOBAL"} - {"_profile_hook", "_trace_hook"}
    return methods, {n: module[n] for n in names if n in module}


_BOOTSTRAP, _BOOTSTRAP_GLOBALS = _bootstrap_snapshot()


def _boot_names():
    """The attributes of a Thread that threading's bootstrap reads, writes or calls on the new thread
    before it hands it the profile function, and the special methods every attribute access or dict
    insertion of the thread runs: what a subclass may not define with code of its own."""
    import dis

    names = {"__hash__", "__eq__", "__getattribute__", "__getattr__", "__setattr__", "__delattr__", "__dict__",
             "__class__"}  # (and vars(thread), read by the check itself)
    for f in (_threading.Thread._bootstrap, _threading.Thread._bootstrap_inner, _threading.Thread._set_ident,
              _getattr(_threading.Thread, "_set_native_id", None), _getattr(_threading.Thread, "_set_tstate_lock", None)):
        if f is not None:  # (an attribute of the thread itself: the one after `self`, not what is read on it,
            # so that a method named like one of an Event's or a lock's, add or set, is the subclass's own business)
            ops = _list(dis.get_instructions(f))
            names |= {i.argval for before, i in zip(ops, ops[1:]) if i.opname in ("LOAD_ATTR", "STORE_ATTR", "LOAD_METHOD")
                      and before.opname == "LOAD_FAST" and before.argval == "self"}
    # (what _bootstrap_inner calls after it set the profile function: run, and the exception hook and clean-up)
    return frozenset(n for n in names if _type(n) is _str) - {"run", "_invoke_excepthook", "_delete"}


_BOOT_NAMES = _boot_names()
_BOOTSTRAP_INNER = _threading.Thread._bootstrap_inner.__code__  # sets the new thread's profile function


def _unseen_thread(frame, expected) -> str | None:
    """Why the thread that ``Thread.start`` (its frame: ``frame``) is starting could run code the check
    does not see: before threading hands it the check's profile function (a method of the answer's
    class or object, or threading's, replaced) or without it (threading's profile function changed
    from ``expected``, where the grader keeps the check's own); ``None`` when it cannot."""
    if expected is not None and _vars(_threading).get("_profile_hook") is not expected:
        return "threading's profile function was changed: the threads it starts would not be checked"
    for (owner, name), (f, code) in _BOOTSTRAP.items():
        if _vars(owner).get(name) is not f or f.__code__ is not code:
            return f"threading.{owner.__name__}.{name} was changed: a thread starts through it before the check sees it"
    module = _vars(_threading)
    for name, value in _BOOTSTRAP_GLOBALS.items():
        if module.get(name, _MISSING) is not value:
            return f"threading.{name} was changed: a thread starts through it before the check sees it"
    thread = frame.f_locals.get("self")
    meta = _type(_type(thread))
    if meta is not type and _answer_code_in(meta):
        return "a thread whose class has a metaclass of the answer's: it runs before the check sees the thread"
    for klass in _mro_of(_type(thread)):
        if klass is _threading.Thread:
            break
        for name, value in _list(_dict_of(klass).items()):
            if _type(name) is not _str:  # (a str subclass's __eq__ would run here)
                return "a thread whose class has an attribute named by an object of the answer's"
            where = _answer_code_in(value) if name in _BOOT_NAMES else None
            if where:
                return f"a thread whose {name} is the answer's own code ({where}): it runs before the check sees the thread"
    for name, value in _list(_vars(thread).items()):
        # what runs before the profile function: the event it sets, a method shadowed on the object (what
        # run() reads, and the rest, runs under the check: a Timer's function, a monitor's class, stderr)
        if _type(name) is not _str:
            return "a thread with an attribute named by an object of the answer's"
        if name != "_started" and not _callable(_getattr(_threading.Thread, name, None)):
            continue
        where = _answer_code_in(value)
        if where:
            return f"a thread whose {name} holds the answer's own code ({where}): it runs before the check sees the thread"
    return None


# ----------------------------------------------------------------------------- the check


def _verify_genuine(ban: _Ban) -> list[str]:
    """Differences between the functions involved and their code at import time."""
    problems = list(ban.defaults_changed)
    for f, code in _OWN:
        if f.__code__ is not code:
            problems.append(f"course.integrity.{f.__name__} was modified")
    for f, label in ban.functions:
        entry = _SNAPSHOT.get(_id(f))
        if entry is not None and entry[0] is f and f.__code__ is not entry[1]:
            problems.append(f"{label} was modified (its code is not the library's)")
    if _sys.setprofile is not _setprofile or _sys.getprofile is not _getprofile:
        problems.append("sys.setprofile or sys.getprofile was replaced")
    return problems


def _thread_start_called(frame, name) -> bool:
    """Whether ``frame`` (of the grader's trampoline code) is the trampoline of ``_thread.start_new_thread``."""
    try:
        given = frame.f_locals.get("_name")
        return _type(given) is _str and given == name
    except Exception:  # noqa: BLE001
        return True


def _allowed_callback(frame, allow):
    """The id of the code the run-time frame of ``jax.debug.callback`` is about to call, where the test
    allowed it (read from the frame's closure cell, not from anything the answer passed), or None."""
    try:
        target = frame.f_locals.get("callback")
    except Exception:  # noqa: BLE001 - unreadable: not allowed
        return None
    code = _getattr(_unwrap(target), "__code__", None) if _type(target) is _FunctionType else None
    return _id(code) if code is not None and _id(code) in allow else None


def _other_thread_first(frame, event, arg):
    """What a thread that already ran when the check began runs at its next event (course._threads):
    threading's profile function, the check's, becomes its own and sees this event."""
    hook = _vars(_threading).get("_profile_hook")
    _setprofile(hook)
    if hook is not None:
        hook(frame, event, arg)


#: A thread that already runs (a pool's worker started before the check) gets the check too.
_SET_OTHERS = _others_setter(_other_thread_first)


class _Guard:
    """The context manager :func:`forbid` returns (one use)."""

    def __init__(self, ban: _Ban, why: str, seconds: float | None):
        self.ban, self.why, self.seconds = ban, why, seconds
        self.violations: list[str] = []
        self.hook = None
        self.previous = None
        self.alarm = None
        self.timer = (0.0, 0.0)
        self.thread_previous = None
        self.thread_hook = [None]
        self.t0 = 0.0
        self.names = (None, {})

    def _violation(self, what: str, frame) -> None:
        self.violations.append(what + _caller(frame))

    def _make_hook(self):
        cfuncs, prefixes, signatures = self.ban.cfuncs, self.ban.prefixes, self.ban.signatures
        # (every table is keyed by id(code), the code kept alive in it or elsewhere: see _plain_code)
        allow = {_id(c) for c in self.ban.allow}
        reach_of = self.ban.reach  # id(code of an allowed function) -> what may run inside it (_reach)
        entries = self.ban.entries
        jit_miss = _JIT_MISS
        library_exec = _LIBRARY_EXEC
        raised = [False]  # the answer's code called back by an allowed function left it by an exception
        unions: dict = {}  # (id(outer reach), id(inner reach)) -> their union (an allowed function inside another)
        escapes, own, runners = _ESCAPES, _OWN_IDS, _DEBUG_RUNNER_IDS
        thread_start, start_code, start_name = _THREAD_START, _START_CODE, _START_NAME
        bootstrap_inner, _sys_setprofile = _BOOTSTRAP_INNER, _setprofile
        thread_hook = self.thread_hook  # what threading holds while the check runs (set by __enter__)
        # (frame, what may run there or None, the allowed function's name): inside an allowed function, until
        # the answer's code is called back, only the banned functions it reaches by name (_reach) may run
        modes: list = []
        users: dict = {}  # id(code) -> (code, whether it is the answer's own: a notebook cell, exec'd text...)
        cwd = _os.getcwd() + _os.sep
        known: dict = {_id(c): (c, label) for c, label in self.ban.codes.items()}  # id(code) -> (code, label or None)
        violation = self._violation
        unplain = _unplain_argument

        def classify(code):
            """A code object met for the first time: a copy of a banned function, or in a banned file?"""
            if _plain_code(code) and _len(code.co_code) >= _MIN_SIGNATURE:
                label = signatures.get(_signature(code))
                if label is not None and _is_foreign_code(code):  # (a library's own copy is not the answer's: optax
                    # vendors JAX's module __getattr__, which jax.scipy.special runs as it is read)
                    return f"{label} (a copy of it)"
            fname = _str_exact(code.co_filename)
            for prefix, lab in prefixes:
                if fname == prefix or (prefix.endswith(_os.sep) and fname.startswith(prefix)):
                    return f"{lab} ({code.co_qualname})"
            return None

        def hook(frame, event, arg):
            if event == "call":
                code = frame.f_code
                if code is start_code and _thread_start_called(frame, start_name):
                    # a thread started through the grader's trampoline: by Thread.start, checked as below
                    caller = frame.f_back
                    why = (_unseen_thread(caller, thread_hook[0]) if caller is not None and caller.f_code is thread_start
                           else "_thread.start_new_thread (a thread the check cannot see)")
                    if why is not None:
                        violation(why, frame)
                        raise Forbidden(why)
                    return
                cid = _id(code)
                if modes and modes[-1][1] is not None:  # inside a function the test allowed
                    inside = modes[-1][1]
                    if raised[0]:
                        exc = _exc_info()[1]
                        if exc is not None:  # (the answer's exception, caught: the allowed function's except block
                            # runs, and what it reads of the exception runs no library callable of the answer's)
                            raised[0] = False
                            why = _unplain_exception(exc, lambda c: _is_foreign_code(c, cwd))
                            if why is not None:
                                why = (f"not plain data raised into {modes[-1][2]}, which this test allows: {why} (an "
                                       f"allowed function is handed back arrays, numbers, strings, tuples, lists and "
                                       f"dicts of them, and functions of your own; an exception of Python's own, with "
                                       f"a message, is fine)")
                                violation(why, frame)
                                raise Forbidden(why)
                    if cid in allow:
                        more = reach_of.get(cid, inside)
                        if more is not inside:
                            pair = (_id(inside), _id(more))
                            both = unions.get(pair)
                            if both is None or both[0] is not inside or both[1] is not more:
                                both = unions[pair] = (inside, more, inside | more)
                            more = both[2]
                        modes.append((frame, more, modes[-1][2], modes[-1][3] + _tuple(entries.get(cid, ()))))
                        return
                    user = users.get(cid)
                    if user is None or user[0] is not code:
                        user = users[cid] = (code, _is_foreign_code(code, cwd) and library_exec.get(cid) is not code)
                    if user[1]:  # the answer's own code, called back by it (a dict's __getitem__, say)
                        modes.append((frame, None, None, modes[-1][3]))
                        return
                    if cid in inside:
                        return
                    entry = known.get(cid)
                    if entry is None or entry[0] is not code:
                        entry = known[cid] = (code, classify(code))
                    label = entry[1]
                    if label is not None:  # (a banned function the allowed one does not call: run by a chain of
                        # library callables an argument carried in, say)
                        why = (f"{label} is not allowed here, not even inside {modes[-1][2]}, which this test allows "
                               f"but which does not call it")
                        violation(why, frame)
                        raise Forbidden(why)
                    return
                if cid in allow:
                    why = unplain(frame, lambda c: _is_foreign_code(c, cwd))
                    if why is not None:
                        why = (f"not plain data handed to {_str_exact(code.co_qualname)}, which this test allows: {why} "
                               f"(an allowed function takes arrays, numbers, strings, tuples, lists and dicts of them, "
                               f"and functions of your own)")
                        violation(why, frame)
                        raise Forbidden(why)
                    for g in entries.get(cid, ()):
                        changed = _reads_changed(g)
                        if changed is not None:  # (rv25: cg's module's _normalize_matvec rebound for one call)
                            why = (f"library code changed under {_str_exact(code.co_qualname)}, which this test "
                                   f"allows: {changed} (a library's modules, classes and functions are not the "
                                   f"answer's to change)")
                            violation(why, frame)
                            raise Forbidden(why)
                    changed = (_library_objects_changed() or _rule_tables_changed() or _context_changed()
                               or _unplain_current_trace(lambda c: _is_foreign_code(c, cwd)))
                    if changed is not None:  # (rv29a: what JAX's own objects hold, the trace it binds on among them)
                        why = (f"JAX's state changed under {_str_exact(code.co_qualname)}, which this test allows: "
                               f"{changed} (JAX's objects and traces are not the answer's to change)")
                        violation(why, frame)
                        raise Forbidden(why)
                    modes.append((frame, reach_of.get(cid, _frozenset()), _str_exact(code.co_qualname),
                                  _tuple(entries.get(cid, ()))))
                    return
                if code is jit_miss:  # (an allowed jitted function compiled after its frame returned: its lowering)
                    target = _jitted_target(frame, allow)
                    if target is not None:
                        changed = (next((c for g in entries.get(target, ()) for c in (_reads_changed(g),) if c), None)
                                   or _library_objects_changed() or _rule_tables_changed() or _context_changed()
                                   or _unplain_current_trace(lambda c: _is_foreign_code(c, cwd)))
                        if changed is not None:  # (as the allowed function is entered: rv29a E3 ran norm jitted)
                            why = (f"library code or JAX's state changed under the compilation of a function the test "
                                   f"allows: {changed} (a library's code, objects and traces are not the answer's to "
                                   f"change)")
                            violation(why, frame)
                            raise Forbidden(why)
                        modes.append((frame, reach_of.get(target, _frozenset()), "the compilation of a function "
                                      "the test allows", _tuple(entries.get(target, ()))))
                        return
                if cid in runners:
                    target = _allowed_callback(frame, allow)
                    if target is not None:  # a run-time callback of a function the test allowed
                        modes.append((frame, reach_of.get(target, _frozenset()), "a callback the test allows",
                                      _tuple(entries.get(target, ()))))
                        return
                entry = known.get(cid)
                if entry is None or entry[0] is not code:
                    entry = known[cid] = (code, classify(code))
                label = entry[1]
                if label is not None:
                    violation(f"{label} is not allowed here", frame)
                    raise Forbidden(f"{label} is not allowed here")
            elif event == "return":
                if modes and modes[-1][0] is frame:
                    done = modes.pop()
                    if done[1] is None and modes and modes[-1][1] is not None and _raised(frame):
                        raised[0] = True  # (what it raised is judged once the allowed function has caught it)
                    elif done[1] is None and modes and modes[-1][1] is not None:
                        # the answer's code called back by an allowed function returns into it: what it hands
                        # back is plain data (rv25 R8), and the library the allowed function runs is still as
                        # imported (rv25 R4: changed by the callback, after the allowed function was entered)
                        why = _unplain_returned(arg, lambda c: _is_foreign_code(c, cwd))
                        if why is not None:
                            why = (f"not plain data returned to {modes[-1][2]}, which this test allows: {why} (an "
                                   f"allowed function is handed back arrays, numbers, strings, tuples, lists and "
                                   f"dicts of them, and functions of your own)")
                        else:
                            for g in done[3]:
                                changed = _reads_changed(g)
                                if changed is not None:
                                    why = (f"library code changed under {modes[-1][2]}, which this test allows: "
                                           f"{changed} (a library's modules, classes and functions are not the "
                                           f"answer's to change)")
                                    break
                            if why is None:
                                changed = (_library_objects_changed() or _rule_tables_changed() or _context_changed()
                                           or _unplain_current_trace(lambda c: _is_foreign_code(c, cwd)))
                                if changed is not None:
                                    why = (f"JAX's state changed under {modes[-1][2]}, which this test allows: "
                                           f"{changed} (JAX's objects and traces are not the answer's to change)")
                        if why is not None:
                            violation(why, frame)
                            raise Forbidden(why)
            elif event == "c_call":
                key = _id(arg)
                if key in escapes:
                    code = frame.f_code
                    if _id(code) in own:
                        return
                    if code is bootstrap_inner and arg is _sys_setprofile:
                        # (under the grader a new thread runs the check from its start: threading handing it
                        # its profile function shows, and must hand the one the check found)
                        if _vars(_threading).get("_profile_hook") is thread_hook[0] or thread_hook[0] is None:
                            return
                        why = "threading's profile function was changed: the thread it starts would not be checked"
                        violation(why, frame)
                        raise Forbidden(why)
                    if code is thread_start and "start_new_thread" in escapes[key]:
                        why = _unseen_thread(frame, thread_hook[0])
                        if why is None:
                            return
                        violation(why, frame)
                        raise Forbidden(why)
                    violation(f"{escapes[key]} is not allowed while the check runs", frame)
                    raise Forbidden(f"{escapes[key]} is not allowed while the check runs")
                label = cfuncs.get(key)
                if label is not None:
                    if modes and modes[-1][1] is not None:
                        if key in modes[-1][1]:
                            return  # (one the allowed function calls itself)
                        label = f"{label} is not allowed here, not even inside {modes[-1][2]}, which this test allows"
                        violation(label, frame)
                        raise Forbidden(label)
                    violation(f"{label} is not allowed here", frame)
                    raise Forbidden(f"{label} is not allowed here")

        return hook

    def _on_alarm(self, signum, frame):
        self.violations.append(f"it ran longer than {self.seconds:g} s, the processor time this test allows")
        raise Forbidden(f"it ran longer than {self.seconds:g} s, the processor time this test allows")

    def __enter__(self):
        problems = _verify_genuine(self.ban)
        if problems:
            raise Forbidden("the check or a function it watches was tampered with: " + "; ".join(problems))
        _clear_caches()
        self.names = _caller_names()
        self.hook = self._make_hook()
        # threading's first: under the grader an answer's own check, inside the test's, is refused here,
        # before the test's profile function is read into this object, which the answer holds
        self.thread_previous = _thread_getprofile()
        self.previous = _getprofile()
        if self.previous is not None:  # inside another check (an answer's own forbid in a test's): both
            inner, outer = self.hook, self.previous  # watch, the outer first (a ban is never lifted)

            def chained(frame, event, arg):
                outer(frame, event, arg)
                return inner(frame, event, arg)

            self.hook = chained
        if self.seconds is not None and _threading.current_thread() is _MAIN:
            # processor time, not the clock's (ITIMER_PROF counts every thread of this process): a loaded
            # machine must not fail an honest answer, and brute force costs processor time wherever it runs
            self.alarm = _signal.signal(_signal.SIGPROF, self._on_alarm)
            self.timer = _signal.setitimer(_signal.ITIMER_PROF, self.seconds)  # someone else's, to put back
        self.t0 = _process_time()
        _thread_setprofile(self.hook)
        held = _vars(_threading).get("_profile_hook")
        # under the grader, threading holds its probe and the grader the check's function (the probe hands
        # it to each new thread): a thread must start with that probe. Elsewhere it holds this function,
        # or an outer check's chained one.
        self.thread_hook[0] = None if held is self.hook else held
        if held is self.hook:  # (under the grader, the grader hands it to the threads that already run)
            _SET_OTHERS(True)
        _setprofile(self.hook)
        return None

    def __exit__(self, exc_type, exc, tb):
        still = _getprofile()
        _setprofile(self.previous)
        _thread_setprofile(self.thread_previous)
        if self.thread_hook[0] is None:  # not under the grader: the threads that already ran, as it found them
            _SET_OTHERS(self.thread_previous is not None)
        elapsed = _process_time() - self.t0
        if self.alarm is not None:
            _signal.setitimer(_signal.ITIMER_PROF, 0)
            _signal.signal(_signal.SIGPROF, self.alarm)
            left, interval = self.timer
            if left > 0:  # a processor-time timer set before the block (a sampling profiler's) goes on
                _signal.setitimer(_signal.ITIMER_PROF, max(left - elapsed, 1e-3), interval)
        if still is not self.hook and not self.violations:
            self.violations.append("the check was switched off while it ran")
        if self.seconds is not None and elapsed > self.seconds and not any("longer than" in v for v in self.violations):
            self.violations.append(f"it ran {elapsed:.1f} s, longer than the {self.seconds:g} s of processor time "
                                   "this test allows")
        problems = _verify_genuine(self.ban)
        rebound = _rebound(self.names)
        if rebound:
            problems.append(f"the test's {', '.join(rebound[:3])} rebound in the notebook's namespace")
        if problems:
            self.violations.append("tampering: " + "; ".join(problems))
        if self.violations:
            seen = []
            for v in self.violations:
                if v not in seen:
                    seen.append(v)
            why = f" This exercise asks you to {self.why}." if self.why else ""
            # a time limit alone is no verdict on the route: an honest answer written as a Python loop
            # over many elements is slow too, and its message should say so
            slow = all("longer than" in v for v in seen)
            head = ("too slow: " + "; ".join(seen) + " (the intended route takes a few seconds; a Python loop over "
                    "many elements or a search does not finish: use array operations)") if slow else \
                "forbidden route: " + "; ".join(seen[:5])
            raise Forbidden(head + "." + why) from None
        return False


def forbid(*banned, allow=(), why: str = "", seconds: float | None = None) -> _Guard:
    """A context manager in which calling any of ``banned`` fails the test.

    Args:
        *banned: functions, classes, modules, or dotted names of any of these
            (``jax.hessian``, ``"jax.jacfwd"``, ``"gradtools"``, ``"scipy.linalg"``). A module or
            package bans every function defined in it.
        allow: functions that may run even though they are defined in a banned module (the test's own
            model built with ``gradtools``, say), with the banned functions they reach by name (``cg``
            runs ``custom_linear_solve``); nothing else banned runs inside them, and the answer's code
            they call back is checked as before. They take plain data only (arrays, numbers, strings,
            containers of them, the answer's own functions).
        why: what the exercise asks for, added to the failure message.
        seconds: a budget of processor time (this process's, all threads) for the block; brute force
            past it fails, and a machine busy with other work does not make an honest answer fail.

    Host callbacks, new processes and threads, and switching the check off are always violations.

    Returns:
        A context manager; use it once, in a ``with`` statement.
    """
    if seconds is not None and not (_isinstance(seconds, (int, float)) and seconds > 0):
        raise ValueError(f"forbid: seconds must be a positive number, got {seconds!r}")
    ban = _Ban([*banned, *_callback_functions()], [*allow, *_ALWAYS_ALLOWED])
    return _Guard(ban, why, seconds)


#: Every way JAX differentiates: the public transformations (named in the message when used), the
#: traces that forward and reverse mode both build (so private entry points such as
#: ``jax._src.api._jvp`` count), and Taylor-mode ``jet``. Plain evaluation, ``jit``, ``vmap``,
#: ``jnp.linalg.solve`` and ``jax.scipy.sparse.linalg.cg`` build none of them.
#: ``jax.linear_transpose`` is not in it: it differentiates nothing (it transposes a function that
#: is already linear), and JAX's own solves call it; ban it by name where it would do the exercise.
AUTODIFF = (
    "jax.jvp", "jax.vjp", "jax.grad", "jax.value_and_grad", "jax.jacfwd", "jax.jacrev", "jax.jacobian",
    "jax.hessian", "jax.linearize",
    "jax._src.interpreters.ad.JVPTrace", "jax._src.interpreters.ad.LinearizeTrace", "jax.experimental.jet",
)

#: The course's own library and the JAX libraries installed with it (diffrax brings lineax and
#: optimistix, all three built on equinox): each does a step of some exercise in one call (gradtools'
#: curvature products and paths, optax's tree arithmetic and second-order products, lineax's Jacobian
#: operators, diffrax's interpolations, optimistix's root finds, equinox's pytree arithmetic and its
#: noinline, an operation that calls back into Python: rv31b). A test bans them all unless its
#: statement hands one out.
LIBRARIES = ("gradtools", "optax", "optimistix", "lineax", "diffrax", "equinox")

_LIBRARY_TOPS = _frozenset({"builtins", "numpy", "jax", "jaxlib", "collections"})


_PyTreeDef = _jax.tree_util.PyTreeDef

try:  # JAX's pytree node types registered from Python: type -> (flatten, unflatten)
    from jax._src.tree_util import _registry as _TREE_REGISTRY
except ImportError:  # another JAX: a node type of no container Python knows is then refused
    _TREE_REGISTRY = {}
_CONTAINERS = (tuple, list, dict, type(None), _collections.OrderedDict, _collections.defaultdict)


def _library_type(t, aux=_MISSING) -> bool:
    """Whether ``t`` comes from Python, NumPy or JAX, not from the answer's own code: its module (which
    a class can claim: ``__module__ = "jax.tree_util"``), its methods, and for a pytree node the
    functions registered to flatten and unflatten it and its auxiliary data (``aux``), none of them
    the answer's."""
    if (_getattr(t, "__module__", "") or "").split(".")[0] not in _LIBRARY_TOPS or _answer_code_in(t):
        return False
    if aux is _MISSING:
        return True
    if t not in _CONTAINERS and not issubclass(t, tuple):  # named tuples: Python's own flatten
        entry = _TREE_REGISTRY.get(t)
        if entry is None or _answer_code_in(entry):
            return False
    return _answer_code_in(aux) is None


def _named_tuple_node(t) -> bool:
    """Whether JAX flattens ``t`` as a named tuple (a subclass of tuple it was not told how to flatten:
    Python's own tuple storage gives the children, and no method of the class runs)."""
    return t is not _tuple and _issubclass(t, _tuple) and t not in _TREE_REGISTRY


def _check_structure(treedef, what: str) -> None:
    """Every node of ``treedef`` is a container of Python, NumPy or JAX, or a named tuple, which
    :func:`_plain_structure` turns into a tuple (unflattening then runs no answer code)."""
    node = treedef.node_data()
    if node is not None and not _named_tuple_node(node[0]) and not _library_type(node[0], node[1]):
        raise Forbidden(f"{what} is an object of type {node[0].__qualname__}, defined by the answer; return "
                        "arrays, numbers, or tuples (named tuples too), lists and dicts of them")
    for child in treedef.children():
        _check_structure(child, what)


def _plain_structure(treedef):
    """``treedef`` with each named tuple not JAX's own made a plain tuple: a named tuple the answer defined
    comes back as the tuple of its fields, unpacked and indexed alike, and its class (whose ``__new__`` an
    answer can write) never runs."""
    node = treedef.node_data()
    if node is None:
        return treedef
    kids = [_plain_structure(child) for child in treedef.children()]
    if _named_tuple_node(node[0]) and node[0] not in _JAX_CLASSES:  # (JAX's own, EighResult..., stay as they are)
        node = (_tuple, None)
    return _PyTreeDef.from_node_data_and_children(_jax.tree_util.default_registry, node, kids)


def concrete(value, what: str = "the answer"):
    """``value`` read now, as NumPy arrays and Python numbers in Python containers.

    Call it inside :func:`forbid`'s block on what the answer returned: ``got =
    concrete(my_fn(x))``. Everything the answer could postpone (a custom pytree's flatten, an
    ``__array__``, ``__float__`` or ``__int__`` of its own) runs here, under the check, and a value
    of a type the answer defined is refused (but a named tuple, which the statement's "a tuple" allows,
    is read as the plain tuple of its fields); a value read only after the block would escape it.

    Returns:
        The same structure, named tuples as tuples, each leaf a ``numpy.ndarray`` (or a
        ``bool``/``int``/``float``/``complex`` of exactly that type).
    """
    import numpy as np

    leaves, treedef = _jax.tree_util.tree_flatten(value)  # the answer's own flatten runs now
    _check_structure(treedef, what)
    treedef = _plain_structure(treedef)
    out = []
    for leaf in leaves:
        t = type(leaf)
        if t in (bool, int, float, complex):
            out.append(leaf)
        elif _library_type(t) and (_isinstance(leaf, (np.ndarray, np.generic)) or _isinstance(leaf, _jax.Array)):
            out.append(np.asarray(leaf))
        else:
            raise Forbidden(f"{what} holds an object of type {t.__qualname__}; return arrays, numbers, or "
                            "tuples, lists and dicts of them")
    return _jax.tree_util.tree_unflatten(treedef, out)


#: Primitives that run Python on the host and return values into the computation.
CALLBACK_PRIMITIVES = frozenset({"pure_callback", "io_callback", "callback", "host_callback",
                                 "ffi_call"})  # compiled code outside JAX (a ctypes function can be Python)
#: Primitives of compiled loops (``lax.fori_loop``, ``while_loop``, ``scan``).
LOOP_PRIMITIVES = frozenset({"while", "scan"})


def _sub_jaxprs(value):
    if _isinstance(value, _ClosedJaxpr):
        yield value.jaxpr
    elif _isinstance(value, _Jaxpr):
        yield value
    elif _isinstance(value, (tuple, list)):
        for v in value:
            yield from _sub_jaxprs(v)


def _walk(jaxpr):
    """Every equation of ``jaxpr`` and of the jaxprs nested in its equations."""
    for eqn in jaxpr.eqns:
        yield eqn
        for value in eqn.params.values():
            for sub in _sub_jaxprs(value):
                yield from _walk(sub)


def _size(aval) -> int:
    n = 1
    for d in _getattr(aval, "shape", ()):
        n *= int(d)
    return n


def _static_set(static_argnums) -> set:
    return {static_argnums} if _isinstance(static_argnums, int) else set(static_argnums)


def _spec(x):
    """The shape and dtype of ``x`` (an array, a Python number, or already a ``jax.ShapeDtypeStruct``)."""
    if _isinstance(x, _jax.ShapeDtypeStruct):
        return x
    aval = _jax.typeof(x)
    return _jax.ShapeDtypeStruct(aval.shape, aval.dtype, weak_type=_getattr(aval, "weak_type", False))


def _answer_code_in(obj, seen=None, depth: int = 0) -> str | None:
    """Where code of the answer's own (a notebook cell, a file outside the installed packages: see
    :func:`_is_answer_code`) sits in ``obj`` or in what it wraps: a function, its closure, defaults
    and ``__wrapped__``, a ``functools.partial``'s function and arguments, a bound method, a callable
    object's class, a class's methods; ``None`` when there is none."""
    seen = set() if seen is None else seen
    if depth > 8 or _id(obj) in seen or obj is None:
        return None
    seen.add(_id(obj))
    kind = _type(obj)
    parts = ()
    if kind is _FunctionType:
        code = obj.__code__
        if _is_foreign_code(code):
            made = _str_exact(code.co_filename)
            return f"{_str_exact(obj.__qualname__)} ({'a notebook cell' if _is_cell_file(made) else made})"
        cells = []
        for cell in obj.__closure__ or ():
            try:
                cells.append(cell.cell_contents)
            except ValueError:  # an empty cell
                pass
        parts = (*cells, *(obj.__defaults__ or ()), *(obj.__kwdefaults__ or {}).values(),
                 _vars(obj).get("__wrapped__"))
    elif kind is _types.MethodType:
        parts = (obj.__func__,)
    elif kind is _functools.partial:
        parts = (obj.func, *obj.args, *obj.keywords.values())
    elif _issubclass(kind, (_tuple, _list)):  # named tuples too
        if kind not in (_tuple, _list):  # a class of the answer's own decides first (no method of its runs)
            where = _answer_code_in(kind, seen, depth + 1)
            if where:
                return where
        items = _tuple.__iter__(obj) if _issubclass(kind, _tuple) else _list.__iter__(obj)
        parts = (*[x for _, x in zip(range(64), items)],)
    elif kind is dict:
        parts = _tuple(y for kv in _list(dict.items(obj))[:64] for y in kv)
    elif kind is _PYTREEDEF:  # (rv31b: a jax.tree_util.Partial's function is the treedef's node data)
        data = obj.node_data()
        parts = ((data[1],) if data is not None else ()) + _tuple(obj.children()[:64])
    elif kind in (property, staticmethod, classmethod):  # met on its own (a class's __dict__ = property(...))
        parts = (obj.fget, obj.fset, obj.fdel) if kind is property else (obj.__func__,)
    elif _issubclass(kind, type):
        if kind is not type:  # a metaclass decides first (its properties would run as its classes are read)
            where = _answer_code_in(kind, seen, depth + 1)
            if where:
                return where
        for klass in _mro_of(obj):
            if klass is object:
                continue
            namespace = _dict_of(klass)
            module = namespace.get("__module__")
            home = _getattr(_sys.modules.get(module), "__file__", None) if _type(module) is _str else None
            library = _type(home) is _str and not _is_answer_code(_types.SimpleNamespace(co_filename=home), "")
            for value in _list(namespace.values()):
                if _type(value) in (staticmethod, classmethod):
                    value = value.__func__
                elif _type(value) is property:
                    value = value.fget
                if _type(value) is not _FunctionType or not _is_foreign_code(value.__code__):
                    continue
                made = _str_exact(value.__code__.co_filename)
                if library and made.startswith("<") and not _is_cell_file(made):
                    continue  # written by the library's class factory (dataclass, namedtuple), as exec'd text
                return f"{_str_exact(_qualname_of(klass))}.{_str_exact(value.__name__)} (the answer's own class)"
        return None
    else:
        # an object: its class decides first, so that nothing of an answer's class runs here (a property
        # named __dict__ ran the answer's code inside the grader's guard); a library's class is read
        where = _answer_code_in(kind, seen, depth + 1)
        if where:
            return where
        if kind in (_BuiltinType, _types.BuiltinMethodType, _types.WrapperDescriptorType, _types.MethodWrapperType,
                    _types.MethodDescriptorType):
            return None
        # (read through the types' own descriptors: an object whose class reads attributes in Python, an equinox
        # module a library's answer left in the kernel, ran that code inside the block)
        fields = _own_dict_of(obj)
        if _callable(obj):  # a callable object: what it wraps
            parts = ((fields.get("__wrapped__") if fields is not None else None),)
        else:  # a record (jax's LoweringRuleEntry, a rule and its options): its fields and slots
            parts = _tuple(fields.values()) if fields is not None and _len(fields) <= 16 else ()
            slots = _DEEP_SLOTS.get(kind)
            if slots is None:
                slots = _DEEP_SLOTS[kind] = _slot_readers(kind)
            parts += _tuple(_slot_value(obj, read) for _, read in slots[:16])
    for part in parts:
        if part is not None and _type(part) not in (_str, int, float, complex, bytes, bool):
            where = _answer_code_in(part, seen, depth + 1)
            if where:
                return where
    return None


_PYTREEDEF = _type(_jax.tree_util.tree_structure(0))


def _slot_value(obj, read):
    try:
        return read(obj)
    except Exception:  # noqa: BLE001 (a slot not set, or one its class's descriptor does not read on this object)
        return None


def _rule_registries() -> list:
    """JAX's tables of rules by primitive (lowerings, abstract evaluation's staging, printing,
    differentiation, batching...): each module-level dict of a ``jax`` module keyed by primitives,
    and the per-platform lowering tables, as ``(name, dict)``."""
    out = []
    for name, mod in _list(_sys.modules.items()):
        if mod is None or not name.startswith("jax"):
            continue
        try:
            items = _list(_vars(mod).items())
        except TypeError:
            continue
        for key, value in items:
            if _type(value) not in (dict, _collections.defaultdict) or not value:
                continue
            sample = next(iter(value))
            if _isinstance(sample, _Primitive):
                out.append((f"{name}.{key}", value))
            elif (_isinstance(value[sample], dict) and value[sample]
                  and _isinstance(next(iter(value[sample])), _Primitive)):
                out += [(f"{name}.{key}[{platform!r}]", table) for platform, table in _list(value.items())
                        if _isinstance(table, dict)]
    return out


#: Parameters of JAX's own primitives that hold a function run only when the program is
#: transformed (differentiated, batched, rematerialised), never when it is evaluated: an answer's
#: custom derivative or batching rule is its own code there, and allowed.
_TRANSFORM_ONLY = {
    "custom_jvp_call": {"jvp", "jvp_jaxpr_fun", "jvp_jaxpr_thunk"},
    "custom_vjp_call": {"fwd", "bwd", "fwd_jaxpr_thunk"},
    "custom_vjp_call_jaxpr": {"fwd", "bwd", "fwd_jaxpr_thunk"},
    "remat2": {"policy"}, "checkpoint": {"policy"},
    "custom_vmap_call": {"rule"},
    "custom_transpose_call": {"transpose"},
}
_PLAIN = (int, float, complex, bool, _str, bytes, type(None))


def _foreign_param(eqn, genuine: bool) -> str | None:
    """A parameter of ``eqn`` that holds the answer's own code (a host callback's function, a rule),
    other than the transform-only ones of JAX's own primitives (``genuine``), described, or ``None``."""
    allowed = _TRANSFORM_ONLY.get(eqn.primitive.name, ()) if genuine else ()
    for key, value in eqn.params.items():
        if key in allowed or _isinstance(value, _PLAIN) or _isinstance(value, (_ClosedJaxpr, _Jaxpr)):
            continue
        where = _answer_code_in(value)
        if where:
            return f"{key}={where}"
    return None


_RULE_NAMES = {"_lowerings": "lowering rule", "_platform_specific_lowerings": "lowering rule",
               "custom_staging_rules": "staging rule", "pp_eqn_rules": "printing rule"}


def _foreign_rule(prim, tables) -> str | None:
    """What of ``prim`` is the answer's own code: its class (a subclass of the answer's), its
    instance attributes (abstract evaluation, implementation), or a rule registered for it in one
    of JAX's tables (a lowering runs when the program is compiled, an abstract evaluation when it
    is traced again under jit); ``None`` when all of it is JAX's. ``tables``: :func:`_rule_registries`."""
    where = _answer_code_in(_type(prim))
    if where:
        return f"class {where}"
    for key, value in _list(object.__getattribute__(prim, "__dict__").items()):
        where = _answer_code_in(value)
        if where:
            return f"{key} {where}"
    for name, table in tables:
        rule = table.get(prim)
        where = _answer_code_in(rule) if rule is not None else None
        if where:
            short = name.rsplit(".", 1)[-1].split("[")[0]
            return f"{_RULE_NAMES.get(short, 'rule')} in {name} ({where})"
    return None


def _caller_names():
    """The namespace the test runs in (the first frame outside this module: a notebook's, for a test
    cell) and its modules and library functions by name, as ``forbid`` begins: the answer's functions
    share that namespace, and one that rebinds ``np`` there as the test calls it (to a module whose
    asserts pass) would change what the rest of the test reads."""
    frame = _sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_HERE):
        frame = frame.f_back
    if frame is None:
        return None, {}
    ns = frame.f_globals
    kept = {}
    for name, value in _list(ns.items()):  # modules and library functions (np, jnp, assert_allclose...)
        if _isinstance(value, _ModuleType):
            kept[name] = value
        elif _isinstance(value, (_FunctionType, _BuiltinType)):
            home = (_getattr(value, "__module__", None) or "")
            if _isinstance(home, _str) and home.split(".")[0] in WATCHED and home.split(".")[0] != "course":
                kept[name] = value
    return ns, kept


def _rebound(names) -> list:
    """The names of ``names`` (from :func:`_caller_names`) bound to something else now."""
    ns, kept = names
    if ns is None:
        return []
    return [name for name, value in kept.items() if ns.get(name, _MISSING) is not value]


def _answer_thread() -> str | None:
    """A thread other than this one that is running the answer's code (a frame of its stack is; see
    :func:`_is_answer_code`), described; ``None`` when there is none."""
    me = _threading.get_ident()
    for ident, frame in _list(_sys._current_frames().items()):
        if ident == me:
            continue
        for _ in range(200):
            if frame is None:
                break
            if _is_foreign_code(frame.f_code):
                return f"{frame.f_code.co_name} (line {frame.f_lineno})"
            frame = frame.f_back
    return None


def _foreign_code(prims, eqns=()) -> str | None:
    """Why a program made of the primitives ``prims`` (its equations ``eqns``) could run the answer's
    code when compiled or evaluated (a primitive of JAX's renamed, or one whose rules are the
    answer's, an equation that holds the answer's function, a thread of the answer's still
    running), or ``None``."""
    for prim in prims:
        entry = _PRIMITIVE_NAMES.get(_id(prim))
        if entry is not None and entry[0] is prim and prim.name != entry[1]:
            return (f"JAX's primitive {entry[1]!r} was renamed {prim.name!r}: the checks read a program's "
                    "operations by name, so the answer must not rename them.")
    for eqn in eqns:
        entry = _PRIMITIVE_NAMES.get(_id(eqn.primitive))
        where = _foreign_param(eqn, genuine=entry is not None and entry[0] is eqn.primitive)
        if where:
            return (f"the answer's program holds its own code in an operation ({eqn.primitive.name} {where}): "
                    "an operation runs it when the program is evaluated, with the test's inputs, so the "
                    "program must be made of JAX's own operations (jax.numpy, jax.lax).")
    tables = _rule_registries()
    for prim in prims:
        where = _foreign_rule(prim, tables)
        if where:
            return (f"the answer's program uses the primitive {prim.name!r}, whose {where} is the answer's own "
                    "code: a primitive's rules run when the program is compiled and evaluated, with the test's "
                    "inputs at hand, so the program must be made of JAX's own operations (jax.numpy, jax.lax).")
    where = _answer_thread()
    if where:
        return (f"tampering: a thread the answer started is still running ({where}) while its program is checked "
                "and evaluated; an answer computes its result and returns, it leaves nothing running.")
    return None


#: JAX's primitives when this module is imported (those its rule tables name), by id: (primitive, name).
_PRIMITIVE_NAMES = {_id(p): (p, p.name) for _, table in _rule_registries() for p in _list(table)}
#: The primitives JAX itself defines (those its modules hold as imported; not those another library, equinox's
#: noinline among them, registered rules for in JAX's tables), by id.
_JAX_PRIMITIVES = {_id(v): v for _, space in _list(_MODULE_DICTS.values()) for v in _list(space.values())
                   if _isinstance(v, _Primitive)}


def _trace(fn, *args, static_argnums=(), loops: bool = True, max_size: int | None = None,
           max_ops: int | None = None,
           banned=(), allow=(), why: str = ""):
    """Trace ``fn(*args)`` to JAX operations and check what it is made of (see :func:`traced`).

    The answer must trace under ``jax.make_jaxpr`` (no conversion of a traced value to Python),
    with no host callback. Optionally it must have no compiled loop (``loops=False``: a closed
    form, not an iteration) and form no array of more than ``max_size`` entries (a matrix-free
    route: no dense ``n x n`` matrix). Tracing runs inside :func:`forbid` with ``banned``.

    Returns:
        The ``ClosedJaxpr``, for further checks (its size, say).
    """
    static = _static_set(static_argnums)
    # traced from shapes and dtypes alone: no input value exists in the trace for the answer to read
    args = [a if i in static else _jax.tree.map(_spec, a) for i, a in enumerate(args)]
    try:
        with forbid(*banned, allow=allow, why=why):
            closed, shapes = _make_jaxpr(fn, static_argnums=static_argnums, return_shape=True)(*args)
    except Forbidden:
        raise
    except _jax.errors.JAXTypeError as e:
        first = _str(e).strip().splitlines()[0] if _str(e).strip() else type(e).__name__
        raise Forbidden(f"the answer must run as JAX operations under jax.jit, but tracing it failed: {first}") from None
    names = set()
    largest = (0, None, None)
    jaxpr = closed.jaxpr
    for var in [*jaxpr.invars, *jaxpr.outvars, *jaxpr.constvars]:
        aval = _getattr(var, "aval", None)
        if aval is not None and _size(aval) > largest[0]:
            largest = (_size(aval), aval, "an input or output")
    n_ops = 0
    prims = {}
    for eqn in _walk(jaxpr):
        n_ops += 1
        names.add(eqn.primitive.name)
        prims[_id(eqn.primitive)] = eqn.primitive
        if max_size is not None:
            for var in eqn.outvars:
                aval = _getattr(var, "aval", None)
                if aval is not None and _size(aval) > largest[0]:
                    largest = (_size(aval), aval, eqn.primitive.name)
    why_text = f" This exercise asks you to {why}." if why else ""
    problem = _foreign_code(prims.values(), _walk(jaxpr))
    if problem:
        raise Forbidden(problem + why_text)
    other = _sorted({_str_exact(p.name) for i, p in _list(prims.items()) if _JAX_PRIMITIVES.get(i) is not p})
    if other:  # (rv31b: equinox's noinline, one operation that calls back into Python when the program runs)
        raise Forbidden(f"the answer's program uses operations JAX does not define ({', '.join(other)[:200]}); it must "
                        f"be made of JAX's own operations (jax.numpy, jax.lax).{why_text}")
    found = _sorted((names & CALLBACK_PRIMITIVES) | {_PRIMITIVE_NAMES[i][1] for i in prims if i in _PRIMITIVE_NAMES
                                                      and _PRIMITIVE_NAMES[i][1] in CALLBACK_PRIMITIVES})
    if found:
        raise Forbidden(f"the answer calls back into Python on the host, or into compiled code outside JAX "
                        f"({', '.join(found)}); it must be JAX operations only.{why_text}")
    if not loops:
        found = _sorted(names & LOOP_PRIMITIVES)
        if found:
            raise Forbidden(f"the answer runs a loop ({', '.join(found)}); a closed form is asked for.{why_text}")
    if max_ops is not None and n_ops > max_ops:
        raise Forbidden(f"the answer's program has {n_ops:,} operations, more than the {max_ops:,} a direct "
                        f"computation needs (a loop unrolled in Python, or an iteration, grows it).{why_text}")
    if max_size is not None and largest[0] > max_size:
        size, aval, prim = largest
        raise Forbidden(f"the answer forms an array of shape {tuple(aval.shape)} ({size:,} entries, from {prim}); "
                        f"at most {max_size:,} are needed.{why_text}")
    return closed, shapes


def traced(fn, *args, static_argnums=(), loops: bool = True, max_size: int | None = None,
           max_ops: int | None = None,
           banned=(), allow=(), why: str = ""):
    """Trace ``fn(*args)`` to JAX operations and check what it is made of.

    The answer must trace under ``jax.make_jaxpr`` (no conversion of a traced value to Python),
    with no host callback. Optionally it must have no compiled loop (``loops=False``: a closed
    form, not an iteration), at most ``max_ops`` operations (a loop unrolled in Python while
    tracing leaves no loop primitive, but a long program: see :func:`op_count`), and form no array
    of more than ``max_size`` entries (a matrix-free route: no dense ``n x n`` matrix). Tracing runs
    inside :func:`forbid` with ``banned`` (and ``allow``). Check values with :func:`run_traced`,
    which evaluates this same program.

    Returns:
        The ``ClosedJaxpr``, for further checks (its size, say).
    """
    return _trace(fn, *args, static_argnums=static_argnums, loops=loops, max_size=max_size, max_ops=max_ops,
                  banned=banned, allow=allow, why=why)[0]


#: Primitives that move or relabel entries without arithmetic: indexing an array element by element
#: in Python adds many of them, so a cap on a derivation's length counts the others
#: (``op_count(program, skip=LAYOUT_PRIMITIVES)``).
LAYOUT_PRIMITIVES = frozenset({
    "slice", "squeeze", "reshape", "broadcast_in_dim", "concatenate", "transpose", "gather", "dynamic_slice",
    "iota", "select_n", "pjit", "jit", "convert_element_type", "expand_dims", "copy", "copy_p", "rev", "pad",
})


def op_count(closed, skip=()) -> int:
    """The number of operations in a traced program (a ``ClosedJaxpr`` or a :class:`Program`), nested
    ones included, leaving out the primitives named in ``skip`` (for :func:`traced`'s ``max_ops``, or
    to check that a program does not grow with the problem size)."""
    closed = _getattr(closed, "jaxpr", closed) if _isinstance(closed, Program) else closed
    return sum(1 for eqn in _walk(closed.jaxpr) if eqn.primitive.name not in skip)


class Program:
    """An answer's checked program (from :func:`traced_program`), as a function of the inputs.

    Calling it evaluates the traced operations, compiled, on arrays of the shapes and dtypes it was
    traced with; no code of the answer runs. ``jaxpr`` is the ``ClosedJaxpr`` (for :func:`op_count`);
    ``seed`` seeds the hidden inputs (``np.random.default_rng(program.seed)``).
    """

    def __init__(self, closed, shapes, specs, static_argnums):
        self.jaxpr = closed
        self._shapes, self._specs, self._static = shapes, specs, _static_set(static_argnums)
        self._fn = _jit(_jaxpr_as_fun(closed))  # compiled: op-by-op evaluation costs seconds
        # checked again before the first evaluation compiles it (its lowering rules run then)
        self._prims = _tuple({_id(e.primitive): e.primitive for e in _walk(closed.jaxpr)}.values())

    @property
    def seed(self) -> int:
        """A seed for the hidden inputs, made from this program itself (its operations, its constants
        and the shapes it was traced for): the same for the same answer, so grades are reproducible,
        and unknown to the answer while it is traced. The test's code is readable from the answer's
        frames (the literals in ``frame.f_code.co_consts``), so a literal seed, or a literal case,
        could be read and the case rebuilt at trace time; a seed that depends on what the answer
        returns cannot be: the answer would need its own constants before computing them."""
        import hashlib

        import numpy as np

        h = hashlib.sha256(_str(self.jaxpr.jaxpr).encode())
        consts = _list(self.jaxpr.consts)
        for eqn in _walk(self.jaxpr.jaxpr):  # a nested program's own constants (its text names, not shows, them)
            for value in eqn.params.values():
                for sub in (value if _isinstance(value, (_tuple, _list)) else (value,)):
                    if _isinstance(sub, _ClosedJaxpr):
                        consts += _list(sub.consts)
        for c in consts:
            a = np.asarray(c)
            h.update(_str((a.shape, _str(a.dtype))).encode())
            h.update(a.tobytes())
        h.update(_repr([(x.shape, _str(x.dtype)) if _isinstance(x, _jax.ShapeDtypeStruct) else _repr(x)
                        for x in _jax.tree.leaves(self._specs)]).encode())  # static arguments by their repr
        return int.from_bytes(h.digest()[:8], "little") >> 1

    def __call__(self, *args):
        if _len(args) != _len(self._specs):
            raise TypeError(f"the program was traced with {_len(self._specs)} arguments; got {_len(args)}")
        leaves = []
        for i, (a, s) in enumerate(zip(args, self._specs)):
            if i in self._static:
                if a is not s and not _bool(a == s):
                    raise ValueError(f"argument {i} is static: the program was traced with {s!r}; got {a!r}. "
                                     f"Trace it again with this value.")
                continue
            got, want = _jax.tree.leaves(_jax.tree.map(_spec, a)), _jax.tree.leaves(s)
            if _len(got) != _len(want) or any(g.shape != w.shape or g.dtype != w.dtype for g, w in zip(got, want)):
                raise ValueError(f"argument {i}: the program was traced for "
                                 f"{[(w.shape, _str(w.dtype)) for w in want]}; got {[(g.shape, _str(g.dtype)) for g in got]}. "
                                 f"Trace it with specs of these shapes and dtypes (traced_program).")
            leaves += _jax.tree.leaves(a)
        problem = _foreign_code(self._prims) if self._prims is not None else None
        if problem:
            raise Forbidden(problem)
        self._prims = None
        out = self._fn(*leaves)
        structure = _jax.tree.structure(self._shapes)
        _check_structure(structure, "the answer's output")  # unflattening runs no answer code, after the check
        structure = _plain_structure(structure)
        return _jax.tree.unflatten(structure, out)


def traced_program(fn, *specs, static_argnums=(), loops: bool = True, max_size: int | None = None,
                   max_ops: int | None = None, banned=(), allow=(), why: str = "") -> Program:
    """:func:`traced`, from the inputs' shapes and dtypes alone, and the checked program to evaluate.

    ``specs`` are ``jax.ShapeDtypeStruct``s (or arrays and numbers, whose values are dropped;
    static arguments are passed as they are). Build the test's inputs only *after* this call and
    evaluate the program on them: while the answer is traced, its code can read every frame and
    global of the process (``sys._getframe``, a traceback's frames), so inputs that already exist
    could be read and the answer computed at trace time, in numpy, and handed back as constants of
    an otherwise checked program::

        program = traced_program(gd_iterate, spec((n,)), spec((n,)), spec(()), loops=False)
        rng = np.random.default_rng(program.seed)  # not a literal: the test's code is readable too
        a, b, lr = make_hidden_case(rng)          # the inputs exist only now
        w_t = program(a, b, lr)                   # computed by the checked program; no answer code runs

    The test's own code is readable from the answer's frames as well (the literals of the running
    cell, ``f_code.co_consts``), so a hidden case written as literals, or drawn from a literal seed,
    could be rebuilt at trace time: draw it from :attr:`Program.seed`, which the answer cannot know
    before it has been traced.

    Returns:
        A :class:`Program`: call it with the inputs; ``.jaxpr`` is the checked ``ClosedJaxpr``.
    """
    static = _static_set(static_argnums)
    specs = tuple(s if i in static else _jax.tree.map(_spec, s) for i, s in enumerate(specs))
    closed, shapes = _trace(fn, *specs, static_argnums=static_argnums, loops=loops, max_size=max_size,
                            max_ops=max_ops, banned=banned, allow=allow, why=why)
    return Program(closed, shapes, specs, static_argnums)


def spec(shape=(), dtype=None) -> "_jax.ShapeDtypeStruct":
    """``jax.ShapeDtypeStruct(shape, dtype)``, for :func:`traced_program`; ``dtype`` defaults to JAX's
    default float (float64 when x64 is on)."""
    import jax.numpy as jnp

    return _jax.ShapeDtypeStruct(_tuple(shape) if _isinstance(shape, (tuple, list)) else (shape,),
                                 jnp.dtype(dtype) if dtype is not None else jnp.zeros(()).dtype)


def run_traced(fn, *args, static_argnums=(), loops: bool = True, max_size: int | None = None,
               max_ops: int | None = None,
               banned=(), allow=(), why: str = ""):
    """The answer's outputs, computed from its checked trace: :func:`traced_program` on ``args``'
    shapes, then that program evaluated on ``args``.

    A value check on ``fn(*args)`` called directly can be fooled by an answer that behaves one way
    when traced (a closed form, to pass :func:`traced`) and another on concrete inputs (a search in
    numpy). The outputs returned here come from the very program that was checked. The answer is
    traced from shapes, but ``args`` exist while it runs and a frame walk could find them: for a
    hidden case use :func:`traced_program` and build the inputs after it.

    Returns:
        The outputs, with ``fn``'s output structure, as arrays.
    """
    return traced_program(fn, *args, static_argnums=static_argnums, loops=loops, max_size=max_size, max_ops=max_ops,
                          banned=banned, allow=allow, why=why)(*args)


# The check's own functions, compared with their import-time code on every use.
_OWN = tuple((f, f.__code__) for f in (
    forbid, concrete, _check_structure, _library_type, traced, run_traced, traced_program, spec, _spec, _static_set,
    Program.__init__, Program.__call__, Program.seed.fget, op_count, _trace, _answer_code_in, _rule_registries,
    _foreign_rule, _foreign_code, _foreign_param, _answer_thread, _caller_names, _rebound, _verify_genuine,
    _walk, _sub_jaxprs, _unwrap, _nested, _resolve, _caller, _label_for,
    _Guard.__init__, _Guard.__enter__, _Guard.__exit__, _Guard._make_hook, _Guard._violation, _Guard._on_alarm,
    _Ban.__init__, _Ban._add, _home, _is_answer_code, _is_foreign_code, _package_dirs,
))
_OWN_CODES = _frozenset(c for _, code in _OWN for c in _nested(code, set()))
_OWN_IDS = _frozenset(_id(c) for c in _OWN_CODES)
