"""One evaluation on two threads (PLS.eval_threads = 2, _eval_worker.pyx): the blocked
factorization's assembly and supernodal updates and the forward solve's first-term part
shared with a second thread give the one-thread answers bit for bit (objective, beta,
conditional modes, solves), dense or sparse Schur complement, any assembly width; copies
get one thread; bad values are refused."""
import numpy as np
import pandas as pd
import pytest

import pymer
from pymer.formula import parse_formula
from pymer.lmm import LinearMixedModel


def _crossed(seed, k1=1, n=8000, ng=600, nh=700):
    """Crossed g x h: each level of g meets a few neighbouring levels of h and, in a fifth of
    its rows, random ones; a Schur complement of 600+ columns whose largest supernodes'
    updates are split between the threads (k1 = 2: h, with more levels, comes first and
    the Schur complement holds (x | g))."""
    rng = np.random.default_rng(seed)
    g = rng.integers(0, ng, n)
    h = np.where(rng.uniform(size=n) < 0.2, rng.integers(0, nh, n), (g * 37 + rng.integers(0, 8, n)) % nh)
    d = pd.DataFrame({"g": g.astype(str), "h": h.astype(str), "j": rng.integers(0, 9, n).astype(str),
                      "f": rng.integers(0, 9, n).astype(str), "x": rng.standard_normal(n),
                      "y": rng.standard_normal(n)})
    first = {1: "(1 | g)", 2: "(x | g)"}[k1]
    # f: 11 columns [X y], the forward solve's row-wise path (8 or more)
    return LinearMixedModel(parse_formula(f"y ~ x + f + {first} + (1 | h) + (1 | j)", d), REML=True)


def _state(core, theta):
    obj = core.objective(theta, True)
    beta = core.solve_fixed()
    B = np.random.default_rng(1).standard_normal((core.q, 2))
    return [obj, core.logdetL, core.pwrss, beta, core.solve_u(beta), core.solve_A(B)]


def _same(a, b):
    for x, y in zip(a, b):
        assert np.array_equal(np.asarray(x), np.asarray(y)), (x, y)


@pytest.mark.parametrize("k1", [1, 2])
@pytest.mark.parametrize("schur,width", [("sparse", 0), ("sparse", 7), ("dense", 0), ("dense", 100000)])
def test_two_threads_give_the_same_bits(k1, schur, width):
    model = _crossed(k1, k1)
    core = model.core
    core.choose_factorization("blocked", schur=schur, schur_width=width)
    assert core.q2 >= 400 and core.sparse_schur == (schur == "sparse")
    lower = model.re.lower_bounds()
    rng = np.random.default_rng(3)
    for _ in range(3):
        theta = np.where(lower == 0, rng.uniform(0.2, 2.0, lower.size), rng.uniform(-0.5, 0.5, lower.size))
        core.eval_threads = 1
        one = _state(core, theta)
        core.eval_threads = 2
        assert core.eval_threads == 2
        two = _state(core, theta)
        _same(one, two)
        _same(_state(core, theta), two)            # the helper's scratch is reset each time


def test_failure_on_two_threads_then_the_same_bits_again():
    model = _crossed(5)
    core = model.core
    core.choose_factorization("blocked", schur="sparse")
    theta = np.array([0.8, 1.3, 0.6])
    ref = _state(core, theta)
    bad = np.array([0.8, np.nan, 0.6])
    nan_one = core.objective(bad, True)
    core.eval_threads = 2
    assert core.objective(np.array([np.nan, 1.3, 0.6]), True) == np.inf
    assert np.array_equal(core.objective(bad, True), nan_one, equal_nan=True)
    _same(_state(core, theta), ref)


def test_copies_get_one_thread_and_bad_values_are_refused():
    core = _crossed(6).core
    core.eval_threads = 2
    other = core.copy()
    assert other.eval_threads == 1 and core.eval_threads == 2
    theta = np.array([0.5, 1.1, 0.9])
    assert other.objective(theta, True) == core.objective(theta, True)
    core.helper_paused = True                  # one thread for now, the helper kept
    assert core.objective(theta, True) == other.objective(theta, True)
    core.helper_paused = False
    core.choose_factorization("blocked", schur="dense")      # a new set-up keeps two threads
    assert core.eval_threads == 2
    core.choose_factorization("cholmod")
    assert np.isfinite(core.objective(theta, True))
    for bad in (0, 3, -1, 1.5, True, "2", None):
        with pytest.raises(ValueError, match="eval_threads"):
            core.eval_threads = bad
    assert core.eval_threads == 2


def test_insteval_two_threads_same_bits():
    d = pymer.datasets.load("InstEval")
    model = LinearMixedModel(parse_formula("y ~ service * dept + (1 | s) + (1 | d)", d), REML=True)
    core = model.core
    assert core.factorization == "blocked" and core.sparse_schur
    theta = np.array([0.3116, 0.4479])
    one = _state(core, theta)
    core.eval_threads = 2
    _same(_state(core, theta), one)


def test_the_blas_thread_setters_were_found_after_openblas_loaded():
    import pymer._core._pls  # noqa: F401  (loads _blas_local, which looks for them)
    from pymer._core import _blas_threads
    cached = _blas_threads._setters()
    _blas_threads._SETTERS = None
    try:
        assert len(cached) == len(_blas_threads._setters())
    finally:
        _blas_threads._SETTERS = cached


def test_small_models_keep_one_thread_and_their_answers():
    d = pymer.datasets.load("Penicillin")
    core = LinearMixedModel(parse_formula("diameter ~ 1 + (1 | plate) + (1 | sample)", d), REML=True).core
    theta = np.array([1.5, 3.2])
    one = _state(core, theta)
    core.eval_threads = 2                      # accepted; no helper for a Schur block this small
    _same(_state(core, theta), one)


def test_compiled_fit_on_two_threads_is_the_one_thread_fit():
    """The compiled optimizer lets the core use its second thread for the fit (BOBYQA's
    evaluations one at a time; paused while two evaluations run side by side: the first
    points and the derivatives, parallel_min 0), then restores the core's count: the same
    fit to the bit as with eval_threads 1."""
    from pymer._core._optim import LmmObjective
    model = _crossed(5)
    core = model.core
    assert core.blocked and core.q2 >= 512
    lower = model._theta_lower
    x0, step = model.start_theta()
    fits = {}
    for threads in (1, 2):
        obj = LmmObjective(core, True, model.log_w, lower)
        obj.eval_threads = threads
        obj.parallel_min = 0.0
        fits[threads] = obj.fit(x0, step)
        assert core.eval_threads == 1 and not core.helper_paused
    for a, b in zip(fits[1], fits[2]):
        assert np.array_equal(np.asarray(a), np.asarray(b))


def test_a_forked_child_evaluates_on_one_thread():
    """A fork's child inherits the core but not its helper thread: it evaluates alone
    (the same value), and freeing the core there does not wait for a thread it lacks."""
    import os
    import time
    model = _crossed(6)
    core = model.core
    theta = np.full(model._theta_lower.size, 0.7)
    core.eval_threads = 2
    want = core.objective(theta, True)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:                                   # the child: report, then exit at once
        try:
            ok = core.objective(theta, True) == want
            core.eval_threads = 1                  # frees the inherited worker
            os.write(w, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(w)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        pytest.fail("the forked child hung evaluating the core")
    assert os.read(r, 1) == b"1"
    os.close(r)
    core.eval_threads = 1
