"""One call on a thread of its own while the caller goes on (a model's set-up: the
symbolic analysis of its pattern, compiled code that releases the GIL, overlaps the
cross-products computed meanwhile).
"""
from __future__ import annotations

import threading
from typing import Any, Callable, Generic, TypeVar

_T = TypeVar("_T")


class Background(Generic[_T]):
    """``fn(*args)`` started on a daemon thread; :meth:`result` waits for it and returns
    its value or raises its exception. With ``thread=False`` (work too small to pay for a
    thread), or where no thread can be started, it runs in :meth:`result`, on the
    caller's thread."""

    def __init__(self, fn: Callable[..., _T], *args: Any, thread: bool = True) -> None:
        self._fn, self._args = fn, args
        self._value: Any = None
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        if thread:
            self._thread = threading.Thread(target=self._run, daemon=True)
            try:
                self._thread.start()
            except RuntimeError:       # no thread to be had
                self._thread = None

    def _run(self) -> None:
        try:
            self._value = self._fn(*self._args)
        except BaseException as e:     # handed to the caller by result()
            self._error = e

    def result(self) -> _T:
        """The call's value (waiting for it), or its exception raised here."""
        if self._thread is None:
            return self._fn(*self._args)
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value
