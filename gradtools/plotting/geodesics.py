"""Plots of lecture 6 (weight-space geodesics)."""

__all__: list[str] = []
