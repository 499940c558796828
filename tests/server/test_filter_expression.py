"""Unit tests of the subscribe filter language (``rxpresence.server._filter``).

Examples pin each operator and each error message; hypothesis checks the parser against
two references: a fully parenthesised rendering of the same tree (precedence and
associativity) and a small evaluator written from the documented meaning.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rxpresence.server._filter import FilterSyntaxError, compile_filter


def holds(expression: str, meta: Any = None, data: Any = None) -> bool:
    return compile_filter(expression).matches(meta, data)


# ---------------------------------------------------------------------- examples

META = {
    "lang": "en",
    "level": 5,
    "ratio": 0.5,
    "vip": True,
    "tags": ["news", "sport", 3],
    "user": {"role": "admin", "ids": [10, 20]},
    "name": "PubNub",
    "my-key": "dash",
    "big": 9_999_999_999_999_999_999,
}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('meta.lang == "en"', True),
        ("meta.lang == 'en'", True),
        ('meta.lang != "en"', False),
        ('lang == "en"', True),  # a bare name is a field of meta
        ("meta.level > 4 && meta.level < 6", True),
        ("meta.level >= 5 && meta.level <= 5", True),
        ("meta.level > 5 || meta.level < 5", False),
        ("meta.ratio < 1", True),
        ("!(meta.level == 5)", False),
        ("!meta.vip", False),
        ("meta.vip", True),
        ("meta.vip == true", True),
        ("meta.vip == TRUE", True),
        ("meta.level == 5.0", True),
        ('meta.level == "5"', False),  # no conversion between strings and numbers
        ('meta.level != "5"', True),
        ('meta.lang > "a"', False),  # ordering compares numbers only
        ("meta.level + 1 == 6", True),
        ("meta.level - 2 * 2 == 1", True),  # * binds tighter than -
        ("(meta.level - 2) * 2 == 6", True),
        ("1 + 5 % 3 == 3", True),  # % binds like * and /
        ("2 + 3 * 4 == 14", True),
        ("10 - 4 - 3 == 3", True),  # left to right
        ("12 / 2 / 3 == 2", True),
        ("--2 == 2", True),
        ("meta.level / 2 == 2.5", True),
        ("meta.level % 2 == 1", True),
        ("-meta.level % 3 == -2", True),  # the remainder takes the dividend's sign
        ("meta.big % 10 == 9", True),  # whole numbers stay exact
        ("meta.big + 1 == 10000000000000000000", True),
        ("meta.level / 0 == 0", False),  # division by zero gives nothing
        ("meta.level / 0 != 0", False),
        ("meta.lang + 1 == 1", False),  # arithmetic on a string gives nothing
        ('meta.name LIKE "Pub*"', True),
        ('meta.name LIKE "*Nub"', True),
        ('meta.name LIKE "*bN*"', True),
        ('meta.name LIKE "Pub"', False),  # the whole string must match
        ('meta.name LIKE "pub*"', False),  # case-sensitive
        ('meta.name like "P*b"', True),  # keywords in any case
        ('meta.name LIKE "P.*"', False),  # only * is special
        ('meta.name CONTAINS "bN"', True),
        ('meta.tags CONTAINS "sport"', True),
        ("meta.tags CONTAINS 3", True),
        ('meta.tags contains "spo"', False),  # list membership, not substring
        ('meta.user.role == "admin"', True),
        ('meta.user["role"] == "admin"', True),
        ("meta.user.ids[1] == 20", True),
        ("meta.user.ids[5] == 20", False),
        ('meta["my-key"] == "dash"', True),
        ('meta.missing == "x"', False),
        ('meta.missing != "x"', False),  # nothing compares, not even unequal
        ("!(meta.missing == 1)", True),
        ('meta.lang == "en" && (meta.level > 9 || meta.vip)', True),
        ('meta.lang == "fr" || meta.level > 9 && meta.vip', False),  # && binds tighter
        ("data.score > 80", True),
        ('data.text LIKE "hi*"', True),
        ('meta.lang == "en" && data.score > 90', False),
        ('meta.note == "say \\"hi\\""', False),
    ],
)
def test_expressions(expression: str, expected: bool) -> None:
    assert holds(expression, META, {"score": 85, "text": "hi there"}) is expected


def test_no_meta_matches_no_field() -> None:
    assert not holds('meta.lang == "en"', None, {"x": 1})
    assert holds("!(meta.lang == 'en')", None, None)
    assert holds("data.x == 1", None, {"x": 1})
    assert not holds("data.x == 1", None, [1])


def test_escaped_quotes_in_strings() -> None:
    assert holds(r'meta.q == "say \"hi\""', {"q": 'say "hi"'})
    assert holds(r"meta.q == 'it\'s'", {"q": "it's"})
    assert holds(r'meta.q == "back\\slash"', {"q": "back\\slash"})


@pytest.mark.parametrize(
    ("expression", "words"),
    [
        ("", ["empty"]),
        ("   ", ["empty"]),
        ("meta.a = 1", ["'='", "'=='", "character 8"]),
        ("meta.a == 1 & meta.b == 2", ["'&'", "'&&'"]),
        ("meta.a == 1 | meta.b == 2", ["'|'", "'||'"]),
        ("(meta.a == 1", ["')'", "character 1", "end of the expression"]),
        ("meta.a == 1)", ["')'", "after a complete expression"]),
        ('meta.a == "open', ["unterminated string"]),
        ("meta.a ==", ["ends where a value was expected"]),
        ("meta.a == == 1", ["expected a value", "'=='"]),
        ("meta", ["meta needs a field"]),
        ("data == 1", ["data needs a field"]),
        ("meta. == 1", ["field name after '.'"]),
        ("meta[x] == 1", ["inside []"]),
        ("meta[1.5] == 1", ["inside []"]),
        ('meta["a" == 1', ["']'"]),
        ("LIKE 'a'", ["LIKE needs a value on its left"]),
        ("meta.a == 1 meta.b == 2", ["'meta'", "after a complete expression"]),
        ("meta.a # 1", ["unexpected character '#'"]),
        ("(" * 40 + "1" + ")" * 40, ["nested more than"]),
        ("!" * 40 + "meta.a", ["nested more than"]),
        ("meta.a == '" + "x" * 5000 + "'", ["limit"]),
    ],
)
def test_errors_name_the_problem(expression: str, words: list[str]) -> None:
    with pytest.raises(FilterSyntaxError) as caught:
        compile_filter(expression)
    for word in words:
        assert word in str(caught.value), str(caught.value)


def test_long_chains_do_not_recurse() -> None:
    many = "&&".join(["a"] * 1300)  # within the length limit, past the recursion limit
    assert holds(many, {"a": True})
    assert not holds(many + "&&b", {"a": True})
    assert holds("||".join(["b"] * 1300) + "||a", {"a": True})
    assert holds("+".join(["1"] * 1500) + "==1500")


# ------------------------------------------------------------ trees and renderings

# Precedence levels of the grammar, loosest first; a primary binds tightest.
OR, AND, NOT, CMP, SUM, PRODUCT, SIGN, PRIMARY = range(1, 9)
_LEVEL = {"or": OR, "and": AND, "not": NOT, "cmp": CMP, "neg": SIGN}
_ARITH_LEVEL = {"+": SUM, "-": SUM, "*": PRODUCT, "/": PRODUCT, "%": PRODUCT}


def level(tree: tuple[Any, ...]) -> int:
    kind = tree[0]
    if kind == "arith":
        return _ARITH_LEVEL[tree[1]]
    return _LEVEL.get(kind, PRIMARY)


def render(tree: tuple[Any, ...], minimal: bool) -> str:
    """The tree as filter text: with only the parentheses precedence needs, or all."""

    def wrap(child: tuple[Any, ...], at_least: int) -> str:
        text = render(child, minimal)
        return text if minimal and level(child) >= at_least else f"({text})"

    kind = tree[0]
    if kind == "num":
        return repr(tree[1])
    if kind == "str":
        quote = tree[2]
        return quote + tree[1].replace("\\", "\\\\").replace(quote, "\\" + quote) + quote
    if kind == "bool":
        return "true" if tree[1] else "FALSE"
    if kind == "field":
        return tree[1]
    if kind == "neg":
        return "-" + wrap(tree[1], SIGN)
    if kind == "not":
        return "!" + wrap(tree[1], NOT)
    if kind in ("and", "or"):
        joiner = " && " if kind == "and" else " || "
        own = level(tree)
        return wrap(tree[1], own) + joiner + wrap(tree[2], own + 1)
    if kind == "arith":
        own = level(tree)
        return f"{wrap(tree[2], own)} {tree[1]} {wrap(tree[3], own + 1)}"
    assert kind == "cmp"
    return f"{wrap(tree[2], SUM)} {tree[1]} {wrap(tree[3], SUM)}"


MISSING = object()


def lookup(path: str, meta: Any, data: Any) -> Any:
    """The reference reading of the few field spellings the strategy produces."""
    table = {
        "meta.a": ("meta", ["a"]),
        "a": ("meta", ["a"]),
        "meta.b": ("meta", ["b"]),
        'meta["s"]': ("meta", ["s"]),
        "meta.s": ("meta", ["s"]),
        "meta.flag": ("meta", ["flag"]),
        "meta.tags": ("meta", ["tags"]),
        "meta.tags[0]": ("meta", ["tags", 0]),
        "data.x": ("data", ["x"]),
    }
    source, steps = table[path]
    value = meta if source == "meta" else data
    for step in steps:
        if isinstance(step, str) and isinstance(value, dict) and step in value:
            value = value[step]
        elif isinstance(step, int) and isinstance(value, list) and step < len(value):
            value = value[step]
        else:
            return MISSING
    return value


def number(value: Any) -> bool:
    return type(value) in (int, float)


def reference(tree: tuple[Any, ...], meta: Any, data: Any) -> Any:
    """What the documented meaning says ``tree`` evaluates to."""
    kind = tree[0]
    if kind in ("num", "str", "bool"):
        return tree[1]
    if kind == "field":
        return lookup(tree[1], meta, data)
    if kind == "not":
        return reference(tree[1], meta, data) is not True
    if kind == "and":
        return reference(tree[1], meta, data) is True and reference(tree[2], meta, data) is True
    if kind == "or":
        return reference(tree[1], meta, data) is True or reference(tree[2], meta, data) is True
    if kind == "neg":
        value = reference(tree[1], meta, data)
        return 0 - value if number(value) else MISSING
    left, right = reference(tree[2], meta, data), reference(tree[3], meta, data)
    if kind == "arith":
        return arithmetic(tree[1], left, right)
    return compare(tree[1], left, right)


def arithmetic(operator: str, left: Any, right: Any) -> Any:
    if not (number(left) and number(right)):
        return MISSING
    if operator in "/%" and right == 0:
        return MISSING
    if operator == "%":
        result = math.fmod(left, right)
        result = int(result) if type(left) is int and type(right) is int else result
    else:
        result = {
            "+": lambda: left + right,
            "-": lambda: left - right,
            "*": lambda: left * right,
            "/": lambda: left / right,
        }[operator]()
    return MISSING if isinstance(result, float) and not math.isfinite(result) else result


def equal(left: Any, right: Any) -> bool:
    if number(left) and number(right):
        return bool(left == right)
    return type(left) is type(right) and type(left) in (str, bool) and left == right


def compare(operator: str, left: Any, right: Any) -> bool:
    if left is MISSING or right is MISSING:
        return False
    if operator == "==":
        return equal(left, right)
    if operator == "!=":
        return not equal(left, right)
    if operator in ("<", "<=", ">", ">="):
        if not (number(left) and number(right)):
            return False
        return {
            "<": left < right,
            "<=": left <= right,
            ">": left > right,
            ">=": left >= right,
        }[operator]
    if operator == "LIKE":
        return isinstance(left, str) and isinstance(right, str) and like(left, right)
    assert operator == "CONTAINS"
    if isinstance(left, str):
        return isinstance(right, str) and right in left
    return isinstance(left, list) and any(equal(item, right) for item in left)


def like(text: str, pattern: str) -> bool:
    """``*`` matches any run: match the pieces between stars left to right."""
    pieces = pattern.split("*")
    if len(pieces) == 1:
        return text == pattern
    if not text.startswith(pieces[0]):
        return False
    position = len(pieces[0])
    for piece in pieces[1:-1]:
        found = text.find(piece, position)
        if found < 0:
            return False
        position = found + len(piece)
    return text.endswith(pieces[-1]) and len(text) - len(pieces[-1]) >= position


texts = st.text(alphabet="ab*'\"\\", max_size=4)
numbers = st.one_of(
    st.builds(lambda v: ("num", v), st.integers(0, 20)),
    st.builds(lambda v: ("num", v), st.sampled_from([0.0, 0.5, 2.5, 1e-05, 1.5e16])),
)
numeric_fields = st.sampled_from(["meta.a", "a", "data.x"]).map(lambda path: ("field", path))
literals = st.one_of(
    numbers,
    st.builds(lambda v, q: ("str", v, q), texts, st.sampled_from(["'", '"'])),
    st.builds(lambda v: ("bool", v), st.booleans()),
)
fields = st.sampled_from(
    ["meta.a", "a", "meta.b", 'meta["s"]', "meta.s", "meta.flag", "meta.tags", "meta.tags[0]"]
).map(lambda path: ("field", path))


def arithmetic_over(leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.builds(lambda v: ("neg", v), inner),
            st.builds(
                lambda op, left, right: ("arith", op, left, right),
                st.sampled_from("+-*/%"),
                inner,
                inner,
            ),
        ),
        max_leaves=6,
    )


# Numbers only: nearly every tree computes a value, which is what tells precedence apart.
numeric_values = arithmetic_over(st.one_of(numbers, numbers, numeric_fields))
# Mostly numbers, so that arithmetic mostly computes something worth comparing.
values = arithmetic_over(st.one_of(numbers, numbers, numeric_fields, literals, fields))
comparisons = st.builds(
    lambda op, left, right: ("cmp", op, left, right),
    st.sampled_from(["==", "!=", "<", "<=", ">", ">=", "LIKE", "CONTAINS"]),
    values,
    values,
)
conditions = st.recursive(
    st.one_of(comparisons, fields, st.builds(lambda v: ("bool", v), st.booleans())),
    lambda inner: st.one_of(
        st.builds(lambda v: ("not", v), inner),
        st.builds(lambda left, right: ("and", left, right), inner, inner),
        st.builds(lambda left, right: ("or", left, right), inner, inner),
    ),
    max_leaves=6,
)
json_numbers = st.one_of(st.integers(-5, 20), st.sampled_from([0.0, 0.5, -2.5, 3.0]))
metas = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {},
        optional={
            "a": json_numbers,
            "b": st.one_of(json_numbers, texts),
            "s": texts,
            "flag": st.one_of(st.booleans(), st.integers(0, 1)),
            "tags": st.lists(st.one_of(texts, json_numbers), max_size=3),
        },
    ),
)
datas = st.one_of(st.none(), st.fixed_dictionaries({}, optional={"x": json_numbers}))


@settings(max_examples=150, deadline=None)
@given(tree=conditions, meta=metas, data=datas)
def test_precedence_needs_no_parentheses(tree: tuple[Any, ...], meta: Any, data: Any) -> None:
    minimal = compile_filter(render(tree, minimal=True))
    full = compile_filter(render(tree, minimal=False))
    assert minimal.matches(meta, data) == full.matches(meta, data)


@settings(max_examples=150, deadline=None)
@given(tree=conditions, meta=metas, data=datas)
def test_evaluation_follows_the_documented_meaning(
    tree: tuple[Any, ...], meta: Any, data: Any
) -> None:
    compiled = compile_filter(render(tree, minimal=True))
    assert compiled.matches(meta, data) is (reference(tree, meta, data) is True)


def literal(value: Any) -> str:
    """Filter text for a number or string the reference computed."""
    if isinstance(value, str):
        return render(("str", value, '"'), minimal=True)
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if value >= 0 else f"-{abs(value)!r}"


@settings(max_examples=200, deadline=None)
@given(tree=st.one_of(numeric_values, values), meta=metas, data=datas)
def test_values_follow_the_documented_meaning(tree: tuple[Any, ...], meta: Any, data: Any) -> None:
    # Comparing the computed value with the reference's, not only a truth value, is what
    # catches a wrong precedence or associativity in arithmetic.
    text = render(tree, minimal=True)
    expected = reference(tree, meta, data)
    if expected is MISSING or isinstance(expected, list | dict):
        assert not holds(f"{text} == {text}", meta, data)
    else:
        assert holds(f"{text} == {literal(expected)}", meta, data)


@settings(max_examples=100, deadline=None)
@given(tree=conditions, meta=metas, data=datas)
def test_not_negates(tree: tuple[Any, ...], meta: Any, data: Any) -> None:
    text = render(tree, minimal=True)
    assert holds(f"!({text})", meta, data) is not holds(text, meta, data)


@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet="ab*", max_size=6), pattern=st.text(alphabet="ab*", max_size=5))
def test_like_matches_the_reference(text: str, pattern: str) -> None:
    assert holds("meta.t LIKE meta.p", {"t": text, "p": pattern}) is like(text, pattern)


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(
        alphabet=st.sampled_from(list("meta.dx[]()'\"!&|=<>+-*/%0123456789 LIKECONTAINStrue\\#")),
        max_size=40,
    ),
    meta=metas,
)
def test_any_text_compiles_or_fails_cleanly(text: str, meta: Any) -> None:
    try:
        compiled = compile_filter(text)
    except FilterSyntaxError as exc:
        assert str(exc)
        return
    assert compiled.matches(meta, {"x": 1}) in (True, False)
