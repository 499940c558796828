"""The here-now interface: parsing the SDK's results, threaded and asyncio adapters, the fake."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from pubnub.enums import PNStatusCategory
from pubnub.exceptions import PubNubAsyncioException, PubNubException
from pubnub.models.consumer.common import PNStatus
from pubnub.models.consumer.presence import PNHereNowResult

import rxpresence as rxp
from rxpresence._herenow import (
    AsyncioHereNow,
    HereNowError,
    ThreadedHereNow,
    here_now_source,
    parse_result,
)

ROOM = rxp.HereNowRequest("room")


def result(envelope: dict[str, Any], channels: list[str] | None = None) -> PNHereNowResult:
    return PNHereNowResult.from_json(envelope, channels or ["room"])


def test_parse_single_channel_with_state() -> None:
    envelope = {
        "status": 200,
        "occupancy": 2,
        "uuids": [{"uuid": "a", "state": {"k": 1}}, {"uuid": "b"}],
    }
    page = parse_result(ROOM, result(envelope))
    assert page.occupancy == 2
    assert {u: (dict(s) if s else s) for u, s in (page.occupants or {}).items()} == {
        "a": {"k": 1},
        "b": None,
    }


def test_parse_plain_uuids_empty_channel_and_count_only() -> None:
    assert parse_result(ROOM, result({"occupancy": 1, "uuids": ["a"]})).occupants == {"a": None}
    assert parse_result(ROOM, result({"occupancy": 0})) == rxp.HereNowPage(0, {})
    count_only = rxp.HereNowRequest("room", include_uuids=False)
    assert parse_result(count_only, result({"occupancy": 7})) == rxp.HereNowPage(7, None)


def test_parse_multi_channel_payload() -> None:
    envelope = {
        "payload": {
            "channels": {"room": {"occupancy": 1, "uuids": ["a"]}, "x": {"occupancy": 0}},
            "total_channels": 2,
            "total_occupancy": 1,
        }
    }
    assert parse_result(ROOM, result(envelope, ["room", "x"])).occupants == {"a": None}


@pytest.mark.parametrize(
    "envelope",
    [
        {"occupancy": 1.5, "uuids": ["a"]},
        {"occupancy": 1, "uuids": [{"uuid": "a", "state": [1, 2]}]},
        {"occupancy": 1, "uuids": [{"uuid": ""}]},
    ],
)
def test_parse_rejects_malformed_answers(envelope: dict[str, Any]) -> None:
    with pytest.raises(HereNowError):
        parse_result(ROOM, result(envelope))


class Endpoint:
    """Records the builder calls of ``pubnub.here_now()`` and answers like the SDK."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.calls: list[tuple[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        def call(value: Any) -> Endpoint:
            self.calls.append((name, value))
            return self

        return call

    def pn_async(self, callback: Any) -> None:
        self.client.endpoints.append(self)
        threading.Thread(target=lambda: callback(*self.client.answer)).start()

    async def future(self) -> Any:
        self.client.endpoints.append(self)
        return self.client.answer_async


class Client:
    def __init__(self) -> None:
        self.endpoints: list[Endpoint] = []
        ok = PNStatus()
        ok.category = PNStatusCategory.PNAcknowledgmentCategory
        ok.error = False
        self.answer: tuple[Any, Any] = (result({"occupancy": 1, "uuids": ["a"]}), ok)
        self.answer_async: Any = None

    def here_now(self) -> Endpoint:
        return Endpoint(self)


def wait(done: threading.Event) -> None:
    assert done.wait(5), "no answer within 5 s"


def test_threaded_adapter_builds_the_request_and_answers_on_a_thread() -> None:
    client = Client()
    source = ThreadedHereNow(client)
    got: list[Any] = []
    done = threading.Event()
    request = rxp.HereNowRequest("room", include_state=True, limit=500, offset=1000)
    source.here_now(request, lambda outcome: (got.append(outcome), done.set()))
    wait(done)
    assert got == [rxp.HereNowPage(1, {"a": None})]
    assert client.endpoints[0].calls == [
        ("channels", ["room"]),
        ("include_uuids", True),
        ("include_state", True),
        ("limit", 500),
        ("offset", 1000),
    ]


