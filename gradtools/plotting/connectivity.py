"""Plots of lecture 5 (the Rashomon manifold and mode connectivity)."""

__all__: list[str] = []
