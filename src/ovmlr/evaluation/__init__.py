"""Evaluation library: scoring methods on feature splits, the test metrics summary, and the choice of the
report images and categories (used by the ``evaluation`` pipeline)."""
