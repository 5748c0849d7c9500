"""Paths in weight space (lectures 5 and 6): lines, Bezier curves, discrete length and energy, geodesics, functionally invariant paths."""

__all__: list[str] = []
