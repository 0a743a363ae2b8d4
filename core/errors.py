"""The exception ladder: each class says what the surrounding loop does with it."""

from __future__ import annotations


class StrikeIQError(Exception):
    """Base of every error StrikeIQ raises on purpose."""


class ConfigError(StrikeIQError):
    """Wrong configuration. Fatal at start; the message says how to fix it."""


class FeedError(StrikeIQError):
    """The feed connection failed. The feed loop reconnects with backoff."""


class DataError(StrikeIQError):
    """A frame or object is malformed. It is rejected and counted by `reason`; nothing stops."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class StorageError(StrikeIQError):
    """A database write failed. The writer keeps the batch and retries."""
