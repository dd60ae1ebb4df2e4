"""Command line: fit a model to a data file and print lme4's summary.

::

    pymer fit "Reaction ~ Days + (Days | Subject)" --data sleepstudy.csv
    pymer fit "Reaction ~ Days + (Days | Subject)" --data sleepstudy --ml --json fit.json
    pymer fit "Reaction ~ Days + (Days | Subject)" --data sleepstudy --ddf Satterthwaite
    pymer fit "cbind(incidence, size - incidence) ~ period + (1 | herd)" --data cbpp --family binomial
    pymer datasets                 # the bundled data sets
    pymer datasets sleepstudy      # what one holds and where it comes from

(``python -m pymer ...`` is the same.) ``--data`` is a CSV/TSV or Parquet file,
or the name of a bundled data set. ``--json`` writes the estimates as JSON
(``-`` for standard output: then standard output holds the JSON alone and the
summary goes to standard error). ``--ddf Satterthwaite`` or ``--ddf Kenward-Roger``
prints lmerTest's summary (df and p-values of the fixed effects; also in the JSON).

The module imports only the standard library at start, so ``pymer --version`` and
``pymer --help`` answer at once; the fitting stack loads when a command runs.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import warnings
from pathlib import Path

__all__ = ["main", "read_data", "estimates"]

_NB_NAMES = ("negative.binomial", "negbin", "nb")


class CLIError(Exception):
    """A user-facing error: printed as 'pymer: error: ...', exit status 1."""


def read_data(spec: str):
    """A DataFrame from a CSV/TSV/Parquet file or a bundled data set's name.

    Files win over data set names; ``df.attrs["name"]`` is the file's stem (or
    the data set's name), so summaries print ``Data: <name>``.
    """
    import pandas as pd

    from . import datasets

    path = Path(spec)
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix in (".parquet", ".pq"):
            df = _read_parquet(path)
        elif suffix in (".csv", ".tsv", ".tab", ".txt"):
            sep = "\t" if suffix in (".tsv", ".tab") else ","
            # as R's read.csv: 'NA' and empty fields are missing, strings stay strings
            df = pd.read_csv(path, sep=sep, keep_default_na=False, na_values=["NA", ""])
            unnamed = [c for c in df.columns if str(c) == "" or str(c).startswith("Unnamed: 0")]
            if unnamed and df.columns[0] in unnamed:
                df = df.drop(columns=df.columns[0])       # R's row names (write.csv)
        else:
            raise CLIError(f"cannot read {spec!r}: use a .csv, .tsv or .parquet file")
        df.attrs["name"] = path.stem
        return df
    if spec in datasets.list_datasets():
        return datasets.load(spec)
    if path.suffix:
        raise CLIError(f"no such file: {spec!r}")
    raise CLIError(f"{spec!r} is neither a file nor a bundled data set "
                   f"(bundled: {', '.join(datasets.list_datasets())})")


def _read_parquet(path: Path):
    import pandas as pd

    try:
        import pyarrow  # noqa: F401
    except ImportError:
        pass
    else:
        return pd.read_parquet(path)
    try:
        import polars as pl
    except ImportError:
        raise CLIError(f"reading Parquet ({path.name}) needs pyarrow: pip install pyarrow") from None
    from .formula import _to_pandas
    return _to_pandas(pl.read_parquet(path))


def _family(name: str, link: str | None):
    from .families import get_family

    fam = get_family(name)
    return type(fam)(link=link) if link else fam


def fit(args):
    """Fit the model the arguments describe; returns the result."""
    from .glmm import glmer, glmer_nb
    from .lmm import lmer

    data = read_data(args.data)
    kw = {}
    if args.weights:
        kw["weights"] = args.weights
    if args.offset:
        kw["offset"] = args.offset
    family = args.family
    if args.zi is not None or args.disp is not None or (family or "") in _TMB_ONLY:
        return _fit_tmb(args, data, kw)
    if family is not None and family.lower() in ("gaussian",) and args.link in (None, "identity"):
        family = None                       # lme4: glmer(family=gaussian) is lmer
    if family is None:
        if args.link:
            raise CLIError("--link needs --family")
        if args.nagq is not None:
            raise CLIError("--nagq applies to GLMMs (--family) only")
        return lmer(args.formula, data, REML=args.reml, optimizer=args.optimizer, **kw)
    if getattr(args, "ddf", None) is not None:
        raise CLIError("--ddf applies to linear mixed models only (GLMMs use z tests)")
    if args.reml_given:
        raise CLIError("--reml/--ml apply to linear mixed models; GLMMs are fitted by maximum likelihood")
    nagq = 1 if args.nagq is None else args.nagq
    if family.lower() in _NB_NAMES:
        return glmer_nb(args.formula, data, nAGQ=nagq, **kw)
    try:
        fam = _family(family, args.link)
    except (ValueError, TypeError) as e:
        raise CLIError(str(e)) from None
    return glmer(args.formula, data, family=fam, nAGQ=nagq, optimizer=args.optimizer, **kw)


# glmmTMB's families that lme4 lacks: --family with one of them fits pymer.glmmtmb
_TMB_ONLY = ("nbinom2", "nbinom1", "truncated_poisson", "truncated_nbinom1", "truncated_nbinom2",
             "beta", "beta_family", "betabinomial", "tweedie", "genpois")


def _fit_tmb(args, data, kw):
    """glmmTMB's model (--zi, --disp or a glmmTMB family): pymer.glmmtmb."""
    import pymer
    from .tmb import family as tmb_family

    if args.nagq is not None:
        raise CLIError("--nagq applies to glmer fits; glmmTMB's models use the Laplace approximation")
    if args.optimizer != "bobyqa":
        raise CLIError("--optimizer applies to lmer/glmer fits, not to glmmTMB's models (--zi, --disp)")
    try:
        fam = tmb_family(args.family or "gaussian", args.link)
    except (ValueError, TypeError) as e:
        raise CLIError(f"--family {args.family}: {e}") from None
    reml = bool(args.reml_given and args.reml)     # glmmTMB fits by ML unless told
    if reml and fam.base != "gaussian":
        raise CLIError(f"--reml applies to the gaussian family only, not {fam.name}")
    return pymer.glmmtmb(args.formula, data, family=fam, ziformula=args.zi or "~0",
                         dispformula=args.disp or "~1", REML=reml, **kw)


