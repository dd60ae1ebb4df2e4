"""pymer._progress.progress: a tqdm bar on a terminal, the iterable itself elsewhere."""
import io

import pytest

from pymer._progress import progress


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_silent_when_stderr_is_not_a_terminal(monkeypatch):
    monkeypatch.delenv("PYMER_PROGRESS", raising=False)
    monkeypatch.setattr("sys.stderr", io.StringIO())
    it = range(5)
    assert progress(it, total=5, desc="x") is it


def test_bar_on_a_terminal(monkeypatch):
    pytest.importorskip("tqdm")
    err = _Tty()
    monkeypatch.delenv("PYMER_PROGRESS", raising=False)
    monkeypatch.setattr("sys.stderr", err)
    out = list(progress(iter(range(7)), total=7, desc="bootstrap", leave=True))
    assert out == list(range(7))
    text = err.getvalue()
    assert "bootstrap" in text and "7/7" in text


def test_environment_and_argument_override(monkeypatch):
    monkeypatch.setattr("sys.stderr", _Tty())
    monkeypatch.setenv("PYMER_PROGRESS", "0")
    it = [1, 2]
    assert progress(it) is it
    assert progress(it, enable=False) is it


def test_without_tqdm_returns_iterable(monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "tqdm", None)
    it = [1, 2, 3]
    assert progress(it, total=3, enable=True) is it
