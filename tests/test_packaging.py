"""The package's metadata says what is true: one version, a changelog, honest ranges.

What these tests cannot do runs elsewhere: ``make package-check`` (in CI) builds and
installs the wheel, ``make test-pythons`` runs the suite on every Python version the
classifiers list, and ``make test-lowest`` at the lowest dependency versions allowed.
"""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

import rxpresence
from rxpresence import _version

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PROJECT = PYPROJECT["project"]
CHANGELOG = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")

# Keep a Changelog 1.1.0: the kinds of change, and a release heading.
_KINDS = {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}
_RELEASE = re.compile(r"^\[(?P<version>\d+\.\d+\.\d+)\] - (?P<date>\d{4}-\d{2}-\d{2})$")
_PYTHON = re.compile(r"^Programming Language :: Python :: (3\.\d+)$")


def test_the_version_is_written_once() -> None:
    assert "version" not in PROJECT, "pyproject.toml states a version: read it from _version.py"
    assert "version" in PROJECT["dynamic"]
    dynamic = PYPROJECT["tool"]["setuptools"]["dynamic"]["version"]
    assert dynamic == {"attr": "rxpresence._version.__version__"}
    assert rxpresence.__version__ == _version.__version__
    assert Version(rxpresence.__version__)  # a valid version
    writers = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "rxpresence").rglob("*.py")
        if path.name != "_version.py"
        and re.search(r"^__version__\s*=", path.read_text(encoding="utf-8"), re.MULTILINE)
    ]
    assert not writers, f"modules that set __version__ themselves: {writers}"


def test_the_installed_metadata_carries_the_version() -> None:
    assert importlib.metadata.version("rxpresence") == rxpresence.__version__, (
        "the installed metadata is stale: reinstall (make .venv/.installed)"
    )


def test_the_console_prints_the_version() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "rxpresence", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"rxpresence {rxpresence.__version__}"


def changelog_sections() -> list[tuple[str, list[str]]]:
    """``(heading, lines)`` for each ``## `` section of CHANGELOG.md, in order."""
    sections: list[tuple[str, list[str]]] = []
    for line in CHANGELOG.splitlines():
        if line.startswith("## "):
            sections.append((line[3:].strip(), []))
        elif sections:
            sections[-1][1].append(line)
    return sections


def test_the_changelog_follows_keep_a_changelog() -> None:
    assert CHANGELOG.startswith("# Changelog\n")
    sections = changelog_sections()
    assert sections and sections[0][0] == "[Unreleased]", "the first section is [Unreleased]"
    releases = []
    for heading, lines in sections:
        if heading != "[Unreleased]":
            match = _RELEASE.match(heading)
            assert match, f"release heading {heading!r} is not '[X.Y.Z] - YYYY-MM-DD'"
            releases.append((Version(match["version"]), match["date"]))
        kind = None
        for line in lines:
            if line.startswith("### "):
                kind = line[4:].strip()
                assert kind in _KINDS, f"{heading}: {kind!r} is not one of {sorted(_KINDS)}"
            elif kind is not None and line.strip():
                assert line.startswith(("- ", "  ")), f"{heading}/{kind}: not a list item: {line!r}"
    versions = [version for version, _ in releases]
    assert versions == sorted(versions, reverse=True), "releases are listed newest first"
    dates = [date for _, date in releases]
    assert dates == sorted(dates, reverse=True)
    assert versions and versions[0] == Version(rxpresence.__version__), (
        f"the newest release in CHANGELOG.md is {versions[:1]}, the package is"
        f" {rxpresence.__version__}: give the version its section"
    )


def test_python_classifiers_start_at_requires_python() -> None:
    listed = [m[1] for c in PROJECT["classifiers"] if (m := _PYTHON.match(c))]
    assert listed, "no Python version classifiers"
    floor = re.fullmatch(r">=(3\.\d+)", PROJECT["requires-python"])
    assert floor, PROJECT["requires-python"]
    minors = [int(version.split(".")[1]) for version in listed]
    assert listed[0] == floor[1], "the first classifier is the lowest Python supported"
    assert minors == list(range(minors[0], minors[0] + len(minors))), (
        f"classifiers skip a version: {listed}"
    )
    assert PYPROJECT["tool"]["mypy"]["python_version"] == floor[1]
    assert PYPROJECT["tool"]["ruff"]["target-version"] == "py" + floor[1].replace(".", "")


def test_every_dependency_has_a_tested_floor_and_a_ceiling() -> None:
    # make test-lowest pins each floor; a ceiling keeps out majors nobody has run.
    for text in PROJECT["dependencies"]:
        operators = {spec.operator for spec in Requirement(text).specifier}
        assert ">=" in operators, f"{text}: no lower bound"
        assert "<" in operators, f"{text}: no upper bound"
