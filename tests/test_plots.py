"""Plots: what is drawn (points, intervals, bands, panels) and that the PNG is not blank."""
import numpy as np
import pandas as pd
import pytest
from scipy import stats

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
from matplotlib.collections import LineCollection, PolyCollection  # noqa: E402
from matplotlib.image import imread  # noqa: E402

import pymer  # noqa: E402
from pymer import plots  # noqa: E402


@pytest.fixture(scope="module")
def sleep():
    return pymer.lmer("Reaction ~ Days + (Days | Subject)", pymer.datasets.load("sleepstudy"))


@pytest.fixture(scope="module")
def bats():
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pymer.lmer("mass ~ species * forest - 1 + (1 | sites)", pymer.datasets.load("batMass"))


def save(fig, tmp_path, name):
    """Write the PNG, read it back, and check it is an image with content."""
    path = tmp_path / f"{name}.png"
    fig.savefig(path, dpi=60)
    img = imread(path)
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100
    gray = img[..., :3].mean(axis=2)
    assert gray.std() > 0.05                       # not a blank canvas
    assert (gray < 0.5).mean() > 0.005             # some dark ink: points, lines, text
    return img


def visible_axes(fig):
    return [ax for ax in fig.axes if ax.get_visible()]


def markers(ax):
    """Line2D objects drawn as markers only (data points)."""
    return [ln for ln in ax.get_lines() if ln.get_linestyle() in ("None", "", " ")
            and ln.get_marker() not in (None, "None", "")]


def test_ranef_plot_caterpillar(sleep, tmp_path):
    fig = plots.ranef_plot(sleep)
    save(fig, tmp_path, "ranef")
    axes = visible_axes(fig)
    assert len(axes) == 2
    tab = sleep.ranef_table()
    z = stats.norm.ppf(0.975)
    for ax, term in zip(axes, ["(Intercept)", "Days"]):
        assert ax.get_title() == f"Subject: {term}"
        pts = markers(ax)
        assert len(pts) == 1
        x, y = pts[0].get_data()
        d = tab[tab["term"] == term]
        assert len(x) == 18
        np.testing.assert_allclose(np.sort(x), np.sort(d["condval"]))
        if term == "(Intercept)":
            assert np.all(np.diff(x) >= 0)           # sorted caterpillar (by the first term)
        segs = [c for c in ax.collections if isinstance(c, LineCollection)][0].get_segments()
        assert len(segs) == 18
        widths = np.sort([s[1][0] - s[0][0] for s in segs])
        np.testing.assert_allclose(widths, np.sort(2 * z * d["condsd"]), rtol=1e-10)
        labels = [t.get_text() for t in ax.get_yticklabels()]
        assert sorted(labels) == sorted(d["grp"])
        # as lattice: one level order across the panels of a grouping factor
        assert labels == [t.get_text() for t in axes[0].get_yticklabels()]
        np.testing.assert_allclose(x, d.set_index("grp")["condval"].loc[labels].to_numpy())


def test_ranef_plot_selects_and_validates(sleep, tmp_path):
    fig = plots.ranef_plot(sleep, terms=["Days"], level=0.5)
    assert len(visible_axes(fig)) == 1
    segs = [c for c in fig.axes[0].collections if isinstance(c, LineCollection)][0].get_segments()
    cs = sleep.ranef_table().query("term == 'Days'")["condsd"]
    np.testing.assert_allclose(sorted(s[1][0] - s[0][0] for s in segs),
                               np.sort(2 * stats.norm.ppf(0.75) * cs))
    with pytest.raises(ValueError, match="grouping factor"):
        plots.ranef_plot(sleep, group="Nope")


def test_qq_points_match_r():
    # R: qqnorm(c(3, 1, 2, 5, 4)) uses ppoints(5) = (1:5 - 3/8) / (5 + 1/4)
    theo, samp, (a, b) = plots.qq_points([3, 1, 2, 5, 4])
    np.testing.assert_allclose(theo, stats.norm.ppf((np.arange(1, 6) - 0.375) / 5.25))
    np.testing.assert_allclose(samp, [1, 2, 3, 4, 5])
    # qqline: through the quartiles (2 and 4)
    t1, t3 = stats.norm.ppf([0.25, 0.75])
    assert a + b * t1 == pytest.approx(2) and a + b * t3 == pytest.approx(4)


