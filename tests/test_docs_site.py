"""The built documentation site shows what a reader needs, and nothing private.

The site is built once for the module (``mkdocs build --strict`` into a temporary
directory, about 10 s) and its HTML is checked for what a reader tripped over once:

* the API reference names no private class ("Bases: _Fields") and lists the members of
  enumerations (``Action``); a private base replaced by its public bases still gives the
  ``Attributes:`` table its types;
* the ``rxpresence`` reference page introduces the package once, with its docstring;
* no table has an empty header row;
* in headless Chromium at 1280x900, no block of code runs past its column (code wraps;
  only program output and screen captures, ```text blocks, scroll sideways).
"""

from __future__ import annotations

import html
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import TypeVar

import pytest
from browser_support import headless_chromium

import rxpresence as rxp

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.timeout(180)

_TAG = re.compile(r"<[^>]+>")
_THEAD = re.compile(r"<thead>(?P<head>.*?)</thead>", re.DOTALL)
_TH = re.compile(r"<th[^>]*>(?P<cell>.*?)</th>", re.DOTALL)
_BASES = re.compile(r'<p class="doc doc-class-bases">(?P<bases>.*?)</p>', re.DOTALL)
_TITLE = re.compile(r'title="(?P<path>[^"]+)"')
_PARAGRAPH = re.compile(r"<p>(?P<text>.*?)</p>", re.DOTALL)


def text_of(fragment: str) -> str:
    """The visible text of an HTML fragment, whitespace collapsed."""
    return " ".join(html.unescape(_TAG.sub("", fragment)).split())


def article(page: Path) -> str:
    """The page's content, without the navigation and the table of contents."""
    source = page.read_text(encoding="utf-8")
    start = source.index("<article")
    return source[start : source.index("</article>", start)]


def section(content: str, anchor: str) -> str:
    """The HTML of one documented object, from its heading to the next object's."""
    start = content.index(f'id="{anchor}"')
    end = content.find('<div class="doc doc-object', start)
    return content[start : end if end != -1 else len(content)]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(target)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=150,
    )
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stderr[-4000:]}"
    return target


def reference_pages(site: Path) -> list[Path]:
    pages = sorted((site / "reference").glob("*/index.html"))
    assert len(pages) >= 6, f"API reference pages missing: {pages}"
    return pages


def _is_type_variable(path: str) -> bool:
    module, _, name = path.rpartition(".")
    try:
        return isinstance(getattr(importlib.import_module(module), name), TypeVar)
    except (ImportError, AttributeError, ValueError):
        return False


def test_reference_names_no_private_base(site: Path) -> None:
    shown = 0
    for page in reference_pages(site):
        for match in _BASES.finditer(article(page)):
            shown += 1
            for path in _TITLE.findall(match["bases"]):
                name = path.rsplit(".", 1)[-1]
                if _is_type_variable(path):
                    continue  # Generic[_T]: a parameter, not a class
                assert not name.startswith("_"), (
                    f"{page.parent.name}: 'Bases:' names the private class {path}"
                )
    assert shown >= 10, "no 'Bases:' lines found: the check would pass on any page"


def test_event_fields_keep_their_types(site: Path) -> None:
    # PresenceEvent's fields came from a private base: hiding the base must not lose
    # their types in the Attributes table.
    event = section(article(site / "reference/rxpresence/index.html"), "rxpresence.PresenceEvent")
    rows = re.findall(r'<tr class="doc-section-item">(.*?)</tr>', event, re.DOTALL)
    cells = [re.findall(r"<td>(.*?)</td>", row, re.DOTALL) for row in rows]
    fields = {text_of(row[0]): text_of(row[1]) for row in cells if len(row) == 3}
    assert {"action", "channel", "uuid", "occupancy", "timetoken"} <= set(fields), sorted(fields)
    untyped = [name for name, annotation in fields.items() if not annotation]
    assert not untyped, f"PresenceEvent's Attributes table lost the types of {untyped}"
    assert fields["action"] == "Action"


def test_enum_members_are_listed(site: Path) -> None:
    action = text_of(
        section(article(site / "reference/rxpresence/index.html"), "rxpresence.Action")
    )
    for member in rxp.Action:
        assert f"Action.{member.name} '{member.value}'" in action, action


def test_package_docstring_introduces_the_page_once(site: Path) -> None:
    content = article(site / "reference/rxpresence/index.html")
    assert rxp.__doc__ is not None
    summary = " ".join(rxp.__doc__.strip().split("\n\n")[0].split())
    paragraphs = [text_of(m["text"]) for m in _PARAGRAPH.finditer(content)]
    assert paragraphs[0] == summary, (
        f"the page opens with {paragraphs[0]!r} before the package docstring: the package"
        " is introduced twice"
    )
    assert paragraphs.count(summary) == 1
    body = text_of(content)
    # The docstring's example, once; a hand-written introduction repeated it.
    assert body.count("import rxpresence as rxp") == 1, body[:600]


def test_no_table_has_an_empty_header_row(site: Path) -> None:
    checked = 0
    empty = []
    for page in sorted(site.rglob("*.html")):
        for head in _THEAD.finditer(page.read_text(encoding="utf-8")):
            checked += 1
            cells = [text_of(m["cell"]) for m in _TH.finditer(head["head"])]
            if not any(cells):
                empty.append(str(page.relative_to(site)))
    assert checked >= 20, "no tables found: the check would pass on any site"
    assert not empty, f"tables with an empty header row (write a header): {empty}"


# Code blocks wider than their box; a text block (output, screen captures) may scroll.
_OVERFLOWING_CODE = """
return Array.from(document.querySelectorAll("article pre > code"))
  .filter(code => code.scrollWidth > code.clientWidth + 1)
  .filter(code => !code.closest(".language-text"))
  .map(code => code.innerText.split("\\n").reduce((a, b) => (a.length >= b.length ? a : b)));
"""
_CODE_BLOCKS = 'return document.querySelectorAll("article pre > code").length;'


def test_code_fits_its_column_at_1280_px(site: Path) -> None:
    pages = sorted(site.rglob("index.html"))
    blocks = 0
    cut: dict[str, list[str]] = {}
    with headless_chromium() as browser:
        browser.set_window_size(1280, 900)
        for page in pages:
            browser.get(page.as_uri())
            blocks += browser.execute_script(_CODE_BLOCKS)
            wide = browser.execute_script(_OVERFLOWING_CODE)
            if wide:
                cut[str(page.relative_to(site))] = [line[:80] for line in wide]
    assert blocks >= 100, f"only {blocks} code blocks found on {len(pages)} pages"
    assert not cut, f"code cut at 1280 px (longest line of each block): {cut}"


def test_code_lines_carry_their_indentation() -> None:
    spec = importlib.util.spec_from_file_location("code_lines", ROOT / "docs/hooks/code_lines.py")
    assert spec is not None and spec.loader is not None
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    page = (
        '<code><span id="__span-0-1">f(<span class="n">x</span>\n</span>'
        '<span id="__span-0-2">    <span class="n">y</span>\n</span>'
        '<span id="__span-0-3"><span class="w">        </span>z\n</span></code>'
    )
    assert hook.indent_code_lines(page) == (
        '<code><span id="__span-0-1">f(<span class="n">x</span>\n</span>'
        '<span id="__span-0-2" style="--indent: 4ch">    <span class="n">y</span>\n</span>'
        '<span id="__span-0-3" style="--indent: 8ch"><span class="w">        </span>z\n</span>'
        "</code>"
    )
