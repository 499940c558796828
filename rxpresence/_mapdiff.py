"""The keys whose values differ between two ``immutables.Map`` snapshots, found fast.

Roster snapshots share structure: ``Map.set`` copies the path from the root to one
leaf (a few nodes of at most 32 entries each) and shares every other node with the
map it came from, so two snapshots one event apart differ in a handful of nodes.
``immutables`` offers no way to compare maps by structure, but its nodes list their
contents to the garbage collector: ``gc.get_referents(node)`` gives a bitmap or
collision node's entries (each value, then its key, from the last entry on; a sub-node
stands alone) and an array node's sub-nodes. Walking both maps from the root and
skipping every node they share finds the changed entries at a cost that depends on
the size of the change, not of the map: a few microseconds for one event, where
comparing every entry of a 50,000-member roster takes milliseconds.

This leans on the C extension's layout, so it checks itself: the node types are
learned from maps built at import (and the walk is off if they do not look like the
C extension's), every entry found is confirmed with ``Map.get``, and the entry counts
must add up. Anything unexpected makes :func:`changed_keys` return None, and the
caller compares entry by entry instead.
"""

from __future__ import annotations

import gc
from collections.abc import Hashable
from itertools import compress
from operator import is_not
from typing import Any

import immutables

__all__ = ["changed_keys"]

_MISSING = object()


class _Unexpected(Exception):
    """The map's nodes do not look as expected: fall back to a full comparison."""


class _Colliding:
    """A key whose hash collides with every other one's (makes a collision node)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __hash__(self) -> int:
        return 7

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Colliding) and other.name == self.name


def _learn_node_types() -> tuple[frozenset[type], type | None]:
    """The node types of the installed ``immutables`` and which one is the array node.

    Empty (and None) if it is not the C extension or its nodes do not look as expected.
    """
    if type(immutables.Map()).__module__ != "immutables._map":
        return frozenset(), None  # the pure-Python fallback: nodes are plain objects
    array_root = gc.get_referents(immutables.Map({i: i for i in range(2000)}))[0]
    probes: list[immutables.Map[Any, Any]] = [
        immutables.Map({i: i for i in range(3)}),  # a bitmap node
        immutables.Map({i: i for i in range(2000)}),  # array nodes
        immutables.Map({_Colliding("a"): 1, _Colliding("b"): 2, 0: 0}),  # a collision node
    ]
    found: set[type] = set()
    pending = [gc.get_referents(probe)[0] for probe in probes]
    while pending:
        node = pending.pop()
        found.add(type(node))
        pending += (r for r in gc.get_referents(node) if not isinstance(r, int | _Colliding))
    array_refs = gc.get_referents(array_root)
    if (
        len(found) != 3
        or found & {dict, list, tuple, object}
        or not all(type(r) in found for r in array_refs)
    ):
        return frozenset(), None
    return frozenset(found), type(array_root)


_NODE_TYPES, _ARRAY_NODE = _learn_node_types()


def changed_keys(old: immutables.Map[Any, Any], new: immutables.Map[Any, Any]) -> list[Any] | None:
    """The keys added, removed or given another value object from ``old`` to ``new``.

    Values are compared by identity, as the maps store them. Returns None when the
    maps cannot be compared by structure (see the module docstring).
    """
    if old is new:
        return []
    if not _NODE_TYPES:
        return None
    old_items: dict[Hashable, Any] = {}
    new_items: dict[Hashable, Any] = {}
    try:
        (old_root,) = gc.get_referents(old)
        (new_root,) = gc.get_referents(new)
        _walk(old_root, new_root, old_items, new_items)
    except (_Unexpected, ValueError, TypeError):
        return None
    # What was found must be what the maps hold; what was skipped, shared by both.
    if len(new) - len(old) != len(new_items) - len(old_items):
        return None
    for found, source in ((old_items, old), (new_items, new)):
        for key, value in found.items():
            if source.get(key, _MISSING) is not value:
                return None
    changed = [k for k, v in new_items.items() if old_items.get(k, _MISSING) is not v]
    changed += [k for k in old_items if k not in new_items]
    return changed


def _walk(old: object, new: object, old_items: dict[Any, Any], new_items: dict[Any, Any]) -> None:
    """Collect the entries of ``old`` and ``new`` that are not in a node both share."""
    pending = [(old, new)]
    while pending:
        old_node, new_node = pending.pop()
        if old_node is new_node:
            continue
        old_children = _entries(old_node, old_items)
        new_children = _entries(new_node, new_items)
        if len(old_children) == len(new_children):
            # Same shape (one entry changed below): pair the sub-nodes by position and
            # compare those that differ, all in C.
            differ = list(map(is_not, old_children, new_children))
            differing = compress(old_children, differ)
            pending += zip(differing, compress(new_children, differ), strict=True)
            continue
        shared = set(map(id, old_children)).intersection(map(id, new_children))
        old_rest = [c for c in old_children if id(c) not in shared]
        new_rest = [c for c in new_children if id(c) not in shared]
        # Pair what is left (any pairing is right: it only decides what gets skipped);
        # the extra nodes on one side are read whole.
        pending += zip(old_rest, new_rest, strict=False)
        for extra in old_rest[len(new_rest) :]:
            _read_all(extra, old_items)
        for extra in new_rest[len(old_rest) :]:
            _read_all(extra, new_items)


def _entries(node: object, items: dict[Any, Any]) -> list[object]:
    """Put ``node``'s own entries in ``items``; return its sub-nodes."""
    kind = type(node)
    if kind is _ARRAY_NODE:
        return gc.get_referents(node)  # sub-nodes only
    if kind not in _NODE_TYPES:
        raise _Unexpected(kind.__name__)
    refs = gc.get_referents(node)
    if not _NODE_TYPES.intersection(map(type, refs)):  # a leaf: value, key, value, key...
        if len(refs) % 2:
            raise _Unexpected("a value without its key")
        items.update(zip(refs[1::2], refs[::2], strict=True))
        return []
    children = []
    index = 0
    while index < len(refs):
        ref = refs[index]
        if type(ref) in _NODE_TYPES:
            children.append(ref)
            index += 1
        elif index + 1 < len(refs):
            items[refs[index + 1]] = ref
            index += 2
        else:
            raise _Unexpected("a value without its key")
    return children


def _read_all(node: object, items: dict[Any, Any]) -> None:
    pending = [node]
    while pending:
        pending += _entries(pending.pop(), items)
