"""Conditional variances of the random effects (lme4's condVar) by selected inversion.

m.condvar() reads the level blocks of A^-1 (A = Lambda'Z'WZ Lambda + I) from the factor
(pymer._core._selinv); these tests hold it to the dense computation it replaced (solves
against identity columns) on every reference model and on both factorizations, and to
lme4's ranef(condVar = TRUE) standard deviations."""
import warnings

import numpy as np
import pandas as pd
import pytest

import pymer
from conftest import load_reference
from pymer._core._pls import PLS
from pymer._core._selinv import diag_blocks_inverse
from pymer.formula import parse_formula
from pymer.lmm import LinearMixedModel
from refmodels import fit_glmer, fit_lmer
from test_glmm_reference import OTHER_MODE

LMM = {k: v for k, v in load_reference("lmm.json").items() if not v["glmm"]}
GLMM = load_reference("glmm.json")
CASES = [("lmm", k) for k in LMM] + [("glmm", k) for k in GLMM]
_FITS = {}


def _fit(kind, key):
    if (kind, key) not in _FITS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _FITS[kind, key] = fit_lmer(LMM[key]) if kind == "lmm" else fit_glmer(GLMM[key])
    return _FITS[kind, key]


def dense_condvar(m, max_levels=400):
    """The former computation: A^-1's level blocks by solving against identity columns
    (for at most max_levels levels of each term, spread over its levels)."""
    core = m._core_at_optimum()
    s2 = m.sigma ** 2 if m.has_dispersion else 1.0
    out = []
    for t, off, T in zip(m.re.terms, m.re.col_offsets, m.re.factors(m.theta)):
        k = t.k
        levels = np.unique(np.linspace(0, t.nlev - 1, min(t.nlev, max_levels)).astype(int))
        cols = (off + levels[:, None] * k + np.arange(k)).ravel()
        E = np.zeros((m.re.q, cols.size))
        E[cols, np.arange(cols.size)] = 1.0
        blocks = core.solve_A(E)[cols].reshape(levels.size, k, levels.size, k)
        out.append((levels, np.array([s2 * T @ blocks[i, :, i, :] @ T.T for i in range(levels.size)])))
    return out


def _per_term(m, cv):
    """Split condvar()'s per-group arrays back into per-term blocks."""
    out, used = [], {}
    for t in m.re.terms:
        a = used.get(t.group, 0)
        out.append(cv[t.group][:, a:a + t.k, a:a + t.k])
        used[t.group] = a + t.k
    return out


def _assert_same(got, want):
    for g, (levels, w) in zip(got, want):
        g = g[levels]
        scale = max(np.abs(w).max(), 1e-300)
        np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-12 * scale)


@pytest.mark.parametrize("kind,key", CASES, ids=[f"{a}-{b}" for a, b in CASES])
def test_condvar_equals_dense_inverse_blocks(kind, key):
    m = _fit(kind, key)
    _assert_same(_per_term(m, m.condvar()), dense_condvar(m))


def _lme4_condsd(ref):
    return {g: pd.DataFrame(np.asarray(v["values"], dtype=float), index=v["levels"], columns=v["columns"])
            for g, v in ref["ranef_condsd"].items()}


def _converged(kind, key):
    ref = (LMM if kind == "lmm" else GLMM)[key]
    return not any("converge" in w for w in ref.get("optimizer_warnings") or [])


# where lme4 did not converge its condVar belongs to another optimum: compared with the
# dense computation above only
# (and grouseticks_poisson_sqrt: its Laplace deviance has several modes, pymer's is lower)
CONVERGED = [c for c in CASES if _converged(*c) and c[1] not in OTHER_MODE]


@pytest.mark.parametrize("kind,key", CONVERGED, ids=[f"{a}-{b}" for a, b in CONVERGED])
def test_condsd_match_lme4(kind, key):
    ref = (LMM if kind == "lmm" else GLMM)[key]
    m = _fit(kind, key)
    tab = m.ranef_table()
    for g, want in _lme4_condsd(ref).items():
        for col in want.columns:
            got = tab[(tab.grpvar == g) & (tab.term == col)].set_index("grp")["condsd"]
            np.testing.assert_allclose(got.loc[[str(x) for x in want.index]].to_numpy(), want[col].to_numpy(),
                                       rtol=2e-3, atol=1e-6 * want.to_numpy().max(), err_msg=f"{key} {g} {col}")


