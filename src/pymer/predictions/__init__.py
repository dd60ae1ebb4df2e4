"""Predictions with uncertainty: ggeffects' adjusted predictions, standard errors and
intervals for new data, broom.mixed's augment."""
from .augment import augment
from .response import PredictedResponse, predict_response
from .se import predict_se

__all__ = ["predict_response", "PredictedResponse", "predict_se", "augment"]
