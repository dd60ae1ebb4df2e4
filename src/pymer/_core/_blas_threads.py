"""Run the dense kernels of a fit on one BLAS thread.

The blocked factorization calls LAPACK (dpotrf, dtrsm) through SciPy, whose
OpenBLAS starts its own threads. Per call the matrices are small to medium
(the Schur complement of InstEval is 1142 x 1142), where a second thread gains at
most ~20% on an idle machine, while on a busy two-core machine the spinning threads
made fits 2-20x slower (grouseticks: 5.4 s against 0.23 s single-threaded; InstEval
3-4 s against 1 s). OpenBLAS (>= 0.3.27) can set
the thread count for the calling thread alone, so nothing else in the process
changes; where that entry point is missing this is a no-op.

The model set-up's dense algebra on n rows (least squares, Gram-Schmidt of the
fixed-effects matrix) goes through NumPy's OpenBLAS the same way: lmer() runs on
one BLAS thread (InstEval service*dept set-up: 0.6-2.9 s threaded under load,
0.16 s on one thread).
"""
from __future__ import annotations

from typing import Callable, ParamSpec, TypeVar
import contextlib
import ctypes
import re

_P = ParamSpec("_P")
_R = TypeVar("_R")

_SETTERS = None


def _setters():
    global _SETTERS
    if _SETTERS is None:
        found = []
        try:
            with open("/proc/self/maps", encoding="utf-8", errors="replace") as fh:
                maps = fh.read()
        except OSError:
            maps = ""
        for path in sorted(set(re.findall(r"(/\S*openblas\S*\.so[\w.\-]*)", maps))):
            try:
                fn = ctypes.CDLL(path).openblas_set_num_threads_local
            except (OSError, AttributeError):
                continue
            fn.argtypes = [ctypes.c_int]
            fn.restype = ctypes.c_int
            found.append(fn)
        _SETTERS = found
    return _SETTERS


def single_threaded(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Decorator: run fn within :func:`single_blas_thread`."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with single_blas_thread():
            return fn(*args, **kwargs)
    return wrapper


@contextlib.contextmanager
def single_blas_thread():
    """Within the block, OpenBLAS calls from this thread use one thread."""
    setters = _setters()
    previous = [fn(1) for fn in setters]
    try:
        yield
    finally:
        for fn, n in zip(setters, previous):
            fn(n)
