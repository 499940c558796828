"""A local PubNub-compatible presence server (see ``docs/server.md``)."""
