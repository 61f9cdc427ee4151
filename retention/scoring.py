"""Scoring every active user: churn probability, risk segment and top-K unseen items."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol, cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import torch

from retention.config import Churn


class Recommender(Protocol):
    """What scoring needs of a recommender: the catalogue order and a score per (user, item)."""

    item_ids: list[str]

    def score(self, user_ids: list[str]) -> torch.Tensor: ...


class FactorRecommender(Recommender, Protocol):
    """A recommender whose scores are dot products: the fast path of `top_k`.

    ``score(user_ids)`` must equal ``user_factors(user_ids) @ item_factors().T``. `top_k` then does the
    matrix product itself, in cache-sized blocks, instead of asking for a users x items matrix. Biases
    and fallbacks fold in as extra columns (e.g. an item-bias column in `item_factors` against a column
    of ones in `user_factors`; a popularity column against a one for unknown users and zeros in their
    other columns). `top_k` calls `item_factors()` once and `user_factors` once per block of at most
    FAST_BATCH_USERS users, always from the thread that called `top_k` and under ``torch.no_grad()``;
    it detaches both and uses them as float32. Keep `score` too: other callers still use it.
    """

    def user_factors(self, user_ids: list[str]) -> torch.Tensor:
        """[len(user_ids), d] user vectors (for any user id scoring may pass)."""
        ...

    def item_factors(self) -> torch.Tensor:
        """[len(item_ids), d] item vectors, in `item_ids` order."""
        ...


def has_factors(model: object) -> bool:
    """Whether `top_k` can take the dot-product fast path for `model` (see `FactorRecommender`)."""
    return callable(getattr(model, "user_factors", None)) and callable(getattr(model, "item_factors", None))


GROUP = 128  # most items per group: each group's maximum bounds the k-th best score (see `_select`)
ITEM_CHUNK = 2048  # items per matrix product on the fast path (a multiple of GROUP)
FAST_BATCH_USERS = 1024  # users per block on the fast path (at most `batch_users`)
# (row in the batch or in user_ids, item position, score, rank) of the selected items
Picked = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


def _positions(values: pd.Series, ids: Sequence[str]) -> np.ndarray:
    """The position of each value in `ids`, -1 where absent: ``pd.Index(ids).get_indexer(values)``,
    by Arrow's hash lookup where the types allow (several times faster on millions of strings)."""
    index = pd.Index(ids)
    if index.is_unique:
        try:
            column = pa.array(values)
            found = pc.index_in(column, value_set=pa.array(list(ids), type=column.type))
            return found.fill_null(-1).to_numpy().astype(np.int64)
        except (pa.ArrowException, TypeError, ValueError):
            pass
    return index.get_indexer(values)  # (which refuses duplicated ids)


def _seen_by_row(
    pairs: pd.DataFrame, user_ids: Sequence[str], item_ids: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The (user position, item position) pairs of `pairs`, sorted by user, and each user's offset."""
    rows, cols = _positions(pairs["user_id"], user_ids), _positions(pairs["item_id"], item_ids)
    keep = (rows >= 0) & (cols >= 0)
    rows, cols = rows[keep], cols[keep]
    order = np.argsort(rows, kind="stable")
    rows, cols = rows[order].astype(np.int64), cols[order].astype(np.int64)
    offsets = np.zeros(len(user_ids) + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=len(user_ids)), out=offsets[1:])
    return rows, cols, offsets


def _group_size(n_items: int, k: int) -> int:
    """The largest power of two up to GROUP that leaves at least 4k groups (1 for tiny catalogues)."""
    group = GROUP
    while group > 1 and n_items < 4 * k * group:
        group //= 2
    return group


def _mask_and_maxima(tile: torch.Tensor, maxima: torch.Tensor, rows: np.ndarray, cols: np.ndarray) -> None:
    """Set the seen (rows, cols) of a contiguous [users, width] score tile to -inf; each group's maximum."""
    if len(rows):
        tile.view(-1)[torch.from_numpy(rows * tile.shape[1] + cols)] = -torch.inf
    torch.amax(tile.view(tile.shape[0], maxima.shape[1], -1), dim=-1, out=maxima)


