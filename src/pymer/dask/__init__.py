"""Mixed models of Dask DataFrames (``pymer[dask]``): ``pymer.lmer(formula, data=ddf)`` and
``pymer.glmer(formula, data=ddf, family=...)`` reduce sums over the partitions and fit on them.

Importing this package's names imports Dask; the rest of pymer does not. The names are
loaded on first use (the compiled ``_pirls_rows`` lives in this package, so its modules
must not be imported by the package itself: that would be an import cycle).
"""
import importlib

_LAZY = {
    "lmer": "model", "DaskLinearMixedModel": "model", "DaskLMMResult": "model",
    "is_dask_dataframe": "model",
    "glmer": "glmm", "DaskGeneralizedLinearMixedModel": "glmm", "DaskGLMMResult": "glmm",
}

__all__ = list(_LAZY)


def __getattr__(name: str):
    try:
        module = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'pymer.dask' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