@pytest.fixture(scope="module")
def nested_data():
    rng = np.random.default_rng(3)
    n = 2400
    inner = rng.integers(0, 800, n)
    d = pd.DataFrame({"a": (inner // 4).astype(str), "b": (inner // 12).astype(str),
                      "c": inner.astype(str), "h": rng.integers(0, 150, n).astype(str),
                      "h2": rng.integers(0, 40, n).astype(str), "x": rng.standard_normal(n)})
    d["y"] = (rng.standard_normal(n) + 0.3 * (inner // 4 % 7) + 0.2 * (inner % 5)
              + 0.4 * d["x"] * (rng.integers(0, 40, n) % 3))
    return d


FORMULAS = ["y ~ x + (1 | c) + (1 | a) + (1 | b)",       # nested: simplicial CHOLMOD factor
            "y ~ x + (x | c) + (x | a) + (1 | b)",
            "y ~ x + (1 | c) + (1 | h)",                   # crossed: supernodal CHOLMOD factor
            "y ~ x + (x | h) + (1 | c) + (x | h2)",
            "y ~ x + (1 | a) + (x || b)"]


@pytest.mark.parametrize("formula", FORMULAS)
@pytest.mark.parametrize("method", ["blocked", "cholmod"])
def test_both_factorizations_equal_dense(nested_data, formula, method):
    model = LinearMixedModel(parse_formula(formula, nested_data))
    model.core.choose_factorization(method)
    assert model.core.factorization == method
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = model.fit()
    _assert_same(_per_term(m, m.condvar()), dense_condvar(m))


def test_cholmod_paths_cover_simplicial_and_supernodal(nested_data):
    kinds = set()
    for f in FORMULAS[:3]:
        model = LinearMixedModel(parse_formula(f, nested_data))
        model.core.choose_factorization("cholmod")
        model.core.set_theta(np.ones(model.re.ntheta))
        assert model.core.update() == 0
        kinds.add(model.core.is_supernodal)
    assert kinds == {False, True}


def test_condvar_solves_no_identity_columns(nested_data, monkeypatch):
    """The q-squared dense path is gone: condvar never calls solve_A."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = pymer.lmer("y ~ x + (1 | c) + (1 | h)", nested_data)
    want = dense_condvar(m)

    def refuse(*args, **kwargs):
        raise AssertionError("condvar solved against dense identity columns")

    monkeypatch.setattr(type(m.model.core), "solve_A", refuse)
    _assert_same(_per_term(m, m.condvar()), want)
    assert len(m.ranef_table()) == sum(m.ngrps.values())


def test_many_levels_linear_memory():
    """A (1 | g) model with 20,000 levels: each level's variance is sigma^2 theta^2 / (theta^2 n_l + 1)."""
    rng = np.random.default_rng(7)
    n, nl = 60_000, 20_000
    g = rng.integers(0, nl, n)
    d = pd.DataFrame({"g": pd.Categorical(g), "y": rng.standard_normal(nl)[g] + rng.standard_normal(n)})
    m = pymer.lmer("y ~ 1 + (1 | g)", d)
    cnt = np.bincount(m.re.terms[0].codes, minlength=m.re.terms[0].nlev)
    assert cnt.size > 18_000
    th2 = m.theta[0] ** 2
    want = m.sigma ** 2 * th2 / (th2 * cnt + 1.0)
    np.testing.assert_allclose(m.condvar()["g"][:, 0, 0], want, rtol=1e-12)


def test_failed_factorization_is_an_error():
    core = PLS(np.array([0, 1]), np.array([0]), np.array([1.0]), np.zeros((1, 2)), np.eye(2),
               np.array([0], dtype=np.int32), np.array([0], dtype=np.int32), np.array([1], dtype=np.int32), 1)
    core.set_theta(np.array([np.nan]))
    assert core.update() != 0
    with pytest.raises(RuntimeError, match="no valid factorization"):
        diag_blocks_inverse(core)
    with pytest.raises(TypeError):
        diag_blocks_inverse("not a core")


# ---- refit on a copied core (with_response): what the bootstrap runs per replicate ----------

def test_lmm_refit_equals_fresh_fit_and_leaves_the_original(nested_data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = pymer.lmer("y ~ x + (1 | c) + (1 | a) + (1 | b)", nested_data)
        assert m.model.core.factorization == "cholmod"
        cv0, obj0 = m.condvar()["c"].copy(), m.objective
        y = m.simulate(1, seed=5)["sim_1"].to_numpy()
        r = m.refit(y)
        d = nested_data.copy()
        d["y"] = y
        fresh = pymer.lmer("y ~ x + (1 | c) + (1 | a) + (1 | b)", d, start=m.theta)
    assert r.model.core is not m.model.core
    np.testing.assert_allclose(r.theta, fresh.theta, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(r.fixef.values, fresh.fixef.values, rtol=1e-8)
    assert r.objective == pytest.approx(fresh.objective, rel=1e-10)
    np.testing.assert_allclose(r.condvar()["c"], fresh.condvar()["c"], rtol=1e-6)
    # the original fit still answers from its own response
    np.testing.assert_array_equal(m.condvar()["c"], cv0)
    assert m.model.objective(m.theta) == pytest.approx(obj0, rel=1e-12)
    assert list(r.model.mf.y) == list(y) and list(m.model.mf.y) == list(nested_data["y"])


def test_core_copy_is_independent():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = pymer.lmer("Reaction ~ Days + (Days | Subject)", pymer.datasets.load("sleepstudy"))
    core = m.model.core
    twin = core.copy()
    assert type(twin) is type(core) and twin.factorization == core.factorization
    np.testing.assert_array_equal(twin.solve_fixed(), core.solve_fixed())
    assert twin.objective(m.theta) == core.objective(m.theta)
    twin.set_crossprods(np.asarray(twin.ztz) * 2, np.asarray(twin.ZtXy) * 2, np.asarray(twin.XytXy) * 2)
    assert twin.objective(m.theta) != core.objective(m.theta)
    assert m.model.objective(m.theta) == pytest.approx(m.objective, rel=1e-12)


def test_glmm_refit_equals_fresh_fit():
    cbpp = pymer.datasets.load("cbpp")
    f = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = pymer.glmer(f, cbpp, family="binomial")
        y = g.simulate(1, seed=2)["sim_1"].to_numpy()
        r = g.refit(y)
        d = cbpp.copy()
        d["incidence"] = np.round(y * d["size"]).astype(int)
        fresh = pymer.glmer(f, d, family="binomial", start=g.theta)
    assert r.objective == pytest.approx(fresh.objective, rel=1e-8)
    np.testing.assert_allclose(r.fixef.values, fresh.fixef.values, rtol=1e-5, atol=1e-7)
    assert g.model.core_u is not r.model.core_u
    with pytest.raises(ValueError, match="newresp"):
        g.refit(y[:-1])
