"""Course tooling: execute notebooks, release exercises, grade submissions (``python -m course``)."""
