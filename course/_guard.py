"""Kernel-side guard of the grader: restores the names tests rely on before each test cell.

This file is not imported by the grader. Its source is executed inside the grading kernel, in a
namespace of its own (a plain dict that no module, callback or object the submission can reach refers
to), by the first cell of the graded notebook, before any cell of the submission runs. :func:`install`
then

0. hands out only trampolines: the event callbacks it registers with IPython, its AST transformer, the
   class it gives the modules it watches, the checks a test cell calls and the wrappers of the
   answer's functions are functions with globals of their own, which raise an audit event
   (``sys.audit("course.…")``); the guard's audit hook, which nothing in Python refers to, handles
   them. An event that changes what the guard does, raised by the submission's code, is refused: an
   answer cell that reached the guard's record of the test cells could clear it and turn every check
   off;
1. imports the modules the solution notebook imports and snapshots their functions, classes and
   submodules, and the ``builtins`` module;
2. resolves the solution's import aliases (``np``, ``assert_allclose``, ``gt``, ...) to the
   genuine objects;
3. registers IPython ``pre_run_cell``/``post_run_cell`` hooks. When a test cell is about to run
   (recognised by its exact source), the pre hook puts back every patched builtin, every patched
   function or class of a snapshotted module, and every replaced ``sys.modules`` entry; binds the
   aliases the test cell uses to the genuine objects; and hides the submission's variables that
   shadow builtins the test uses. The post hook gives the submission its own bindings back;
4. checks, after each statement of a test cell and at its end, that nothing it restored was changed
   again while the cell ran (an answer that patches ``numpy.testing.assert_allclose`` or a builtin
   *when it is called* would otherwise keep the patch for the rest of its test): an AST transformer
   inserts the checks, and the cell fails with an ``AssertionError`` naming what was replaced, after
   putting it back. Attribute writes to a watched module, and writes to the ``__code__``,
   ``__defaults__`` or ``__kwdefaults__`` of a snapshotted function (an audit hook), are recorded
   as they happen during a test cell, so a patch that undoes itself before the cell ends is caught
   as well;
5. hides the running test cell's source while it runs (IPython's input history ``In``/``_ih``/``_i<n>``,
   its line cache, the kernel's request), so an answer cannot read the hidden tests from there; it
   is put back after the cell;
6. records JAX's rule tables (lowerings, abstract evaluation...), its primitives' attributes, the
   functions of its private modules and the methods of its and numpy's classes, and puts back
   whatever of them holds the submission's code before each test cell (a test cell during which
   that happens fails): a lowering replaced in an answer cell would change the test's reference;
7. records IPython's hooks (text and AST transformers, event callbacks, the shell's and kernel's
   methods and message handlers, the kernel's own packages) and puts them back after every cell; the
   audit hook checks them again as each cell is compiled (and a test cell's text against its own)
   and fails the cell when they were changed: a text transformer that turned test cells into
   ``pass`` scored full marks, and so did a kernel whose replies were patched to say "ok";
8. fails a test cell during which the submission's code runs on another thread (left running by an
   earlier cell, or started as the cell runs): such a thread can rebind the names the test reads
   and put them back before the cell ends; and one after which a name the test uses is bound to
   something else in the notebook's namespace;
9. takes the submission's gc callbacks, signal handlers, import hooks, trace functions and
   ``weakref.finalize`` entries out before each test cell (they run in the main thread mid-test),
   refuses a new audit hook (one sees and can rewrite every AST IPython compiles) and fails every
   later test cell when one is tried;
10. wraps, while a test cell runs, everything of the notebook's the test calls that holds the
   submission's code (a function, a callable object, a partial, a bound method): after each call the
   names the test uses and every module of the packages they come from (all of numpy's, private
   ones included) are compared with the genuine ones and put back at once, and the submission's
   ``weakref.finalize`` entries are taken out (a no-op written straight into ``vars(numpy.testing)``,
   which no attribute hook sees, that puts the genuine function back once the test's last assert
   has run);
11. refuses the submission's code, while it is on the stack, what reaches past the objects it is
   given, at any time: a frame (IPython's list of the test cell's statements sits in a frame above
   the test's; the hidden tests' inputs in the test's; the guard's namespace in its own), except to
   a few library functions that read one and hand out only names (logging, typing, the exercises'
   check...) and to IPython's magics reading their own cell's locals; the garbage collector's lists
   of objects; the symbols and addresses ``ctypes`` gives; ``/proc``'s view of the process's memory;
   a trace or profile function. A test cell during which one was refused fails;
12. refuses the submission's code three library functions no audit event reports, replaced wherever a
   module holds them: ``signal.signal`` (Python hands a signal handler the frame it interrupted, a
   frame of the guard's or the test's), ``gc.set_debug`` (under ``DEBUG_SAVEALL`` the collector's
   ``gc.garbage`` hands out what it collected, frames included) and ``_imp.create_builtin`` (a fresh
   copy of a built-in module holds the genuine functions); keeps alive the frames an exception takes
   out of the guard, so that they never become the collector's garbage; and compares every signal
   handler and the collector's debug flags before and after each test cell, whatever they are;
13. keeps the exercises' check's profile function for threads out of ``threading._profile_hook``,
   which any code reads (its closure holds the check's state): while a test cell runs,
   ``threading.setprofile`` and ``getprofile`` are the guard's (refused to the submission's code),
   threading holds the guard's probe, and the probe hands each new thread the check's function; the
   threads that already run when a check begins (a pool's worker started by an answer cell, the
   kernel's IOPub thread) get it at their next event (``course._threads``), until the check ends;
   ``_thread.start_new_thread`` is a trampoline wherever a module holds it (threading's alias too), so
   that a raw thread started through a ``functools.partial`` shows to the check, which lets only
   threading's ``Thread.start`` through, and a thread started while a check runs runs the check's
   function from its first moment;
14. takes a cell's steering events (its start and end, the checks after each statement of a test)
   only from the kernel's main thread, and the checks only from the test cell's own code; refuses the
   submission's code ``sys.getprofile``/``gettrace`` (whatever calls them: a ``functools.partial``
   gives the exercises' check no event), any new process (``os.system``, ``subprocess``, ``fork``,
   ``exec``, ``posix_spawn``, ``_posixsubprocess.fork_exec``: the child runs without the guard), a file
   opened whose last name is ``mem``/``pagemap``/``kcore`` (``/proc/self/mem`` from a folder
   descriptor) and a link into ``/proc`` (a relative target read from the link's folder); while a
   test cell runs, any new process, whoever asks (a pool's worker has none of the answer's code);
15. reads a code object's names as exact strings (a ``str`` subclass's methods would run here), refuses
   the submission's code the defaults of its trampolines (which hold ``sys.audit``; writes to anyone),
   and has each of the test cell's checks find itself under its name in the notebook's namespace and
   the end-of-cell check count the checks after the cell's top-level statements.

What is defended: rebinding or monkeypatching names (``np = fake``,
``np.testing.assert_allclose = noop``, ``builtins.all = ...``, ``sys.modules['numpy'] = fake``,
``all = lambda *a: True``), and replacing a library function's code or defaults
(``jax.hessian.__code__ = ...``), the guard itself, IPython's and the kernel's machinery, and the
test's frames. :mod:`course.integrity`, when the solution uses it, is imported after the solution's
other modules, so the exercises' check records the genuine functions before the submission runs.
What is not: writing the interpreter's memory (``ctypes`` pointers made from ``id()``; nothing inside
the process can stop it: only a decision taken outside the kernel could), code of the submission's
that runs outside any call the test makes (a ``__del__``, a weakref callback, a dunder method numpy
calls on an object the answer returned) and undoes what it did within one statement of the test,
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
_CODE_IDS = {}  # id(function) -> its name, for the audit hook
_ALIASES = {}  # name -> genuine object
_TESTS = {}  # exact test-cell source -> names it uses
_STASH = []  # (name, previous value) to give back after the test cell
_IN_TEST = [False]  # a test cell is running
_RAW = [""]  # its source
_WRITES = []  # "module.attribute" written while a test cell ran (by _Watched.__setattr__)
_CHECK = "__course_grader_untampered__"  # the name the test cell's appended check calls
_STEP = "__course_grader_step__"  # the name the checks after each of its statements call
_LAST = "__course_grader_last__"  # holds the test cell's last expression while the check runs
_HIDDEN = []  # (put back) callables that restore what _hide_source blanked
_ModuleType = _types.ModuleType
_FunctionType = _types.FunctionType
_SEEN = set()
_callable = callable
_id = id
_FUNC_ATTRS = ("__code__", "__defaults__", "__kwdefaults__")
_isinstance = isinstance
_vars = vars
_list = list
_setattr = setattr
_ip = None


# What the submission can reach of the guard: the objects it hands to IPython (event callbacks, an AST
# transformer), to the snapshotted modules (their class) and to the test cells (the checks, the
# wrappers of the answer's functions). Each is one of the ``_t_`` functions below, made again by
# :func:`_outside` with a namespace of its own, so that nothing reachable from it (its globals, its
# defaults, its closure) refers to the guard's namespace: it raises an audit event, which the guard's
# audit hook handles. Nothing in Python refers to an audit hook, so the guard's state is out of the
# submission's reach: an answer cell that cleared its record of the test cells turned every check off.
def _t_pre_run_cell(info, _a=_sys.audit):
    _a("course.pre_run_cell", info)


def _t_post_run_cell(result, _a=_sys.audit):
    _a("course.post_run_cell", result)


def _t_check(_a=_sys.audit):
    box = []
    _a("course.check", box)
    if box:
        raise AssertionError(box[0])


def _t_step(top=0, _a=_sys.audit):
    box = []
    _a("course.step", box, top)
    if box:
        raise AssertionError(box[0])


def _t_visit(self, node, _a=_sys.audit):
    box = [node]
    _a("course.visit", box)
    return box[0]


def _t_setattr(self, name, value, _a=_sys.audit, _set=_types.ModuleType.__setattr__):
    _a("course.setattr", self, name, value)
    _set(self, name, value)


def _t_delattr(self, name, _a=_sys.audit, _del=_types.ModuleType.__delattr__):
    _a("course.delattr", self, name)
    _del(self, name)


def _t_probe(frame, event, arg, _a=_sys.audit):
    _a("course.thread", frame)


def _t_watched(*args, __course_f=None, __course_a=_sys.audit, **kwargs):
    box = [args, kwargs]
    __course_a("course.before_call", box)
    out = None
    try:
        out = __course_f(*box[0], **box[1])
        return out
    finally:
        __course_a("course.after_call", args, kwargs, out)


def _t_call(*args, _a=_sys.audit, _name="", _g=None):
    if _g:  # the guard's install, before its audit hook is in place: [the genuine function] (emptied after)
        return _g[0](*args)
    box = [args]
    _a("course.call", _name, box)
    return box[0]


def _outside(f):
    """``f`` with globals of its own (builtins only): the guard's namespace is not reachable from it."""
    g = _types.FunctionType(f.__code__, {"__builtins__": _builtins}, f.__name__, f.__defaults__, f.__closure__)
    g.__kwdefaults__ = f.__kwdefaults__
    _TRAMPOLINES[_id(g)] = g
    return g


