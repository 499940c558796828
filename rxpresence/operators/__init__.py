"""Presence operators for ``Observable.pipe``."""
