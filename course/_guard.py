"""Kernel-side guard of the grader: restores the names tests rely on before each test cell.

This file is not imported by the grader. Its source is executed inside the grading kernel, as a
module named ``_course_grader``, by the first cell of the graded notebook, before any cell of the
submission runs. :func:`install` then

1. imports the modules the solution notebook imports and snapshots their functions, classes and
   submodules, and the ``builtins`` module;
2. resolves the solution's import aliases (``np``, ``assert_allclose``, ``gt``, ...) to the
   genuine objects;
3. registers IPython ``pre_run_cell``/``post_run_cell`` hooks. When a test cell is about to run
   (recognised by its exact source), the pre hook puts back every patched builtin, every patched
   function or class of a snapshotted module, and every replaced ``sys.modules`` entry; binds the
   aliases the test cell uses to the genuine objects; and hides the submission's variables that
   shadow builtins the test uses. The post hook gives the submission its own bindings back.

What is defended: rebinding or monkeypatching names (``np = fake``,
``np.testing.assert_allclose = noop``, ``builtins.all = ...``, ``sys.modules['numpy'] = fake``,
``all = lambda *a: True``), and replacing a library function's code or defaults
(``jax.hessian.__code__ = ...``). :mod:`course.integrity`, when the solution uses it, is imported
after the solution's other modules, so the exercises' check records the genuine functions before
the submission runs. What is not: code that deliberately attacks the grader itself
(unregistering IPython hooks, editing this module, patching C types, reading the solution file),
helper names defined in ordinary cells of the notebook, and modules first imported after the
snapshot. Run untrusted submissions in a sandbox.
"""

import builtins as _builtins
import importlib as _importlib
import sys as _sys
import types as _types

_MISSING = object()
_BUILTINS_DICT = _builtins.__dict__
_BUILTINS = dict(_BUILTINS_DICT)
_SNAPSHOT = {}  # module name -> (module, {attribute: value})
_CODES = []  # (function, __code__, __defaults__, __kwdefaults__) of the snapshotted modules' functions
_ALIASES = {}  # name -> genuine object
_TESTS = {}  # exact test-cell source -> names it uses
_STASH = []  # (name, previous value) to give back after the test cell
_ModuleType = _types.ModuleType
_FunctionType = _types.FunctionType
_SEEN = set()
_callable = callable
_isinstance = isinstance
_vars = vars
_list = list
_setattr = setattr
_ip = None


def _protect(value):
    return _callable(value) or _isinstance(value, _ModuleType)


def _public(name):
    return not any(part.startswith("_") for part in name.split("."))


def install(modules, aliases, tests):
    """Snapshot ``modules`` and register the hooks.

    Args:
        modules: dotted names of modules the solution imports.
        aliases: ``{name: [module, attribute or None]}`` from the solution's import statements.
        tests: ``{test cell source: [names it loads]}``.
    """
    # The exercises' integrity check records the genuine library functions when first imported:
    # so it comes last, after the solution's other modules and before any cell of the submission.
    for name in sorted(modules, key=lambda m: m == "course.integrity"):
        try:
            _importlib.import_module(name)
        except Exception:
            pass
    tops = {name.split(".")[0] for name in modules}
    for name, mod in _list(_sys.modules.items()):
        top = name.split(".")[0]
        if mod is None or top not in tops or not (top == "numpy" or _public(name)):
            continue
        try:
            attrs = {k: v for k, v in _vars(mod).items() if _protect(v)}
        except TypeError:
            continue
        _SNAPSHOT[name] = (mod, attrs)
        for v in attrs.values():
            f = v
            for _ in range(8):  # through decorators (functools.wraps, jax.jit)
                if _isinstance(f, _FunctionType):
                    break
                f = getattr(f, "__wrapped__", None)
            if _isinstance(f, _FunctionType) and f not in _SEEN:
                _SEEN.add(f)
                _CODES.append((f, f.__code__, f.__defaults__, f.__kwdefaults__))
    for alias, (modname, attr) in aliases.items():
        try:
            mod = _importlib.import_module(modname)
            if attr is None:
                obj = mod
            elif hasattr(mod, attr):
                obj = getattr(mod, attr)
            else:
                obj = _importlib.import_module(modname + "." + attr)
        except Exception:
            continue
        _ALIASES[alias] = obj
    _TESTS.update({src: frozenset(names) for src, names in tests.items()})
    global _ip
    _ip = get_ipython()  # noqa: F821 (an IPython kernel builtin)
    ip = _ip
    ip.events.register("pre_run_cell", _pre_run_cell)
    ip.events.register("post_run_cell", _post_run_cell)


def restore():
    """Put back patched builtins, module attributes, functions' code and ``sys.modules`` entries."""
    for k, v in _BUILTINS.items():  # first, using no builtin name
        if _BUILTINS_DICT.get(k, _MISSING) is not v:
            _BUILTINS_DICT[k] = v
    modules = _sys.modules
    for name, (mod, attrs) in _SNAPSHOT.items():
        if modules.get(name) is not mod:
            modules[name] = mod
        d = _vars(mod)
        for k, v in attrs.items():
            if d.get(k, _MISSING) is not v:
                try:
                    _setattr(mod, k, v)
                except Exception:
                    d[k] = v
    for f, code, defaults, kwdefaults in _CODES:
        if f.__code__ is not code:
            f.__code__ = code
        if f.__defaults__ is not defaults:
            f.__defaults__ = defaults
        if f.__kwdefaults__ is not kwdefaults:
            f.__kwdefaults__ = kwdefaults


def _pre_run_cell(info):
    try:
        names = _TESTS.get(info.raw_cell)
    except AttributeError:
        return
    if names is None:
        return
    restore()
    ns = _ip.user_ns
    for name in names:
        if name in _ALIASES:
            _STASH.append((name, ns.get(name, _MISSING)))
            ns[name] = _ALIASES[name]
        elif name in _BUILTINS and name in ns:
            _STASH.append((name, ns.pop(name)))


def _post_run_cell(result):
    if not _STASH:
        return
    ns = _ip.user_ns
    while _STASH:
        name, value = _STASH.pop()
        if value is not _MISSING:
            ns[name] = value
