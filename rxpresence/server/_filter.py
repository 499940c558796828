"""PubNub's subscribe filter language (``filter-expr``): tokenizer, parser, evaluator.

A subscriber may send a filter expression; the server then delivers a published message
to it only when the expression holds for that message. The expression reads the
message's ``meta`` (``meta.priority``) and payload (``data.score``); a bare name
(``uuid != 'me'``) is a field of ``meta``, the form PubNub's older guides use. Pure
functions, no I/O: :func:`compile_filter` turns text into a :class:`MessageFilter` or
raises :class:`FilterSyntaxError` naming the problem and where it is.

Grammar, loosest binding first::

    expression := and ("||" and)*
    and        := not ("&&" not)*
    not        := "!" not | comparison
    comparison := sum [("==" | "!=" | "<" | "<=" | ">" | ">=" | LIKE | CONTAINS) sum]
    sum        := product (("+" | "-") product)*
    product    := sign (("*" | "/" | "%") sign)*
    sign       := "-" sign | primary
    primary    := NUMBER | STRING | true | false | field | "(" expression ")"
    field      := NAME ("." NAME | "[" (STRING | NUMBER) "]")*

Meaning, where PubNub documents none (see ``docs/fidelity.md``):

* A field that is absent, arithmetic on anything but numbers, and division by zero give
  *nothing*; every comparison with nothing on either side is false (``!=`` too).
* ``==`` and ``!=`` compare strings, numbers and booleans without conversion
  (``"5" != 5``). ``<``, ``<=``, ``>``, ``>=`` compare numbers only.
* ``LIKE`` matches a whole string against a pattern where ``*`` stands for any run of
  characters, case-sensitively. ``CONTAINS`` is substring for strings and membership for
  lists. ``LIKE``, ``CONTAINS``, ``true`` and ``false`` may be written in any case.
* ``&&``, ``||`` and ``!`` treat only the boolean true as true.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["FilterSyntaxError", "MessageFilter", "compile_filter"]

MAX_FILTER_LENGTH: Final = 4096
_MAX_DEPTH: Final = 32


class FilterSyntaxError(ValueError):
    """A filter expression that cannot be parsed; the message names the problem.

    Args:
        problem: What is wrong.
        position: 0-based character offset where it was found, or None.
    """

    def __init__(self, problem: str, position: int | None = None) -> None:
        where = "" if position is None else f" at character {position + 1}"
        super().__init__(f"{problem}{where}")
        self.problem = problem
        self.position = position


# ------------------------------------------------------------------------- tokens


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "number", "string", "name", "op", "end"
    text: str
    position: int
    value: Any = None


_OPERATORS = ("==", "!=", "<=", ">=", "&&", "||", "<", ">", "!", "+", "-", "*", "/", "%")
_PUNCTUATION = "().[]"
_NUMBER = re.compile(r"\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_NAME = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")


def _tokens(text: str) -> Iterator[_Token]:
    """Split ``text`` into tokens, ending with an ``end`` token."""
    index = 0
    while index < len(text):
        char = text[index]
        if char.isspace():
            index += 1
        elif char in "\"'":
            token = _string_token(text, index)
            yield token
            index += len(token.text)
        elif char.isdigit():
            match = _NUMBER.match(text, index)
            assert match is not None
            literal = match.group()
            value = float(literal) if any(c in literal for c in ".eE") else int(literal)
            yield _Token("number", literal, index, value)
            index = match.end()
        elif match := _NAME.match(text, index):
            yield _Token("name", match.group(), index)
            index = match.end()
        elif char in _PUNCTUATION:
            yield _Token("op", char, index)
            index += 1
        else:
            operator = next((op for op in _OPERATORS if text.startswith(op, index)), None)
            if operator is None:
                raise FilterSyntaxError(_unexpected_character(text, index), index)
            yield _Token("op", operator, index)
            index += len(operator)
    yield _Token("end", "", len(text))


def _unexpected_character(text: str, index: int) -> str:
    char = text[index]
    if char == "=":
        return "unexpected '=': compare with '=='"
    if char in "&|":
        return f"unexpected {char!r}: use '{char * 2}'"
    return f"unexpected character {char!r}"


def _string_token(text: str, start: int) -> _Token:
    """A quoted string; a backslash makes the next character literal."""
    quote = text[start]
    chars: list[str] = []
    index = start + 1
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text):
            chars.append(text[index + 1])
            index += 2
        elif char == quote:
            return _Token("string", text[start : index + 1], start, "".join(chars))
        else:
            chars.append(char)
            index += 1
    raise FilterSyntaxError(f"unterminated string starting with {quote}", start)


# -------------------------------------------------------------------------- tree


class _Missing:
    """What an absent field or an undefined operation gives: no value at all."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()

# A compiled node: reads (meta, data) and returns a JSON value, a bool or MISSING.
_Node = Callable[[Any, Any], Any]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _equal(left: Any, right: Any) -> bool:
    if _is_number(left) and _is_number(right):
        return bool(left == right)
    if type(left) is not type(right) or isinstance(left, dict | list):
        return False
    return bool(left == right)