# Every trampoline made (id -> it, kept alive): their defaults hold the audit function (and a guarded
# function's name, a wrapper the answer's function), which a write would replace (a no-op in place of
# sys.audit, and the check is never asked again) and a read would hand out to be changed in place: both
# are refused to any code but the guard's (reads: to the submission's code, and off the main thread
# while a test cell runs). They have no closure (a cell's contents can be written with no audit event).
_TRAMPOLINES = {}
_TRAMPOLINE_ATTRS = frozenset({"__code__", "__defaults__", "__kwdefaults__"})
_str_exact = str.__str__  # an exact copy of a str subclass (a code object's name can be one), running none of its code



def _trampoline_attribute(event, name):
    """A trampoline's code or defaults read or written (see _TRAMPOLINES): refused but to the guard."""
    me = _get_ident()
    _BUSY.add(me)
    try:
        caller = _sys._getframe(2)  # the code that raised the event (this, _audit, then it)
        if _code_kind(caller.f_code) == "guard":
            return
        if event != "object.__getattr__":
            why = f"a change to the {name} of one of the grader's own functions"
        elif name == "__code__":
            return  # (its code holds nothing to change; the check reads it from any thread)
        else:
            sub, guard = _walk(caller)
            off_main = _IN_TEST[0] and me != _MAIN_THREAD[0]
            if guard or (not sub and not off_main):
                return  # (JAX reads a wrapper's signature, from the test's code; the guard compares the test's names)
            why = (f"the {name} of one of the grader's own functions, read "
                   + ("by the submission's code" if sub else "off the kernel's main thread while a test cell runs"))
    finally:
        _BUSY.discard(me)
    if _IN_TEST[0]:
        _REFUSED.append(why)
    raise RuntimeError(f"the grader refuses {why}")


# The class given to snapshotted modules: records attribute writes made during a test cell.
_Watched = type("_Watched", (_types.ModuleType,), {"__setattr__": _outside(_t_setattr),
                                                   "__delattr__": _outside(_t_delattr), "__module__": "_course_grader"})


def _module_write(mod, name, value, delete):
    if _IN_TEST[0] and _id(mod) in _SNAPSHOT_IDS:  # (nothing of an object of the submission's is read)
        entry = _SNAPSHOT.get(_SNAPSHOT_IDS[_id(mod)])
        if (entry is not None and entry[0] is mod and name in entry[1] and (delete or entry[1][name] is not value)
                and not (mod.__name__ == "sys" and name.endswith("hook"))):
            _WRITES.append(f"{mod.__name__}.{name}")


# The guard's audit hook sees what no Python object shows: frames handed out, the garbage
# collector's lists of objects, the interpreter's memory through ctypes. With a frame of the test
# cell's, code of the submission's could read the hidden tests' inputs or edit the statements IPython
# has not run yet (its list of the cell's statements, in a frame above the test's); from the
# collector's lists or through ctypes, it could reach the guard itself. So, while code of the
# submission's is on the stack (not the test cell's own code, nor the guard's), the hook refuses:
# every frame while a test cell runs (but to the few library functions that read one and hand out
# only names, listed here), a frame of the guard's at any time, the collector's lists of objects, the
# symbols and addresses ctypes gives, and /proc's view of the process's memory.
_FRAME_EVENTS = frozenset({"sys._getframe", "sys._current_frames", "sys._current_exceptions"})
# (not a frame's f_code: the exercises' check reads it at every call, and a frame it is read from was
# handed out by one of the events above)
_FRAME_ATTRS = frozenset({"tb_frame", "gi_frame", "cr_frame", "ag_frame"})
_FRAME_READERS = ("/logging/__init__.py", "/typing.py", "/typing_extensions.py", "/collections/__init__.py", "/enum.py", "/dataclasses.py",
                  "/warnings.py", "/jax/_src/traceback_util.py", "/jax/_src/lazy_loader.py", "/course/integrity.py",
                  "/scipy/_lib/_bunch.py", "/matplotlib/_api/__init__.py", "/matplotlib/cbook.py",
                  "/numpy/lib/_index_tricks_impl.py", "/numpy/matrixlib/defmatrix.py",
                  "/numpy/testing/_private/utils.py", "/ipywidgets/widgets/utils.py",
                  "/absl/flags/_helpers.py", "/equinox/_errors.py")
_OWN_FRAME_READERS = ("/IPython/core/interactiveshell.py", "/IPython/core/magic.py")
_FRAME_WALKERS = ("/traceback.py", "/inspect.py", "/linecache.py")  # hand frames to whoever called them
_SUMMARIES = frozenset({"_extract_from_extended_frame_gen", "extract", "_extract_from_frame_gen", "extract_stack"})
_TRACERS = ("/course/integrity.py", "/threading.py")
_OBJECT_EVENTS = frozenset({"gc.get_objects", "gc.get_referrers", "gc.get_referents", "ctypes.dlsym",
                            "ctypes.dlsym/handle", "ctypes.cdata", "ctypes.cdata/buffer", "ctypes.addressof",
                            "ctypes.string_at", "ctypes.wstring_at"})
# Starting a process: the child runs without the guard (gradtools in a new python, or a reader of the
# kernel's memory through /proc/<pid>/mem). Refused to the submission's code at any time.
_PROCESS_EVENTS = frozenset({"os.system", "os.fork", "os.forkpty", "os.posix_spawn", "os.exec", "os.spawn",
                             "subprocess.Popen", "pty.spawn", "os.startfile"})
# A link made by the submission's code to a file in /proc (then opened under another name).
_LINK_EVENTS = frozenset({"os.symlink", "os.link"})
_GUARD_FILE = "<course grader guard>"  # the name course.grading.build compiles this file under
_GUARD_CODES = set()  # ids of this file's code objects (its functions' and theirs), recorded at install
_TEST_CODES = {}  # id -> the code objects IPython ran for the test cells (theirs and those they define)
_KINDS = {}  # id(code) -> (code, "guard" | "test" | "submission" | "library")
_BUSY = set()  # threads in the hook's own walk of the stack (the events it raises itself are its own)
try:
    from _thread import get_ident as _get_ident
except ImportError:  # pragma: no cover
    from threading import get_ident as _get_ident
_REFUSED = []  # what the submission's code was refused while a test cell ran
_RAW_FILE = []  # the file name IPython compiled the running test cell under


def _test_code(code):
    """Record a code object IPython runs for the test cell (its statements, compiled from the tree the
    guard saw) as the test's: only IPython's run_code, with nothing of the submission's on the stack."""
    me = _get_ident()
    _BUSY.add(me)
    try:
        runner = _sys._getframe(2)
        ok = (_str_exact(runner.f_code.co_name) == "run_code"
              and _str_exact(runner.f_code.co_filename).endswith("/IPython/core/interactiveshell.py")
              and _code_kind(runner.f_code) == "library" and not _walk(runner)[0])
    finally:
        _BUSY.discard(me)
    todo = [code] if ok else []
    while todo:
        c = todo.pop()
        if _id(c) not in _TEST_CODES:
            _TEST_CODES[_id(c)] = c
            _KINDS.pop(_id(c), None)
            todo += [k for k in c.co_consts if _type(k) is _types.CodeType]


def _code_kind(code):
    hit = _KINDS.get(_id(code))
    if hit is not None and hit[0] is code:
        return hit[1]
    fname = _str_exact(code.co_filename)
    if _id(code) in _TEST_CODES:
        kind = "test"
    elif _id(code) in _GUARD_CODES and fname == _GUARD_FILE:
        kind = "guard"
    else:
        check = _DEEP_CODE_FILE[0]
        foreign = check(code, "") if check is not None else fname.startswith("<")
        kind = "submission" if foreign else "library"
    _KINDS[_id(code)] = (code, kind)
    return kind


def _walk(frame):
    """(the submission's code on the stack from ``frame`` out, the guard's)."""
    sub = guard = None
    for _ in range(1000):
        if frame is None:
            break
        code = frame.f_code
        kind = _code_kind(code)
        if kind == "submission" and sub is None:
            sub = f"{_str_exact(code.co_name)} in {_str_exact(code.co_filename)}, line {frame.f_lineno}"
        guard = guard or kind == "guard"
        frame = frame.f_back
    return sub, guard


def _refusal(event, args):
    """Why the event is refused (``None`` when it is not); called with the thread marked busy."""
    caller = _sys._getframe(2)  # the code that raised the event (this, _audit, then it)
    kind = _code_kind(caller.f_code)
    if kind == "guard":
        return None
    if kind == "library" and event[4:7] == "set" and _str_exact(caller.f_code.co_filename).endswith(_TRACERS):
        return None  # (the exercises' check watches calls with a profile function)
    if event == "open":  # (whoever asks, at any time: no library reads a process's memory; a pool's worker
        # opened it for the answer, with none of the answer's code on its stack: rv20)
        path = args[0] if args else None
        if _type(path) is not str and _type(path) is not bytes:
            return ("opening a file named by a path-like object (its methods could name another file than the one opened: "
                    "pass str(path))")
        return "opening a file of /proc only its owner may read (a process's memory, through /proc)"
    if event in _PROCESS_EVENTS and _IN_TEST[0]:  # (whoever asks: a pool's worker has none of the answer's code)
        return f"{event} (a new process runs without the grader's checks: none starts while a test cell runs)"
    if (event in ("sys.settrace", "sys.setprofile") and _IN_TEST[0] and _get_ident() != _MAIN_THREAD[0]
            and not (_THREAD_FIRST[0] is not None and caller.f_code is _THREAD_FIRST[0].__code__)):
        # (whoever asks, but the guard's start of a new thread: a pool's worker would drop the check's function,
        # with none of the answer's code on its stack)
        return f"{event} off the kernel's main thread while a test cell runs (the check's function would be dropped)"
    sub, guard = _walk(caller)
    if not sub:
        return None
    if event in _OBJECT_EVENTS:
        return f"{event} (the interpreter's objects or memory, out of reach of the submission's code)"
    if event in _PROCESS_EVENTS:
        return f"{event} (a new process runs without the grader's checks)"
    if event in _LINK_EVENTS:
        return f"{event} (a link to a file in /proc)"
    if event in ("sys.settrace", "sys.setprofile"):  # a trace or profile function is handed every frame
        return f"{event} (a function handed every frame)"
    frames = []
    if event == "sys._getframe":
        frames = [args[0]]
    elif event == "object.__getattr__":
        frames = [getattr(args[0], args[1], None)]
    if guard or any(_walk(f)[1] for f in frames if f is not None):
        return f"{event} (a frame of the grader's)"
    # Who gets the frame: past the standard library's frame walkers (traceback, inspect,
    # logging.currentframe), whose callers get the frames, unless traceback's own summary takes them
    # (it hands out file names, lines and, at most, the text of the locals).
    reader, summarised = caller, False
    while reader is not None and _code_kind(reader.f_code) == "library" and (
            _str_exact(reader.f_code.co_filename).endswith(_FRAME_WALKERS)
            or (_str_exact(reader.f_code.co_name) == "<lambda>"
                and _str_exact(reader.f_code.co_filename).endswith("/logging/__init__.py"))):
        summarised = summarised or _str_exact(reader.f_code.co_name) in _SUMMARIES
        reader = reader.f_back
    if summarised or (reader is not None and _code_kind(reader.f_code) == "library"
                      and _str_exact(reader.f_code.co_filename).endswith(_FRAME_READERS)):
        return None
    if (event == "sys._getframe" and kind == "library" and _str_exact(caller.f_code.co_filename).endswith(_OWN_FRAME_READERS)
            and _code_kind(args[0].f_code) in ("submission", "test") and _nearest_cell(caller) is args[0]):
        return None  # %matplotlib, %time...: IPython reads the locals of the cell that called it, and no other
    return (f"{event} (a frame; asked at line {caller.f_lineno} of {_str_exact(caller.f_code.co_filename).rsplit('/', 1)[-1]}, "
            f"with {sub} on the stack)")


