"""course._threads: a profile function handed to threads that already run, and taken away again."""

import sys
import threading
import time

from course._threads import others_setter


def test_a_thread_that_already_runs_gets_the_function_at_its_next_event_and_loses_it_after():
    calls = []  # (thread name, function name) of every call the installed profile function saw

    def profile(frame, event, arg):
        if event == "call":
            calls.append((threading.current_thread().name, frame.f_code.co_name))

    def first(frame, event, arg):  # runs in the other thread: installs the profile function there
        sys.setprofile(profile)
        profile(frame, event, arg)

    set_others = others_setter(first)
    go, stop, done = threading.Event(), threading.Event(), threading.Event()

    def work():
        return 42

    def worker():
        while not stop.is_set():
            if go.wait(0.02):
                go.clear()
                work()
                done.set()

    t = threading.Thread(target=worker, name="before")
    t.start()
    time.sleep(0.05)  # running, with no profile function
    try:
        assert set_others(True) is True
        go.set()
        assert done.wait(5)
        assert ("before", "work") in calls
        assert all(name == "before" for name, _ in calls)  # the caller's own thread is left alone
        assert sys.getprofile() is None
        set_others(False)
        done.clear()
        seen = len(calls)
        go.set()
        assert done.wait(5)
        assert len(calls) == seen  # switched off: the thread has no profile function any more
    finally:
        stop.set()
        t.join()