def test_residual_plot_panels(sleep, tmp_path):
    fig = plots.residual_plot(sleep)
    save(fig, tmp_path, "resid")
    axes = visible_axes(fig)
    assert len(axes) == 4                 # resid vs fitted, QQ resid, QQ of 2 random-effect terms
    x, y = markers(axes[0])[0].get_data()
    np.testing.assert_allclose(x, sleep.fitted)
    np.testing.assert_allclose(y, sleep.residuals("pearson", scaled=True))
    assert len(markers(axes[1])[0].get_data()[0]) == 180
    for ax, term in zip(axes[2:], ["(Intercept)", "Days"]):
        _, s = markers(ax)[0].get_data()
        np.testing.assert_allclose(s, np.sort(sleep.ranef["Subject"][term]))
    assert len(visible_axes(plots.residual_plot(sleep, ranef=False))) == 2


def test_effects_plot_numeric_band(sleep, tmp_path):
    fig = plots.effects_plot(sleep, "Days", n=50)
    save(fig, tmp_path, "effect_days")
    ax = visible_axes(fig)[0]
    lines = [ln for ln in ax.get_lines() if len(ln.get_xdata()) == 50]
    assert len(lines) == 1
    x, y = lines[0].get_data()
    fe = sleep.fixef
    np.testing.assert_allclose(y, fe["(Intercept)"] + fe["Days"] * x)
    band = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(band) == 1
    verts = band[0].get_paths()[0].vertices
    at0 = verts[np.isclose(verts[:, 0], 0.0), 1]
    se0 = np.sqrt(sleep.vcov.iloc[0, 0])
    np.testing.assert_allclose([at0.min(), at0.max()],
                               fe["(Intercept)"] + np.array([-1, 1]) * stats.norm.ppf(0.975) * se0)
    assert not markers(ax)                        # no partial residuals unless asked
    fig = plots.effects_plot(sleep, "Days", partial_residuals=True)
    px, py = markers(visible_axes(fig)[0])[0].get_data()
    assert len(px) == 180
    days = sleep.model.call.data["Days"].to_numpy()
    np.testing.assert_allclose(py, fe["(Intercept)"] + fe["Days"] * days + sleep.residuals())


def test_effects_plot_factor_and_at(bats, tmp_path):
    fig = plots.effects_plot(bats, "species")
    save(fig, tmp_path, "effect_species")
    ax = visible_axes(fig)[0]
    x, y = markers(ax)[0].get_data()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["Spp1", "Spp2", "Spp3"]
    fe = bats.fixef
    forest = bats.model.call.data["forest"].mean()
    want = [fe["speciesSpp1"] + fe["forest"] * forest,
            fe["speciesSpp2"] + (fe["forest"] + fe["speciesSpp2:forest"]) * forest,
            fe["speciesSpp3"] + (fe["forest"] + fe["speciesSpp3:forest"]) * forest]
    np.testing.assert_allclose(y, want)
    fig = plots.effects_plot(bats, "forest", at={"species": "Spp3"}, n=20)
    line = [ln for ln in visible_axes(fig)[0].get_lines() if len(ln.get_xdata()) == 20][0]
    xx, yy = line.get_data()
    np.testing.assert_allclose(yy, fe["speciesSpp3"] + (fe["forest"] + fe["speciesSpp3:forest"]) * xx)
    assert "species=Spp3" in visible_axes(fig)[0].get_title()
    with pytest.raises(ValueError, match="not a column"):
        plots.effects_plot(bats, "nope")


