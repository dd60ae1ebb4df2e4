"""Contrasts of a fitted model: emmeans' marginal means and multcomp's glht."""
from .emmeans import EmmeansResult, emmeans
from .glht import GLHT, GLHTSummary, glht
from .grid import RefGrid, ref_grid

__all__ = ["emmeans", "EmmeansResult", "glht", "GLHT", "GLHTSummary", "ref_grid", "RefGrid"]
