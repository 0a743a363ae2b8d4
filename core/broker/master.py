"""The broker's instrument master: download it, keep what StrikeIQ uses, cache it for the trading day.

Sources: Upstox's gzipped JSON of NSE instruments (`<assets>/market-quote/instruments/exchange/
NSE.json.gz`, https://upstox.com/developer/api-documentation/instruments) and Kite's CSV dump
(`<api>/instruments`, https://kite.trade/docs/connect/v3/market-quotes/#instruments). Only the
indices and index options of StrikeIQ's symbols are kept (a few thousand rows of the broker's
~100k), in the broker's own format so core.feed.instruments reads the cache like any master file.

The cache is `<data_dir>/instruments/<broker>-<IST date>.<ext>`: a file named for an earlier IST day
is stale (strikes are listed and expiries roll daily) and is downloaded again when next needed.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import logging
import os
from datetime import date, datetime
from pathlib import Path

from core.broker.http import BrokerError, request
from core.broker.login import kite_hosts, upstox_hosts
from core.clock import IST
from core.config import Config
from core.errors import ConfigError
from core.feed.instruments import (
    InstrumentMaster,
    is_used_kite_row,
    is_used_upstox_row,
    load_kite_instruments,
    load_upstox_instruments,
)

log = logging.getLogger(__name__)
UPSTOX_NSE_PATH = "/market-quote/instruments/exchange/NSE.json.gz"
KITE_INSTRUMENTS_PATH = "/instruments"
SUFFIX = {"upstox": ".json.gz", "kite": ".csv"}
LOADERS = {"upstox": load_upstox_instruments, "kite": load_kite_instruments}


def trading_day(now: datetime | None = None) -> date:
    return (now or datetime.now(IST)).astimezone(IST).date()


def cache_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "instruments"


def cache_path(data_dir: Path, broker: str, day: date) -> Path:
    return cache_dir(data_dir) / f"{broker}-{day.isoformat()}{SUFFIX[broker]}"


def cached_files(data_dir: Path, broker: str) -> list[Path]:
    """This broker's cached masters, newest day first."""
    return sorted(cache_dir(data_dir).glob(f"{broker}-*{SUFFIX[broker]}"), reverse=True)


def _decompress(raw: bytes) -> bytes:
    return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw


def filter_upstox(raw: bytes) -> bytes:
    """The gzipped JSON array of Upstox rows StrikeIQ uses."""
    try:
        rows = json.loads(_decompress(raw).decode("utf-8-sig"))
    except (ValueError, OSError, EOFError) as exc:
        raise BrokerError(f"the Upstox instrument file is not gzipped JSON: {exc}") from None
    if not isinstance(rows, list):
        raise BrokerError("the Upstox instrument file is not a JSON array")
    kept = [row for row in rows if is_used_upstox_row(row)]
    return gzip.compress(json.dumps(kept, separators=(",", ":")).encode(), mtime=0)


def filter_kite(raw: bytes) -> bytes:
    """The CSV rows (header kept) of Kite's dump StrikeIQ uses."""
    try:
        text = _decompress(raw).decode("utf-8-sig")
    except (UnicodeDecodeError, OSError, EOFError) as exc:
        raise BrokerError(f"the Kite instrument dump is not CSV text: {exc}") from None
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "instrument_token" not in reader.fieldnames:
        raise BrokerError("the Kite instrument dump has no instrument_token column")
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=reader.fieldnames, lineterminator="\n")
    writer.writeheader()
    writer.writerows(row for row in reader if is_used_kite_row(row))
    return out.getvalue().encode()


def download(broker: str, base_url: str = "", api_key: str = "", access_token: str = "") -> bytes:
    """The broker's full master, as served."""
    if broker == "upstox":
        url = f"{upstox_hosts(base_url).aux}{UPSTOX_NSE_PATH}"
        return request(url, ())[1]
    url = f"{kite_hosts(base_url).api}{KITE_INSTRUMENTS_PATH}"
    headers = {"X-Kite-Version": "3"}
    if api_key and access_token:
        try:
            auth = {**headers, "Authorization": f"token {api_key}:{access_token}"}
            return request(url, (access_token,), headers=auth)[1]
        except BrokerError as exc:
            if not exc.expired:
                raise
            # The dump is public: an expired session must not keep the feed from its master
            # (the feed itself then reports the session expired).
    return request(url, (), headers=headers)[1]


def fetch_master(
    data_dir: Path, broker: str, base_url: str = "", api_key: str = "", access_token: str = "",
    now: datetime | None = None,
) -> tuple[Path, InstrumentMaster]:  # fmt: skip
    """Download, filter and cache today's master; older cached days are removed once it is in."""
    raw = download(broker, base_url, api_key, access_token)
    kept = (filter_upstox if broker == "upstox" else filter_kite)(raw)
    path = cache_path(data_dir, broker, trading_day(now))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(kept)
    master = LOADERS[broker](tmp)
    if not any(master.expiries(symbol) for symbol in master.symbols()):
        tmp.unlink()
        raise BrokerError(f"the {broker} instrument master lists no index options of StrikeIQ's symbols")
    os.replace(tmp, path)
    for old in cached_files(data_dir, broker):
        if old != path:
            old.unlink(missing_ok=True)
    return path, master


def ensure_master(config: Config, broker: str, access_token: str = "") -> Path:
    """The instrument file a broker feed should load: STRIKEIQ_INSTRUMENTS / --instruments if given,
    else today's cache, else a fresh download (falling back to an older cache if that fails)."""
    override = config.feed.instruments_file
    if override:
        if not Path(override).is_file():
            raise ConfigError(f"instrument file {override!r} does not exist")
        return Path(override)
    today = cache_path(config.data_dir, broker, trading_day())
    if today.is_file():
        return today
    s = config.secrets
    base = s.upstox_base_url if broker == "upstox" else s.kite_base_url
    try:
        return fetch_master(config.data_dir, broker, base, s.kite_api_key, access_token)[0]
    except BrokerError as exc:
        older = cached_files(config.data_dir, broker)
        if older:
            log.warning("instrument master download failed (%s); using %s", exc, older[0].name)
            return older[0]
        raise ConfigError(
            f"no {broker} instrument master: the download failed ({exc}). Check the network, run "
            f"`python -m core instruments {broker}`, or pass --instruments FILE / STRIKEIQ_INSTRUMENTS"
        ) from None
