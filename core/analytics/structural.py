"""LiveStructuralEngine: a ChainSnapshot plus bounded per-symbol history -> LiveMetrics for one expiry.

The numeric kernels below are pure functions of numpy arrays; the engine only builds the arrays
once per call, keeps the ring buffers the stateful metrics need, and assembles LiveMetrics.
Arrays shaped (2, n) hold calls in row 0 and puts in row 1, columns on ascending strikes.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import date, datetime
from types import MappingProxyType
from typing import Any

import numpy as np

from core.analytics import flow, greeks, numeric, regime
from core.analytics.chain_arrays import ChainArrays, ChainCache, legs_by_expiry, time_to_expiry_years
from core.analytics.expected_move import move_to_expiry
from core.analytics.expiry_state import ExpiryState, append_spaced, rolling_ratio
from core.analytics.spot_history import SpotHistory
from core.clock import IST
from core.config import AnalyticsConfig
from core.domain import ChainSnapshot, LiveMetrics, Tick, frozen_array
from core.market_calendar import MarketCalendar, expiry_close_epoch

__all__ = ["LiveStructuralEngine", "time_to_expiry_years"]
FLOW_STRIKES, MICRO_STRIKES = 5, 3
IV_SAMPLE_S = 60.0


class LiveStructuralEngine:
    """Computes LiveMetrics; one instance per runtime, called from one thread (not thread-safe)."""

    def __init__(self, config: AnalyticsConfig | None = None, calendar: MarketCalendar | None = None) -> None:
        self.config = config or AnalyticsConfig()
        self.calendar = calendar or MarketCalendar.default()
        self._spot: dict[str, SpotHistory] = {}
        self._expiry: dict[tuple[str, date], ExpiryState] = {}
        self._chains: dict[tuple[str, date], ChainCache] = {}

    def select_expiry(self, snapshot: ChainSnapshot) -> date | None:
        """The nearest expiry whose 15:30 IST close is still ahead of the snapshot's event time."""
        known = set(snapshot.expiries) or {k[0] for k in snapshot.legs}
        alive = sorted(e for e in known if e is not None and expiry_close_epoch(e) > snapshot.ts)
        return alive[0] if alive else None

    def compute(self, snapshot: ChainSnapshot, expiry: date | None = None) -> LiveMetrics:
        """All SPEC §5 metrics for `expiry` (default: nearest unexpired); never raises on market data."""
        return self._compute(snapshot, [expiry or self.select_expiry(snapshot)])[0]

    def compute_all(self, snapshot: ChainSnapshot, later_expiries: bool = True) -> list[LiveMetrics]:
        """compute(snapshot) first, then, with `later_expiries`, compute(snapshot, e) for each later
        listed expiry e in listing order; the implied vols of all of them come from one solve."""
        default = self.select_expiry(snapshot)
        expiries = [default]
        for expiry in snapshot.expiries if later_expiries else ():
            if expiry not in expiries and expiry >= (default or expiry):
                expiries.append(expiry)
        return self._compute(snapshot, expiries)

    def _compute(self, snapshot: ChainSnapshot, expiries: list[date | None]) -> list[LiveMetrics]:
        # Missing legs are NaN by design and absurd feed values may overflow; every such case is
        # handled explicitly below, so numpy's warnings would only flood the runtime log.
        with np.errstate(all="ignore"):
            legs, r = legs_by_expiry(snapshot, expiries), self.config.risk_free_rate
            # Every run is prepared before any finishes (each (symbol, expiry) has its own state),
            # so the implied vols, then the greeks, of all expiries come from one call each.
            runs = [_Run(self, snapshot, expiry) for expiry in expiries]
            todo = [(run, x) for run in runs if run.prepare(legs) and (x := run.solve_inputs())]
            for (run, _), found in zip(todo, greeks.implied_vol_chains([x for _, x in todo], r), strict=True):
                run.solved, run.reason = found
            ready = [run for run in runs if run.ready]
            models = greeks.black76_greeks_chains([run.implied_vols() for run in ready], r)
            for run, model in zip(ready, models, strict=True):
                run.model = model
            return [run.metrics() for run in runs]

    def _spot_history(self, symbol: str) -> SpotHistory:
        history = self._spot.get(symbol)
        if history is None:  # not setdefault: a 4096-sample buffer per call would be thrown away
            history = self._spot[symbol] = SpotHistory()
        return history

    def _state(self, symbol: str, expiry: date, ts: float) -> ExpiryState:
        state = self._expiry.get((symbol, expiry))
        if state is None:
            # A new expiry is the moment to forget expired ones, so memory stays bounded over weeks.
            for known in (self._expiry, self._chains):
                for key in [k for k in known if expiry_close_epoch(k[1]) < ts]:
                    del known[key]
            state = self._expiry[(symbol, expiry)] = ExpiryState()
        return state

    def _chain(self, symbol: str, expiry: date, legs: list[Tick]) -> ChainArrays:
        cache = self._chains.get((symbol, expiry))
        if cache is None:
            cache = self._chains[(symbol, expiry)] = ChainCache()
        return cache.build(legs)

    def in_session(self, ts: float) -> bool:
        return self.calendar.is_open(ts)


