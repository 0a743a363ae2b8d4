"""Broker instrument masters (Upstox NSE JSON, Kite CSV) mapped to StrikeIQ symbols and option legs."""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from core.clock import IST
from core.config import KNOWN_SYMBOLS
from core.domain import Right, is_right
from core.errors import ConfigError

# Index instruments are named differently by each broker; these are the broker's own identifiers.
UPSTOX_INDEX_KEYS = {
    "NSE_INDEX|Nifty 50": "NIFTY",
    "NSE_INDEX|Nifty Bank": "BANKNIFTY",
    "NSE_INDEX|Nifty Fin Service": "FINNIFTY",
    "NSE_INDEX|NIFTY MID SELECT": "MIDCPNIFTY",
}
KITE_INDEX_TOKENS = {256265: "NIFTY", 260105: "BANKNIFTY", 257801: "FINNIFTY", 288009: "MIDCPNIFTY"}
KITE_INDEX_NAMES = {"NIFTY 50": "NIFTY", "NIFTY BANK": "BANKNIFTY", "NIFTY FIN SERVICE": "FINNIFTY"}
KITE_INDEX_NAMES["NIFTY MID SELECT"] = "MIDCPNIFTY"


@dataclass(frozen=True, slots=True)
class Instrument:
    """One subscribable instrument: an index (right None) or an index option leg.

    `key` is the broker's identifier as text (Upstox `instrument_key`, Kite `instrument_token`).
    """

    key: str
    symbol: str
    expiry: date | None
    strike: float | None
    right: Right | None
    lot_size: int
    segment: str
    tradingsymbol: str = ""

    @property
    def is_index(self) -> bool:
        return self.right is None


class InstrumentMaster:
    """Read-only lookups over one broker's instruments, restricted to StrikeIQ's symbols."""

    def __init__(self, instruments: Iterable[Instrument], broker: str) -> None:
        self.broker = broker
        self._by_key: dict[str, Instrument] = {}
        self._by_token: dict[int, Instrument] = {}
        self._by_leg: dict[tuple[str, date, float, str], Instrument] = {}
        self._index: dict[str, Instrument] = {}
        for inst in instruments:
            self._by_key[inst.key] = inst
            if inst.key.isdigit():
                self._by_token[int(inst.key)] = inst
            if inst.is_index:
                self._index[inst.symbol] = inst
            else:
                # Not an index, so a leg: every leg parser sets all three.
                assert inst.expiry is not None and inst.strike is not None and inst.right is not None
                self._by_leg[(inst.symbol, inst.expiry, inst.strike, inst.right)] = inst
        # The ATM window asks these on every underlying tick, so they are built once here.
        chains: dict[tuple[str, date], set[float]] = {}
        for symbol, expiry, strike, _ in self._by_leg:
            chains.setdefault((symbol, expiry), set()).add(strike)
        self._strikes = {k: tuple(sorted(v)) for k, v in chains.items()}
        self._expiries: dict[str, tuple[date, ...]] = {}
        for symbol, expiry in sorted(chains):
            self._expiries[symbol] = (*self._expiries.get(symbol, ()), expiry)

    def __len__(self) -> int:
        return len(self._by_key)

    def get(self, key: str) -> Instrument | None:
        return self._by_key.get(key)

    def by_token(self, token: int) -> Instrument | None:
        return self._by_token.get(token)

    def find(self, symbol: str, expiry: date, strike: float, right: str) -> Instrument | None:
        return self._by_leg.get((symbol, expiry, float(strike), right))

    def index(self, symbol: str) -> Instrument | None:
        return self._index.get(symbol)

    def symbols(self) -> tuple[str, ...]:
        return tuple(sorted({i.symbol for i in self._by_key.values()}))

    def expiries(self, symbol: str) -> tuple[date, ...]:
        return self._expiries.get(symbol, ())

    def strikes(self, symbol: str, expiry: date) -> tuple[float, ...]:
        return self._strikes.get((symbol, expiry), ())

    def lot_size(self, symbol: str) -> int | None:
        sizes = Counter(i.lot_size for (s, _, _, _), i in self._by_leg.items() if s == symbol)
        return sizes.most_common(1)[0][0] if sizes else None

    def strike_step(self, symbol: str, expiry: date) -> float | None:
        """The most common gap between listed strikes (far strikes are wider, so not the minimum)."""
        strikes = self._strikes.get((symbol, expiry), ())
        gaps = Counter(round(b - a, 6) for a, b in zip(strikes, strikes[1:], strict=False))
        return gaps.most_common(1)[0][0] if gaps else None


def _read_text(path: Path) -> str:
    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return raw.decode("utf-8-sig")