def _like(text: Any, pattern: Any) -> bool:
    if not isinstance(text, str) or not isinstance(pattern, str):
        return False
    regex = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(regex, text, re.DOTALL) is not None


def _contains(container: Any, item: Any) -> bool:
    if isinstance(container, str):
        return isinstance(item, str) and item in container
    if isinstance(container, list):
        return any(_equal(element, item) for element in container)
    return False


def _ordered(test: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def compare(left: Any, right: Any) -> bool:
        return _is_number(left) and _is_number(right) and test(left, right)

    return compare


_COMPARISONS: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "==": _equal,
    "!=": lambda left, right: not _equal(left, right),
    "<": _ordered(lambda left, right: left < right),
    "<=": _ordered(lambda left, right: left <= right),
    ">": _ordered(lambda left, right: left > right),
    ">=": _ordered(lambda left, right: left >= right),
    "like": _like,
    "contains": _contains,
}


def _divide(left: Any, right: Any) -> Any:
    return MISSING if right == 0 else left / right


def _remainder(left: Any, right: Any) -> Any:
    # The sign follows the dividend, as in JavaScript and C, not Python's floor rule.
    if right == 0:
        return MISSING
    if isinstance(left, int) and isinstance(right, int):
        remainder = abs(left) % abs(right)
        return -remainder if left < 0 else remainder
    return math.fmod(left, right)


_ARITHMETIC: Final[dict[str, Callable[[Any, Any], Any]]] = {
    "+": lambda left, right: left + right,
    "-": lambda left, right: left - right,
    "*": lambda left, right: left * right,
    "/": _divide,
    "%": _remainder,
}


def _comparison_node(operator: str, left: _Node, right: _Node) -> _Node:
    compare = _COMPARISONS[operator]

    def node(meta: Any, data: Any) -> Any:
        a, b = left(meta, data), right(meta, data)
        if a is MISSING or b is MISSING:
            return False
        return compare(a, b)

    return node


def _arithmetic_node(first: _Node, rest: list[tuple[str, _Node]]) -> _Node:
    steps = [(_ARITHMETIC[operator], operand) for operator, operand in rest]

    def node(meta: Any, data: Any) -> Any:
        value = first(meta, data)
        for apply, operand in steps:
            other = operand(meta, data)
            if not (_is_number(value) and _is_number(other)):
                return MISSING
            try:
                value = apply(value, other)
            except OverflowError:
                return MISSING
            if value is MISSING or (isinstance(value, float) and not math.isfinite(value)):
                return MISSING
        return value

    return node


def _field_node(source: str, steps: tuple[str | int, ...]) -> _Node:
    def node(meta: Any, data: Any) -> Any:
        value = meta if source == "meta" else data
        for step in steps:
            if isinstance(value, dict) and isinstance(step, str) and step in value:
                value = value[step]
            elif isinstance(value, list) and isinstance(step, int) and 0 <= step < len(value):
                value = value[step]
            else:
                return MISSING
        return value

    return node


# ------------------------------------------------------------------------ parser


