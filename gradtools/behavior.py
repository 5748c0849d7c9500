"""Behavior manifolds (lecture 4): behavioral-gradient matrices, ranks and manifold dimensions."""

__all__: list[str] = []
