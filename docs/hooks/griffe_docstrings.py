"""Griffe extension: reads rxpresence's docstrings the way they are written.

The docstrings follow the Google style with two habits of Sphinx-flavoured code:

* an ``Example:`` section (singular), which griffe would otherwise render as an
  admonition, so that doctest output such as ``['a', 'b']`` would be read as Markdown
  link syntax; it becomes an ``Examples:`` section (code blocks);
* cross-references written as roles, ``:class:`~rxpresence.Roster```, which become
  links when the target is documented on the site, and inline code otherwise;
* a paragraph introducing an indented code block with ``::``, which becomes ``:``
  (the indented block already renders as code).
"""

from __future__ import annotations

import html
import re
from typing import Any

import griffe

PUBLIC_MODULES = (
    "rxpresence",
    "rxpresence.operators",
    "rxpresence.server",
    "rxpresence.simulate",
    "rxpresence.record",
    "rxpresence.notebook",
)

_EXAMPLE = re.compile(r"^(?P<indent>[ \t]*)Example:[ \t]*$", re.MULTILINE)
_LITERAL = re.compile(r"(?<=\S)::[ \t]*$", re.MULTILINE)
_ROLE = re.compile(r":(?:class|func|meth|mod|data|attr|exc|obj|const|py:\w+):`(?P<target>[^`]+)`")


def _home(path: str) -> str:
    """The public module under which an object is documented."""
    for module in sorted(PUBLIC_MODULES, key=len, reverse=True):
        if path == module or path.startswith(module + "."):
            return module
    return "rxpresence"


class RxpresenceDocstrings(griffe.Extension):
    """Rewrites docstrings before they are parsed (see the module docstring)."""

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        if pkg.name != "rxpresence":
            return
        self._collection = loader.modules_collection
        seen: set[int] = set()
        self._walk(pkg, seen)

    def _walk(self, obj: griffe.Object, seen: set[int]) -> None:
        if id(obj) in seen:
            return
        seen.add(id(obj))
        if obj.docstring is not None:
            obj.docstring.value = self._rewrite(obj.docstring.value, obj)
        for member in obj.members.values():
            if not member.is_alias:
                self._walk(member, seen)  # type: ignore[arg-type]

    def _rewrite(self, text: str, obj: griffe.Object) -> str:
        text = _LITERAL.sub(":", text)
        text = _EXAMPLE.sub(lambda m: f"{m['indent']}Examples:", text)
        return _ROLE.sub(lambda m: self._reference(m["target"], obj), text)

    def _reference(self, target: str, obj: griffe.Object) -> str:
        short = target.startswith("~")
        name = target.lstrip("~").lstrip(".")
        shown = name.rsplit(".", 1)[-1] if short else name
        code = f"<code>{html.escape(shown)}</code>"
        identifier = self._resolve(name, obj)
        if identifier is None:
            return code
        return f'<autoref identifier="{identifier}" optional>{code}</autoref>'

    def _resolve(self, name: str, obj: griffe.Object) -> str | None:
        home = _home(obj.path)
        candidates = [name] if name.startswith("rxpresence") else []
        parent = obj.parent
        cls = obj if obj.is_class else parent if parent is not None and parent.is_class else None
        if cls is not None:
            candidates.append(f"{home}.{cls.name}.{name}")
        candidates.append(f"{home}.{name}")
        candidates += [f"{module}.{name}" for module in PUBLIC_MODULES]
        for candidate in candidates:
            if self._documented(candidate):
                return candidate
        return None

    def _documented(self, path: str) -> bool:
        """Whether ``path`` is a public module, or an exported name (and members) of one."""
        if path in PUBLIC_MODULES:
            return True
        module = next(
            (m for m in sorted(PUBLIC_MODULES, key=len, reverse=True) if path.startswith(m + ".")),
            None,
        )
        if module is None:
            return False
        try:
            current: Any = self._collection[module]
        except KeyError:
            return False
        exports = {str(e) for e in (current.exports or ())}
        parts = path[len(module) + 1 :].split(".")
        if parts[0] not in exports:
            return False
        for part in parts:
            try:
                current = current.members[part]
            except (KeyError, griffe.AliasResolutionError, griffe.CyclicAliasError):
                return False
            if part.startswith("_"):
                return False
        return True
