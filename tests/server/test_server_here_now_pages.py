"""Here-now pages of a large channel: every uuid exactly once, and a page costs a slice."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from server_helpers import RawHttp

from rxpresence.server import LocalPresenceServer, ServerSettings

pytestmark = pytest.mark.timeout(120)

OCCUPANTS = 100_000
PAGE = 1000


class CountingUuid(str):
    """A uuid that counts the comparisons made between uuids (sorting, searching)."""

    comparisons = 0

    def __lt__(self, other: object) -> bool:
        CountingUuid.comparisons += 1
        return str.__lt__(self, other)  # type: ignore[operator]


def seat(number: int) -> dict[str, int] | None:
    """The state of ``fan-<number>``: a seat for every tenth fan."""
    return {"seat": number} if number % 10 == 0 else None


@pytest.fixture(scope="module")
def crowded() -> Iterator[LocalPresenceServer]:
    """A server whose channel ``stadium`` holds 100,000 occupants, joined in random order."""
    # No sweep and no interval flush while the tests run: only here-now touches uuids.
    settings = ServerSettings.fast(interval=3600, sweep_interval=3600)
    server = LocalPresenceServer(settings)
    numbers = list(range(OCCUPANTS))
    random.Random(7).shuffle(numbers)
    for number in numbers:
        state = seat(number)
        server.book.touch(
            "demo",
            CountingUuid(f"fan-{number:06d}"),
            ["stadium"],
            states={"stadium": state} if state else None,
        )
    with server:
        yield server


def here_now(http: RawHttp, offset: int, extra: str = "") -> dict[str, object]:
    reply = http.get(
        f"/v2/presence/sub-key/demo/channel/stadium?uuid=me&limit={PAGE}&offset={offset}{extra}"
    )
    assert reply.status == 200, reply.body
    assert isinstance(reply.body, dict)
    return reply.body


def test_paging_a_100k_channel_returns_every_uuid_exactly_once(
    crowded: LocalPresenceServer,
) -> None:
    http = RawHttp(crowded)
    seen: list[str] = []
    for offset in range(0, OCCUPANTS + PAGE, PAGE):
        body = here_now(http, offset)
        assert body["occupancy"] == OCCUPANTS
        seen += body["uuids"]  # type: ignore[arg-type]
    assert len(seen) == OCCUPANTS
    assert seen == sorted(f"fan-{i:06d}" for i in range(OCCUPANTS))


def test_a_page_is_a_slice_not_a_sort(crowded: LocalPresenceServer) -> None:
    http = RawHttp(crowded)
    CountingUuid.comparisons = 0
    middle = here_now(http, OCCUPANTS // 2, "&state=1")
    last = here_now(http, OCCUPANTS - 10)
    # Sorting 100,000 uuids takes about 1.5 million comparisons; a slice takes none.
    assert CountingUuid.comparisons == 0
    assert middle["uuids"] == [
        {"uuid": f"fan-{n:06d}", "state": seat(n)} if seat(n) else {"uuid": f"fan-{n:06d}"}
        for n in range(OCCUPANTS // 2, OCCUPANTS // 2 + PAGE)
    ]
    assert last["uuids"] == [f"fan-{i:06d}" for i in range(OCCUPANTS - 10, OCCUPANTS)]


def test_pages_follow_joins_and_departures(crowded: LocalPresenceServer) -> None:
    http = RawHttp(crowded)
    assert http.get("/v2/presence/sub-key/demo/channel/stadium/heartbeat?uuid=aaa").status == 200
    assert http.get("/v2/presence/sub-key/demo/channel/stadium/leave?uuid=fan-000001").status == 200
    try:
        first = here_now(http, 0)
        assert first["occupancy"] == OCCUPANTS
        assert first["uuids"][:3] == ["aaa", "fan-000000", "fan-000002"]  # type: ignore[index]
    finally:
        assert http.get("/v2/presence/sub-key/demo/channel/stadium/leave?uuid=aaa").status == 200
        hb = "/v2/presence/sub-key/demo/channel/stadium/heartbeat?uuid=fan-000001"
        assert http.get(hb).status == 200
