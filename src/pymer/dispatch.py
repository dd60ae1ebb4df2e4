"""``pymer.lmer`` and ``pymer.glmer``: a Dask DataFrame is fitted from sums reduced over its
partitions (:mod:`pymer.dask`, imported only then), anything else in memory
(:func:`pymer.lmm.lmer`, :func:`pymer.glmm.glmer`). The dispatch sits above the models,
so ``lmm`` and ``glmm`` never import ``dask``."""
import functools

from .glmm import glmer as _glmer_in_memory
from .glmm import glmer_nb as _glmer_nb_in_memory
from .lmm import lmer as _lmer_in_memory

__all__ = ["lmer", "glmer", "glmer_nb"]


def _is_dask(data) -> bool:
    return type(data).__module__.startswith("dask.")


@functools.wraps(_lmer_in_memory)
def lmer(formula, data, *args, **kwargs):
    if _is_dask(data):
        from .dask import lmer as lmer_dask
        return lmer_dask(formula, data, *args, **kwargs)
    return _lmer_in_memory(formula, data, *args, **kwargs)


@functools.wraps(_glmer_in_memory)
def glmer(formula, data, *args, **kwargs):
    if _is_dask(data):
        from .dask import glmer as glmer_dask
        return glmer_dask(formula, data, *args, **kwargs)
    return _glmer_in_memory(formula, data, *args, **kwargs)


@functools.wraps(_glmer_nb_in_memory)
def glmer_nb(formula, data, *args, **kwargs):
    if _is_dask(data):
        raise NotImplementedError("glmer_nb() on a Dask DataFrame is not available (its theta "
                                  "alternation is not on the partitioned fit yet): fit in memory, or "
                                  "pymer.glmer(..., family=pymer.families.NegativeBinomial(theta)) "
                                  "for a known theta")
    return _glmer_nb_in_memory(formula, data, *args, **kwargs)