def _num(x):
    x = float(x)
    return x if math.isfinite(x) else None


def estimates(m, coefficients=None) -> dict:
    """The estimates of a fitted model as plain JSON-able Python (NaN becomes null).

    `coefficients`, lmerTest's table (a summary's ``coefficients`` with ``df`` and
    ``Pr(>|t|)``), adds ``df`` and ``p`` of each fixed effect.
    """
    import numpy as np

    vcov = np.asarray(m.vcov, dtype=float)
    se = np.sqrt(np.diag(vcov)) if vcov.size else np.zeros(0)
    vc = m.varcorr
    varcorr = [{"grp": r.grp,                  # lme4's NA (NaN in varcorr) is JSON's null
                "var1": None if r.var1 != r.var1 else str(r.var1),
                "var2": None if r.var2 != r.var2 else str(r.var2),
                "vcov": _num(r.vcov), "sdcor": _num(r.sdcor)}
               for r in vc.itertuples(index=False)]
    fam = getattr(getattr(m, "model", None), "family", None)
    out = {
        "formula": m.formula,
        "family": getattr(fam, "name", "gaussian"),
        "link": getattr(fam, "link", "identity"),
        "REML": bool(getattr(m, "REML", False)),
        "fixef": {k: _num(v) for k, v in m.fixef.items()},
        "se": {k: _num(v) for k, v in zip(m.fixef.index, se)},
        "theta": [_num(v) for v in np.asarray(m.theta)],
        "sigma": _num(getattr(m, "sigma", 1.0)),
        "varcorr": varcorr,
        "objective": _num(m.objective),
        "loglik": _num(m.loglik),
        "aic": _num(m.aic),
        "bic": _num(m.bic),
        "deviance": _num(m.deviance),
        "nobs": int(m.nobs),
        "ngrps": {k: int(v) for k, v in m.ngrps.items()},
        "singular": bool(m.is_singular),
        "messages": list(getattr(m, "messages", [])),
    }
    if coefficients is not None:
        out["df"] = {k: _num(v) for k, v in coefficients["df"].items()}
        out["p"] = {k: _num(v) for k, v in coefficients["Pr(>|t|)"].items()}
    return out


