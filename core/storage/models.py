"""The ORM schema (SPEC section 7), in one import: eight tables, the statistics rollup, one Base.

The tables live by responsibility in model_base (Base, run stamp, cleaners), market_models,
signal_models and learning_models; importing this module registers all of them on Base.metadata,
which Alembic and the tests compare against the migrations.
"""

from __future__ import annotations

from core.storage.learning_models import Prediction, RollupState, SignalStatsHourly, SmartMoneyPrediction
from core.storage.market_models import LiveChainState, MarketSnapshot, OptionChainSnapshot
from core.storage.model_base import (
    DIRECTIONS,
    NAMING_CONVENTION,
    OUTCOMES,
    Base,
    BigId,
    DurableRow,
    RunStamped,
)
from core.storage.signal_models import (
    AiSignalLog,
    FormulaExperience,
    SignalOutcome,
    outcome_count,
    signal_from_fields,
)

__all__ = [
    "DIRECTIONS",
    "NAMING_CONVENTION",
    "OUTCOMES",
    "AiSignalLog",
    "Base",
    "BigId",
    "DurableRow",
    "FormulaExperience",
    "LiveChainState",
    "MarketSnapshot",
    "OptionChainSnapshot",
    "Prediction",
    "RollupState",
    "RunStamped",
    "SignalOutcome",
    "SignalStatsHourly",
    "SmartMoneyPrediction",
    "outcome_count",
    "signal_from_fields",
]
