"""pymer's compiled core: penalized least squares on CHOLMOD (and PIRLS for GLMMs)."""