def _links_to_proc(args):
    """Whether a link made with ``args`` (os.symlink's or os.link's audit arguments: source, link,
    folder descriptor) leads into /proc: a relative source is read from the link's own folder, as the
    kernel reads it; one relative to a folder descriptor is refused."""
    try:
        import os

        if _len(args) < 2 or not all(_type(a) is bytes or _type(a) is str for a in args[:2]):
            return True  # (a path-like object of the submission's would run its code here)
        src, dst = (a.decode() if _type(a) is bytes else a for a in args[:2])
        if not os.path.isabs(src):
            if _len(args) > 2 and args[2] not in (None, -1):  # (-1: no folder descriptor, in Python 3.11)
                return True
            src = os.path.join(os.path.dirname(os.path.abspath(dst)), src)
        return src.replace("\\", "/").startswith("/proc") or os.path.realpath(src).startswith("/proc")
    except Exception:
        return True


def _nearest_cell(frame):
    """The first frame out from ``frame`` whose code is not a library's."""
    frame = frame.f_back
    while frame is not None and _code_kind(frame.f_code) == "library":
        frame = frame.f_back
    return frame


def _proc_device():
    """The device number of /proc's file system, and os.stat's C function, taken at boot."""
    import posix

    try:
        return posix.stat("/proc").st_dev, posix.stat
    except OSError:
        return None, None


_PROC_DEV, _STAT = _proc_device()
_GETPID = __import__("posix").getpid


def _is_mem(path):
    """Whether opening ``path`` could read a process's memory: its last part is ``mem``, ``pagemap`` or
    ``kcore``, whatever folder it is named from (a relative name after a chdir, /dev/fd/N), or, however
    it is written (a link pointed there later, /proc/self/root, /proc/.., backslashes: rv19, rv20), it
    leads to a regular file of /proc that only its owner may read. A path-like object is refused: io.FileIO hands it to
    this hook as it is, and its methods (str, __fspath__) are the submission's to define, and may name
    another file than the one opened (rv18a r5, rv19)."""
    try:  # (read as exact copies: a str or bytes subclass's methods would run inside the audit hook)
        if _isinstance(path, str):
            text = _str_exact(path)
        elif _isinstance(path, bytes):
            text = bytes.decode(path)
        elif _type(path) is int:
            return False
        else:
            return True
    except Exception:
        return True
    name = text.replace("\\", "/").rstrip("/")
    if name.rsplit("/", 1)[-1] in ("mem", "pagemap", "kcore"):
        return True
    if _PROC_DEV is None:
        return False
    try:  # what the name leads to, followed through every link in C, whatever it looks like (/proc/self/root,
        # /proc/.., a backslash: rv20): a file of /proc that only its owner may read (mem, pagemap, environ...)
        st = _STAT(text)
        if not (st.st_dev == _PROC_DEV and (st.st_mode & 0o170000) == 0o100000 and not st.st_mode & 0o004):
            return False
    except Exception:
        return False
    return not _own_counters(text, st)


# Files of /proc only their owner may read that say nothing of a process's memory: the kernel's own are
# open to it (psutil's io_counters reads io, its as_dict environ: rv21b).
_OWN_COUNTERS = ("io", "environ", "auxv", "personality", "syscall", "sched", "timerslack_ns")


def _own_counters(text, st):
    """Whether ``text``, which stat found to be ``st``, is one of the kernel's own _OWN_COUNTERS files or its
    fdinfo entries: the same file (device and inode) as /proc/<its pid>/NAME. Judged by the file, with the C
    functions taken at boot (a library's path functions could be replaced by the submission's)."""
    try:
        base = f"/proc/{_GETPID()}/"
        last = text.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
        names = [*_OWN_COUNTERS, *((f"fdinfo/{last}",) if last.isdigit() else ())]
        for name in names:
            own = _STAT(base + name)
            if own.st_ino == st.st_ino and own.st_dev == st.st_dev:
                return True
    except Exception:
        return False
    return False


def _audit(event, args):
    """sys audit hook: the guard's events (see the ``_t_`` functions); a write to a snapshotted
    function's code or defaults while a test cell runs; what the submission is refused (above); and,
    as a cell's text is compiled, the shell that runs it checked (see :func:`_shell_changed`)."""
    if _BUSY and _get_ident() in _BUSY:
        return
    try:
        if event[:7] == "course.":
            _course_event(event, args)
        elif event[:7] == "object." and len(args) > 1 and _id(args[0]) in _TRAMPOLINES and args[1] in _TRAMPOLINE_ATTRS:
            _trampoline_attribute(event, args[1])
        elif event == "object.__setattr__" and _IN_TEST[0] and len(args) > 1 and args[1] in _FUNC_ATTRS:
            name = _CODE_IDS.get(_id(args[0]))
            if name is not None:
                _WRITES.append(f"the {args[1]} of {name}")
        elif (event in _FRAME_EVENTS or event in _OBJECT_EVENTS or event in ("sys.settrace", "sys.setprofile")
              or (event == "object.__getattr__" and len(args) > 1 and args[1] in _FRAME_ATTRS)
              or (event == "open" and args and _is_mem(args[0])) or event in _PROCESS_EVENTS
              or (event in _LINK_EVENTS and args and _links_to_proc(args))) and _SHELL:
            me, why = _get_ident(), None
            try:
                _BUSY.add(me)
                why = _refusal(event, args)
            finally:
                _BUSY.discard(me)
            if why is not None:
                if _IN_TEST[0]:
                    _REFUSED.append(why)
                raise RuntimeError(f"the grader refuses the submission's code {why}")
        elif event == "cpython.PyInterpreterState_New" and _SHELL:
            # (whoever asks: a sub-interpreter has neither this hook nor the check's profile function; the
            # extension modules that make one are refused as they are made, see _new_extension)
            why = "a new interpreter (it runs without the grader's checks)"
            if _IN_TEST[0]:
                _REFUSED.append(why)
            raise RuntimeError(f"the grader refuses {why}")
        elif event == "sys.addaudithook" and _SHELL:
            # no code removes an audit hook, and one sees (and can change) every AST IPython compiles: one
            # added after the grader's, by whatever code, runs for good, so every later test cell fails
            me = _get_ident()
            _BUSY.add(me)
            try:
                frame = _sys._getframe(1)
                while frame is not None and _code_kind(frame.f_code) != "submission":
                    frame = frame.f_back
                where = f" (line {frame.f_lineno} of its code)" if frame is not None else ""
            finally:
                _BUSY.discard(me)
            _FOREVER.append(f"an audit hook the submission tried to add{where}")
            raise RuntimeError("the grader refuses a new audit hook: it would see (and could change) every test cell")
        elif event == "exec" and _IN_TEST[0] and _RAW_FILE and args and _type(args[0]) is _types.CodeType \
                and _str_exact(args[0].co_filename) == _RAW_FILE[0] and not _FOREVER:
            _test_code(args[0])
        elif event == "exec" and _FOREVER and _IN_TEST[0]:
            # raised here, before the test cell's code runs: an audit hook of the submission's, called after
            # this one, could have rewritten that code (every statement in a try), the end-of-cell check too
            raise AssertionError(f"tampering: {_FOREVER[0]}: one would see and could rewrite every test cell; "
                                 "the grader refused it, and this test cell and every later one score 0")
        elif event == "compile" and _SHELL and len(args) > 1 and _type(args[0]) in (str, bytes) \
                and _type(args[1]) is str and ("/ipykernel_" in args[1] or args[1].startswith("<ipython-input")):
            # (exact types only: a subclass's __contains__ would run inside the audit hook; IPython passes str)
            # IPython parsing a cell's text (its code is compiled from the tree); in a test cell, only the test's
            # own (others are parsed to show a traceback)
            if not _IN_TEST[0] or not _RAW_FILE or args[1] == _RAW_FILE[0]:
                _check_compiled_cell(args[0])
    except BaseException as exc:
        # the traceback holds this frame (and those under it): kept alive, none of them can become the
        # collector's garbage, which DEBUG_SAVEALL would hand out
        me = _get_ident()
        _BUSY.add(me)
        try:
            tb = exc.__traceback__
            while tb is not None:
                _KEPT_FRAMES.append(tb.tb_frame)
                tb = tb.tb_next
        finally:
            _BUSY.discard(me)
        raise


