"""mkdocs hook: each line of code knows its indentation, so a wrapped line hangs below it.

``docs/stylesheets/extra.css`` wraps long lines of code rather than hiding their ends
off the side of a narrow column. pymdownx.highlight's ``line_spans`` puts each line in a
``<span id="__span-...">``; this hook gives each indented line a ``--indent`` custom
property holding its number of leading spaces, so that the stylesheet can continue a
wrapped line four columns deeper than the line itself starts::

    <span id="__span-0-4">    foo(...)  ->  <span id="__span-0-4" style="--indent: 4ch">...
"""

from __future__ import annotations

import re
from typing import Any

_INDENTED_LINE = re.compile(
    r'<span (?P<id>id="__span-[\d-]+")>(?P<lead>(?:<span class="w">)?(?P<spaces> +))'
)


def indent_code_lines(html: str) -> str:
    """``html`` with ``style="--indent: Nch"`` on every line span indented by N spaces."""
    return _INDENTED_LINE.sub(
        lambda m: f'<span {m["id"]} style="--indent: {len(m["spaces"])}ch">{m["lead"]}', html
    )


def on_page_content(html: str, **kwargs: Any) -> str:
    return indent_code_lines(html)
