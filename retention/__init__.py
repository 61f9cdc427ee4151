"""Retention: a batch ML platform that keeps users of a recommender-driven product coming back."""

__version__ = "0.1.0"
