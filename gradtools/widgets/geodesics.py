"""Explorer of lecture 6: geodesic against straight line on a two-parameter model."""

__all__: list[str] = []
