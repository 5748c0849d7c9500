"""Explorer of lecture 4: contour planes of two inputs."""

__all__: list[str] = []
