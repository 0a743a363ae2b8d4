"""The token store: one JSON file of broker sessions under the data directory, mode 0600.

Expiry rule (the brokers' own words, so the app can say "expired" before the broker does):
  * Upstox: "The access_token ... lasts until 3:30 AM the following day, regardless of the time it
    was generated ... a token created at 2:30 AM on Wednesday will still expire at 3:30 AM on the
    same Wednesday" (https://upstox.com/developer/api-documentation/get-token).
  * Kite: the access_token "will expire at 6 AM on the next day (regulatory requirement)" unless
    invalidated earlier (https://kite.trade/docs/connect/v3/user/, session response fields).
Implemented as: a token expires at the first 03:30 IST (Upstox) / 06:00 IST (Kite) strictly after
the moment it was obtained. A broker may still end a session earlier (logout, another login); the
feed learns that from a 401/403 and reports the session expired the same way.

The environment (UPSTOX_ACCESS_TOKEN, KITE_ACCESS_TOKEN) always wins over the file. The file lives in
the data directory, which .gitignore keeps out of the repository; it is written atomically with
owner-only permissions, and nothing here ever prints a token.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from dataclasses import asdict, dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

from core.clock import IST
from core.errors import ConfigError

TOKEN_FILE = "broker_tokens.json"
EXPIRY_TIME_IST = {"upstox": time(3, 30), "kite": time(6, 0)}
BROKERS = tuple(EXPIRY_TIME_IST)


def expiry_for(broker: str, obtained_at: datetime) -> datetime:
    """The first daily cut-off of `broker` (IST) strictly after `obtained_at` (timezone-aware)."""
    cutoff = EXPIRY_TIME_IST[broker]
    local = obtained_at.astimezone(IST)
    candidate = local.replace(hour=cutoff.hour, minute=cutoff.minute, second=0, microsecond=0)
    return candidate if candidate > local else candidate + timedelta(days=1)


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """One broker session. Times are epoch seconds; `repr` never shows the token."""

    broker: str
    access_token: str
    obtained_at: float
    expires_at: float
    user_id: str = ""
    user_name: str = ""
    api_key: str = ""  # Kite: the app the token belongs to

    def __repr__(self) -> str:
        return (
            f"TokenRecord(broker={self.broker!r}, user_id={self.user_id!r}, "
            f"obtained_at={self.obtained_at}, expires_at={self.expires_at}, access_token=***)"
        )

    @classmethod
    def obtained(cls, broker: str, access_token: str, at: datetime, **fields: str) -> TokenRecord:
        return cls(broker, access_token, at.timestamp(), expiry_for(broker, at).timestamp(), **fields)

    def expired(self, now: float) -> bool:
        return now >= self.expires_at


class TokenStore:
    """Load and save broker sessions in `<data_dir>/broker_tokens.json`.

    Readers re-read the file only when its modification time changes, so the feed can ask for the
    current token on every connection attempt (and every second while it waits for a login).
    """

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / TOKEN_FILE
        self._lock = threading.Lock()
        self._cache: tuple[int, dict[str, TokenRecord]] | None = None

    def get(self, broker: str) -> TokenRecord | None:
        return self._load().get(broker)

    def save(self, record: TokenRecord) -> None:
        if record.broker not in BROKERS:
            raise ValueError(f"unknown broker {record.broker!r}")
        with self._lock:
            records = dict(self._read())
            records[record.broker] = record
            self._write(records)

    def delete(self, broker: str) -> None:
        with self._lock:
            records = dict(self._read())
            if records.pop(broker, None) is not None:
                self._write(records)

    def _load(self) -> dict[str, TokenRecord]:
        with self._lock:
            return self._read()

    def _read(self) -> dict[str, TokenRecord]:
        try:
            stamp = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            self._cache = None
            return {}
        if self._cache is not None and self._cache[0] == stamp:
            return self._cache[1]
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            records = {b: TokenRecord(**raw[b]) for b in BROKERS if isinstance(raw.get(b), dict)}
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            raise ConfigError(
                f"{self.path} is not a StrikeIQ token file ({type(exc).__name__}): delete it and log in again"
            ) from None
        self._cache = (stamp, records)
        return records

    def _write(self, records: dict[str, TokenRecord]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        payload = json.dumps({b: asdict(r) for b, r in records.items()}, indent=2).encode()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)  # an existing temp file keeps its old mode under O_CREAT
            os.write(fd, payload)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.replace(tmp, self.path)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        self._cache = None


class TokenSource:
    """The access token a broker feed should use right now: the environment's, else the stored one
    while it has not expired, else "" (the feed then reports the session expired and waits)."""

    def __init__(self, broker: str, store: TokenStore, env_token: str = "", clock: Any = None) -> None:
        self.broker = broker
        self.store = store
        self.env_token = env_token
        self._clock = clock or (lambda: datetime.now().timestamp())

    def __call__(self) -> str:
        if self.env_token:
            return self.env_token
        try:
            record = self.store.get(self.broker)
        except ConfigError:
            return ""  # a corrupt file is reported by the System page; the feed just waits
        if record is None or record.expired(self._clock()):
            return ""
        return record.access_token
