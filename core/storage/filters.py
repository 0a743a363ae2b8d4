"""What the Signal history page asks for (SignalFilter) and the rules its inputs must meet, each
error saying the rule and the offending input (cut short)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.storage.models import DIRECTIONS, OUTCOMES
from core.storage.runs import check_run

PENDING = "PENDING"  # outcome filter: no outcome stored yet (at `horizon_s` if given)
MAX_LIST_ITEMS = 200
# Symbols, engine and signal names are identifiers: letters, digits and underscores.
NAME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
NAME_RULE = (
    "a name of letters, digits and underscores starting with a letter, at most 64 characters (e.g. SWEEP_UP)"
)


@dataclass(frozen=True, slots=True)
class SignalFilter:
    """What the Signal history page asks for. Empty tuples and None mean "no restriction".

    `horizon_s` picks which outcome is shown with each row and which horizon `outcome` refers to;
    `outcome` is CORRECT, WRONG, NEUTRAL or PENDING (not evaluated yet). `run_id` narrows to one
    run; without it `exclude_backtests` leaves out backtest runs (legacy rows stay in).
    `max_id` pins the set to the rows stored up to that id, so a page's count, its table and its
    CSV export describe one set however many signals arrive in between (latest_signal_id).
    """

    start: datetime | None = None
    end: datetime | None = None
    symbols: tuple[str, ...] = ()
    engines: tuple[str, ...] = ()
    signals: tuple[str, ...] = ()
    direction: str | None = None
    min_confidence: float | None = None
    max_confidence: float | None = None
    outcome: str | None = None
    horizon_s: int | None = None
    run_id: str | None = None
    exclude_backtests: bool = False
    max_id: int | None = None

    def validate(self) -> SignalFilter:
        """Return self, or raise ValueError saying exactly which input is wrong and what is allowed."""
        for name in ("start", "end"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, datetime):
                raise ValueError(f"{name} must be a datetime, got {type(value).__name__}")
            if value is not None and value.tzinfo is None:
                raise ValueError(f"{name} must be timezone-aware (IST or UTC), got naive {value.isoformat()}")
        if self.start and self.end and self.start > self.end:
            raise ValueError(f"start {self.start.isoformat()} is after end {self.end.isoformat()}")
        for name in ("symbols", "engines", "signals"):
            _check_names(name, getattr(self, name))
        if self.direction is not None and self.direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}, got {self.direction!r}")
        for name in ("min_confidence", "max_confidence"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, int | float) and 0.0 <= value <= 1.0):
                raise ValueError(f"{name} must be a number from 0 to 1, got {value!r}")
        if (self.min_confidence or 0.0) > (1.0 if self.max_confidence is None else self.max_confidence):
            raise ValueError(
                f"min_confidence {self.min_confidence} is above max_confidence {self.max_confidence}"
            )
        if self.max_id is not None and (
            isinstance(self.max_id, bool) or not isinstance(self.max_id, int) or self.max_id < 0
        ):
            raise ValueError(f"max_id must be a whole number >= 0, got {self.max_id!r}")
        if self.outcome is not None and self.outcome not in (*OUTCOMES, PENDING):
            raise ValueError(
                f"outcome must be one of {', '.join((*OUTCOMES, PENDING))}, got {self.outcome!r}"
            )
        if self.horizon_s is not None and (
            isinstance(self.horizon_s, bool) or not isinstance(self.horizon_s, int) or self.horizon_s <= 0
        ):
            raise ValueError(f"horizon_s must be a positive whole number of seconds, got {self.horizon_s!r}")
        check_run(self.run_id, self.exclude_backtests)
        return self


def _check_names(name: str, values: Any) -> None:
    if isinstance(values, str) or not isinstance(values, tuple | list):
        raise ValueError(f"{name} must be a list of names, got {type(values).__name__} {values!r}")
    if len(values) > MAX_LIST_ITEMS:
        raise ValueError(f"{name} has {len(values)} entries; at most {MAX_LIST_ITEMS} are allowed")
    for value in values:
        if not isinstance(value, str) or not NAME_PATTERN.fullmatch(value):
            raise ValueError(f"each of {name} must be {NAME_RULE}; got {_echo(value)}")


def _echo(value: Any, limit: int = 24) -> str:
    """A rejected input, quoted and cut short: an error must not repeat 3,000 characters back."""
    text = repr(value)
    if len(text) <= limit + 2:
        return text
    return f"{text[:limit]}… ({len(str(value)):,} characters)"


def parse_names(name: str, text: str) -> tuple[str, ...]:
    """A comma list typed by a person ("sweep_up, BULLISH") as upper-case names, or ValueError
    stating the rule (NAME_RULE, at most MAX_LIST_ITEMS names) and the first offending entry."""
    names = tuple(dict.fromkeys(part.strip().upper() for part in text.split(",") if part.strip()))
    _check_names(name, names)
    return names


__all__ = ["MAX_LIST_ITEMS", "NAME_PATTERN", "NAME_RULE", "PENDING", "SignalFilter", "parse_names"]
