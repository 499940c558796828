"""The documentation cannot drift from the code.

* Every ```python block of ``docs/getting-started.md`` runs, in order, as one script
  (one namespace), in a fresh interpreter with a deadline. The blocks start the local
  presence server themselves, so this is an end-to-end test with the real SDK; the
  interpreter must also exit on its own, which proves the page shuts everything down.
  Blocks fenced as ```py are shown, not run (e.g. code that needs a PubNub keyset).
* Every page named in ``mkdocs.yml``'s nav exists.
* The README's "Ten lines" example is the one the getting-started page shows.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
GETTING_STARTED = DOCS / "getting-started.md"

_FENCE = re.compile(r"^```(?P<info>[^\n`]*)\n(?P<code>.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)

# Runs the blocks in one namespace; each is compiled with the page's name and line, so
# a traceback points at the documentation.
_RUNNER = """
import json, sys
blocks = json.loads(sys.stdin.read())
namespace = {"__name__": "__main__"}
for name, first_line, code in blocks:
    code = "\\n" * (first_line - 1) + code
    exec(compile(code, name, "exec"), namespace)
"""


def code_blocks(path: Path, language: str) -> list[tuple[int, str]]:
    """The fenced blocks of ``path`` whose info string is exactly ``language``.

    Returns:
        ``(line of the first code line, code)`` pairs, in page order.
    """
    text = path.read_text(encoding="utf-8")
    blocks = []
    for match in _FENCE.finditer(text):
        if match["info"].strip() == language:
            line = text.count("\n", 0, match.start("code")) + 1
            blocks.append((line, match["code"]))
    return blocks


def _nav_pages(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, list):
        return [page for item in node for page in _nav_pages(item)]
    if isinstance(node, dict):
        return [page for value in node.values() for page in _nav_pages(value)]
    return []


class _Loader(yaml.SafeLoader):
    """Reads mkdocs.yml, ignoring the ``!!python/name:`` style tags mkdocs allows."""


_Loader.add_multi_constructor("tag:yaml.org,2002:python/", lambda loader, suffix, node: None)
_Loader.add_multi_constructor("!", lambda loader, suffix, node: None)


def nav_pages() -> list[str]:
    config = yaml.load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"), Loader=_Loader)
    return _nav_pages(config["nav"])


def run_python_blocks(page: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run every ```python block of ``page``, in order, as one script in a fresh interpreter.

    Fails the calling test if the script does not finish within ``timeout`` seconds.
    """
    blocks = code_blocks(page, "python")
    name = str(page.relative_to(ROOT))
    payload = json.dumps([(name, line, code) for line, code in blocks])
    try:
        return subprocess.run(
            [sys.executable, "-c", _RUNNER],
            input=payload,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=ROOT,
        )
    except subprocess.TimeoutExpired as expired:
        pytest.fail(
            f"{name} did not finish within {timeout:g} s (a wait that never ends,"
            f" or a thread left running):\n{expired.stdout or ''}\n{expired.stderr or ''}"
        )


# ``print(...)  # what it prints``: the page's promise for one line of output.
_PRINTS = re.compile(r"^\s*print\(.*\)  # (?P<output>.*)$", re.MULTILINE)


def promised_output(path: Path) -> list[str]:
    """The lines the ``python`` blocks of ``path`` say their prints print, in order."""
    return [
        match["output"]
        for _, code in code_blocks(path, "python")
        for match in _PRINTS.finditer(code)
    ]


@pytest.mark.e2e
@pytest.mark.timeout(90)
def test_getting_started_runs_and_prints_what_it_says() -> None:
    blocks = code_blocks(GETTING_STARTED, "python")
    assert len(blocks) >= 4, "the getting-started page lost its runnable examples"
    promised = promised_output(GETTING_STARTED)
    assert len(promised) >= 8, "the page lost the comments that say what it prints"
    done = run_python_blocks(GETTING_STARTED)
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    # Every line, exactly and in order: the page's text cannot drift from its code.
    assert done.stdout.splitlines() == promised, done.stdout


def test_every_nav_page_exists() -> None:
    pages = nav_pages()
    assert pages, "mkdocs.yml has no nav"
    missing = [page for page in pages if not (DOCS / page).is_file()]
    assert not missing, f"pages in mkdocs.yml's nav but not in docs/: {missing}"


def test_every_page_is_in_the_nav() -> None:
    listed = set(nav_pages())
    pages = {
        str(path.relative_to(DOCS))
        for path in DOCS.rglob("*.md")
        if "hooks" not in path.relative_to(DOCS).parts
    }
    assert not pages - listed, f"pages missing from mkdocs.yml's nav: {sorted(pages - listed)}"


def test_readme_example_matches_the_docs() -> None:
    readme = code_blocks(ROOT / "README.md", "python")
    assert readme, "the README lost its example"
    shown = [code for _, code in code_blocks(GETTING_STARTED, "py")]
    assert readme[0][1] in shown, (
        "the README's ten-line example differs from the one in docs/getting-started.md"
        " ('Against PubNub'): keep them identical"
    )
    # The runnable version differs in how the client is configured, and in collecting
    # the names instead of printing them from the SDK's thread (its prints are checked).
    runnable = code_blocks(GETTING_STARTED, "python")[0][1]
    for line in ("presence = rxp.PresenceStreams(pubnub)", 'presence.roster("lobby", grace=10)'):
        assert line in readme[0][1] and line in runnable, line


def test_code_blocks_are_found(tmp_path: Path) -> None:
    text = "intro\n```python\nx = 1\n```\n\n```py\ny = 2\n```\n```python\nz = 3\n```\n"
    path = tmp_path / "blocks.md"
    path.write_text(text, encoding="utf-8")
    assert code_blocks(path, "python") == [(3, "x = 1\n"), (10, "z = 3\n")]
    assert code_blocks(path, "py") == [(7, "y = 2\n")]