def test_threaded_adapter_turns_an_error_status_into_the_exception() -> None:
    client = Client()
    failed = PNStatus()
    failed.category = PNStatusCategory.PNAccessDeniedCategory
    failed.error = True
    failed.status_code = 403
    client.answer = (None, failed)
    got: list[Any] = []
    done = threading.Event()
    ThreadedHereNow(client).here_now(ROOM, lambda outcome: (got.append(outcome), done.set()))
    wait(done)
    assert isinstance(got[0], HereNowError)
    assert "PNAccessDeniedCategory" in str(got[0]) and "403" in str(got[0])


def test_threaded_adapter_refuses_after_close() -> None:
    source = ThreadedHereNow(Client())
    source.close()
    got: list[Any] = []
    source.here_now(ROOM, got.append)
    assert isinstance(got[0], HereNowError)


def test_asyncio_adapter_on_the_loop_and_from_another_thread() -> None:
    client = Client()

    class Envelope:
        def __init__(self) -> None:
            self.result = client.answer[0]
            self.status = client.answer[1]

    client.answer_async = Envelope()

    async def main() -> list[Any]:
        client.event_loop = asyncio.get_running_loop()  # type: ignore[attr-defined]
        source = AsyncioHereNow(client)
        got: list[Any] = []
        both = asyncio.Event()
        loop = asyncio.get_running_loop()

        def done(outcome: Any) -> None:
            got.append((threading.get_ident(), outcome))
            if len(got) == 2:
                loop.call_soon_threadsafe(both.set)

        source.here_now(ROOM, done)  # on the loop: create_task
        other = threading.Thread(target=lambda: source.here_now(ROOM, done))
        other.start()
        await asyncio.wait_for(both.wait(), 5)
        other.join(5)
        source.close()
        return got

    got = asyncio.run(main())
    assert [outcome for _, outcome in got] == [rxp.HereNowPage(1, {"a": None})] * 2
    assert len({ident for ident, _ in got}) == 1  # both answered on the loop thread


def test_asyncio_adapter_reports_the_sdk_error_envelope() -> None:
    client = Client()
    failed = PNStatus()
    failed.category = PNStatusCategory.PNAccessDeniedCategory
    failed.error = True
    failed.error_data = type("E", (), {"exception": PubNubException(errormsg="Forbidden")})()
    client.answer_async = PubNubAsyncioException(result=None, status=failed)

    async def main() -> Any:
        client.event_loop = asyncio.get_running_loop()  # type: ignore[attr-defined]
        got: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        AsyncioHereNow(client).here_now(ROOM, got.set_result)
        return await asyncio.wait_for(got, 5)

    error = asyncio.run(main())
    assert isinstance(error, PubNubException) and "Forbidden" in str(error)


def test_asyncio_adapter_on_a_closed_loop_fails_cleanly() -> None:
    client = Client()
    loop = asyncio.new_event_loop()
    loop.close()
    client.event_loop = loop  # type: ignore[attr-defined]
    got: list[Any] = []
    AsyncioHereNow(client).here_now(ROOM, got.append)
    assert len(got) == 1 and isinstance(got[0], RuntimeError)


def test_auto_picks_the_adapter() -> None:
    from pubnub.pnconfiguration import PNConfiguration
    from pubnub.pubnub import PubNub

    config = PNConfiguration()
    config.disable_config_locking = False  # the SDK's recommended mode (no deprecation)
    config.subscribe_key = "demo"
    config.user_id = "me"
    config.daemon = True
    config.enable_subscribe = False
    pubnub = PubNub(config)
    try:
        assert isinstance(here_now_source(pubnub, "auto"), ThreadedHereNow)
        assert here_now_source(pubnub, None) is None
        fake = rxp.FakeHereNow()
        assert here_now_source(pubnub, fake) is fake
        assert isinstance(fake, rxp.HereNowSource)
    finally:
        pubnub.stop() if pubnub._subscription_manager is not None else None


def test_fake_pages_and_fails_on_demand() -> None:
    fake = rxp.FakeHereNow({"room": {f"u{i}": None for i in range(5)}})
    got: list[Any] = []
    fake.here_now(rxp.HereNowRequest("room", limit=2, offset=2), got.append)
    assert got[-1] == rxp.HereNowPage(5, {"u2": None, "u3": None})
    fake.fail_next(ConnectionError("down"), channel="room")
    fake.here_now(ROOM, got.append)
    assert isinstance(got[-1], ConnectionError)
    fake.here_now(ROOM, got.append)
    assert isinstance(got[-1], rxp.HereNowPage)
