"""Experience arithmetic: success rate and the Beta-prior adjusted confidence (SPEC §8).

adjusted confidence, for an engine/signal/symbol/horizon with `wins` and `losses` (neutrals apart):

    posterior = (wins + PRIOR_A) / (wins + losses + PRIOR_A + PRIOR_B)     Beta(2, 2) prior, mean 0.5
    weight    = n / (n + BLEND_K)      with n = wins + losses
    adjusted  = weight * posterior + (1 - weight) * raw_score

so with few outcomes the engine's own raw score dominates, and with many the measured hit rate does.
"""

from __future__ import annotations

from dataclasses import dataclass

PRIOR_A = 2.0
PRIOR_B = 2.0
BLEND_K = 30.0


@dataclass(frozen=True, slots=True)
class Experience:
    wins: int
    losses: int
    neutrals: int

    @property
    def decided(self) -> int:
        return self.wins + self.losses

    @property
    def total(self) -> int:
        return self.wins + self.losses + self.neutrals

    @property
    def success_rate(self) -> float | None:
        """wins / (wins + losses) in 0-1; None before any decided outcome."""
        return self.wins / self.decided if self.decided else None

    def posterior_mean(self) -> float:
        return (self.wins + PRIOR_A) / (self.decided + PRIOR_A + PRIOR_B)

    def adjusted_confidence(self, raw_score: float) -> float:
        weight = self.decided / (self.decided + BLEND_K)
        value = weight * self.posterior_mean() + (1.0 - weight) * raw_score
        return min(1.0, max(0.0, value))