def _course_event(event, args):
    """The trampolines' events. Those that change what the guard does (a test cell's start and end, its
    transformation, its checks) come from IPython or from a test cell; raised with the submission's code
    on the stack, they are refused."""
    me = _get_ident()
    _BUSY.add(me)
    try:
        raiser = _sys._getframe(2)
        genuine = raiser.f_code is _TRAMPOLINE_CODES.get(event)
        sub = _walk(raiser.f_back)[0] if genuine and (event in _STEERING or event == "course.call") else None
        if genuine and event in _STEERING and me != _MAIN_THREAD[0]:
            # IPython runs a cell, its hooks and the test's checks on the kernel's main thread; from another
            # (a pool's worker, started by the answer, with none of its code on the stack) the end-of-cell
            # check could run after the failing test's frames were gone, and report it
            sub = sub or "a thread other than the kernel's main thread"
        elif genuine and event in ("course.check", "course.step") and (
                not _IN_TEST[0] or (_RAW_FILE and _str_exact(raiser.f_back.f_code.co_filename) != _RAW_FILE[0])):
            sub = sub or "code other than the test cell's"
        elif genuine and event == "course.thread" and _GUARDED.get("sys.getprofile", _sys.getprofile)() is not _PROBE[0]:
            sub = "a call of the grader's thread probe (it runs only as a new thread's profile function)"
    finally:
        _BUSY.discard(me)
    if genuine and sub and event == "course.visit":
        return  # a magic the answer runs (%time) compiles its line: left as it is (only the test cell's own counts)
    if genuine and event == "course.call" and (_type(args[0]) is not str or args[0] not in _GUARDED or _type(args[1]) is not _list or _len(args[1]) != 1
                                               or _type(args[1][0]) is not tuple):
        genuine = False
    if not genuine or (sub and event != "course.call"):
        # raised by the submission's code (the guard's own events, to switch it off or to make it run
        # the submission's code inside its frames): refused
        if _IN_TEST[0]:
            _REFUSED.append(f"the grader's own event {event} raised by the submission's code")
        raise RuntimeError(f"the grader refuses {event} from the submission's code" + (f" ({sub})" if sub else ""))
    if event == "course.call":
        name, box = args
        if name == "_posixsubprocess.fork_exec" and _IN_TEST[0]:
            sub = sub or "a new process while a test cell runs"
        if name == "_imp.create_dynamic":  # (importlib makes it for whoever imports: judged by what it makes)
            sub = None if _new_extension(box[0]) else (
                sub or "an extension module made again (a fresh copy of _posixsubprocess starts processes unseen), or one "
                "of CPython's test or experimental modules (a sub-interpreter runs without the grader's checks)")
        if sub and not ((name == "_imp.create_builtin" and _len(box[0]) == 1 and _new_builtin(box[0][0]))
                        or name == "_thread.start_new_thread"):  # (threads: the exercises' check decides)
            if _IN_TEST[0]:
                _REFUSED.append(f"{name} (called by the submission's code)")
            raise RuntimeError(f"the grader refuses the submission's code {name} ({sub})")
        if name in ("threading.setprofile", "threading.getprofile"):
            box[0] = _thread_profile(name, box[0])
        elif name in ("sys.getprofile", "sys.gettrace") and _IN_TEST[0] and _get_ident() != _MAIN_THREAD[0]:
            box[0] = None  # (a pool's worker, while a check runs, has the check's function: not handed out)
        else:
            args = box[0]
            if name == "_thread.start_new_thread" and _THREAD_HOOK[0] is not None and 2 <= _len(args) <= 3:
                # the new thread runs the check's function from its first moment (not from when threading
                # reads its profile function, which the answer could change in between), then its own
                args = (_THREAD_FIRST[0], (_THREAD_HOOK[0], *args))
            box[0] = _GUARDED[name](*args)
        return
    if event == "course.setattr":
        _module_write(args[0], args[1], args[2], False)
        return
    if event == "course.delattr":
        _module_write(args[0], args[1], None, True)
        return
    if event == "course.before_call":
        args[0][:] = _before_call(*args[0])
        return
    if event == "course.after_call":
        _KEEP.append(args)  # what the call was given and gave back, alive until the cell ends (see _KEEP)
        _WRITES.extend(_test_variables_changed())
        _after_answer_call()
        return
    if event == "course.thread":
        _thread_probe(args[0], None, None)
        return
    if event == "course.pre_run_cell":
        _pre_run_cell(args[0])
    elif event == "course.post_run_cell":
        _post_run_cell(args[0])
    elif event == "course.visit":
        args[0][0] = _visit(args[0][0])
    elif event == "course.check":
        why = untampered()
        if why:
            args[0].append(why)
        else:
            _report()
    elif event == "course.step":
        why = _step(args[1] if _len(args) > 1 else 0)
        if why:
            args[0].append(why)


# IPython runs each cell through hooks a submission can add to or replace: text transformers (which
# run before the cell is even recognised as a test: one that returns "pass" for a cell with an assert
# scored full marks), AST transformers, event callbacks (the guard's own among them), the shell's
# and the kernel's methods and message handlers. The guard records them at install and puts them back
# after every cell (so the next one runs through IPython's own); an audit hook, which no code can
# remove, checks them again as each cell's text is compiled, with the text of a test cell, and fails
# the cell when they differ. Not defended: a replaced run_cell that never compiles the test cell.
_SHELL = []  # one dict: what install recorded of the shell


def _shell_snapshot(ip):
    import IPython.core.inputtransformer2 as it2

    kernel = getattr(ip, "kernel", None)
    lists = [(f"shell.{n}", getattr(ip, n)) for n in ("input_transformers_cleanup", "input_transformers_post",
                                                         "ast_transformers")]
    tm = ip.input_transformer_manager
    lists += [(f"input_transformer_manager.{n}", getattr(tm, n)) for n in ("cleanup_transforms", "line_transforms",
                                                                           "token_transformers")
              if _isinstance(getattr(tm, n, None), list)]
    lists += [(f"events[{e!r}]", cbs) for e, cbs in ip.events.callbacks.items()]
    dicts = [("kernel.shell_handlers", getattr(kernel, "shell_handlers", None)),
             ("kernel.control_handlers", getattr(kernel, "control_handlers", None))]
    objects = [("shell", ip), ("shell.events", ip.events), ("shell.input_transformer_manager", tm),
               ("shell.compile", ip.compile), ("shell.displayhook", ip.displayhook), ("kernel", kernel),
               ("kernel.session", getattr(kernel, "session", None))]
    classes = {}
    for _, obj in objects:
        for klass in type(obj).__mro__ if obj is not None else ():
            if klass is not object and _id(klass) not in classes:
                classes[_id(klass)] = (klass, dict(klass.__dict__))
    _SHELL.append({
        "ip": ip, "lists": [(label, lst, list(lst)) for label, lst in lists],
        "dicts": [(label, d, dict(d)) for label, d in dicts if _isinstance(d, dict)],
        "attrs": [(label, obj, set(vars(obj))) for label, obj in objects if obj is not None and hasattr(obj, "__dict__")],
        "refs": [(name, getattr(ip, name)) for name in ("input_transformer_manager", "events", "compile", "displayhook",
                                                        "prefilter_manager", "kernel")],
        "classes": list(classes.values()), "transformer": it2.TransformerManager(),
        "exact": [(klass, dict(klass.__dict__)) for klass in _execution_classes()],
        "types": [(label, obj, type(obj)) for label, obj in objects if obj is not None],
    })


def _execution_classes():
    """IPython's record of a cell's run (its text, its result): every attribute counts (rv13: a property
    made of a dict's get made ExecutionInfo.raw_cell another cell's text, and error_in_exec None)."""
    try:
        from IPython.core.interactiveshell import ExecutionInfo, ExecutionResult
    except ImportError:  # pragma: no cover
        return []
    return [ExecutionInfo, ExecutionResult]


def _shell_changed(fix):
    """What differs from the shell install recorded (put back with ``fix``)."""
    snap, out = _SHELL[0], []
    for klass, saved in snap.get("exact", ()):
        out += _class_changed(klass, saved, fix)
    ip = snap["ip"]
    for name, value in snap["refs"]:
        if getattr(ip, name, None) is not value:
            out.append(f"shell.{name}")
            if fix:
                _setattr(ip, name, value)
    for label, obj, kind in snap["types"]:  # an object's class swapped for a subclass of the answer's
        if type(obj) is not kind:
            out.append(f"the class of {label}")
            if fix:
                try:
                    obj.__class__ = kind
                except TypeError:
                    pass
    for label, lst, saved in snap["lists"]:
        if len(lst) != len(saved) or any(a is not b for a, b in zip(lst, saved)):
            out.append(label)
            if fix:
                lst[:] = saved
    for label, d, saved in snap["dicts"]:
        if len(d) != len(saved) or any(d.get(k, _MISSING) is not v for k, v in saved.items()):
            out.append(label)
            if fix:
                d.clear()
                d.update(saved)
    for label, obj, keys in snap["attrs"]:  # a method shadowed by an attribute of the instance
        methods = {k for klass in type(obj).__mro__ for k, v in vars(klass).items() if _callable(v)}
        for k in [k for k in vars(obj) if k not in keys and k in methods]:
            out.append(f"{label}.{k}")
            if fix:
                delattr(obj, k)
    for klass, saved in snap["classes"]:  # methods only (traitlets caches its own data on classes)
        out += _class_changed(klass, saved, fix, methods_only=True)
    return out


def _class_changed(klass, saved, fix, methods_only=False):
    """The attributes of ``klass`` that differ from ``saved`` (its __dict__ at install), put back with ``fix``."""
    d, out = klass.__dict__, []
    for k in [k for k in set(d) | set(saved) if d.get(k, _MISSING) is not saved.get(k, _MISSING)
              and (not methods_only or _method(d.get(k)) or _method(saved.get(k)))]:
        out.append(f"{klass.__qualname__}.{k}")
        if fix:
            try:
                if k in saved:
                    _setattr(klass, k, saved[k])
                else:
                    delattr(klass, k)
            except (TypeError, AttributeError):
                pass
    return out


def _method(value):
    return _isinstance(value, (_FunctionType, staticmethod, classmethod, property)) or (
        value is not None and not _isinstance(value, (dict, list, tuple, set, str, int, float, type(None)))
        and _callable(value))


def _check_compiled_cell(source):
    """The audit hook, as IPython compiles a cell's text: fail the cell if the shell was changed (the
    text of a test cell must then be its own, through IPython's own transformations)."""
    changed = _shell_changed(fix=True)
    raw = _RAW[0] if _IN_TEST[0] else None
    if raw is None:
        kernel = getattr(_SHELL[0]["ip"], "kernel", None)
        parent = kernel.get_parent() if kernel is not None and _callable(getattr(kernel, "get_parent", None)) else None
        content = parent.get("content") if _isinstance(parent, dict) else None
        code = content.get("code") if _isinstance(content, dict) else None
        raw = code if _isinstance(code, str) and code in _TESTS else None
        if raw is not None:
            changed.append("the guard's hooks (a test cell ran without them)")
    if raw is not None:
        text = source.decode() if _isinstance(source, bytes) else source
        if text.rstrip() != _SHELL[0]["transformer"].transform_cell(raw).rstrip():
            changed.append("the test cell's text (rewritten before it ran)")
    if changed:
        shown = ", ".join(dict.fromkeys(changed[:5]))
        raise AssertionError(f"tampering: {shown} was replaced before this cell ran; the grader put it back and "
                             "the cell fails (a test cell scores 0)")


def _changed():
    """What differs from the snapshot now: builtins, module attributes, sys.modules, functions' code."""
    out = [f"builtins.{k}" for k, v in _BUILTINS.items() if _BUILTINS_DICT.get(k, _MISSING) is not v]
    modules = _sys.modules
    for name, (mod, attrs) in _SNAPSHOT.items():
        if modules.get(name) is not mod:
            out.append(f"sys.modules[{name!r}]")
        d = _vars(mod)
        out += [f"{name}.{k}" for k, v in attrs.items() if d.get(k, _MISSING) is not v
                and not (name == "sys" and k.endswith("hook"))]  # the kernel sets sys.excepthook per cell
    for f, code, defaults, kwdefaults in _CODES:
        if f.__code__ is not code or f.__defaults__ is not defaults or f.__kwdefaults__ is not kwdefaults:
            out.append(f"the code of {getattr(f, '__module__', '?')}.{getattr(f, '__qualname__', '?')}")
    return out


# What JAX runs for every program, below its public names: the functions of its private modules, the
# methods of its (and numpy's, scipy's...) classes, its tables of rules by primitive (lowerings,
# abstract evaluation, printing...) and its primitives' own attributes. JAX itself rebinds some of
# these as it goes (lazily made functions, rules of modules imported later), so only a change that
# puts the answer's own code there (course.integrity's _answer_code_in: a notebook cell, a file
# outside the installed packages) is tampering: a lowering of jax.lax.sin_p replaced in an answer
# cell would otherwise compute the test's own reference with the answer's code.
_DEEP_CODE = [None]  # course.integrity._answer_code_in, when the solution uses course.integrity
_DEEP_DICTS = []  # (label, the live dict, {key: value} at install): private modules, primitives
_DEEP_CLASSES = []  # (label, class, {key: value} at install)
_DEEP_TABLES = []  # (label, table, {primitive: rule} at install)
_DEEP_PRIMS = {}  # id -> JAX's primitives at install (kept alive, so their ids stay theirs)