def _select(
    buf: torch.Tensor, maxima: torch.Tensor, users: int, k: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The k best items of each of the first `users` rows of `buf`, seen items already -inf.

    `buf` [chunks, batch, width] holds the scores (items beyond the catalogue are -inf), `maxima`
    [batch, chunks, groups] the maximum of each group of width // groups consecutive items. The k-th
    best score of a row is at least T, the k-th largest group maximum, so only the items >= T in groups
    whose maximum is >= T are candidates; they are sorted by score (descending), ties by catalogue
    position. Returns (row, item position, score, rank) of the selected items, -inf scores left out.
    """
    chunks, batch, width = buf.shape
    per_chunk = maxima.shape[2]
    size = width // per_chunk
    grouped = buf.view(chunks, batch, per_chunk, size)
    best = maxima[:users].view(users, chunks * per_chunk)
    if best.shape[1] >= k:  # topk ranks NaN highest: a NaN group maximum makes its row's threshold NaN
        threshold = torch.topk(best, k, dim=1, sorted=False).values.amin(1)
        nan = bool(torch.isnan(threshold).any())
    else:
        threshold, nan = torch.full((users,), -torch.inf), bool(torch.isnan(best).any())
    if nan:  # a NaN score counts as -inf (never returned)
        buf[:, :users].nan_to_num_(nan=-torch.inf, posinf=torch.inf, neginf=-torch.inf)
        maxima[:users] = grouped[:, :users].amax(-1).permute(1, 0, 2)
        return _select(buf, maxima, users, k)
    row, group = torch.nonzero(best >= threshold[:, None], as_tuple=True)
    values = grouped.view(-1, size).index_select(
        0, ((group // per_chunk) * batch + row) * per_chunk + group % per_chunk
    )
    # >= the threshold, and never -inf (the lowest finite float is as low as a threshold can usefully be)
    floor = threshold.clamp(min=torch.finfo(torch.float32).min)
    candidate, offset = torch.nonzero(values >= floor[row, None], as_tuple=True)
    values = values[candidate, offset]
    row, items = row[candidate], group[candidate] * size + offset
    return _rank(row, items, values, users, k)


def _rank(row: torch.Tensor, items: torch.Tensor, values: torch.Tensor, users: int, k: int) -> Picked:
    """The first k candidates of each row by score (descending), ties by item position."""
    order = torch.sort(items, stable=True).indices  # stable sorts by item, then score, then row
    order = order[torch.sort(values[order], descending=True, stable=True).indices]
    order = order[torch.sort(row[order], stable=True).indices]
    row, items, values = row[order], items[order], values[order]
    counts = torch.bincount(row, minlength=users)
    rank = torch.arange(len(row)) - (torch.cumsum(counts, 0) - counts)[row]
    top = rank < k
    return row[top], items[top], values[top], rank[top] + 1


def _factor_block(
    item_factors: torch.Tensor,
    factors: torch.Tensor,
    rows: np.ndarray,
    cols: np.ndarray,
    width: int,
    group: int,
    k: int,
    local: threading.local,
) -> Picked:
    """The k best items of a block of users on the fast path, one cache-resident tile at a time.

    Per tile of `width` items: the product, the seen items masked, each group's maximum, and the
    threshold T so far (the k-th largest group maximum of the tiles done); the tile's items >= T are
    kept as candidates. T only grows, so the candidates include every item >= the final T, which are
    exactly the candidates of `_select`; the same filter and ordering follow.
    """
    users, n_items = len(factors), len(item_factors)
    chunks, per_chunk = -(-n_items // width), width // group
    if getattr(local, "tile", None) is None or local.tile.shape[0] < users:
        local.tile = torch.empty(users, width)
        local.maxima = torch.empty(users, per_chunk)
    tile, maxima = local.tile[:users], local.maxima[:users]
    in_chunk = cols // width
    order = np.argsort(in_chunk, kind="stable")
    rows, cols, bounds = rows[order], cols[order], np.searchsorted(in_chunk[order], range(chunks + 1))
    ranked = chunks * per_chunk >= k  # else every item is a candidate
    running = torch.full((users, k if ranked else 0), -torch.inf)  # the k largest group maxima so far
    threshold = torch.full((users,), -torch.inf)
    lowest = torch.finfo(torch.float32).min
    parts: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
    with torch.no_grad():
        for chunk in range(chunks):
            first, last = chunk * width, min(n_items, (chunk + 1) * width)
            torch.mm(factors, item_factors[first:last].T, out=tile[:, : last - first])
            if last - first < width:
                tile[:, last - first :] = -torch.inf  # beyond the catalogue
            seen = slice(bounds[chunk], bounds[chunk + 1])
            _mask_and_maxima(tile, maxima, rows[seen], cols[seen] - first)
            if torch.isnan(maxima).any():  # a NaN score counts as -inf (never returned)
                tile.nan_to_num_(nan=-torch.inf, posinf=torch.inf, neginf=-torch.inf)
                torch.amax(tile.view(users, per_chunk, group), dim=-1, out=maxima)
            if ranked:
                running = torch.topk(torch.cat([running, maxima], dim=1), k, dim=1, sorted=False).values
                threshold = running.amin(1)
            row, sub = torch.nonzero(maxima >= threshold[:, None], as_tuple=True)
            values = tile.view(-1, group).index_select(0, row * per_chunk + sub)
            candidate, offset = torch.nonzero(values >= threshold.clamp(min=lowest)[row, None], as_tuple=True)
            row = row[candidate]
            parts.append((row, first + sub[candidate] * group + offset, values[candidate, offset]))
        row, items, values = (torch.cat(columns) for columns in zip(*parts, strict=True))
        keep = values >= threshold.clamp(min=lowest)[row]  # >= the final T
        return _rank(row[keep], items[keep], values[keep], users, k)


def _top_k_factors(
    model: FactorRecommender,
    user_ids: Sequence[str],
    seen: tuple[np.ndarray, np.ndarray, np.ndarray],
    k: int,
    batch_users: int,
    group: int,
) -> list[Picked]:
    """The fast path: blocks of users scored by `_factor_block` on torch's threads, one block per thread.

    The model is only called from this thread (`user_factors` of the next block while the workers
    multiply); each worker runs its block's operations single-threaded, so no operation waits on a
    thread that the machine has descheduled, and every tile stays in its core's cache.
    """
    seen_rows, seen_cols, offsets = seen
    item_factors = model.item_factors().detach().to(torch.float32).contiguous()
    n_items = len(model.item_ids)
    if item_factors.ndim != 2 or len(item_factors) != n_items:
        raise ValueError(f"item_factors() is {tuple(item_factors.shape)}, not [{n_items}, d]")
    width = min(ITEM_CHUNK, -(-n_items // group) * group)
    local = threading.local()

    def block(start: int) -> tuple[int, torch.Tensor, np.ndarray, np.ndarray]:
        batch = list(user_ids[start : start + batch_users])
        factors = model.user_factors(batch).detach().to(torch.float32).contiguous()
        if factors.shape != (len(batch), item_factors.shape[1]):
            raise ValueError(f"user_factors() is {tuple(factors.shape)}, not [{len(batch)}, d]")
        lo, hi = offsets[start], offsets[start + len(batch)]
        return start, factors, seen_rows[lo:hi] - start, seen_cols[lo:hi]

    def work(start: int, factors: torch.Tensor, rows: np.ndarray, cols: np.ndarray) -> Picked:
        row, items, values, rank = _factor_block(item_factors, factors, rows, cols, width, group, k, local)
        return row + start, items, values, rank

    starts = range(0, len(user_ids), batch_users)
    threads = torch.get_num_threads()
    if threads <= 1 or len(starts) <= 1:
        return [work(*block(start)) for start in starts]
    picked: list[Picked] = []
    try:
        with ThreadPoolExecutor(threads, initializer=torch.set_num_threads, initargs=(1,)) as pool:
            pending: deque[Future[Picked]] = deque()
            for start in starts:
                pending.append(pool.submit(work, *block(start)))
                if len(pending) > threads:  # at most threads + 1 blocks in flight
                    picked.append(pending.popleft().result())
            picked += [future.result() for future in pending]
    finally:
        torch.set_num_threads(threads)  # as it was, whatever the workers' settings did to the libraries
    return picked


def top_k(
    model: Recommender, user_ids: Sequence[str], seen_pairs: pd.DataFrame, k: int, batch_users: int = 4096
) -> pd.DataFrame:
    """Top-k items per user, excluding the (user_id, item_id) pairs in `seen_pairs`.

    Returns columns user_id, rank (1 = best), item_id, score: by score, ties by catalogue position
    (`model.item_ids` order); items scored -inf, +inf or NaN are not returned (a +inf still takes its
    rank). Users are scored in batches of `batch_users`: the model's users x items score matrix, seen
    items masked, then the selection of `_select`. A model with `user_factors` and `item_factors` (see
    `FactorRecommender`) takes the fast path instead (`_top_k_factors`): `top_k` multiplies the factors
    itself, in blocks of at most FAST_BATCH_USERS users, tiles of ITEM_CHUNK items (masked and reduced
    to group maxima while they are in cache), one block per torch thread, and never calls `score`; the
    ranking is the same.
    """
    columns = ["user_id", "rank", "item_id", "score"]
    if len(user_ids) == 0:
        return pd.DataFrame(columns=columns)
    n_items = len(model.item_ids)
    k = min(k, n_items)
    seen = _seen_by_row(seen_pairs, user_ids, model.item_ids)
    group = _group_size(n_items, k)
    batch_users = max(1, min(batch_users, len(user_ids)))
    with torch.no_grad():
        if has_factors(model):
            batch_users = min(batch_users, FAST_BATCH_USERS)
            picked = _top_k_factors(cast(FactorRecommender, model), user_ids, seen, k, batch_users, group)
        else:
            picked = []
            width = -(-max(n_items, 1) // group) * group
            buf = torch.full((1, batch_users, width), -torch.inf)  # items beyond the catalogue stay -inf
            maxima = torch.empty(batch_users, 1, width // group)
            seen_rows, seen_cols, offsets = seen
            for start in range(0, len(user_ids), batch_users):
                batch = list(user_ids[start : start + batch_users])
                users = len(batch)
                rows = seen_rows[offsets[start] : offsets[start + users]] - start
                cols = seen_cols[offsets[start] : offsets[start + users]]
                buf[0, :users, :n_items] = model.score(batch).to(torch.float32)
                _mask_and_maxima(buf[0, :users], maxima[:users, 0], rows, cols)
                row, items, values, rank = _select(buf, maxima, users, k)
                picked.append((row + start, items, values, rank))
    row, items, values, rank = (torch.cat(parts).numpy() for parts in zip(*picked, strict=True))
    finite = np.isfinite(values)
    return pd.DataFrame(
        {
            "user_id": np.asarray(user_ids, dtype=object)[row[finite]],
            "rank": rank[finite],
            "item_id": np.asarray(model.item_ids, dtype=object)[items[finite]],
            "score": values[finite],
        }
    )


def risk_segment(probability: np.ndarray, churn: Churn, spend: np.ndarray | None = None) -> np.ndarray:
    """high / medium / low by the configured thresholds on the calibrated churn probability, or, with
    `churn.value_weighted` and `spend` given, on `value_weighted_risk`."""
    weighted = churn.value_weighted and spend is not None
    score = value_weighted_risk(probability, spend) if weighted else probability
    return np.where(
        score >= churn.segment_high,
        "high",
        np.where(score >= churn.segment_medium, "medium", "low"),
    )


def value_at_risk(probability: np.ndarray, spend: np.ndarray) -> np.ndarray:
    """Expected value at risk: churn probability x recent spend."""
    return np.asarray(probability, dtype=float) * np.asarray(spend, dtype=float)


def value_weighted_risk(probability: np.ndarray, spend: np.ndarray) -> np.ndarray:
    """Value at risk relative to the mean spend, capped at 1: an average spender keeps their probability,
    a bigger spender moves up, a user who spends nothing has nothing at risk (0)."""
    mean = float(np.mean(spend)) if len(spend) else 0.0
    if mean <= 0:
        return np.asarray(probability, dtype=float)
    return np.minimum(value_at_risk(probability, spend) / mean, 1.0)
