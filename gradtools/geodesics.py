"""Weight-space geodesics (lecture 6): two-parameter models, and the functionally-invariant-path experiments."""

__all__: list[str] = []