def _deep_snapshot(tops):
    try:  # the exercises' check, for its walk of what holds the answer's code: imported here when no test
        integrity = _importlib.import_module("course.integrity")  # cell of the solution imports it
    except Exception:  # (a course without it: these checks are off)
        return
    if not _callable(getattr(integrity, "_answer_code_in", None)):
        return
    _DEEP_CODE[0] = integrity._answer_code_in
    _DEEP_CODE_FILE[0] = getattr(integrity, "_is_foreign_code", integrity._is_answer_code)
    for label, table in integrity._rule_registries():
        _DEEP_TABLES.append((label, table, dict(table)))
    prims = {_id(p): p for _, _, snap in _DEEP_TABLES for p in snap}
    _DEEP_PRIMS.update(prims)
    for p in prims.values():
        try:
            d = object.__getattribute__(p, "__dict__")
        except AttributeError:
            continue
        _DEEP_DICTS.append((f"the primitive {getattr(p, 'name', '?')}", d, dict(d), frozenset(d)))
    for name, mod in _list(_sys.modules.items()):
        if mod is None or name.split(".")[0] not in tops:
            continue
        try:
            d = _vars(mod)
        except TypeError:
            continue
        top = name.split(".")[0]  # public ones: _SNAPSHOT, every change; the kernel's own: here, only its code
        if (not _public(name) and top != "numpy") or top in _KERNEL_TOPS:
            _DEEP_DICTS.append((name, d, {k: v for k, v in d.items() if _callable(v)}, frozenset(d)))
        for k, v in _list(d.items()):
            if _isinstance(v, _FunctionType) and _id(v) not in _SEEN_CLASSES:
                _SEEN_CLASSES.add(_id(v))
                _DEEP_CODES.append((f"{name}.{k}", v, v.__code__))
                # (its defaults or code written while a test cell runs is tampering, as for the public modules'
                # functions: the exercises' check reads an allowed function's reach as imported, rv25)
                _CODE_IDS.setdefault(_id(v), f"{name}.{k}")
            elif _isinstance(v, type) and getattr(v, "__module__", None) == name and _id(v) not in _SEEN_CLASSES:
                _SEEN_CLASSES.add(_id(v))
                _DEEP_CLASSES.append((f"{name}.{v.__qualname__}", v, dict(v.__dict__)))
                for attr, member in _list(v.__dict__.items()):
                    f = getattr(member, "__func__", member)  # staticmethod, classmethod
                    if _isinstance(f, _FunctionType) and _id(f) not in _SEEN_CLASSES:
                        _SEEN_CLASSES.add(_id(f))
                        _DEEP_CODES.append((f"{name}.{v.__qualname__}.{attr}", f, f.__code__))
                        _CODE_IDS.setdefault(_id(f), f"{name}.{v.__qualname__}.{attr}")


# The kernel's own packages: what sends a test cell's result to the grader (a reply's status patched
# to "ok" in jupyter_client's Session.send, or in ipykernel's json_clean, passed a failing cell).
_KERNEL_TOPS = frozenset({"ipykernel", "jupyter_client", "jupyter_core", "zmq", "tornado", "IPython", "traitlets",
                          "comm"})
_SEEN_CLASSES = set()  # ids of the classes and functions recorded (each once)
_DEEP_CODES = []  # (label, function, its __code__ at install): a code swap keeps the function's identity


def _deep_changed(fix):
    """Where the answer's code now sits in what :func:`_deep_snapshot` recorded, put back (with
    ``fix``) and JAX's compiled programs dropped (a program compiled with a replaced rule is cached)."""
    code_in = _DEEP_CODE[0]
    if code_in is None:
        return []
    out = []
    for label, d, snap, keys in _DEEP_DICTS:
        primitive = label.startswith("the primitive ")
        for k, v in snap.items():
            cur = d.get(k, _MISSING)
            # a primitive's plain attributes too (its name: the checks read programs by name)
            if cur is not v and (cur is _MISSING or code_in(cur) or (primitive and not _callable(v) and cur != v)):
                out.append(f"{label}.{k}")
                if fix:
                    d[k] = v
        if len(d) != len(keys):
            for k in [k for k in _list(d) if k not in keys and code_in(d[k])]:
                out.append(f"{label}.{k}")
                if fix:
                    del d[k]
    for label, cls, snap in _DEEP_CLASSES:
        d = cls.__dict__
        kernel = label.split(".")[0] in _KERNEL_TOPS  # (ExecutionResult.success = True made replies say ok)
        for k, v in snap.items():
            cur = d.get(k, _MISSING)
            if cur is not v and (cur is _MISSING or code_in(cur) or (kernel and _method(v))):
                out.append(f"{label}.{k}")
                if fix:
                    try:
                        _setattr(cls, k, v)
                    except (TypeError, AttributeError):
                        pass
        if len(d) != len(snap):
            for k in [k for k in _list(d) if k not in snap and code_in(d[k])]:
                out.append(f"{label}.{k}")
                if fix:
                    try:
                        delattr(cls, k)
                    except (TypeError, AttributeError):
                        pass
    for label, f, code in _DEEP_CODES:
        if f.__code__ is not code and code_in(f):
            out.append(f"the code of {label}")
            if fix:
                f.__code__ = code
    for label, table, snap in _DEEP_TABLES:
        for k, v in snap.items():
            cur = table.get(k, _MISSING)
            if cur is not v and (cur is _MISSING or code_in(cur)):
                out.append(f"{label}[{getattr(k, 'name', k)!s}]")
                if fix:
                    table[k] = v
        if len(table) != len(snap):  # a rule added for one of JAX's primitives (a primitive of the
            # answer's own is left alone: the traced check refuses it with its reason)
            for k in [k for k in _list(table) if k not in snap and _id(k) in _DEEP_PRIMS and code_in(table[k])]:
                out.append(f"{label}[{getattr(k, 'name', k)!s}]")
                if fix:
                    del table[k]
    if out and fix:
        try:
            _sys.modules["jax"].clear_caches()
        except Exception:
            pass
    return out


# A thread of the submission's that runs while a test cell does can rebind the names the test uses
# (``np`` in the kernel's namespace, for the length of an assert) and undo it before the cell ends:
# nothing the checks above look at stays changed. So a test cell during which the submission's code
# runs on another thread (one left running by an earlier cell, or one started as the cell runs) fails.
_THREADS = []  # what the probe and the checks found while the test cell ran
_PROBE_PREVIOUS = [None]


def _thread_probe(frame, event, arg):
    """threading.setprofile's function while a test cell runs: each new thread calls it once, first
    thing; it hands the thread the exercises' check's profile function, when one runs (see
    :func:`_thread_profile`), and nothing otherwise."""
    # (a thread running the answer's code is no fault while the answer's call lasts: it must be gone when
    # the call returns, which _after_answer_call checks, and the check sees what it calls)
    _sys.setprofile(_THREAD_HOOK[0])


# The exercises' check (course.integrity.forbid) hands its profile function to threading.setprofile,
# so that the threads started inside it are checked too (a progress bar's, a thread pool's). threading
# keeps it in a module attribute, ``threading._profile_hook``, that any code reads: its closure holds
# the check's state (its classifier, its table of banned codes), which an answer could rewrite, do the
# banned work and put back. So while a test cell runs, threading.setprofile and getprofile are the
# guard's: the check's function is kept here, threading holds the probe, and the probe gives each new
# thread the check's function.
_THREAD_HOOK = [None]
_MAIN_THREAD = [None]  # the thread install ran on: the kernel's, which runs every cell


def _thread_profile(name, args):
    """``threading.setprofile`` or ``getprofile`` (``name``) called with ``args`` by the exercises' check."""
    genuine = _GUARDED[name]
    if not _IN_TEST[0] or _len(args) != (name == "threading.setprofile"):
        if name == "threading.setprofile":
            _THREAD_HOOK[0] = None
        return genuine(*args)
    if name == "threading.getprofile":  # (the check asks on the main thread; a pool's worker gets the probe)
        return _THREAD_HOOK[0] if _THREAD_HOOK[0] is not None and _get_ident() == _MAIN_THREAD[0] else genuine()
    f = args[0]
    if f is None or f is _PROBE[0]:  # a check ending: back to what it found
        _THREAD_HOOK[0] = None
        _OTHERS[0](False)
        return genuine(f)
    _THREAD_HOOK[0] = f
    out = genuine(_PROBE[0])
    _OTHERS[0](True)  # the threads that already run get it too (a pool's warmed worker, the IOPub thread)
    return out


def _t_thread_first(hook, function, args, kwargs=None, _set=_sys.setprofile):
    """What a thread started while a check runs runs first: the check's profile function, then its own
    function (threading's bootstrap, which hands it the probe, the check watching it do so). A trampoline
    (library code to the guard's walk: a thread's frames are read as any library's), which keeps
    nothing of the check's in its frame."""
    _set(hook)
    del hook
    return function(*args, **(kwargs or {}))


_THREAD_FIRST = [None]  # _outside(_t_thread_first), made at install


def _other_thread_first(frame, event, arg):
    """What a thread that already ran when the check began runs at its next event (see course._threads):
    the check's function becomes its profile function, as the probe gives it to a new thread, and sees
    this event too."""
    hook = _THREAD_HOOK[0]
    _sys.setprofile(hook)
    if hook is not None:
        hook(frame, event, arg)


_OTHERS = [lambda on: False]  # course._threads.others_setter(_other_thread_first), made at install


_DEEP_CODE_FILE = [None]  # course.integrity._is_answer_code
_FOREVER = []  # what the submission did that no one can undo: every later test cell fails


# Hooks through which Python runs code in the main thread, at moments the test does not choose: a
# garbage collection (gc.callbacks), a signal, an import (sys.meta_path, sys.path_hooks), every call
# (a trace or profile function). One of the submission's could rebind the test's names in the middle
# of the test; those holding its code are taken out before each test cell, and one added while the
# cell runs fails it.
_HOOKS = {}


def _hooks_snapshot():
    import gc
    import signal
    import threading

    _HOOKS.update({
        "gc.callbacks": (gc.callbacks, list(gc.callbacks)), "sys.meta_path": (_sys.meta_path, list(_sys.meta_path)),
        "sys.path_hooks": (_sys.path_hooks, list(_sys.path_hooks)),
        "signals": {sig: signal.getsignal(sig) for sig in signal.valid_signals()
                    if sig not in (signal.SIGKILL, signal.SIGSTOP)},
        # (the genuine getters: those in sys are the guard's trampolines, see _install_guarded)
        "trace": (_GUARDED.get("sys.gettrace", _sys.gettrace), _sys.settrace, _GUARDED.get("sys.gettrace", _sys.gettrace)()),
        "profile": (_GUARDED.get("sys.getprofile", _sys.getprofile), _sys.setprofile,
                    _GUARDED.get("sys.getprofile", _sys.getprofile)()),
        "thread trace": (threading.gettrace, threading.settrace, threading.gettrace()),
    })