@pytest.mark.skipif(not hasattr(pymer, "glmer"), reason="glmer not available yet")
def test_glmm_plots_on_response_scale(tmp_path):
    g = pymer.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
                    pymer.datasets.load("cbpp"), family="binomial")
    fig = plots.effects_plot(g, "period", partial_residuals=True)
    save(fig, tmp_path, "glmm_effect")
    pts = markers(visible_axes(fig)[0])
    fit = [p for p in pts if len(p.get_xdata()) == 4][0].get_data()[1]
    eta = g.fixef["(Intercept)"] + np.r_[0, g.fixef[["period2", "period3", "period4"]]]
    np.testing.assert_allclose(fit, 1 / (1 + np.exp(-eta)))
    assert len(visible_axes(plots.ranef_plot(g))) == 1
    assert len(visible_axes(plots.residual_plot(g))) == 3
    # factor(DNA) of a numeric column: one point per observed value, Fluor at its first level
    juv = pymer.glmer("Detect ~ factor(DNA) + Fluor + (1 | tank)",
                      pymer.datasets.load("lamprey_lab_DNA"), family="binomial")
    ax = visible_axes(plots.effects_plot(juv, "DNA"))[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1", "5", "25"]
    y = markers(ax)[0].get_data()[1]
    fe = juv.fixef
    eta = fe["(Intercept)"] + np.r_[0, fe[["factor(DNA)1", "factor(DNA)5", "factor(DNA)25"]]]
    np.testing.assert_allclose(y, 1 / (1 + np.exp(-eta)))
    ax = visible_axes(plots.effects_plot(juv, "Fluor"))[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["FAM", "HEX"]


def _synthetic_profile():
    # a quadratic deviance: zeta linear in the parameter, zeta = (x - 2) / 0.5
    x = np.linspace(0.5, 3.5, 31)
    s = np.linspace(-1.0, 1.0, 21)
    return pd.DataFrame({".par": ["beta"] * 31 + [".sigma"] * 21,
                         ".focal": np.r_[x, np.exp(s)],
                         ".zeta": np.r_[(x - 2) / 0.5, s / 0.4]})


def test_profile_plot_long_and_wide(tmp_path):
    prof = _synthetic_profile()
    fig = plots.profile_plot(prof, levels=(0.95,))
    save(fig, tmp_path, "profile")
    axes = visible_axes(fig)
    assert [ax.get_title() for ax in axes] == ["beta", ".sigma"]
    trace = [ln for ln in axes[0].get_lines() if len(ln.get_xdata()) == 31][0]
    np.testing.assert_allclose(trace.get_ydata(), (trace.get_xdata() - 2) / 0.5)
    ends = sorted(seg[0][0] for c in axes[0].collections if isinstance(c, LineCollection)
                  for seg in c.get_segments())
    z = stats.norm.ppf(0.975)
    np.testing.assert_allclose(ends, [2 - 0.5 * z, 2 + 0.5 * z], rtol=1e-3)
    # lme4's wide layout: .zeta, .par and one column per parameter
    wide = pd.DataFrame({".zeta": prof[".zeta"], ".par": prof[".par"],
                         "beta": np.where(prof[".par"] == "beta", prof[".focal"], np.nan),
                         ".sigma": np.where(prof[".par"] == ".sigma", prof[".focal"], np.nan)})
    fig2 = plots.profile_plot(wide, absolute=True)
    assert len(visible_axes(fig2)) == 2
    tr = [ln for ln in visible_axes(fig2)[0].get_lines() if len(ln.get_xdata()) == 31][0]
    assert np.all(tr.get_ydata() >= 0)
    with pytest.raises(ValueError, match=".zeta"):
        plots.profile_plot(pd.DataFrame({"a": [1.0]}))
    with pytest.raises(TypeError, match="profile"):
        plots.profile_plot([1, 2, 3])


@pytest.mark.skipif(not hasattr(pymer.LMMResult, "profile"), reason="m.profile() not available yet")
def test_profile_plot_from_model(tmp_path):
    m = pymer.lmer("Yield ~ 1 + (1 | Batch)", pymer.datasets.load("Dyestuff"))
    fig = plots.profile_plot(m)
    save(fig, tmp_path, "profile_model")
    assert len(visible_axes(fig)) == 3          # .sig01, .sigma, (Intercept)
