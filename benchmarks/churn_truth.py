"""The simulator's true churn state at any past day: the daily hazard, whether the user is alive, and the
probability of no event in the coming horizon given the whole latent state.

`retention.simulator` records only the final hazard. This module replays the simulator's day loop with
its own functions and the same seed (every random draw in the same order), capturing the state on the
requested days; the replay is checked against the recorded final hazard, so it cannot silently drift
from the simulator.
"""

from __future__ import annotations

import copy
import datetime as dt

import numpy as np
import pandas as pd

from retention import simulator as sim


def true_churn_state(
    spec: sim.SimulationSpec,
    days: list[dt.date],
    ground_truth: pd.DataFrame,
    horizon_days: int = 30,
    replicas: int = 32,
) -> pd.DataFrame:
    """One row per (user, day): user_id, day, hazard (of churning that day, if alive), alive, and
    p_silent: the probability of no event in [day, day + horizon) given the whole latent state, by
    Monte Carlo over `replicas` continuations of the simulation (the Bayes-optimal churn score)."""
    wanted = {(d - spec.start_date).days: d for d in days}
    rng = np.random.default_rng(spec.seed)
    catalog = sim._build_catalog(rng, spec.items)
    users = sim._build_users(rng, spec.users, spec.days)
    state = sim._initial_state(rng, users)
    start_us = sim._epoch_us(spec.start_date)
    user_ids = ground_truth["user_id"].astype(str).to_numpy()
    captured, n_sessions = [], 0
    for day in range(spec.days):
        taste = sim._tastes(users, state)
        hazard = sim._hazard(users, state, taste, catalog, day)
        if day in wanted:
            alive = state.alive & (users.signup_day < day)
            silent = _silence_probability(spec, users, state, catalog, day, horizon_days, replicas)
            captured.append(
                pd.DataFrame(
                    {
                        "user_id": user_ids,
                        "day": wanted[day],
                        "hazard": hazard,
                        "alive": alive,
                        "p_silent": silent,
                    }
                )
            )
        at_risk = state.alive & (users.signup_day < day)
        churn = at_risk & (rng.random(spec.users) < hazard)
        state.last_hazard = np.where(at_risk, hazard, state.last_hazard)
        state.alive &= ~churn
        acting = state.alive & (users.signup_day <= day)
        sessions = np.where(acting, rng.poisson(users.rate * np.exp(state.log_engagement)), 0)
        sessions[users.signup_day == day] += 1
        day_start_us = start_us + day * sim.SECONDS_PER_DAY * sim.MICROS
        sim._simulate_day(rng, catalog, users, taste, sessions, day_start_us, n_sessions)
        n_sessions += int(sessions.sum())
        sim._advance(rng, users, state, sessions, day)
    final = sim._hazard(users, state, sim._tastes(users, state), catalog, spec.days)
    replayed = np.where(state.alive, final, state.last_hazard)
    if not np.allclose(replayed, ground_truth["true_hazard"].to_numpy(), rtol=1e-12, atol=0):
        raise RuntimeError(
            "the replay of the simulator diverged from its ground truth: update churn_truth.py"
        )
    return pd.concat(captured, ignore_index=True)


def _silence_probability(
    spec: sim.SimulationSpec,
    users: sim._Users,
    state: sim._State,
    catalog: sim._Catalog,
    day: int,
    horizon_days: int,
    replicas: int,
) -> np.ndarray:
    """Share of simulated continuations from `state` at the start of `day` in which the user has no
    session in the next `horizon_days` days (churn and activity only: no events are generated)."""
    silent = np.zeros(len(users.rate))
    for replica in range(replicas):
        rng = np.random.default_rng([spec.seed, day, replica])
        future = copy.deepcopy(state)
        active = np.zeros(len(users.rate), dtype=bool)
        for t in range(day, day + horizon_days):
            hazard = sim._hazard(users, future, sim._tastes(users, future), catalog, t)
            at_risk = future.alive & (users.signup_day < t)
            future.alive &= ~(at_risk & (rng.random(len(hazard)) < hazard))
            acting = future.alive & (users.signup_day <= t)
            sessions = np.where(acting, rng.poisson(users.rate * np.exp(future.log_engagement)), 0)
            sessions[users.signup_day == t] += 1
            active |= sessions > 0
            sim._advance(rng, users, future, sessions, t)
        silent += ~active
    return silent / replicas


def true_churn_probability(state: pd.DataFrame, horizon_days: int) -> pd.Series:
    """P(churn within the horizon) from the true state: 1 if already churned, else 1 - (1 - h)^H
    (the simulator's own `true_churn_prob_30d` for H = 30, at that day's hazard)."""
    return pd.Series(
        np.where(state["alive"], 1 - (1 - state["hazard"]) ** horizon_days, 1.0), index=state.index
    )
