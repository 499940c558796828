"""A live web page of who is online in a room, composed from rxpresence streams.

Run it with ``make example`` (or ``python -m examples.web_presence``): a local presence
server, a few simulated people and the aiohttp app on http://127.0.0.1:8080/. See
``docs/web-example.md``.
"""
