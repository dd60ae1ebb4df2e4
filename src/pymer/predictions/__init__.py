"""Predictions with uncertainty: ggeffects' adjusted predictions, standard errors and
intervals for new data, broom.mixed's augment."""
