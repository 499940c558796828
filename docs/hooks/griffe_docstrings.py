"""Griffe extension: reads rxpresence's docstrings the way they are written.

The docstrings follow the Google style with some habits of Sphinx-flavoured code:

* an ``Example:`` section (singular), which griffe would otherwise render as an
  admonition, so that doctest output such as ``['a', 'b']`` would be read as Markdown
  link syntax; it becomes an ``Examples:`` section (code blocks);
* cross-references written as roles, ``:class:`~rxpresence.Roster```, which become
  links when the target is documented on the site, and inline code otherwise;
* a paragraph introducing an indented code block with ``::``, which becomes ``:``
  (the indented block already renders as code).

Two more fixes make the API reference show only what a user can import:

* a private base class (``class PresenceEvent(_Fields)``) is replaced by its own bases,
  so "Bases:" never names a class that the reference does not document;
* an enumeration's docstring gets a table of its members and their values (the members
  have no docstrings of their own, and the site hides members without one), so
  ``Action`` lists ``JOIN`` and the others.
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
_ENUM_BASES = frozenset({"enum.Enum", "enum.IntEnum", "enum.StrEnum", "enum.Flag", "enum.IntFlag"})
_ROLE = re.compile(r":(?:class|func|meth|mod|data|attr|exc|obj|const|py:\w+):`(?P<target>[^`]+)`")


def _path(base: str | griffe.Expr) -> str:
    """The full dotted path of a base class expression, e.g. ``enum.StrEnum``."""
    return base if isinstance(base, str) else base.canonical_path


def _list_enum_members(enum: griffe.Class) -> None:
    """Add a table of an enumeration's members and their values to its docstring."""
    rows = [
        f"| `{enum.name}.{name}` | `{member.value}` |"
        for name, member in enum.members.items()
        if not name.startswith("_") and member.is_attribute and member.value is not None
    ]
    if rows and enum.docstring is not None:
        table = "\n".join(["| member | value |", "|---|---|", *rows])
        enum.docstring.value = f"{enum.docstring.value.rstrip()}\n\n{table}"


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
        if isinstance(obj, griffe.Class):
            self._hide_private_bases(obj)
            if any(_path(base) in _ENUM_BASES for base in obj.bases):
                _list_enum_members(obj)
        for member in obj.members.values():
            if not member.is_alias:
                self._walk(member, seen)  # type: ignore[arg-type]

    def _hide_private_bases(self, cls: griffe.Class) -> None:
        """Replace each private base of ``cls`` by its own bases, keeping what it gives.

        The members the private base defines (``PresenceEvent``'s fields come from
        ``_Fields``) stay reachable as inherited members, so an ``Attributes:`` section
        still finds their types.
        """
        bases: list[str | griffe.Expr] = []
        for base in cls.bases:
            path = _path(base)
            if not path.rsplit(".", 1)[-1].startswith("_"):
                bases.append(base)
                continue
            try:
                private = self._collection[path]
            except (KeyError, griffe.AliasResolutionError, griffe.CyclicAliasError):
                continue  # not loaded: nothing to show in its place
            if not isinstance(private, griffe.Class):
                continue
            self._hide_private_bases(private)
            bases += private.bases
            for name, member in private.all_members.items():
                if name not in cls.members:
                    cls.members[name] = griffe.Alias(name, member, parent=cls, inherited=True)
        cls.bases = bases

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
