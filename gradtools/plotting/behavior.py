"""Plots of lecture 4 (behavior manifolds)."""

__all__: list[str] = []
