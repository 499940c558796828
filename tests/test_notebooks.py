"""The notebooks in ``notebooks/`` run top to bottom without an error.

Each notebook is a jupytext percent-format script. It is converted with jupytext and
executed cell by cell with nbclient in a Jupyter kernel running *this* interpreter: the
kernelspec is written to a temporary directory put first on ``JUPYTER_PATH``, so a
``python3`` kernelspec elsewhere on the machine (another virtualenv, the user's
``~/.local/share/jupyter``) is never picked up by mistake. matplotlib uses the Agg
backend, so nothing tries to open a window.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

nbclient = pytest.importorskip("nbclient")
jupytext = pytest.importorskip("jupytext")
pytest.importorskip("ipykernel")

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
KERNEL = "rxpresence-tests"
CELL_TIMEOUT = 60  # seconds; a whole notebook is meant to run in under a minute

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(150)]


def notebooks() -> list[Path]:
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))


@pytest.fixture(scope="module")
def kernel_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding a kernelspec that starts ``sys.executable``."""
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "rxpresence tests",
                "language": "python",
            }
        ),
        encoding="utf-8",
    )
    return root


@pytest.fixture
def kernel_env(kernel_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment the kernel inherits."""
    monkeypatch.setenv("JUPYTER_PATH", str(kernel_path))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    monkeypatch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")


def test_there_are_notebooks() -> None:
    names = [path.name for path in notebooks()]
    assert names == [
        "01_quickstart.py",
        "02_rosters_over_time.py",
        "03_flicker.py",
        "04_busy_channels.py",
        "05_your_recording.py",
    ]


@pytest.mark.parametrize("path", notebooks(), ids=lambda path: path.stem)
def test_notebook_runs(path: Path, kernel_env: None) -> None:
    notebook = jupytext.read(path)
    assert sum(cell.cell_type == "code" for cell in notebook.cells) >= 3, "no code to run?"
    client = nbclient.NotebookClient(
        notebook,
        kernel_name=KERNEL,
        timeout=CELL_TIMEOUT,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    started = time.monotonic()
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as error:
        pytest.fail(f"{path.name} failed:\n{error}", pytrace=False)
    elapsed = time.monotonic() - started
    # Visible with -rP; the budget is about a minute per notebook, kernel start included.
    print(f"{path.name}: {elapsed:.1f} s")
    errors = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
    assert not errors
