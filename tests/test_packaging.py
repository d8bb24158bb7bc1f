"""The package installs beside a user's own PyTorch: ranges in the metadata, exact pins in constraints.txt."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from tests.conftest import DATA, REPO

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
CONSTRAINTS = {
    Requirement(line).name: Requirement(line)
    for line in (REPO / "constraints.txt").read_text().splitlines()
    if line.strip() and not line.startswith("#")
}


def test_python_311_to_313_are_supported() -> None:
    supported = SpecifierSet(PYPROJECT["project"]["requires-python"])
    assert all(version in supported for version in ("3.11.7", "3.12.1", "3.13.0"))


def test_dependencies_are_ranges_and_constraints_pin_within_them() -> None:
    requirements = [Requirement(line) for line in PYPROJECT["project"]["dependencies"]]
    exact = [str(r) for r in requirements if any(s.operator in {"==", "==="} for s in r.specifier)]
    assert exact == [], "exact pins belong in constraints.txt, not in the package metadata"
    by_name = {r.name: r for r in requirements}
    for name in ("torch", "transformers"):
        (pin,) = CONSTRAINTS[name].specifier
        assert pin.operator == "==", f"constraints.txt pins {name} exactly"
        assert Version(pin.version) in by_name[name].specifier, f"{name} {pin.version} is outside the declared range"


@pytest.mark.slow
def test_a_built_wheel_installs_in_a_fresh_environment_and_reads_an_image(tmp_path: Path) -> None:
    image = DATA / "fixtures" / "dicom" / "RG1_J2KR.dcm"
    if not image.is_file():
        pytest.skip(f"{image} not found (set JANUSCXR_DATA)")
    wheels = tmp_path / "wheels"
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", wheels, REPO)
    (wheel,) = wheels.glob("januscxr-*.whl")
    venv.create(tmp_path / "env", with_pip=True)
    python = tmp_path / "env" / "bin" / "python"
    _run(python, "-m", "pip", "install", "-q", wheel, "-c", REPO / "constraints.txt")
    # Run from an empty folder so that the checkout's src/ cannot be imported by accident.
    out = _run(tmp_path / "env" / "bin" / "januscxr", "read", "--json", image, cwd=tmp_path)
    assert '"findings"' in out and "cxrnet" in out
    origin = _run(python, "-c", "import januscxr; print(januscxr.__file__)", cwd=tmp_path)
    assert str(tmp_path / "env") in origin


def _run(*command: object, cwd: Path | None = None) -> str:
    done = subprocess.run([str(c) for c in command], capture_output=True, text=True, cwd=cwd, timeout=1200)
    assert done.returncode == 0, f"{command[0]} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    return done.stdout