def _hooks_changed(fix):
    """The submission's code among the hooks :func:`_hooks_snapshot` recorded (taken out with ``fix``)."""
    code_in = _DEEP_CODE[0]
    if code_in is None or not _HOOKS:
        return []
    out = []
    for label in ("gc.callbacks", "sys.meta_path", "sys.path_hooks"):
        live, saved = _HOOKS[label]
        added = [h for h in live if not any(h is k for k in saved) and code_in(h)]
        if added:
            out.append(f"{label} (a hook of the submission's)")
            if fix:
                live[:] = [h for h in live if not any(h is a for a in added)]
    import signal

    for sig, saved in _HOOKS["signals"].items():
        try:
            cur = signal.getsignal(sig)
        except (ValueError, OSError):
            continue
        if cur is not saved:  # whatever it is (a library's callable, a dict's __setitem__, stores the frame too)
            out.append(f"the handler of signal {sig}")
            if fix:
                try:
                    _GUARDED.get("_signal.signal", signal.signal)(sig, saved if saved is not None else signal.SIG_DFL)
                except (ValueError, OSError, TypeError):
                    pass
    import gc

    if gc.get_debug() != _GC_DEBUG[0]:
        out.append("the garbage collector's debug flags")
        if fix:
            _GUARDED.get("gc.set_debug", gc.set_debug)(_GC_DEBUG[0])
    for label in ("trace", "profile", "thread trace"):  # whatever it is (a library's object records frames too)
        get, set_, saved = _HOOKS[label]
        cur = get()
        if cur is not saved and cur is not _PROBE[0]:
            out.append(f"the {label} function")
            if fix:
                set_(saved)
    return out


def _answer_threads():
    """A thread other than this one running the submission's code (a frame of its stack is), recorded.
    The guard's own walk (course.integrity's _answer_thread, called here after an answer's call made
    inside another, with the outer one on the stack, was refused its frames)."""
    check = _DEEP_CODE_FILE[0]
    if check is None:
        return
    me = _get_ident()
    for ident, frame in _list(_sys._current_frames().items()):
        if ident == me:
            continue
        for _ in range(200):
            if frame is None:
                break
            if check(frame.f_code, ""):
                _THREADS.append(f"a thread running {_str_exact(frame.f_code.co_name)} (line {frame.f_lineno})")
                return
            frame = frame.f_back


# An answer the test calls can write a no-op straight into a module's __dict__ (vars(numpy.testing)),
# which no attribute hook sees, and have the no-op put the genuine function back once the test's last
# assert has run: the end-of-cell check then finds nothing. So while a test cell runs, everything of
# the notebook's that the test calls and that holds the submission's code (a function, a callable
# object, a partial, a bound method) is wrapped, and after each call, and after each statement of the
# test cell, the namespace's names the test uses and every module of the packages they come from
# (numpy's private ones too: numpy.testing's assert_allclose calls numpy.testing._private.utils's
# functions) are compared with the genuine ones; a change is tampering, put back at once, before the
# test reads it. A weakref.finalize of the submission's (which runs when an object is freed, after the
# call returned) is taken out.
_CALL_WATCH = []  # (live dict, key, genuine value) for the running test cell
# Code of the submission's can also run after a call returned, when an object is freed: a __del__, a
# weakref callback on what the answer returned or on a temporary the test passed it, or the collector
# finding a cycle. Within one statement of the test it could install a no-op, have the assert use it
# and put the genuine function back before the check after the statement. So while a test cell runs,
# what each call of the answer was given and gave back is kept alive until the cell ends, and the
# automatic collector is paused (the submission turning it back on is tampering).
_KEEP = []
_GC_WAS = [None]


def _watch_list(names):
    ns, out, tops = _ip.user_ns, [], set()
    for name in names:
        if name in _ALIASES:
            out.append((ns, name, _ALIASES[name]))
            obj = _ALIASES[name]
            modname = obj.__name__ if _isinstance(obj, _ModuleType) else getattr(obj, "__module__", None)
            if _isinstance(modname, str):
                tops.add(modname.split(".")[0])
    out += [(_BUILTINS_DICT, k, v) for k, v in _BUILTINS.items()]  # (numpy's isclose calls the builtin abs)
    for modname, (mod, attrs) in _SNAPSHOT.items():
        if modname.split(".")[0] in tops:
            d = _vars(mod)  # (the kernel sets sys.excepthook itself)
            out += [(d, k, v) for k, v in attrs.items() if not (mod is _sys and k.endswith("hook"))]
    return out


def _finalizers(fix):
    """weakref.finalize entries holding the submission's code (detached with ``fix``)."""
    code_in = _DEEP_CODE[0]
    if code_in is None:
        return []
    import weakref

    out = []
    for fin, info in _list(getattr(weakref.finalize, "_registry", {}).items()):
        parts = (getattr(info, "func", None),) + tuple(getattr(info, "args", ()) or ()) + tuple(
            (getattr(info, "kwargs", None) or {}).values())
        if any(code_in(x) for x in parts):
            out.append("a weakref.finalize of the submission's")
            if fix:
                fin.detach()
    return out


# The test's own variables are in the notebook's namespace, which is the answer's globals(), and the
# arrays the test passes are the answer's arguments: an answer that zeroed the test's matrix in place
# made the reference the test then computed from it agree with its wrong result. So the answer is given
# copies of the numpy arrays it is passed, and the test's names (and the contents of its arrays) are
# compared before and after each call.
_BEFORE = []  # a stack (an answer may call itself through its wrapper): the test's variables at the call


def _copy_arrays(value, depth=0):
    np = _sys.modules.get("numpy")
    if np is None:
        return value
    if type(value) is np.ndarray:
        return value.copy()
    if depth < 2 and type(value) in (list, tuple):  # (a container is copied only when it holds arrays)
        items = [_copy_arrays(v, depth + 1) for v in value]
        return type(value)(items) if any(a is not b for a, b in zip(items, value)) else value
    if depth < 2 and type(value) is dict:
        items = {k: _copy_arrays(v, depth + 1) for k, v in value.items()}
        return items if any(items[k] is not v for k, v in value.items()) else value
    return value


def _fingerprint():
    np = _sys.modules.get("numpy")
    ns, code_in, out = _ip.user_ns, _DEEP_CODE[0], {}
    for name in _TESTS.get(_RAW[0], ()):
        if name in _ALIASES or name.startswith("__course_grader"):
            continue
        value = ns.get(name, _MISSING)
        if value is _MISSING or _isinstance(value, _ModuleType) or (_callable(value) and code_in is not None and code_in(value)):
            continue
        data = None
        if np is not None and type(value) is np.ndarray:
            try:
                data = (value.shape, value.dtype.str, hash(value.tobytes()))
            except Exception:
                data = None
        out[name] = (value, data)
    return out


def _before_call(args, kwargs):
    _BEFORE.append(_fingerprint())
    return [_copy_arrays(tuple(args)), {k: _copy_arrays(v) for k, v in kwargs.items()}]


def _test_variables_changed():
    if not _BEFORE:
        return []
    before, now = _BEFORE.pop(), _fingerprint()
    out = []
    for name, (value, data) in before.items():
        cur = now.get(name)
        if cur is None or cur[0] is not value:
            out.append(f"the test's variable {name} (rebound as the answer ran)")
        elif data is not None and cur[1] != data:
            out.append(f"the contents of the test's array {name} (changed as the answer ran)")
    return out


def _after_answer_call():
    if _get_ident() == _MAIN_THREAD[0]:  # (a call the answer made on a pool's worker: the main thread may be
        _answer_threads()  # waiting inside the outer call) a thread the answer started and left running
    bad = [k for d, k, v in _CALL_WATCH if d.get(k, _MISSING) is not v]
    if bad:
        for d, k, v in _CALL_WATCH:
            if d.get(k, _MISSING) is not v:
                d[k] = v
        _WRITES.extend(f"{k} (replaced as the answer ran)" for k in bad)
    _WRITES.extend(_finalizers(fix=True))
    import gc

    if _GC_WAS[0] is not None and gc.isenabled():
        gc.disable()
        _WRITES.append("the garbage collector's switch (turned back on)")


def _wrap_answer(f):
    import functools

    watched = _outside(_t_watched)
    watched.__kwdefaults__ = {"__course_f": f, "__course_a": _sys.audit}
    if type(f) is _FunctionType:  # (reading an object's attributes could run the submission's code here)
        functools.update_wrapper(watched, f)
    else:
        watched.__wrapped__ = f
    return watched


def _verdict():
    """The message a test cell fails with, or "" (and what was changed put back)."""
    if _REFUSED:
        restore()
        shown = ", ".join(dict.fromkeys(_REFUSED[:3]))
        return (f"tampering: the grader refused {shown}; this exercise scores 0 (an answer computes its "
                "result from its arguments: it does not look at the test's frames or the interpreter's objects)")
    if _WRITES:
        restore()
        shown = ", ".join(list(dict.fromkeys(_WRITES))[:5])
        return f"tampering: {shown} was replaced while this test cell ran; the grader put it back and this exercise scores 0"
    return ""


# The grader's word on a test cell is not the kernel's reply ("ok" can be forged: rv10 replaced IPython's
# ExecutionResult.success) nor the absence of an error (a cell whose later statements were emptied
# raises none): the grader (course/grading/worker.py) counts a test cell as passed only if, as its
# last statement, the guard's check found nothing and printed an HMAC of the cell's text (each test
# cell of a graded notebook is a different one) with a key made for this run, which only the guard reads (from a file the grader writes
# before the kernel starts; the guard deletes it before any cell of the submission runs).
_KEY = [None]  # bytes, or None when no grader gave one (the notebook runs without course grade)
_OUT = [None]  # the kernel's stdout at install
_HMAC = [None]  # _hashlib.hmac_digest at install (the genuine one, whatever hashlib later holds)


def _read_key():
    import os

    path = os.environ.pop("COURSE_GRADER_KEY", None)
    if not path:
        return
    try:
        with open(path, "rb") as fh:
            key = fh.read().strip()
        os.remove(path)
    except OSError:
        return
    import _hashlib

    _KEY[0], _OUT[0], _HMAC[0] = key or None, _sys.stdout, _hashlib.hmac_digest


def _report():
    """The test cell passed the guard's checks: print what the grader looks for (see _KEY)."""
    if _KEY[0] is None:
        return
    token = _HMAC[0](_KEY[0], _RAW[0].encode("utf-8"), "sha256").hex()
    _OUT[0].write(f"[course-grader:{token}]\n")
    _OUT[0].flush()


def _step(top=0):
    """After each statement of a test cell: the cheap checks of what the test uses."""
    if top == 1:
        _TOP_STEPS[0] += 1
    _WRITES.extend(_checks_rebound())
    _after_answer_call()
    return _verdict()


# The test cell calls its checks by name from the notebook's namespace, where the submission can rebind
# them (to a function that calls the genuine one, or does not). So each check finds itself under its
# name, and the end-of-cell check counts the checks after the cell's top-level statements (each runs
# once when the cell reaches its end): one skipped, or run by another function, is missing.
_TOP_STEPS = [0, 0]  # the checks after top-level statements run, and inserted, in the running test cell


