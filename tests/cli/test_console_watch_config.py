"""``watch``'s setup checks: keys, names and origin, before anything connects."""

from __future__ import annotations

import pytest

from rxpresence._console._watch import WatchError, WatchOptions, make_config


def test_keys_and_user_id_from_the_environment() -> None:
    env = {
        "PUBNUB_SUBSCRIBE_KEY": "sub-c-1",
        "PUBNUB_PUBLISH_KEY": "pub-c-1",
        "PUBNUB_USER_ID": "ops",
    }
    config = make_config(WatchOptions(channels=("lobby",)), env)
    assert (config.subscribe_key, config.publish_key, config.user_id) == (
        "sub-c-1",
        "pub-c-1",
        "ops",
    )
    assert config.ssl is True and config.daemon is True
    assert config.suppress_leave_events is True  # the watch leaves by hand, synchronously


def test_flags_win_over_the_environment() -> None:
    options = WatchOptions(
        channels=("lobby",), subscribe_key="sub-flag", publish_key="pub-flag", user_id="me"
    )
    config = make_config(options, {"PUBNUB_SUBSCRIBE_KEY": "sub-env", "PUBNUB_USER_ID": "env"})
    assert (config.subscribe_key, config.publish_key, config.user_id) == (
        "sub-flag",
        "pub-flag",
        "me",
    )


def test_a_random_user_id_by_default() -> None:
    config = make_config(WatchOptions(channels=("lobby",)), {"PUBNUB_SUBSCRIBE_KEY": "k"})
    assert config.user_id.startswith("rxpresence-watch-")
    assert config.publish_key is None


@pytest.mark.parametrize(
    ("origin", "expected", "ssl"),
    [
        ("127.0.0.1:8090", "127.0.0.1:8090", False),
        ("http://localhost:8090/", "localhost:8090", False),
        ("https://ps.example.com", "ps.example.com", True),
    ],
)
def test_a_local_origin(origin: str, expected: str, ssl: bool) -> None:
    config = make_config(WatchOptions(channels=("lobby",), origin=origin), {})
    assert (config.origin, config.ssl) == (expected, ssl)
    assert (config.subscribe_key, config.publish_key) == ("demo", "demo")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (WatchOptions(channels=("lobby",)), "no subscribe key: set PUBNUB_SUBSCRIBE_KEY"),
        (WatchOptions(origin="127.0.0.1:1"), "name at least one channel"),
        (WatchOptions(channels=("a b",), origin="h:1"), "invalid channel name 'a b'"),
        (WatchOptions(channels=("",), origin="h:1"), "an empty channel name"),
        (WatchOptions(channels=("x" * 93,), origin="h:1"), "longer than 92 characters"),
        (WatchOptions(channels=("lobby-pnpres",), origin="h:1"), "not its presence channel"),
        (WatchOptions(groups=("g,h",), origin="h:1"), "invalid channel group name"),
        (WatchOptions(channels=("l",), origin="h:1", user_id="zoë"), "invalid user id 'zoë'"),
        (WatchOptions(channels=("l",), origin="h:x"), "invalid --origin 'h:x'"),
        (WatchOptions(channels=("l",), origin="http://h:1/path"), "invalid --origin"),
    ],
)
def test_setup_errors(options: WatchOptions, message: str) -> None:
    with pytest.raises(WatchError, match=message.replace("(", r"\(")):
        make_config(options, {})
