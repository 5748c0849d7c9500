"""Hand a profile function to the threads that already exist, not only to those started later.

``threading.setprofile`` reaches the threads started after it; a thread that already runs (a pool's
worker started in an earlier cell, ipykernel's IOPub thread) keeps running with no profile function,
so work handed to it escapes the exercises' check. Python 3.12 has ``threading.setprofile_all_threads``
for this; on 3.11 the C API does the same (``_PyEval_SetProfile`` on each thread state, which CPython
documents as callable for a thread other than the current one, and which 3.12's version calls).

:func:`others_setter` returns ``set_others(on)``: with ``on``, every thread but the caller's gets a C
profile function that, at the thread's next event, calls ``first(frame, event, arg)`` in that thread
(where ``first`` can install a Python profile function with ``sys.setprofile``, which then sees the
rest); with ``on`` false, no other thread has a profile function. Where the C API is missing (another
interpreter), ``set_others`` does nothing and returns False.
"""

from __future__ import annotations

import ctypes
import sys

#: ``Py_tracefunc``'s ``what`` (Include/cpython/pystate.h) as the event names sys.setprofile uses
_EVENTS = ("call", "exception", "line", "return", "c_call", "c_exception", "c_return", "opcode")


def others_setter(first):
    """``set_others(on) -> bool`` for the Python function ``first(frame, event, arg)`` (see above).

    The C function made here lives as long as ``set_others`` (a thread may be inside it when it is
    switched off): keep ``set_others`` for good, where no other code reaches it.
    """
    try:
        api = ctypes.pythonapi
        set_profile, head, next_state = api._PyEval_SetProfile, api.PyInterpreterState_ThreadHead, api.PyThreadState_Next
        current, interpreter = api.PyThreadState_Get, api.PyThreadState_GetInterpreter
    except AttributeError:  # an interpreter without these: threads that already run stay unprofiled
        return lambda on: False
    vp = ctypes.c_void_p
    set_profile.argtypes, set_profile.restype = [vp, vp, vp], ctypes.c_int
    head.argtypes, head.restype = [vp], vp
    next_state.argtypes, next_state.restype = [vp], vp
    current.argtypes, current.restype = [], vp
    interpreter.argtypes, interpreter.restype = [vp], vp
    cast, py_object, events = ctypes.cast, ctypes.py_object, _EVENTS

    def event(_obj, frame, what, arg):
        try:
            first(frame, events[what], None if arg is None else cast(arg, py_object).value)
        except BaseException:  # noqa: BLE001 - a C callback cannot raise; first records what it finds
            pass
        return 0

    thunk = ctypes.CFUNCTYPE(ctypes.c_int, vp, py_object, ctypes.c_int, vp)(event)
    address = cast(thunk, vp).value

    def set_others(on: bool) -> bool:
        assert thunk is not None  # (held here: freed, a thread inside it would crash)
        me = current()
        state = head(interpreter(me))
        while state:
            if state != me:
                set_profile(state, address if on else None, None)
            state = next_state(state)
        return True

    return set_others

if sys.version_info < (3, 11):  # pragma: no cover - the course needs 3.11 (pyproject)
    raise ImportError("course._threads needs Python 3.11 or later")
