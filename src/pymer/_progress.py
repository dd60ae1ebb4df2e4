"""Progress bars for long work (bootstrap, profiles): tqdm on a terminal, silent elsewhere.

>>> from pymer._progress import progress
>>> for i in progress(range(500), total=500, desc="bootstrap"):
...     pass

A bar is shown only when tqdm is installed *and* standard error is a terminal,
so logs, notebooks' captured output, CI and test runs stay clean. Pass
``enable=True`` / ``False`` to decide explicitly, or set the environment
variable ``PYMER_PROGRESS`` to ``1`` / ``0``.
"""
from __future__ import annotations

import os
import sys

__all__ = ["progress"]


def _want_bar(enable) -> bool:
    if enable is not None:
        return bool(enable)
    env = os.environ.get("PYMER_PROGRESS", "").strip().lower()
    if env in ("0", "false", "no", "off"):
        return False
    if env in ("1", "true", "yes", "on"):
        return True
    stream = sys.stderr
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError):      # closed or replaced streams
        return False


def progress(iterable, total=None, desc=None, *, enable=None, leave=False):
    """Wrap `iterable` in a tqdm progress bar when that helps, else return it unchanged.

    Parameters
    ----------
    iterable : iterable
        What to iterate over.
    total : int, optional
        Number of items (for generators, which have no ``len``).
    desc : str, optional
        Label shown before the bar.
    enable : bool, optional
        Force the bar on or off; by default on only if tqdm is importable and
        ``sys.stderr`` is a TTY (or ``PYMER_PROGRESS=1``).
    leave : bool, default False
        Keep the finished bar on screen.

    Returns
    -------
    iterable
        A ``tqdm`` object writing to stderr, or `iterable` itself.
    """
    if not _want_bar(enable):
        return iterable
    try:
        from tqdm import tqdm
    except ImportError:
        return iterable
    return tqdm(iterable, total=total, desc=desc, leave=leave, file=sys.stderr,
                dynamic_ncols=True)