def _checks_rebound():
    ns = _ip.user_ns
    if ns.get(_CHECK, _MISSING) is _CHECKS[0] and ns.get(_STEP, _MISSING) is _CHECKS[1]:
        return []
    return ["the grader's checks (rebound in the notebook's namespace)"]


def untampered():
    """Appended to every test cell: why it fails ("" when it does not), if a name the grader restored
    was replaced while it ran."""
    _answer_threads()
    threads = list(dict.fromkeys(_THREADS))
    _THREADS.clear()
    ns = _ip.user_ns  # the names this test uses, bound by the pre hook to the genuine objects
    rebound = [f"the name {name} in the notebook's namespace" for name in _TESTS.get(_RAW[0], ())
               if name in _ALIASES and ns.get(name, _MISSING) is not _ALIASES[name]]
    _after_answer_call()
    skipped = [] if _TOP_STEPS[0] == _TOP_STEPS[1] else [
        f"the grader's checks after the test's statements ({_TOP_STEPS[0]} of {_TOP_STEPS[1]} ran)"]
    changed = list(dict.fromkeys(_WRITES + rebound + _FOREVER + _hooks_changed(fix=True) + _changed()
                                 + _deep_changed(fix=True) + _checks_rebound() + skipped))
    if threads:
        restore()
        return (f"tampering: {', '.join(threads[:3])} (the submission's code, on another thread) ran "
                "while this test cell ran; it could change what the test reads, so this exercise scores "
                "0 (an answer computes its result and returns: it leaves nothing running)")
    verdict = _verdict()
    _WRITES.clear()
    _REFUSED.clear()
    if verdict:
        return verdict
    if changed:
        restore()
        shown = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
        return (f"tampering: {shown} was replaced while this test cell ran; the grader put it back "
                "and this exercise scores 0")
    return ""


def _hide_source(raw):
    """Blank the running cell's source where the kernel keeps it; _HIDDEN puts it back."""
    raw = raw.rstrip("\n")
    try:
        hm = _ip.history_manager
        for lst in (hm.input_hist_parsed, hm.input_hist_raw):
            if lst and lst[-1].rstrip("\n") == raw:
                k, old = len(lst) - 1, lst[-1]
                lst[k] = ""
                _HIDDEN.append(lambda lst=lst, k=k, old=old: lst.__setitem__(k, old))
        with hm.db_input_cache_lock:
            cache = hm.db_input_cache
            if cache and cache[-1][2].rstrip("\n") == raw:
                old = cache[-1]
                cache[-1] = (old[0], "", "")
                _HIDDEN.append(lambda cache=cache, old=old: cache.__setitem__(len(cache) - 1, old)
                               if cache and cache[-1][0] == old[0] else None)
        if getattr(hm, "_i00", None) is not None and hm._i00.rstrip("\n") == raw:
            old = hm._i00
            hm._i00 = ""
            _HIDDEN.append(lambda hm=hm, old=old: _setattr(hm, "_i00", old))
        ns = _ip.user_ns
        for key in ("_i%d" % _ip.execution_count, "_i", "_ii", "_iii"):
            value = ns.get(key)
            if type(value) is str and str.rstrip(value, "\n") == raw:
                ns[key] = ""
                _HIDDEN.append(lambda ns=ns, key=key, old=value: ns.__setitem__(key, old))
        import linecache

        for name, entry in _list(linecache.cache.items()):
            if _isinstance(entry, tuple) and len(entry) > 2 and entry[1] is None and "".join(entry[2]).rstrip("\n") == raw:
                del linecache.cache[name]
                _HIDDEN.append(lambda name=name, entry=entry: linecache.cache.__setitem__(name, entry))
        kernel = getattr(_ip, "kernel", None)
        parent = kernel.get_parent() if kernel is not None and _callable(getattr(kernel, "get_parent", None)) else None
        content = parent.get("content") if _isinstance(parent, dict) else None
        if _isinstance(content, dict) and _isinstance(content.get("code"), str) and content["code"].rstrip("\n") == raw:
            old = content["code"]
            content["code"] = ""
            _HIDDEN.append(lambda content=content, old=old: content.__setitem__("code", old))
    except Exception:  # never break the test cell: hiding is a best effort
        pass


def _unhide_source():
    while _HIDDEN:
        try:
            _HIDDEN.pop()()
        except Exception:
            pass


def _with_steps(body, step, top=False):
    """``body`` with ``step`` after each statement, in the bodies of loops, ifs, withs and trys too
    (not in functions or classes the test cell defines)."""
    import ast

    out = []
    for stmt in body:
        for field in ("body", "orelse", "finalbody"):
            inner = getattr(stmt, field, None)
            if _isinstance(inner, list) and inner and not _isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                                             ast.ClassDef)):
                setattr(stmt, field, _with_steps(inner, step))
        for handler in getattr(stmt, "handlers", ()) or ():
            handler.body = _with_steps(handler.body, step)
        out.append(stmt)
        if not _isinstance(stmt, (ast.Return, ast.Break, ast.Continue, ast.Raise)):
            call = ast.Expr(ast.Call(ast.Name(step, ast.Load()), [ast.Constant(1)] if top else [], []))
            line = getattr(stmt, "end_lineno", None) or getattr(stmt, "lineno", 1)
            for n in ast.walk(call):
                n.lineno = n.end_lineno = line
                n.col_offset = n.end_col_offset = 0
            out.append(call)
    return out


def _visit(node):
    """IPython AST transformer (through :func:`_t_visit`): while a test cell runs, the cheap checks
    after each of its statements, and ``untampered()`` appended to its code, keeping the value of its
    last expression (IPython displays it)."""
    if not _IN_TEST[0]:
        return node
    import ast

    _hide_source(_RAW[0])

    body = node.body
    check = ast.Expr(ast.Call(ast.Name(_CHECK, ast.Load()), [], []))
    last = body.pop() if body and _isinstance(body[-1], ast.Expr) else None
    body[:] = _with_steps(body, _STEP, top=True)
    _TOP_STEPS[:] = [0, sum(1 for s in body if _isinstance(s, ast.Expr) and _isinstance(s.value, ast.Call)
                            and _isinstance(s.value.func, ast.Name) and s.value.func.id == _STEP and s.value.args)]
    if last is not None:
        body += [ast.Assign([ast.Name(_LAST, ast.Store())], last.value), check, ast.Expr(ast.Name(_LAST, ast.Load()))]
    else:
        body.append(check)
    return ast.fix_missing_locations(node)


_AppendCheck = type("_AppendCheck", (), {"visit": _outside(_t_visit), "__module__": "_course_grader"})


def _protect(value, module=""):
    # functions, classes and modules; and every attribute of the exercises' integrity check, whose
    # settings are plain values (AUTODIFF, a tuple of functions; LAYOUT_PRIMITIVES and
    # CALLBACK_PRIMITIVES, frozensets of names): rebound in an answer cell, a test would ban nothing
    return _callable(value) or _isinstance(value, _ModuleType) or module == "course.integrity"


def _public(name):
    return not any(part.startswith("_") for part in name.split("."))


# Library functions the submission's code may not call, replaced wherever a module holds them (they are
# not audited): signal.signal (Python calls a handler with the frame it interrupted: a handler of a
# library's, such as a dict's __setitem__ on a timer, stored a frame of the guard's audit hook, and one
# raised inside an answer handed it the test's frame), gc.set_debug (under DEBUG_SAVEALL the
# collector's gc.garbage hands out the frames of a cycle, the guard's own from a refusal's traceback),
# and _imp.create_builtin, which makes a fresh copy of a built-in module (a _signal whose signal is
# the genuine one); a module first imported by the answer is still made.
_GUARDED = {}  # name -> the genuine function
_LOADED_BUILTINS = set()  # the built-in modules imported when the guard was installed
_KEPT_FRAMES = []  # frames of the guard's that an exception took out of it: alive, so never the collector's garbage
_type = type
_len = len


_SPEC_CLASS = []  # importlib's ModuleSpec and a copy of its class dict, taken at install


def _spec_name(spec):
    """The name in ``spec`` (importlib's ModuleSpec, nothing else) as an exact str, or None. CPython reads
    the name with getattr: a property set on ModuleSpec itself wins over the instance's dict (rv21b: the
    guard read "harmless_ext" where CPython made _testcapi), so ModuleSpec must be as it was at install."""
    if not _SPEC_CLASS or _type(spec) is not _SPEC_CLASS[0]:
        return None
    now, then = _vars(_SPEC_CLASS[0]), _SPEC_CLASS[1]
    if _len(now) != _len(then) or any(k not in now or now[k] is not v for k, v in then.items()):
        return None
    own = _vars(spec)
    if _type(own) is not dict or any(_type(k) is not str for k in dict.keys(own)):
        return None  # (a str subclass key with the hash of "name" could answer the guard's lookup and not CPython's: rv22)
    name = dict.get(own, "name")
    return name if _type(name) is str else None


def _new_builtin(spec):
    """Whether ``spec`` names a built-in module not yet imported."""
    name = _spec_name(spec)
    return name is not None and name in _sys.builtin_module_names and name not in _LOADED_BUILTINS


# CPython's test and experimental extension modules, installed with it: several make a sub-interpreter,
# which has neither the guard's audit hook nor the check's profile function (it can read the kernel's
# memory and start processes unseen: rv18a r1-r3), one of them without raising any audit event.
_INTERNAL_EXTENSIONS = ("_test", "_xx", "xx", "_ctypes_test", "_interpreters", "_interpchannels", "_interpqueues")


def _new_extension(args):
    """Whether ``_imp.create_dynamic(*args)`` makes neither a copy of the guarded _posixsubprocess nor one
    of CPython's test or experimental modules (their init functions are found by the name's last part,
    so a copy of the file under another folder or package is refused too); any other extension module
    is made."""
    name = _spec_name(args[0]) if 1 <= _len(args) <= 2 else None
    if name is None:
        return False
    last = name.rpartition(".")[2]
    return not ((last == "_posixsubprocess" and "_posixsubprocess.fork_exec" in _GUARDED)
                or last.startswith(_INTERNAL_EXTENSIONS))


def _install_guarded():
    from importlib.machinery import ModuleSpec

    _SPEC_CLASS[:] = [ModuleSpec, dict(_vars(ModuleSpec))]
    import _imp
    import _signal
    import gc

    import threading

    genuine = {"_signal.signal": _signal.signal, "gc.set_debug": gc.set_debug, "_imp.create_builtin": _imp.create_builtin,
               # (a fresh copy of an extension module: a _posixsubprocess whose fork_exec is a new object)
               "_imp.create_dynamic": _imp.create_dynamic,
               "threading.setprofile": threading.setprofile, "threading.getprofile": threading.getprofile,
               # (the profile function in place is the exercises' check's: its closure holds its state; a call
               # through functools.partial gives the check no c_call event to see)
               "sys.getprofile": _sys.getprofile, "sys.gettrace": _sys.gettrace}
    import _thread

    # (no event: a raw thread, started through functools.partial, would run unchecked; as a Python function
    # its call shows, and the exercises' check lets only threading's Thread.start through)
    genuine["_thread.start_new_thread"] = _thread.start_new_thread
    try:  # (no audit event: a new process started by its C function alone, through functools.partial)
        import _posixsubprocess

        genuine["_posixsubprocess.fork_exec"] = _posixsubprocess.fork_exec
    except ImportError:
        pass
    pairs = _list(genuine.items())
    if getattr(_thread, "start_new", None) is not None and _thread.start_new is not _thread.start_new_thread:
        pairs.append(("_thread.start_new_thread", _thread.start_new))  # (the old alias: a builtin object of its own)
    made = {}
    for name, f in pairs:
        t = _outside(_t_call)
        genuine_until_hooked = [f]  # (the same list stays: the snapshot of the modules holding t records it)
        t.__kwdefaults__ = {"_a": _sys.audit, "_name": name, "_g": genuine_until_hooked}
        _GUARDED.setdefault(name, f)
        _CALL_TRAMPOLINES.append(genuine_until_hooked)
        made[_id(f)] = (f, t)
    for mod in _list(_sys.modules.values()):
        try:
            d = _vars(mod)
        except TypeError:
            continue
        for k, v in _list(d.items()):
            hit = made.get(_id(v))
            if hit is not None and hit[0] is v:
                d[k] = hit[1]
    _LOADED_BUILTINS.update(n for n in _sys.builtin_module_names if n in _sys.modules)
    _GC_DEBUG[0] = gc.get_debug()


