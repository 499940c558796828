"""pytest plugin: fixtures that run the local presence server."""
