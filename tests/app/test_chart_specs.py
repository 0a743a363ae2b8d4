"""Every chart the pages draw is valid Vega-Lite: the specs are plain dicts (app.vega), so the schema
check Altair would run on every refresh runs here, against the Vega-Lite schema Altair ships."""

from __future__ import annotations

import jsonschema
import numpy as np
import pytest
from altair.vegalite.v6.schema.core import load_schema

from app import charts
from app.intraday_compact import compact_day_chart
from app.vega import Spec, as_json, mark
from core.bus import ConfidencePoint, SpotPoint
from core.domain import LiveMetrics, Signal, frozen_array
from core.storage.intraday import SERIES_COLUMNS, Series
from tests.app.test_live_charts import _chain_metrics

T0 = 1_796_000_000.0


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    schema = load_schema()
    return jsonschema.validators.validator_for(schema)(schema)


def _metrics() -> LiveMetrics:
    grid = np.linspace(24_500.0, 25_500.0, 21)
    return _chain_metrics(
        gex_profile_spot=frozen_array(grid), gex_profile=frozen_array(np.linspace(-3e9, 3e9, 21))
    )


def _day() -> tuple[Series, Series]:
    ts = T0 + 5.0 * np.arange(30)
    values = {c: np.linspace(1.0, 2.0, 30) for c in SERIES_COLUMNS}
    return Series(ts, values), Series(ts[::5], {"straddle": np.ones(6), "vwap": np.ones(6)})


def _specs() -> dict[str, Spec]:
    m = _metrics()
    bands = (24_760.0, 24_880.0, 25_120.0, 25_240.0)
    points = [
        SpotPoint(T0 + 5 * i, 25_000.0 + i, 24_900.0, 25_100.0, 25_030.0, 25_000.0, bands) for i in range(30)
    ]
    signals = [
        Signal(T0 + 20, "NIFTY", "GammaFlipEngine", "FLIP_UP", "UP", 0.7, 0.7, 0.5, 25_020.0),
        Signal(T0 + 40, "NIFTY", "TrapEngine", "BULL_TRAP", "DOWN", 0.6, 0.6, 0.5, 25_040.0),
    ]
    confidence = [ConfidencePoint(T0 + i, e, "UP", 0.5, True) for i in range(20) for e in ("TrapEngine", "B")]
    no_chain = LiveMetrics(symbol="NIFTY", expiry=None, ts=T0, spot=None)
    return {
        "spot": charts.spot_chart(points, signals),
        "gex by strike": charts.gex_by_strike_chart(m),
        "oi": charts.oi_chart(m),
        "oi in lakh units": charts.oi_chart(m, "lakh units"),
        "gex profile": charts.gex_profile_chart(m),
        "iv smile": charts.iv_smile_chart(m),
        "max pain": charts.max_pain_chart(m),
        "confidence": charts.confidence_chart(confidence),
        "compact day": compact_day_chart(*_day()),
        "spot, waiting": charts.spot_chart([], []),
        "oi, no chain": charts.oi_chart(no_chain),
        "compact day, empty": compact_day_chart(*(Series(s.ts[:0], {k: v[:0] for k, v in s.values.items()}) for s in _day())),
    }  # fmt: skip


@pytest.fixture(scope="module")
def specs() -> dict[str, Spec]:
    return _specs()


NAMES = ("spot", "gex by strike", "oi", "oi in lakh units", "gex profile", "iv smile", "max pain", "confidence",
         "compact day", "spot, waiting", "oi, no chain", "compact day, empty")  # fmt: skip


def test_the_parametrised_names_cover_every_built_chart(specs):
    assert tuple(specs) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_every_chart_is_valid_vega_lite_with_its_data(validator, specs, name):
    spec = as_json(specs[name])
    errors = [f"{list(e.absolute_path)}: {e.message[:160]}" for e in validator.iter_errors(spec)]
    assert not errors, errors
    for layer in spec.get("layer", [spec]):  # every layer reads a dataset the spec carries, or its own row
        data = layer.get("data", spec.get("data"))
        assert data["name"] in spec["datasets"] if "name" in data else len(data["values"]) == 1


def test_the_schema_check_catches_a_misspelt_property(validator):
    """The oracle can fail: a typo Altair would have refused at build time is refused here."""
    spec = charts.gex_by_strike_chart(_metrics())
    spec["layer"][0]["mark"] = mark("rect", opacty=0.8)
    assert list(validator.iter_errors(as_json(spec)))
