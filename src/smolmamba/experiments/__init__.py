"""Experiments: measure trained models, compare them side by side, ablate, write the results page."""
