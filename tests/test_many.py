"""lmer_many: many responses sharing one design; each equals pymer.lmer on its own."""
import copy
import warnings

import numpy as np
import pandas as pd
import pytest

import pymer
from pymer.errors import FormulaError, MissingColumnError, PymerDataError

RHS = "~ x + (1 | ind) + (1 | batch)"


def _design(n_ind=20, per=12, n_batch=6, R=8, seed=3):
    rng = np.random.default_rng(seed)
    n = n_ind * per
    meta = pd.DataFrame({"x": rng.normal(size=n),
                         "ind": np.repeat([f"i{i:02d}" for i in range(n_ind)], per),
                         "batch": np.tile([f"b{i}" for i in range(n_batch)], n // n_batch)})
    ind = meta["ind"].str[1:].astype(int).to_numpy()
    bat = meta["batch"].str[1:].astype(int).to_numpy()
    Y = (rng.normal(size=(n, R)) + 0.8 * rng.normal(size=(n_ind, R))[ind]
         + 0.6 * rng.normal(size=(n_batch, R))[bat] + 0.3 * meta["x"].to_numpy()[:, None])
    return meta, pd.DataFrame(Y, columns=[f"gene{j}" for j in range(R)])


@pytest.fixture(scope="module")
def many():
    meta, Y = _design()
    Y.iloc[[3, 50], 2] = np.nan           # two patterns of missing responses
    Y.iloc[7, 5] = np.nan
    Y.iloc[3, 6] = np.nan                 # a third pattern (gene2 misses rows 3 and 50)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fits = pymer.lmer_many(RHS, Y, meta)
    return meta, Y, fits


def _single(meta, y, REML=True):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pymer.lmer("y" + " " + RHS, meta.assign(y=y), REML=REML)


def test_each_response_equals_lmer(many):
    meta, Y, fits = many
    assert list(fits.names) == list(Y.columns)
    for j in [0, 1, 2, 5, 6, 7]:
        m = _single(meta, Y.iloc[:, j].to_numpy())
        assert fits.objective.iloc[j] == pytest.approx(m.objective, rel=1e-8)
        np.testing.assert_allclose(fits.fixef.iloc[j].to_numpy(), m.fixef.to_numpy(), rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(fits.theta.iloc[j].to_numpy(), m.theta, rtol=1e-5, atol=1e-6)
        assert fits.sigma.iloc[j] == pytest.approx(m.sigma, rel=1e-6)
        np.testing.assert_allclose(fits.std_error.iloc[j].to_numpy(), np.sqrt(np.diag(m.vcov)), rtol=1e-5)
        assert fits.nobs.iloc[j] == m.nobs
        assert bool(fits.singular.iloc[j]) == m.is_singular
    assert fits.nobs.tolist()[:3] == [240, 240, 238]


def test_varcorr_table_matches_lmer(many):
    meta, Y, fits = many
    m = _single(meta, Y.iloc[:, 2].to_numpy())
    vc = m.varcorr.set_index("grp")["sdcor"]
    row = fits.varcorr.iloc[2]
    assert row[("ind", "sd__(Intercept)")] == pytest.approx(vc["ind"], rel=1e-5)
    assert row[("batch", "sd__(Intercept)")] == pytest.approx(vc["batch"], rel=1e-5)
    assert row[("Residual", "sd__Observation")] == pytest.approx(vc["Residual"], rel=1e-6)


def test_fit_k_is_a_full_result(many):
    meta, Y, fits = many
    r = fits.fit("gene2")
    m = _single(meta, Y["gene2"].to_numpy())
    assert isinstance(r, pymer.LMMResult)
    assert r.objective == pytest.approx(m.objective, rel=1e-8)
    assert r.nobs == 238
    assert "gene2 ~ x + (1 | ind) + (1 | batch)" in str(r.summary())
    np.testing.assert_allclose(r.vcov.to_numpy(), m.vcov.to_numpy(), rtol=1e-5)
    assert fits.fit(-1).objective == pytest.approx(fits.objective.iloc[-1], rel=1e-12)
    with pytest.raises(KeyError, match="nope"):
        fits.fit("nope")
    with pytest.raises(IndexError):
        fits.fit(99)


def test_tidy_satterthwaite_per_response(many):
    meta, Y, fits = many
    t = fits.tidy(ddf="Satterthwaite", responses=["gene0", "gene2"])
    assert list(t.columns[:4]) == ["response", "effect", "group", "term"]
    assert set(t["response"]) == {"gene0", "gene2"}
    m = _single(meta, Y["gene2"].to_numpy())
    ref = pymer.tidy.tidy(m, ddf="Satterthwaite")
    got = t[t.response == "gene2"].drop(columns="response").reset_index(drop=True)
    for c in ("estimate", "std.error", "statistic", "df", "p.value"):
        np.testing.assert_allclose(got[c].to_numpy(dtype=float), ref[c].to_numpy(dtype=float),
                                   rtol=1e-4, equal_nan=True)


def test_numpy_responses_and_ml():
    meta, Y = _design(R=3, seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fits = pymer.lmer_many(RHS, Y.to_numpy(), meta, REML=False)
    assert list(fits.names) == ["V1", "V2", "V3"]
    m = _single(meta, Y.iloc[:, 1].to_numpy(), REML=False)
    assert fits.objective.iloc[1] == pytest.approx(m.objective, rel=1e-8)
    assert "ManyFits: 3 responses" in repr(fits)


@pytest.mark.parametrize("make, exc, pieces", [
    (lambda m, Y: (RHS, Y.assign(gene1=list("ab") * 120), m), PymerDataError, ["gene1", "not numeric"]),
    (lambda m, Y: (RHS, Y.iloc[:10], m), PymerDataError, ["10 rows", "240"]),
    (lambda m, Y: (RHS, Y.rename(columns={"gene0": "x"}), m), PymerDataError, ["'x'", "covariate"]),
    (lambda m, Y: (RHS, Y.assign(gene3=np.inf), m), PymerDataError, ["gene3", "infinite"]),
    (lambda m, Y: (RHS, Y.assign(gene4=2.5), m), PymerDataError, ["gene4", "constant"]),
    (lambda m, Y: (RHS, Y.assign(gene4=np.nan), m), PymerDataError, ["no complete rows", "gene4"]),
    (lambda m, Y: ("~ x + (1 | indd)", Y, m), MissingColumnError, ["indd", "ind"]),
    (lambda m, Y: ("x + (1 | ind)", Y, m), FormulaError, ["must start with '~'"]),
    (lambda m, Y: ("~ x + (1 | ind", Y, m), FormulaError, ["("]),
])
def test_bad_input_names_the_culprit(make, exc, pieces):
    meta, Y = _design(R=5)
    rhs, resp, data = make(meta, Y)
    before_meta, before_resp = copy.deepcopy(data), copy.deepcopy(resp)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(exc) as ei:
            pymer.lmer_many(rhs, resp, data)
    for p in pieces:
        assert p in str(ei.value), (p, str(ei.value))
    pd.testing.assert_frame_equal(data, before_meta)
    pd.testing.assert_frame_equal(resp, before_resp)


_MAKE = {
    "diameter": lambda d: d["diameter"], "log_diameter": lambda d: np.log(d["diameter"]),
    "sq_diameter": lambda d: d["diameter"] ** 2 / 10,
    "na_diameter": lambda d: d["diameter"].where(~d.index.isin([2, 9])),
    "na_sqrt": lambda d: np.sqrt(d["diameter"]).where(d.index != 4),
    "Reaction": lambda d: d["Reaction"], "log_Reaction": lambda d: np.log(d["Reaction"]),
    "na_Reaction": lambda d: d["Reaction"].where(~d.index.isin([4, 76])),
}


@pytest.mark.parametrize("set_id", ["penicillin", "sleepstudy"])
def test_against_lme4_loop(set_id):
    """Each response as lme4 (and lmerTest's Satterthwaite table) fits it alone (lmer_many.R)."""
    from conftest import load_reference
    ref = load_reference("lmer_many.json")[set_id]
    d = pymer.datasets.load(ref["data"])
    Y = pd.DataFrame({nm: _MAKE[nm](d).to_numpy(dtype=float) for nm in ref["fits"]})
    fits = pymer.lmer_many(ref["rhs"], Y, d.drop(columns=["diameter", "Reaction"], errors="ignore"))
    for j, (nm, r) in enumerate(ref["fits"].items()):
        # never worse than lme4, and the same estimates to the digits lme4 prints
        assert fits.objective[nm] <= r["REMLcrit"] + 1e-6 * abs(r["REMLcrit"])
        assert fits.objective[nm] == pytest.approx(r["REMLcrit"], rel=1e-6)
        np.testing.assert_allclose(fits.fixef.loc[nm, r["fixef"]["names"]].to_numpy(dtype=float),
                                   r["fixef"]["values"], rtol=1e-5)
        np.testing.assert_allclose(fits.theta.loc[nm].to_numpy(dtype=float), r["theta"], rtol=1e-3, atol=1e-4)
        assert fits.sigma[nm] == pytest.approx(r["sigma"], rel=1e-5)
        assert fits.nobs[nm] == r["nobs"]
    nm = list(ref["fits"])[-1]
    t = fits.tidy(effects="fixed", ddf="Satterthwaite", responses=[nm])
    sat = ref["fits"][nm]["satterthwaite"]
    want = np.array(sat["values"], dtype=float)
    np.testing.assert_allclose(t["df"].to_numpy(dtype=float), want[:, 2], rtol=1e-3)
    np.testing.assert_allclose(t["p.value"].to_numpy(dtype=float), want[:, 4], rtol=1e-3)
