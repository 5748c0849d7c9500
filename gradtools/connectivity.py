"""Mode connectivity (lecture 5): trained pairs of networks, permutation alignment, data along a path."""

__all__: list[str] = []
