"""The experiments' statistics, pure functions over counts (no database, no clock).

The decision rule is an mSPRT (mixture sequential probability ratio test; Johari, Pekelis, Walsh, "Always valid
inference", 2017): for two variants with observed rates a and b, the difference b - a is about normal with variance
V (the pooled rate's, so an A/A test's statistic is centred), and the likelihood ratio of "the difference is drawn
from N(0, tau^2)" against "it is 0" is

    L = sqrt(V / (V + tau^2)) * exp(tau^2 * d^2 / (2 * V * (V + tau^2)))

1/L is an always-valid p-value: under equal rates, the chance that it *ever* falls below alpha, however often it is
looked at, is at most alpha. A variant wins when it has the highest rate and, against every other variant, that
p-value is below alpha divided by the number of pairs (Bonferroni), once every variant has MIN_RECIPIENTS. Checking
after every send therefore keeps the false-winner rate at or under alpha, which Klaviyo's "500 each and a 90% chance
to be best" does not (bench/experiments.py measures both).

What the shop sees besides the decision is Bayesian and makes no claim of its own: each variant's rate has a
Beta(1 + successes, 1 + failures) posterior; Monte Carlo draws from them (seeded from the counts, so the same data
always reads the same) give the probability each is best and a 95% credible interval of its rate and of its revenue
per recipient (rate times a normal draw of its mean order value).
"""
from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass

ALPHA = 0.05
MIN_RECIPIENTS = 100  # per variant, before any decision: the normal approximation needs some data
TAU_SHARE = 0.2  # the mixture's spread, as a share of the pooled rate: tuned to relative lifts of about 20%
DRAWS = 4000  # Monte Carlo draws per summary
CREDIBLE = 0.95
RULE = f"mSPRT normal mixture (tau = {TAU_SHARE:g} x pooled rate), alpha {ALPHA:g} Bonferroni over pairs, " \
       f"at least {MIN_RECIPIENTS} recipients per variant"


@dataclass(frozen=True)
class Arm:
    """One variant's data: recipients, how many of them succeeded (ordered, or clicked), and their revenue."""

    recipients: int
    successes: int
    revenue: float = 0.0  # the revenue of its orders (in the store's currency)
    revenue_squares: float = 0.0  # the sum of each order's total squared, for the mean order value's spread
    orders: int = 0

    @property
    def rate(self) -> float:
        return self.successes / self.recipients if self.recipients else 0.0


@dataclass(frozen=True)
class Verdict:
    """The rule's reading of the data: the winner's index (None while undecided), the leader's weakest pairwise
    p-value (what has to fall below ``threshold``), and that threshold."""

    winner: int | None
    p_value: float
    threshold: float


@dataclass(frozen=True)
class Summary:
    probability_best: float
    interval: tuple[float, float]  # the rate's credible interval
    revenue_interval: tuple[float, float]  # revenue per recipient's


def p_value(a: Arm, b: Arm, tau_share: float = TAU_SHARE) -> float:
    """The always-valid p-value of "a and b have the same rate" (1 when there is nothing to go on)."""
    if not a.recipients or not b.recipients:
        return 1.0
    pooled = (a.successes + b.successes) / (a.recipients + b.recipients)
    variance = pooled * (1 - pooled) * (1 / a.recipients + 1 / b.recipients)
    if variance <= 0:
        return 1.0
    tau2 = (tau_share * pooled) ** 2
    difference = b.rate - a.rate
    log_ratio = 0.5 * math.log(variance / (variance + tau2)) + tau2 * difference ** 2 / (
        2 * variance * (variance + tau2))
    return 1.0 if log_ratio <= 0 else math.exp(-log_ratio)


def verdict(arms: list[Arm], alpha: float = ALPHA, min_recipients: int = MIN_RECIPIENTS,
            tau_share: float = TAU_SHARE) -> Verdict:
    """The sequential rule over 2..n variants: the leader wins when every pairwise test rejects in its favour."""
    pairs = len(arms) * (len(arms) - 1) // 2
    threshold = alpha / pairs
    rates = [arm.rate for arm in arms]
    leader = max(range(len(arms)), key=rates.__getitem__)
    if rates.count(rates[leader]) > 1:  # a tie has no leader
        return Verdict(None, 1.0, threshold)
    weakest = max(p_value(arm, arms[leader], tau_share) for i, arm in enumerate(arms) if i != leader)
    enough = all(arm.recipients >= min_recipients for arm in arms)
    return Verdict(leader if enough and weakest < threshold else None, weakest, threshold)


def _seed(arms: list[Arm]) -> int:
    data = repr([(a.recipients, a.successes, round(a.revenue, 4), a.orders) for a in arms]).encode()
    return int.from_bytes(hashlib.sha256(data).digest()[:8], "big")


def _quantiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    tail = (1 - CREDIBLE) / 2
    return ordered[int(tail * (len(ordered) - 1))], ordered[int((1 - tail) * (len(ordered) - 1))]


def summaries(arms: list[Arm], draws: int = DRAWS) -> list[Summary]:
    """Per variant: the probability its rate is the highest, and credible intervals of its rate and revenue per
    recipient. Deterministic: the random draws are seeded from the data."""
    rng = random.Random(_seed(arms))
    samples = [[rng.betavariate(1 + a.successes, 1 + a.recipients - a.successes) for _ in range(draws)]
               for a in arms]
    wins = [0] * len(arms)
    for draw in zip(*samples):
        wins[max(range(len(arms)), key=draw.__getitem__)] += 1
    result = []
    for arm, rates, won in zip(arms, samples, wins):
        mean_order = arm.revenue / arm.orders if arm.orders else 0.0
        spread = 0.0
        if arm.orders > 1:
            variance = max(0.0, (arm.revenue_squares - arm.orders * mean_order ** 2) / (arm.orders - 1))
            spread = math.sqrt(variance / arm.orders)
        revenue = [rate * max(0.0, rng.gauss(mean_order, spread)) for rate in rates]
        result.append(Summary(won / draws, _quantiles(rates), _quantiles(revenue)))
    return result


def naive_verdict(arms: list[Arm], min_recipients: int = 500, confidence: float = 0.9) -> int | None:
    """Klaviyo's rule, the benchmark's baseline: every variant has ``min_recipients`` and one has a ``confidence``
    chance to be best (for two variants, P(b > a) from the normal approximation; more: the best against the
    runner-up)."""
    if any(arm.recipients < min_recipients for arm in arms):
        return None
    order = sorted(range(len(arms)), key=lambda i: arms[i].rate, reverse=True)
    best, second = arms[order[0]], arms[order[1]]
    variance = (best.rate * (1 - best.rate) / best.recipients + second.rate * (1 - second.rate) / second.recipients)
    if variance <= 0:
        return None
    chance = 0.5 * (1 + math.erf((best.rate - second.rate) / math.sqrt(2 * variance)))
    return order[0] if chance >= confidence else None
