"""Explorer of lecture 5: a slider along the line and the Bezier curve."""

__all__: list[str] = []
