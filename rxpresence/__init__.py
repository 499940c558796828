"""rxpresence: PubNub presence as ReactiveX streams.

Attach :class:`PresenceStreams` to a ``PubNub`` or ``PubNubAsyncio`` instance and
subscribe to who is online::

    import rxpresence as rxp

    with rxp.PresenceStreams(pubnub) as presence:
        presence.roster("lobby", grace=10).subscribe(print)

Events are :class:`PresenceEvent` values; rosters are immutable :class:`Roster`
snapshots; the operators in :mod:`rxpresence.operators` compose the same pieces by hand.
The hub also announces the client's own presence (``presence.enter("lobby", state)``),
and :mod:`rxpresence.aio` iterates any stream with ``async for``.
"""

from ._event import Action, PresenceEvent, PresenceEventError
from ._grace import HiddenFlicker
from ._guardrails import PresenceConfigWarning
from ._herenow import FakeHereNow, HereNowPage, HereNowRequest, HereNowSource
from ._own_presence import AnnounceError, AnnounceTimeout, Confirmation, OwnPresence
from ._reports import ConnectionStatus, ErrorReport
from ._roster import Member, Roster, RosterDiff
from ._streams import PresenceStreams
from ._sync import ResyncSettings
from ._users import User, UserDiff, UserRoster
from ._version import __version__

__all__ = [
    "Action",
    "AnnounceError",
    "AnnounceTimeout",
    "Confirmation",
    "ConnectionStatus",
    "ErrorReport",
    "FakeHereNow",
    "HereNowPage",
    "HereNowRequest",
    "HereNowSource",
    "HiddenFlicker",
    "Member",
    "OwnPresence",
    "PresenceConfigWarning",
    "PresenceEvent",
    "PresenceEventError",
    "PresenceStreams",
    "ResyncSettings",
    "Roster",
    "RosterDiff",
    "User",
    "UserDiff",
    "UserRoster",
    "__version__",
]