def _datasets(args):
    from . import datasets

    if args.name:
        try:
            print(datasets.describe(args.name))
        except KeyError as e:
            raise CLIError(e.args[0]) from None
    else:
        for name in datasets.list_datasets():
            title = datasets._DOCS[name][0] if name in datasets._DOCS else ""
            print(f"{name:24s} {title}")
    return 0


def _fit_command(args):
    m = fit(args)
    if args.ddf is not None:
        summary = m.summary(ddf=args.ddf)
        coefficients = summary.coefficients if "df" in summary.coefficients else None
    else:
        summary, coefficients = m.summary(), None
    # with --json -, standard output holds the JSON alone (the summary goes to stderr)
    print(summary, file=sys.stderr if args.json == "-" else sys.stdout)
    if args.json:
        text = json.dumps(estimates(m, coefficients), indent=2)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n", encoding="utf-8")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    p = argparse.ArgumentParser(prog="pymer", description="lme4's mixed-effects models in Python.")
    p.add_argument("--version", action="version", version=f"pymer {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    f = sub.add_parser("fit", help="fit a mixed model and print its summary",
                       description="Fit a mixed model (lmer, or glmer with --family) and print "
                                   "lme4's summary.")
    f.add_argument("formula", help='lme4 formula, e.g. "Reaction ~ Days + (Days | Subject)"')
    f.add_argument("--data", "-d", required=True,
                   help="CSV/TSV or Parquet file, or a bundled data set name (see 'pymer datasets')")
    f.add_argument("--family", "-f",
                   help="GLMM family: binomial, poisson, Gamma, inverse.gaussian, negative.binomial; "
                        "glmmTMB's nbinom2, nbinom1, beta, betabinomial, tweedie, genpois, "
                        "truncated_poisson, ... fit pymer.glmmtmb")
    f.add_argument("--link", help="link function of the family (e.g. probit, cloglog, log)")
    f.add_argument("--zi", help='zero-inflation formula, e.g. "~1" (fits glmmTMB\'s model: pymer.glmmtmb)')
    f.add_argument("--disp", help='dispersion formula, e.g. "~x" (fits glmmTMB\'s model: pymer.glmmtmb)')
    crit = f.add_mutually_exclusive_group()
    crit.add_argument("--reml", dest="reml", action="store_true", default=None,
                      help="fit by REML (default for linear mixed models)")
    crit.add_argument("--ml", dest="reml", action="store_false",
                      help="fit by maximum likelihood")
    f.add_argument("--nagq", type=int, default=None,
                   help="GLMMs: 0, 1 (Laplace, default) or adaptive Gauss-Hermite points")
    f.add_argument("--weights", help="column of prior weights")
    f.add_argument("--offset", help="column of an offset")
    f.add_argument("--optimizer", default="bobyqa", choices=["bobyqa", "nelder_mead"])
    f.add_argument("--ddf", metavar="METHOD",
                   help="linear mixed models: df and p-values of the fixed effects by "
                        "'Satterthwaite' or 'Kenward-Roger' (lmerTest's summary), or 'lme4' (none)")
    f.add_argument("--json", metavar="FILE",
                   help="write the estimates as JSON to FILE ('-': stdout holds the JSON alone, "
                        "the summary goes to stderr)")
    f.set_defaults(run=_fit_command)

    d = sub.add_parser("datasets", help="list the bundled data sets, or describe one")
    d.add_argument("name", nargs="?")
    d.set_defaults(run=_datasets)
    return p


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"pymer: warning: {message}", file=sys.stderr if file is None else file)


def main(argv=None) -> int:
    """Run the command line; returns the exit status."""
    from .errors import FormulaError, PymerDataError

    args = build_parser().parse_args(argv)
    if getattr(args, "command", None) == "fit":
        args.reml_given = args.reml is not None
        args.reml = True if args.reml is None else args.reml
    old = warnings.showwarning
    warnings.showwarning = _show_warning
    try:
        return args.run(args)
    except (CLIError, FormulaError, PymerDataError, KeyError, ValueError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        print(f"pymer: error: {msg}", file=sys.stderr)
        return 1
    finally:
        warnings.showwarning = old


if __name__ == "__main__":          # pragma: no cover
    sys.exit(main())
