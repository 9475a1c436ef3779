"""Flax networks of the predictors (the image networks are in ``jaxnas.weight_sharing``)."""
