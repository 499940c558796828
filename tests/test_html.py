"""HTML tables for rosters and roster diffs in Jupyter."""

from __future__ import annotations

from types import MappingProxyType

from rxpresence import Member, Roster, RosterDiff
from rxpresence._html import diff_html, roster_html, status_html, value_html

ADA = Member("ada", MappingProxyType({"status": "away"}), joined_at=1_715_695_200)
BOB = Member("bob", None, joined_at=0)
EVIL = Member("<script>alert(1)</script>", {"x": "<b>&</b>"}, joined_at=1_715_695_261)


def rows(html: str) -> int:
    return html.count("<tr>") - 1  # minus the header


def test_roster_table_lists_members_sorted_with_state_and_since() -> None:
    html = roster_html(Roster("lobby", [BOB, ADA]))
    assert html.startswith('<table class="rxpresence"')
    assert "<caption" in html and "lobby &middot; 2 members</caption>" in html
    assert "occupancy" not in html  # same as the member count
    assert html.index("ada") < html.index("bob")
    assert "<code>{&quot;status&quot;: &quot;away&quot;}</code>" in html
    assert '<span title="1715695200">2024-05-14 14:00:00</span>' in html
    assert "&mdash;" in html  # bob's unknown join time
    assert rows(html) == 2


def test_roster_table_escapes_everything() -> None:
    html = roster_html(Roster("<i>room</i>", [EVIL]))
    assert "<script>" not in html and "<i>room" not in html and "<b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;i&gt;room&lt;/i&gt;" in html
    assert "&lt;b&gt;&amp;&lt;/b&gt;" in html


def test_roster_caption_shows_a_different_occupancy_and_staleness() -> None:
    roster = Roster("lobby", [ADA], occupancy=45).with_stale(1_715_695_230.0)
    html = roster_html(roster)
    assert "lobby &middot; 1 member &middot; occupancy 45" in html
    assert "stale since <span" in html and "2024-05-14 14:00:30" in html


def test_empty_roster_says_so() -> None:
    html = roster_html(Roster("lobby"))
    assert "0 members" in html and "nobody here" in html


def test_large_roster_is_cut_with_a_count() -> None:
    roster = Roster("big", [Member(f"u{i:03d}") for i in range(120)])
    html = roster_html(roster)
    assert rows(html) == 51  # 50 members and the note
    assert "&hellip; and 70 more" in html
    assert "u049" in html and "u050" not in html
    assert rows(roster_html(roster, max_rows=5)) == 6


def test_long_state_is_shortened_with_the_whole_in_a_tooltip() -> None:
    member = Member("ada", {"bio": "x" * 300})
    html = roster_html(Roster("a", [member]))
    assert "&hellip;</code>" in html
    assert f'title="{{&quot;bio&quot;: &quot;{"x" * 300}&quot;}}"' in html


def test_diff_table_marks_joined_left_and_updated() -> None:
    diff = RosterDiff(joined=(BOB,), left=(EVIL,), updated=(ADA,))
    html = diff_html(diff)
    assert "1 joined &middot; 1 left &middot; 1 updated</caption>" in html
    assert rows(html) == 3
    assert html.index('title="joined">+<') < html.index('title="left">&minus;<')
    assert html.index('title="left">&minus;<') < html.index('title="state changed">~<')
    assert "<script>" not in html


def test_empty_diff_says_no_change() -> None:
    html = diff_html(RosterDiff())
    assert "no change</caption>" in html and "<tr>" not in html


def test_repr_html_hooks_use_these_tables() -> None:
    roster = Roster("lobby", [ADA])
    assert roster._repr_html_() == roster_html(roster)
    diff = Roster("lobby").diff(roster)
    assert diff._repr_html_() == diff_html(diff)
    assert "1 joined" in diff._repr_html_()


def test_value_html() -> None:
    roster = Roster("lobby", [ADA])
    assert value_html(roster) == roster_html(roster)
    assert value_html(3) == "<pre>3</pre>"
    assert value_html("<x>") == "<pre>&#x27;&lt;x&gt;&#x27;</pre>"
    table = value_html({"lobby": 3, "<b>": roster})
    assert "<th" in table and "&lt;b&gt;" in table and roster_html(roster) in table
    assert value_html({}) == "<pre>{}</pre>"
    assert value_html(Roster) == "<pre>&lt;class &#x27;rxpresence._roster.Roster&#x27;&gt;</pre>"


def test_status_html() -> None:
    assert status_html("done <now>") == (
        '<div style="color:#6a737d;font-size:smaller">done &lt;now&gt;</div>'
    )
    assert "color:#cf222e" in status_html("failed", failed=True)