class _Run:
    """One expiry of a compute call: fills `out` (LiveMetrics fields) and `missing` (reasons) section by section."""

    model: greeks.Greeks  # set by LiveStructuralEngine._compute between prepare() and metrics()

    def __init__(self, engine: LiveStructuralEngine, snap: ChainSnapshot, expiry: date | None) -> None:
        self.engine, self.snap, self.expiry, self.ready = engine, snap, expiry, False
        self.r = engine.config.risk_free_rate
        spot = snap.spot if snap.spot is not None and math.isfinite(snap.spot) and snap.spot > 0 else None
        self.S = spot
        self.missing: dict[str, str] = {}
        self.out: dict[str, Any] = {"symbol": snap.symbol, "expiry": expiry, "ts": snap.ts, "spot": spot}
        self.out.update(prev_close=snap.spot_prev_close, lot_size=snap.lot_size, rate=self.r)

    def skip(self, reason: str, *names: str) -> None:
        for name in names:
            self.missing.setdefault(name, reason)

    def prepare(self, legs: dict[date, list[Tick]]) -> bool:
        """Spot history, chain arrays (`legs` are the snapshot's by expiry), state, forward; False: nothing to price."""
        self.spot_history = self.engine._spot_history(self.snap.symbol)
        self.spot_history.view(self.snap.ts, self.snap.spot)
        if self.S is None:
            self.skip("no spot price", "spot")
        if self.expiry is None:
            self.skip("no unexpired expiry in snapshot", "expiry")
            return False
        self.chain = self.engine._chain(self.snap.symbol, self.expiry, legs.get(self.expiry, []))
        if not len(self.chain.strikes):
            self.skip("no option legs for this expiry", "chain")
            return False
        self.state = self.engine._state(self.snap.symbol, self.expiry, self.snap.ts)
        self._setup()
        self.has_feed = np.isfinite(self.chain["iv"]) & (self.chain["iv"] > 0)
        self.solved = np.full(self.has_feed.shape, np.nan)
        self.reason: np.ndarray | None = None  # per-leg implied_vol reasons, once solved
        self.ready = True
        return True

    def solve_inputs(self) -> tuple[np.ndarray, float, np.ndarray, float] | None:
        """(premium, F, strikes, T) for greeks.implied_vol_chains if a leg without feed IV has a forward."""
        if self.F is None or self.has_feed.all():
            return None
        return self.premium, self.F, self.chain.strikes, self.T

    def metrics(self) -> LiveMetrics:
        """The LiveMetrics, after prepare() and, where solve_inputs() was not None, `solved` and `reason`."""
        if self.ready:
            for section in (self._volatility, self._open_interest, self._gex, self._flow):
                section()
            self._regime()
        return self._finish()

    def _finish(self) -> LiveMetrics:
        self.out["unavailable"] = MappingProxyType(self.missing)
        return LiveMetrics(**self.out)

    def _setup(self) -> None:
        assert self.expiry is not None  # metrics() runs the sections only for an expiry
        c, snap = self.chain, self.snap
        step = snap.strike_step if snap.strike_step > 0 else float(np.min(np.diff(c.strikes), initial=50.0))
        self.T = time_to_expiry_years(snap.ts, self.expiry)
        self.premium = c.premium
        anchor = self.S or snap.atm_strike or greeks.parity_anchor(c.strikes, self.premium)
        fwd = greeks.parity_forward(
            c.strikes, self.premium[0], self.premium[1], anchor or 0.0, self.T, self.r
        )
        source = "parity"
        if fwd is None and self.S is not None:
            fwd, source = self.S * math.exp(self.r * self.T), "spot_carry"
        self.F = fwd
        ref = self.S or fwd or anchor
        atm = snap.atm_strike if snap.atm_strike in c.strikes else None
        if atm is None and ref:
            atm = float(c.strikes[np.argmin(np.abs(c.strikes - ref))])
        self.atm, self.step = atm, step
        self.atm_col = int(np.flatnonzero(c.strikes == atm)[0]) if atm is not None else None
        self.out.update(strike_step=step, time_to_expiry_years=self.T, atm_strike=atm)
        if fwd is None:
            self.skip("no parity pair and no spot price", "forward")
        else:
            self.out.update(forward=fwd, forward_source=source)

    def near_atm(self, strikes_each_side: int) -> np.ndarray:
        if self.atm is None:
            return np.zeros(len(self.chain.strikes), dtype=bool)
        return np.abs(self.chain.strikes - self.atm) <= strikes_each_side * self.step * (1 + 1e-9)

    def implied_vols(self) -> tuple[float, np.ndarray, float, np.ndarray]:
        """Feed IV where given, else the solved one; (F, strikes, T, IVs) to price greeks.black76_greeks_chains."""
        c, has_feed = self.chain, self.has_feed
        if self.reason is not None:
            self._note_unsolved(self.reason[np.isfinite(c["ltp"]) & ~has_feed])
        self.iv = np.where(has_feed, c["iv"], self.solved)
        got = np.isfinite(self.iv)
        from_feed, solved_n = int((has_feed & got).sum()), int((~has_feed & got).sum())
        source = "mixed" if from_feed and solved_n else "feed" if from_feed else "solved" if solved_n else ""
        self.out["iv_source"] = source
        return self.F or np.nan, c.strikes, self.T, self.iv

    def _volatility(self) -> None:
        c, model = self.chain, self.model
        self.delta = np.where(np.isfinite(c["delta"]), c["delta"], model.delta)
        self.gamma = np.where(np.isfinite(c["gamma"]), c["gamma"], model.gamma)
        self.out.update(call_iv=frozen_array(self.iv[0]), put_iv=frozen_array(self.iv[1]))
        self.out.update(call_delta=frozen_array(self.delta[0]), put_delta=frozen_array(self.delta[1]))
        self.out.update(call_gamma=frozen_array(self.gamma[0]), put_gamma=frozen_array(self.gamma[1]))
        theta, vega = model.theta, model.vega
        self.out.update(call_theta=frozen_array(theta[0]), put_theta=frozen_array(theta[1]))
        self.out.update(call_vega=frozen_array(vega[0]), put_vega=frozen_array(vega[1]))
        self._atm_iv()

    def _note_unsolved(self, reasons: np.ndarray) -> None:
        """Per-leg IV failures, counted by reason, under unavailable["leg_iv"] (for the System page)."""
        failed = reasons[reasons != greeks.OK]
        if failed.size:  # counted, then sorted as np.unique sorts (whose sort costs more here)
            detail = ", ".join(f"{code} {n}" for code, n in sorted(Counter(failed.tolist()).items()))
            self.skip(f"{failed.size} of {reasons.size} legs without IV: {detail}", "leg_iv")

    def _atm_iv(self) -> None:
        col = self.atm_col
        atm_ivs = self.iv[:, col] if col is not None else np.array([np.nan])
        if not np.isfinite(atm_ivs).any():
            self.skip("no implied vol at the ATM strike", "atm_iv", "volatility_regime", "iv_percentile")
            self.skip("no ATM implied vol", "expected_move", "em_bands", "breach_probability")
            self.atm_iv = None
        else:
            self.atm_iv = numeric.nanmean(atm_ivs)
            self.out.update(atm_iv=self.atm_iv, volatility_regime=regime.volatility_regime(self.atm_iv))
            if self.engine.in_session(self.snap.ts):  # off-session quotes are stale: keep them out
                append_spaced(self.state.atm_iv, self.snap.ts, self.atm_iv, IV_SAMPLE_S)
            pct = regime.iv_percentile(self.state.atm_iv.arrays()[1], self.atm_iv)
            self.out["iv_percentile"] = pct
            if pct is None:
                self.skip("not enough ATM IV history yet", "iv_percentile")
        straddle = self.premium[:, col].sum() if col is not None else np.nan
        if np.isfinite(straddle):
            self.out["atm_straddle"] = float(straddle)
        else:
            self.skip("ATM call or put has no price", "atm_straddle")
        self._straddle_greeks()
        names = ("expected_move", "em_bands", "breach_probability")
        if self.atm_iv is not None and self.S is not None and self.F is not None and self.expiry is not None:
            cal = self.engine.calendar
            move = move_to_expiry(cal, self.snap.ts, self.expiry, self.S, self.F, self.atm_iv)
            if move is None:
                self.skip("no trading time left to expiry", *names)
                return
            self.out.update(expected_move=move.points, em_bands=move.bands)
            self.out["breach_probability"] = move.breach_probability
            if move.breach_probability is None:
                self.skip("degenerate ATM vol or forward", "breach_probability")
        elif self.atm_iv is not None:
            self.skip("no spot price", *names)

    def _straddle_greeks(self) -> None:
        """What the ATM straddle loses per calendar day and gains per vol point (greeks.straddle_theta_vega)."""
        col, fwd = self.atm_col, self.F
        if col is None or fwd is None or not (fwd > 0 and self.T > 0 and np.isfinite(self.iv[:, col]).all()):
            self.skip("no forward or no IV on both ATM legs", "atm_straddle_theta", "atm_straddle_vega")
            return
        # straddle_theta_vega(F, ATM strike, T, r, ATM IVs) is the sum of the ATM column of the chain's
        # greeks (same formulas, element by element), so it is read off them instead of re-evaluated.
        self.out["atm_straddle_theta"] = float(np.sum(self.model.theta[:, col]))
        self.out["atm_straddle_vega"] = float(np.sum(self.model.vega[:, col])) / 100.0

    def _open_interest(self) -> None:
        found = self.state.chain_positioning(self.chain)
        self.out.update(found.fields)
        for name, reason in found.missing:
            self.skip(reason, name)
        self.max_oi_strike = found.max_oi_strike
        self._walls(self.chain["oi"])

    def _walls(self, oi: np.ndarray) -> None:
        if self.S is None:
            self.skip("no spot price", "support", "resistance")
            return
        strikes = self.chain.strikes
        support = flow.oi_walls(strikes, oi[1], strikes <= self.S)
        resistance = flow.oi_walls(strikes, oi[0], strikes >= self.S)
        self.out.update(support_walls=support, resistance_walls=resistance)
        self.out["support"] = support[0][0] if support else None
        self.out["resistance"] = resistance[0][0] if resistance else None
        if not support:
            self.skip("no put OI at or below spot", "support")
        if not resistance:
            self.skip("no call OI at or above spot", "resistance")

    def _gex(self) -> None:
        names: tuple[str, ...] = (
            "net_gex", "gross_gex", "gex_ratio", "dealer_gamma", "call_wall", "put_wall", "gamma_flip"
        )  # fmt: skip
        names += ("distance_from_flip_pts", "distance_from_flip_pct")
        if self.S is None or self.F is None:
            self.skip("no spot price" if self.S is None else "no forward", *names)
            return
        oi, strikes = self.chain["oi"], self.chain.strikes
        legs = greeks.gex_per_leg(self.gamma, oi, self.S)
        if not (np.isfinite(self.gamma) & (oi > 0)).any():
            self.skip("no leg has both gamma and OI", *names)
            return
        net, gross = float(legs.sum()), float(np.abs(legs).sum())
        g = regime.normalised_gex(net, gross)
        band = self.engine.config.gamma_band
        self.out.update(net_gex=net, gross_gex=gross, gex_ratio=g, dealer_gamma=regime.dealer_gamma(g, band))
        self.out.update(call_gex=frozen_array(legs[0]), put_gex=frozen_array(legs[1]))
        self.out["gex_by_strike"] = frozen_array(legs.sum(axis=0))
        self.out["call_wall"] = float(strikes[np.argmax(legs[0])]) if legs[0].max() > 0 else None
        self.out["put_wall"] = float(strikes[np.argmin(legs[1])]) if legs[1].min() < 0 else None
        if self.out["call_wall"] is None:
            self.skip("no positive call GEX", "call_wall")
        if self.out["put_wall"] is None:
            self.skip("no negative put GEX", "put_wall")
        self._flip(oi)

    def _flip(self, oi: np.ndarray) -> None:
        """Gamma flip from the net-GEX profile on a spot grid (step <= strike step / 5)."""
        assert self.S is not None and self.F is not None  # _gex() returns first without them
        names = ("gamma_flip", "distance_from_flip_pts", "distance_from_flip_pct")
        if not (np.isfinite(self.iv) & (oi > 0)).any():
            self.skip("no leg has both IV and OI to re-price", *names)
            return
        step = min(self.step / 5.0, self.S * 0.002)
        grid, profile = greeks.gex_profile(
            self.chain.strikes, self.iv, oi, self.F, self.S, self.T, self.r, step
        )
        flip, state = greeks.gamma_flip(grid, profile, self.S)
        self.out.update(gex_profile_spot=frozen_array(grid), gex_profile=frozen_array(profile))
        self.out.update(gamma_flip=flip, flip_state=state)
        if flip is None:
            self.skip(f"no sign change within +-5 % of spot ({state})", *names)
        else:
            self.out["distance_from_flip_pts"] = self.S - flip
            self.out["distance_from_flip_pct"] = 100.0 * (self.S - flip) / self.S

    def _flow(self) -> None:
        summary = self.state.flow_summary(self.snap.ts, self.chain, self.near_atm(FLOW_STRIKES))
        self.out.update(call_oi_velocity=summary.call_velocity, put_oi_velocity=summary.put_velocity)
        self.out.update(flow_imbalance=summary.imbalance, flow_direction=summary.direction)
        if summary.imbalance is None:
            self.skip(
                "no OI change near ATM since the previous OI update", "flow_imbalance", "flow_direction"
            )
        for side in ("call", "put"):
            if getattr(summary, f"{side}_velocity") is None:
                self.skip("waiting for two OI updates near ATM", f"{side}_oi_velocity")
        self._liquidity()

    def _liquidity(self) -> None:
        """Near-ATM spread and depth, and their ratios to the rolling 10-minute median."""
        st, ts = self.state, self.snap.ts
        spread, depth = st.near_liquidity(self.chain, self.near_atm(MICRO_STRIKES))
        if spread is None:
            self.skip("no two-sided quotes near ATM", "spread_rel", "depth", "spread_ratio", "depth_ratio")
            return
        assert depth is not None  # near_atm_liquidity gives both or neither
        self.out.update(spread_rel=spread, depth=depth)
        for name, buf, value in (("spread_ratio", st.spread, spread), ("depth_ratio", st.depth, depth)):
            self.out[name] = rolling_ratio(buf, ts, value)
            if self.out[name] is None:
                self.skip("rolling 10-minute median not established yet", name)

    def _regime(self) -> None:
        assert self.expiry is not None  # metrics() runs the sections only for an expiry
        if self.S is None:
            self.skip("no spot price", "ret_1m", "ret_5m", "range_5m", "realized_vol_30m", "vol_spike_ratio")
            self.skip("no spot price", "regime", "regime_confidence")
            return
        feats = self.spot_history.features(self.snap.ts)
        self.out.update(ret_1m=feats.ret_1m, ret_5m=feats.ret_5m, range_5m=feats.range_5m)
        self.out.update(realized_vol_30m=feats.realized_vol_30m, vol_spike_ratio=feats.vol_spike_ratio)
        for name, reason in feats.missing.items():
            self.skip(reason, name)
        o = self.out
        expiry_day = datetime.fromtimestamp(self.snap.ts, IST).date() == self.expiry
        minutes = (expiry_close_epoch(self.expiry) - self.snap.ts) / 60.0 if expiry_day else None
        x = regime.RegimeInputs(
            ts=self.snap.ts, spot=self.S, dealer_gamma=o.get("dealer_gamma"), gamma_flip=o.get("gamma_flip"),
            flow_imbalance=o.get("flow_imbalance"), flow_direction=o.get("flow_direction"),
            ret_5m=feats.ret_5m, vol_spike_ratio=feats.vol_spike_ratio,
            volatility_regime=o.get("volatility_regime"), support=o.get("support"),
            resistance=o.get("resistance"), max_pain=o.get("max_pain"), max_oi_strike=self.max_oi_strike,
            expected_move=o.get("expected_move"), minutes_to_close=minutes,
        )  # fmt: skip
        found = regime.classify_regime(x)
        if found is None:
            self.skip("needs net GEX or a 5-minute return", "regime", "regime_confidence")
        else:
            o.update(regime=found[0], regime_confidence=found[1])
        alerts = regime.structural_alerts(x, self.state.previous)
        change = self.state.debounce.update(self.snap.ts, found[0] if found else None)
        o["alerts"] = tuple(alerts + ([change] if change else []))
        self.state.previous = x
