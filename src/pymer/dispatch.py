"""``pymer.lmer``: a Dask DataFrame is fitted from cross-products reduced over its partitions
(:mod:`pymer.dask`, imported only then), anything else in memory (:func:`pymer.lmm.lmer`).
The dispatch sits above the models, so ``lmm`` never imports ``dask``."""
import functools

from .lmm import lmer as _lmer_in_memory

__all__ = ["lmer"]


@functools.wraps(_lmer_in_memory)
def lmer(formula, data, *args, **kwargs):
    if type(data).__module__.startswith("dask."):
        from .dask import lmer as lmer_dask
        return lmer_dask(formula, data, *args, **kwargs)
    return _lmer_in_memory(formula, data, *args, **kwargs)