_GC_DEBUG = [0]
_CALL_TRAMPOLINES = []  # the trampolines' [genuine function] lists, emptied once the audit hook is in place


_TRAMPOLINE_CODES = {}  # event -> the code of the only trampoline that raises it
_STEERING = frozenset({"course.pre_run_cell", "course.post_run_cell", "course.visit", "course.check", "course.step"})
_SNAPSHOT_IDS = {}  # id(module) -> its name, for the snapshotted modules
_CHECKS = []  # the test cell's checks, as trampolines: untampered (at its end), _step (after each statement)
_PROBE = [None]  # the thread probe, as a trampoline


def _guard_codes():
    """The ids of this file's code objects: its functions' and those they define (not the trampolines',
    whose frames hold nothing of the guard's)."""
    out, todo = set(), [v.__code__ for k, v in globals().items() if _isinstance(v, _FunctionType)
                        and v.__code__.co_filename == _GUARD_FILE and not k.startswith("_t_")]
    while todo:
        code = todo.pop()
        if _id(code) not in out:
            out.add(_id(code))
            todo += [c for c in code.co_consts if _isinstance(c, _types.CodeType)]
    return out


def install(modules, aliases, tests):
    """Snapshot ``modules`` and register the hooks.

    Args:
        modules: dotted names of modules the solution imports.
        aliases: ``{name: [module, attribute or None]}`` from the solution's import statements.
        tests: ``{test cell source: [names it loads]}``.
    """
    _MAIN_THREAD[0] = _get_ident()
    _read_key()
    _OTHERS[0] = _importlib.import_module("course._threads").others_setter(_other_thread_first)
    import os

    os.environ.pop("IPYKERNEL_CELL_NAME", None)
    _install_guarded()
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
            attrs = {k: v for k, v in _vars(mod).items() if _protect(v, name)}
        except TypeError:
            continue
        _SNAPSHOT[name] = (mod, attrs)
        if type(mod) is _ModuleType:
            try:
                mod.__class__ = _Watched
            except TypeError:
                pass
        for v in attrs.values():
            f = v
            for _ in range(8):  # through decorators (functools.wraps, jax.jit)
                if _isinstance(f, _FunctionType):
                    break
                f = getattr(f, "__wrapped__", None)
            if _isinstance(f, _FunctionType) and f not in _SEEN:
                _SEEN.add(f)
                _CODES.append((f, f.__code__, f.__defaults__, f.__kwdefaults__))
                _CODE_IDS[_id(f)] = f"{getattr(f, '__module__', '?')}.{getattr(f, '__qualname__', '?')}"
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
    _deep_snapshot(tops | (({"jax", "jaxlib", "numpy", "scipy"} | _KERNEL_TOPS) & {n.split(".")[0] for n in _sys.modules}))
    global _ip
    _ip = get_ipython()  # noqa: F821 (an IPython kernel builtin)
    ip = _ip
    _GUARD_CODES.update(_guard_codes())
    _SNAPSHOT_IDS.update({_id(mod): name for name, (mod, _) in _SNAPSHOT.items()})
    wrap_code = _t_watched.__code__
    _TRAMPOLINE_CODES.update({"course.pre_run_cell": _t_pre_run_cell.__code__, "course.post_run_cell":
                              _t_post_run_cell.__code__, "course.check": _t_check.__code__, "course.step": _t_step.__code__,
                              "course.visit": _t_visit.__code__, "course.setattr": _t_setattr.__code__,
                              "course.delattr": _t_delattr.__code__, "course.thread": _t_probe.__code__,
                              "course.before_call": wrap_code, "course.after_call": wrap_code,
                              "course.call": _t_call.__code__})
    _CHECKS[:] = [_outside(_t_check), _outside(_t_step)]
    _PROBE[0] = _outside(_t_probe)
    _THREAD_FIRST[0] = _outside(_t_thread_first)
    ip.events.register("pre_run_cell", _outside(_t_pre_run_cell))
    ip.events.register("post_run_cell", _outside(_t_post_run_cell))
    ip.ast_transformers.append(_AppendCheck())
    try:
        _shell_snapshot(ip)
    except Exception:  # another IPython: the shell is not checked
        _SHELL.clear()
    _hooks_snapshot()
    try:  # this cell's text holds every test cell's, hidden tests included (rv13 read them in In[1])
        boot = ip.history_manager.input_hist_raw[-1]
    except Exception:
        boot = ""
    if _isinstance(boot, str) and "_course_grader_boot" in boot:
        _hide_source(boot)
        _HIDDEN.clear()  # never put back
        ns = ip.user_ns
        for key in [k for k in ns if k[:2] == "_i" and (k[2:].isdigit() or k in ("_i", "_ii", "_iii"))]:
            if ns[key] == boot:
                ns[key] = ""
    _sys.addaudithook(_audit)
    for genuine_until_hooked in _CALL_TRAMPOLINES:  # from now on the audit hook calls the genuine function, or refuses it
        genuine_until_hooked.clear()
    _CALL_TRAMPOLINES.clear()


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
    try:  # the instance's own value: a property on ExecutionInfo could say another cell's text
        raw = _vars(info).get("raw_cell")
    except TypeError:
        return
    if _type(raw) is not str:
        return
    names = _TESTS.get(raw)
    if names is None:
        return
    restore()
    _deep_changed(fix=True)
    _hooks_changed(fix=True)
    _WRITES.clear()
    _THREADS.clear()
    _answer_threads()  # one left running by an earlier cell
    import threading

    _THREAD_HOOK[0] = None
    _PROBE_PREVIOUS[0] = _GUARDED.get("threading.getprofile", threading.getprofile)()
    _GUARDED.get("threading.setprofile", threading.setprofile)(_PROBE[0])
    _finalizers(fix=True)  # (made by an answer cell: they would run in the middle of the test)
    import gc

    _GC_WAS[0] = gc.isenabled()
    gc.disable()
    _REFUSED.clear()
    import os

    if os.environ.pop("IPYKERNEL_CELL_NAME", None) is not None:  # the file name ipykernel compiles cells under
        _REFUSED.append("IPYKERNEL_CELL_NAME (set: another cell compiled under the test cell's file name)")
    others = _other_processes()
    if others:  # (started before the test, by a pool's worker or a callback: rv21b read the kernel's memory so)
        _REFUSED.append(f"a process the submission started (pid {others[0]}), still running as the test cell "
                        "began (it runs without the grader's checks, and was stopped)")
    ns = _ip.user_ns
    for name in (_CHECK, _STEP, _LAST):
        _STASH.append((name, ns.get(name, _MISSING)))
    ns[_CHECK], ns[_STEP] = _CHECKS
    _IN_TEST[0] = True
    _RAW[0] = raw
    try:  # the file name IPython compiles the test cell under (ipykernel's: a hash of its text)
        _RAW_FILE[:] = [_ip.compile.get_code_name(raw, raw, _ip.execution_count)]
    except Exception:
        _RAW_FILE.clear()
    for name in names:
        if name in _ALIASES:
            _STASH.append((name, ns.get(name, _MISSING)))
            ns[name] = _ALIASES[name]
    _CALL_WATCH[:] = _watch_list(names)
    code_in = _DEEP_CODE[0]
    for name in names:  # what of the notebook's this test calls: watched while it runs
        f = ns.get(name, _MISSING)
        if (name not in _ALIASES and code_in is not None and _callable(f) and not _isinstance(f, (type, _ModuleType))
                and code_in(f)):
            _STASH.append((name, f))
            ns[name] = _wrap_answer(f)
        elif name in _BUILTINS and name in ns:
            _STASH.append((name, ns.pop(name)))


def _other_processes():
    """Processes the kernel did not start itself and that still run, stopped: every live descendant of the
    kernel, and under the sandbox (a process namespace of its own, whose first process is bwrap) every
    live process but the kernel and its ancestors, a child left to the namespace's first process
    included. A new process is refused while a test cell runs, whoever asks; one started before it (a
    pool's worker started it in the answer cell: none of the answer's code on its stack, rv21b) would read
    the kernel's memory as the test runs. Zombies (ended, not yet waited for) are not counted."""
    import os
    import signal

    try:
        me, parent = os.getpid(), {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat", "rb") as fh:
                    fields = fh.read().rsplit(b")", 1)[1].split()
                if fields[0] not in (b"Z", b"X"):
                    parent[int(entry)] = int(fields[1])
            except (OSError, ValueError, IndexError):
                continue
        try:
            with open("/proc/1/cmdline", "rb") as fh:
                sandboxed = fh.read().split(b"\0")[0].rsplit(b"/", 1)[-1] == b"bwrap"
        except OSError:
            sandboxed = False
        ancestors, p = set(), me
        while p in parent and p not in ancestors:
            ancestors.add(p)
            p = parent[p]
        found = []
        for pid in parent:
            if pid in ancestors:
                continue
            q, seen = pid, set()
            while q in parent and q != me and q not in seen:
                seen.add(q)
                q = parent[q]
            if q == me or sandboxed:
                found.append(pid)
        for pid in found:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        return sorted(found)
    except Exception:  # noqa: BLE001 - /proc unreadable: nothing to judge by
        return []


def _post_run_cell(result):
    if _SHELL:
        _shell_changed(fix=True)  # the next cell runs through IPython's own hooks
    if _IN_TEST[0]:
        import threading

        _THREAD_HOOK[0] = None
        _GUARDED.get("threading.setprofile", threading.setprofile)(_PROBE_PREVIOUS[0])
    if _GC_WAS[0] is not None:
        import gc

        if _GC_WAS[0]:
            gc.enable()
        _GC_WAS[0] = None
    _KEEP.clear()
    _BEFORE.clear()
    _IN_TEST[0] = False
    _RAW_FILE.clear()
    _CALL_WATCH.clear()
    _unhide_source()
    if not _STASH:
        return
    ns = _ip.user_ns
    while _STASH:
        name, value = _STASH.pop()
        if value is not _MISSING:
            ns[name] = value
        elif name in (_CHECK, _STEP, _LAST):
            ns.pop(name, None)
