"""Experiments benchmark: how often the winner rule is fooled, and how often it finds a real lift.

Run from the repository root::

    .venv/bin/python bench/experiments.py [--runs 400] [--max-recipients 30000] [--rate 0.03] [--lift 0.2]
                                          [--seed 16] [--quick]

Each simulated experiment sends to shoppers one at a time, alternating two variants, up to ``--max-recipients`` per
variant; a shopper converts with the variant's true rate. The rule of ``retainful.experiments.stats`` is checked
after every ``--batch`` sends (continuous monitoring: what the periodic job does, only more often); Klaviyo's rule
(500 recipients each and a 90% chance to be best) is checked after every single send, on the same shoppers in the
same run, as the baseline. A/A experiments (equal rates): any winner is a false one; A/B experiments (the second
variant converts ``--lift`` better, relatively): the detection rate is how often the right variant wins within the
horizon, with the median recipients per variant at that decision. Standard library only; about a minute by default
on a 2-core machine, seconds with ``--quick``.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from retainful.experiments.stats import ALPHA, RULE, Arm, naive_verdict, verdict  # noqa: E402


@dataclass(frozen=True)
class Outcome:
    """One simulated experiment: each rule's winner (None: none within the horizon) and recipients per variant."""

    winner: int | None
    recipients: int
    naive_winner: int | None
    naive_recipients: int


def simulate_one(rates: tuple[float, float], max_recipients: int, batch: int, rng: random.Random) -> Outcome:
    recipients, successes = [0, 0], [0, 0]
    winner = naive = None
    at = naive_at = max_recipients
    for send in range(2 * max_recipients):
        arm = send % 2
        recipients[arm] += 1
        successes[arm] += rng.random() < rates[arm]
        arms = None
        if naive is None and recipients[1] >= 500:
            arms = [Arm(recipients[0], successes[0]), Arm(recipients[1], successes[1])]
            naive = naive_verdict(arms)
            naive_at = recipients[1]
        if winner is None and (send + 1) % batch == 0:
            arms = arms or [Arm(recipients[0], successes[0]), Arm(recipients[1], successes[1])]
            winner = verdict(arms).winner
            at = recipients[1]
        if winner is not None and naive is not None:
            break
    return Outcome(winner, at if winner is not None else max_recipients, naive,
                   naive_at if naive is not None else max_recipients)


def simulate(runs: int, rates: tuple[float, float], max_recipients: int, batch: int, seed: int) -> list[Outcome]:
    rng = random.Random(seed)
    return [simulate_one(rates, max_recipients, batch, rng) for _ in range(runs)]


def rate_of(outcomes: list[Outcome], rule: str, winner: int | None = None) -> float:
    """The share of experiments in which ``rule`` ("winner" or "naive_winner") declared ``winner`` (any if None)."""
    hits = [getattr(o, rule) for o in outcomes]
    return sum(1 for w in hits if (w is not None if winner is None else w == winner)) / len(outcomes)


def median_recipients(outcomes: list[Outcome], rule: str, winner: int) -> float:
    at = "recipients" if rule == "winner" else "naive_recipients"
    found = [getattr(o, at) for o in outcomes if getattr(o, rule) == winner]
    return statistics.median(found) if found else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=400, help="experiments per scenario (default 400)")
    parser.add_argument("--max-recipients", type=int, default=30_000, help="horizon per variant (default 30000)")
    parser.add_argument("--rate", type=float, default=0.03, help="the control's conversion rate (default 0.03)")
    parser.add_argument("--lift", type=float, default=0.2, help="the A/B variant's relative lift (default 0.2)")
    parser.add_argument("--batch", type=int, default=20, help="sends between two checks of the rule (default 20)")
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--quick", action="store_true", help="100 runs, 15000 recipients per variant")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.max_recipients = 100, 15_000
    print(f"rule: {RULE}")
    print(f"baseline: Klaviyo's naive rule (500 recipients each, 90% chance to be best), checked after every send")
    print(f"{args.runs} experiments per scenario, {args.rate:.1%} conversion, up to {args.max_recipients} recipients "
          f"per variant, rule checked every {args.batch} sends")
    started = time.perf_counter()
    aa = simulate(args.runs, (args.rate, args.rate), args.max_recipients, args.batch, args.seed)
    ab = simulate(args.runs, (args.rate, args.rate * (1 + args.lift)), args.max_recipients, args.batch, args.seed + 1)
    print(f"{'':34} {'mSPRT (ours)':>14} {'naive (Klaviyo)':>16}")
    print(f"{'A/A false-winner rate':34} {rate_of(aa, 'winner'):>14.1%} {rate_of(aa, 'naive_winner'):>16.1%}"
          f"   target <= {ALPHA:.0%}")
    print(f"{f'A/B +{args.lift:.0%} lift detected':34} {rate_of(ab, 'winner', 1):>14.1%} "
          f"{rate_of(ab, 'naive_winner', 1):>16.1%}")
    print(f"{'A/B wrong winner':34} {rate_of(ab, 'winner', 0):>14.1%} {rate_of(ab, 'naive_winner', 0):>16.1%}")
    print(f"{'A/B median recipients/variant':34} {median_recipients(ab, 'winner', 1):>14.0f} "
          f"{median_recipients(ab, 'naive_winner', 1):>16.0f}")
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