def _ist_date_from_ms(value: Any) -> date:
    # Upstox stamps expiry as the last millisecond of the expiry day in IST.
    return datetime.fromtimestamp(int(value) / 1000.0, IST).date()


def _upstox_row(row: dict[str, Any]) -> Instrument | None:
    key = row.get("instrument_key", "")
    if key in UPSTOX_INDEX_KEYS:
        return Instrument(
            key, UPSTOX_INDEX_KEYS[key], None, None, None, 1, "NSE_INDEX", row.get("trading_symbol", "")
        )
    symbol = row.get("underlying_symbol") or row.get("name")
    right = row.get("instrument_type")
    if row.get("segment") != "NSE_FO" or symbol not in KNOWN_SYMBOLS or right not in ("CE", "PE"):
        return None
    return Instrument(
        key=key,
        symbol=symbol,
        expiry=_ist_date_from_ms(row["expiry"]),
        strike=float(row["strike_price"]),
        right=right,
        lot_size=int(row.get("lot_size") or row.get("minimum_lot") or 1),
        segment="NSE_FO",
        tradingsymbol=row.get("trading_symbol", ""),
    )


def is_used_upstox_row(row: Any) -> bool:
    """True for the rows StrikeIQ keeps from Upstox's file: our indices and their options."""
    try:
        return isinstance(row, dict) and _upstox_row(row) is not None
    except (KeyError, TypeError, ValueError):
        return False


def load_upstox_instruments(path: str | Path) -> InstrumentMaster:
    """Upstox's NSE instrument file (a JSON array, plain or gzipped) -> index options of our symbols."""
    try:
        rows = json.loads(_read_text(Path(path)))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read Upstox instrument file {path}: {exc}") from None
    if not isinstance(rows, list):
        raise ConfigError(f"Upstox instrument file {path} is not a JSON array of instruments")
    out: list[Instrument] = []
    for row in rows:
        try:
            inst = _upstox_row(row) if isinstance(row, dict) else None
        except (KeyError, TypeError, ValueError):
            continue  # a row we cannot interpret is not one of our index options
        if inst is not None:
            out.append(inst)
    _ensure_indices(out, {v: k for k, v in UPSTOX_INDEX_KEYS.items()}, "NSE_INDEX")
    return InstrumentMaster(out, "upstox")


def _kite_row(row: dict[str, str]) -> Instrument | None:
    token = row.get("instrument_token", "").strip()
    if row.get("segment") == "INDICES" and row.get("tradingsymbol") in KITE_INDEX_NAMES:
        symbol = KITE_INDEX_NAMES[row["tradingsymbol"]]
        return Instrument(str(int(token)), symbol, None, None, None, 1, "INDICES", row["tradingsymbol"])
    right = row.get("instrument_type")
    if row.get("segment") != "NFO-OPT" or row.get("name") not in KNOWN_SYMBOLS or not is_right(right):
        return None
    return Instrument(
        key=str(int(token)),
        symbol=row["name"],
        expiry=date.fromisoformat(row["expiry"]),
        strike=float(row["strike"]),
        right=right,
        lot_size=int(float(row["lot_size"])),
        segment="NFO-OPT",
        tradingsymbol=row.get("tradingsymbol", ""),
    )


def is_used_kite_row(row: dict[str, str]) -> bool:
    """True for the rows StrikeIQ keeps from Kite's CSV: our indices and their options."""
    try:
        return _kite_row(row) is not None
    except (KeyError, TypeError, ValueError, AttributeError):
        return False


def load_kite_instruments(path: str | Path) -> InstrumentMaster:
    """Kite's instruments CSV (plain or gzipped) -> index options of our symbols and the indices."""
    try:
        text = _read_text(Path(path))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read Kite instrument file {path}: {exc}") from None
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "instrument_token" not in reader.fieldnames:
        raise ConfigError(f"Kite instrument file {path} has no instrument_token column")
    out: list[Instrument] = []
    for row in reader:
        try:
            inst = _kite_row(row)
        except (KeyError, TypeError, ValueError):
            continue
        if inst is not None:
            out.append(inst)
    _ensure_indices(out, {v: str(k) for k, v in KITE_INDEX_TOKENS.items()}, "INDICES")
    return InstrumentMaster(out, "kite")


def _ensure_indices(out: list[Instrument], keys: dict[str, str], segment: str) -> None:
    """Indices are fixed identifiers, so a master trimmed to options still resolves the underlying."""
    present = {i.symbol for i in out if i.is_index}
    for symbol, key in keys.items():
        if symbol not in present:
            out.append(Instrument(key, symbol, None, None, None, 1, segment, symbol))
