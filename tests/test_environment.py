"""environment.yml (conda users) and pyproject.toml (pip users) list the same dependencies."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# conda-forge names that differ from PyPI names
CONDA_TO_PYPI = {"matplotlib-base": "matplotlib"}
# conda-only entries with no PyPI counterpart in pyproject.toml
CONDA_ONLY = {"python", "pip"}


def _split(requirement: str) -> tuple[str, str]:
    m = re.match(r"^\s*([A-Za-z0-9_.\-\[\]]+)\s*(.*)$", requirement)
    assert m, f"cannot parse requirement {requirement!r}"
    name = re.sub(r"\[.*\]", "", m.group(1)).lower().replace("_", "-")
    spec = m.group(2).replace(" ", "")
    return name, spec


def pyproject_requirements() -> dict[str, str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    extras = data["project"]["optional-dependencies"]
    reqs = list(data["project"]["dependencies"]) + list(extras["test"]) + list(extras.get("site", []))
    return dict(_split(r) for r in reqs)


def conda_requirements() -> dict[str, str]:
    reqs, in_deps = {}, False
    for line in (ROOT / "environment.yml").read_text().splitlines():
        line = line.split("#", 1)[0].rstrip()
        if not line:
            continue
        if not line.startswith(" "):
            in_deps = line.startswith("dependencies:")
            continue
        m = re.match(r"^\s+-\s+(.+)$", line)
        if in_deps and m and not m.group(1).startswith("pip:"):
            name, spec = _split(m.group(1))
            if name not in CONDA_ONLY:
                reqs[CONDA_TO_PYPI.get(name, name)] = spec
    return reqs


def test_environment_yml_matches_pyproject():
    pip, conda = pyproject_requirements(), conda_requirements()
    assert set(conda) == set(pip), (
        f"only in environment.yml: {sorted(set(conda) - set(pip))}; "
        f"only in pyproject.toml: {sorted(set(pip) - set(conda))}"
    )
    differ = {n: (pip[n], conda[n]) for n in pip if pip[n] != conda[n]}
    assert not differ, f"version constraints differ (pyproject, environment.yml): {differ}"


def test_parser_sees_every_dependency():
    # guards the test above against a parser that silently reads nothing
    assert {"jax", "jaxlib", "numpy", "nbval", "matplotlib"} <= set(conda_requirements())
    assert len(pyproject_requirements()) >= 10