class _Parser:
    """Recursive descent over the token list; each method parses one grammar rule."""

    def __init__(self, text: str) -> None:
        self._tokens = list(_tokens(text))
        self._index = 0
        self._depth = 0

    @property
    def _current(self) -> _Token:
        return self._tokens[self._index]

    def _advance(self) -> _Token:
        token = self._tokens[self._index]
        self._index += 1
        return token

    def _at(self, *texts: str) -> bool:
        token = self._current
        return token.kind == "op" and token.text in texts

    def _keyword(self) -> str | None:
        token = self._current
        word = token.text.lower()
        return word if token.kind == "name" and word in ("like", "contains") else None

    def _expect(self, text: str, opened: _Token) -> None:
        if not self._at(text):
            raise FilterSyntaxError(
                f"expected {text!r} to close {opened.text!r} opened at character "
                f"{opened.position + 1}, found {_describe(self._current)}",
                self._current.position,
            )
        self._advance()

    def parse(self) -> _Node:
        if self._current.kind == "end":
            raise FilterSyntaxError("empty filter expression")
        node = self._or()
        if self._current.kind != "end":
            raise FilterSyntaxError(
                f"unexpected {_describe(self._current)} after a complete expression",
                self._current.position,
            )
        return node

    def _or(self) -> _Node:
        operands = [self._and()]
        while self._at("||"):
            self._advance()
            operands.append(self._and())
        return operands[0] if len(operands) == 1 else _any_of(operands)

    def _and(self) -> _Node:
        operands = [self._not()]
        while self._at("&&"):
            self._advance()
            operands.append(self._not())
        return operands[0] if len(operands) == 1 else _all_of(operands)

    def _not(self) -> _Node:
        if self._at("!"):
            token = self._advance()
            operand = self._nested(token, self._not)
            return lambda meta, data: operand(meta, data) is not True
        return self._comparison()

    def _comparison(self) -> _Node:
        left = self._sum()
        keyword = self._keyword()
        if keyword is None and not self._at(*_COMPARISONS):
            return left
        operator = keyword or self._current.text
        self._advance()
        return _comparison_node(operator, left, self._sum())

    def _sum(self) -> _Node:
        return self._chain(("+", "-"), self._product)

    def _product(self) -> _Node:
        return self._chain(("*", "/", "%"), self._sign)

    def _chain(self, operators: tuple[str, ...], operand: Callable[[], _Node]) -> _Node:
        """Operands joined by left-associative arithmetic operators of one precedence."""
        first = operand()
        rest: list[tuple[str, _Node]] = []
        while self._at(*operators):
            operator = self._advance().text
            rest.append((operator, operand()))
        return first if not rest else _arithmetic_node(first, rest)

    def _sign(self) -> _Node:
        if self._at("-"):
            token = self._advance()
            operand = self._nested(token, self._sign)
            return _arithmetic_node(lambda meta, data: 0, [("-", operand)])
        return self._primary()

    def _primary(self) -> _Node:
        token = self._current
        if token.kind in ("number", "string"):
            self._advance()
            value = token.value
            return lambda meta, data: value
        if token.kind == "name":
            return self._field()
        if self._at("("):
            self._advance()
            node = self._nested(token, self._or)
            self._expect(")", token)
            return node
        if token.kind == "end":
            raise FilterSyntaxError("the expression ends where a value was expected", None)
        raise FilterSyntaxError(f"expected a value, found {_describe(token)}", token.position)

    def _nested(self, token: _Token, rule: Callable[[], _Node]) -> _Node:
        self._depth += 1
        if self._depth > _MAX_DEPTH:
            raise FilterSyntaxError(f"nested more than {_MAX_DEPTH} levels deep", token.position)
        try:
            return rule()
        finally:
            self._depth -= 1

    def _field(self) -> _Node:
        token = self._advance()
        word = token.text
        if word.lower() in ("true", "false"):
            value = word.lower() == "true"
            return lambda meta, data: value
        if word.lower() in ("like", "contains"):
            raise FilterSyntaxError(f"{word.upper()} needs a value on its left", token.position)
        steps: list[str | int] = []
        source = word if word in ("meta", "data") else "meta"
        if source != word:
            steps.append(word)  # a bare name is a field of meta
        while self._at(".", "["):
            if self._advance().text == ".":
                if self._current.kind != "name":
                    raise FilterSyntaxError(
                        f"expected a field name after '.', found {_describe(self._current)}",
                        self._current.position,
                    )
                steps.append(self._advance().text)
            else:
                steps.append(self._index_step())
        if not steps:
            raise FilterSyntaxError(f"{word} needs a field, e.g. {word}.priority", token.position)
        return _field_node(source, tuple(steps))

    def _index_step(self) -> str | int:
        opened = self._tokens[self._index - 1]
        key = self._current
        if key.kind == "string" or (key.kind == "number" and isinstance(key.value, int)):
            self._advance()
            self._expect("]", opened)
            return key.value  # type: ignore[no-any-return]
        raise FilterSyntaxError(
            f"expected a quoted key or a whole number inside [], found {_describe(key)}",
            key.position,
        )


# Chains are evaluated in loops, not nested calls, so a long `a && b && ...` cannot
# exhaust the interpreter's recursion limit.
def _any_of(operands: list[_Node]) -> _Node:
    return lambda meta, data: any(operand(meta, data) is True for operand in operands)


def _all_of(operands: list[_Node]) -> _Node:
    return lambda meta, data: all(operand(meta, data) is True for operand in operands)


def _describe(token: _Token) -> str:
    if token.kind == "end":
        return "the end of the expression"
    return f"{token.text!r}"


# -------------------------------------------------------------------------- public


@dataclass(frozen=True, slots=True)
class MessageFilter:
    """A compiled filter expression.

    Attributes:
        text: The expression as the subscriber sent it.
    """

    text: str
    _root: _Node

    def matches(self, meta: Any, data: Any) -> bool:
        """Whether a published message passes the filter.

        Args:
            meta: The message's ``meta`` (None when it has none).
            data: The message payload.

        Returns:
            True when the expression evaluates to the boolean true.
        """
        return self._root(meta, data) is True


def compile_filter(text: str) -> MessageFilter:
    """Parse a filter expression.

    Args:
        text: The decoded ``filter-expr`` value.

    Returns:
        The compiled filter.

    Raises:
        FilterSyntaxError: If the text is not a valid expression; the message says what
            is wrong and at which character.
    """
    if len(text) > MAX_FILTER_LENGTH:
        raise FilterSyntaxError(
            f"{len(text)} characters, over the {MAX_FILTER_LENGTH}-character limit"
        )
    return MessageFilter(text, _Parser(text).parse())
