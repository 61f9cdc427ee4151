"""A synthetic transaction log in the CDNOW format, drawn from the BG/NBD process with the parameters
Fader, Hardie & Lee (2005) estimated on CDNOW (per week: r = 0.243, α = 4.414, a = 0.793, b = 2.426):
23,570 customers with a first purchase in the first 12 weeks of 1997, observed to 1998-06-30. It checks
the transaction-log path of `retention bench churn --data FILE` (no CDNOW copy exists here); BG/NBD is
the true model of this data, so it is the one to beat.

    python -m benchmarks.transactions_sim var/bench-data/cdnow-like.txt
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import numpy as np

R, ALPHA, A, B = 0.243, 4.414, 0.793, 2.426
START, END = dt.date(1997, 1, 1), dt.date(1998, 6, 30)


def customer_days(rng: np.random.Generator, horizon_days: int) -> list[int]:
    """Purchase days of one customer: a first purchase, then Poisson purchases until a dropout, which
    may follow each repeat purchase."""
    rate, dropout = rng.gamma(R, 1 / ALPHA) / 7, rng.beta(A, B)  # rate per day
    t = rng.uniform(0, 84)
    days = [int(t)]
    while True:
        t += rng.exponential(1 / rate)
        if t >= horizon_days:
            return days
        days.append(int(t))
        if rng.random() < dropout:
            return days


def write_log(out: Path, customers: int = 23_570, seed: int = 1997) -> int:
    """Write the log (customer id, YYYYMMDD, quantity, amount; one purchase a line); returns its lines."""
    rng = np.random.default_rng(seed)
    horizon = (END - START).days
    lines = []
    for customer in range(1, customers + 1):
        for day in customer_days(rng, horizon):
            date = START + dt.timedelta(days=day)
            lines.append(f"{customer:05d} {date:%Y%m%d} {rng.integers(1, 4)} {rng.lognormal(3.3, 0.8):.2f}")
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text("\n".join(lines) + "\n")
    return len(lines)


if __name__ == "__main__":
    print(write_log(Path(sys.argv[1])), "purchases written to", sys.argv[1])
