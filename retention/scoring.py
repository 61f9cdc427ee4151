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
    matrix product itself, in tiles, instead of asking for a users x items matrix. Biases
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
ITEM_CHUNK = 2048  # items per tile on the fast path (a multiple of GROUP)
FAST_BATCH_USERS = 1024  # users per block on the fast path (at most `batch_users`)
WAITING = 4  # past the first tiles, T is raised every WAITING tiles (it changes little there)
LOWEST = np.float32(np.finfo(np.float32).min)  # the lowest threshold worth comparing with (never -inf)
# (row in the batch or in user_ids, item position, score, rank) of the selected items
Picked = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _arrow(ids: Sequence[str]) -> pa.Array | None:
    """`ids` as an Arrow string array, or None where they are not all strings."""
    try:
        array = pa.array(ids)
    except (pa.ArrowException, TypeError, ValueError):
        return None
    return array if pa.types.is_string(array.type) or pa.types.is_large_string(array.type) else None


def _positions(values: pd.Series, ids: Sequence[str], arrow: pa.Array | None) -> np.ndarray:
    """The position of each value in `ids`, -1 where absent: ``pd.Index(ids).get_indexer(values)``,
    by Arrow's hash lookup where the types allow (several times faster on millions of strings)."""
    index = pd.Index(ids)
    if arrow is not None and index.is_unique:
        try:
            column = pa.array(values)
            found = pc.index_in(column, value_set=arrow.cast(column.type))
            return found.fill_null(-1).to_numpy().astype(np.int64)
        except (pa.ArrowException, TypeError, ValueError):
            pass
    return index.get_indexer(values)  # (which refuses duplicated ids)


def _seen_by_row(
    pairs: pd.DataFrame, user_ids: Sequence[str], item_ids: Sequence[str], arrows: tuple[pa.Array | None, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The (user position, item position) pairs of `pairs`, sorted, and each user's offset."""
    with ThreadPoolExecutor(2) as pool:  # Arrow's lookups run without the GIL: both columns at once
        rows, cols = pool.map(_positions, (pairs["user_id"], pairs["item_id"]), (user_ids, item_ids), arrows)
    keep = (rows >= 0) & (cols >= 0)
    n_items = max(len(item_ids), 1)
    pair = np.sort(rows[keep] * n_items + cols[keep])  # (the order of a user's seen items does not matter)
    rows, cols = np.divmod(pair, n_items)
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
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
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
    floor = threshold.clamp(min=LOWEST.item())
    candidate, offset = torch.nonzero(values >= floor[row, None], as_tuple=True)
    values = values[candidate, offset]
    row, items = row[candidate], group[candidate] * size + offset
    return _rank(row.numpy(), items.numpy(), values.numpy(), users, k)


def _rank(row: np.ndarray, items: np.ndarray, values: np.ndarray, users: int, k: int) -> Picked:
    """The first k candidates of each row by score (descending), ties by item position."""
    order = _order(row, items, values, users)
    row, items, values = row[order], items[order], values[order]
    counts = np.bincount(row, minlength=users)
    rank = np.arange(len(row)) - (np.cumsum(counts) - counts)[row]
    top = rank < k
    return row[top], items[top], values[top], rank[top] + 1


def _order(row: np.ndarray, items: np.ndarray, values: np.ndarray, users: int) -> np.ndarray:
    """The order of the (row, item) candidates by row, score (descending), item: one sort of a 64-bit
    key (row, the score's bits turned so that integers order like the floats, descending, item)
    where it fits, else ``np.lexsort`` (about 10x slower). No score is NaN; -0 ties with +0."""
    item_bits = max(1, int(items.max(initial=0)).bit_length())
    if (users - 1).bit_length() + 32 + item_bits > 63:
        return np.lexsort((items, -values, row))
    bits = (values + np.float32(0)).view(np.int32).astype(np.int64)  # (+0 for -0)
    ascending = bits ^ ((bits >> 31) & 0x7FFFFFFF)  # negative floats: the magnitude bits reversed
    return np.argsort((row << (32 + item_bits)) | ((0x7FFFFFFF - ascending) << item_bits) | items)


class _Tiles:
    """The catalogue's item factors in tiles of `width` items (the last one may be narrower), each
    transposed for ``torch.mm(user_factors, tile)``, and the per-thread scratch buffers of `_scan`.

    The items go in order of decreasing norm (`order`: the catalogue position of each): the largest
    dot products tend to be in the first tiles, so the threshold of `_scan` rises early and fewer
    groups are copied out; the ranking does not depend on the order (ties go by catalogue position).
    """

    def __init__(self, item_factors: torch.Tensor, width: int, group: int, k: int) -> None:
        self.width, self.group, self.k = width, group, k
        self.per_tile = width // group
        order = torch.argsort(torch.linalg.vector_norm(item_factors, dim=1), descending=True, stable=True)
        self.order = order.numpy()
        self.position = np.empty_like(self.order)  # each catalogue position's place in `order`
        self.position[self.order] = np.arange(len(self.order))
        by_norm = item_factors[order]
        self.factors = [by_norm[first : first + width].T for first in range(0, len(by_norm), width)]
        self.local = threading.local()

    def scratch(self, users: int) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
        """This thread's score tile [users, width], group maxima [users, per_tile] and pool
        [users, k + WAITING * per_tile] (the k largest group maxima so far, then those of the tiles
        that `_scan` has not yet merged into them)."""
        if getattr(self.local, "tile", None) is None or len(self.local.tile) < users:
            self.local.tile = torch.empty(users, self.width)
            self.local.maxima = torch.empty(users, self.per_tile)
            self.local.pool = np.empty((users, self.k + WAITING * self.per_tile), dtype=np.float32)
        return self.local.tile[:users], self.local.maxima[:users], self.local.pool[:users]

    def seen(self, users: int, rows: np.ndarray, cols: np.ndarray) -> list[np.ndarray]:
        """Per tile, the positions in the flattened [users, width] tile of the seen (rows, cols)."""
        at = self.position[cols]
        size = users * self.width
        cell = np.sort(at // self.width * size + rows * self.width + at % self.width)  # by tile
        bounds = np.searchsorted(cell, np.arange(len(self.factors) + 1) * size)
        return [
            cell[lo:hi] - tile * size
            for tile, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:], strict=True))
        ]


def _scan(tiles: _Tiles, factors: torch.Tensor, rows: np.ndarray, cols: np.ndarray, clean: bool) -> Picked:
    """The k best items of a block of users on the fast path, one tile of their scores at a time.

    Per tile: the product, the seen items -inf, each group's maximum, and the threshold T so far (the
    k-th largest group maximum of the tiles done: this one included in the first 2 * WAITING tiles and
    every WAITING tiles after, when the pending maxima are merged); the groups whose maximum is >= T
    are copied out. T only grows, so they include every group whose maximum is >= the final T; of
    those, the items >= the final T are exactly the candidates of `_select`, and the same ordering
    follows. With `clean`, NaN scores are set to -inf first (a NaN group maximum stays among the k
    largest: the block is then scanned again, clean).

    Once every row's T is > 0, the maxima are taken over the scores' bits read as int32 (a faster
    reduction): where a group holds a score >= +0 that is its float maximum exactly; where it does not
    (every bit pattern negative) it is a negative float or -inf, a lower bound of the group's maximum,
    and below T, so the thresholds and the groups copied out are those of the float maxima.
    """
    users, width, group, per_tile, k = len(factors), tiles.width, tiles.group, tiles.per_tile, tiles.k
    tile, maxima, pool = tiles.scratch(users)
    groups, maxima_np = tile.numpy().reshape(users * per_tile, group), maxima.numpy()
    pool[:, :k] = -np.inf
    floor = np.full(users, LOWEST)
    seen = tiles.seen(users, rows, cols)
    copied: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = []
    waiting, last = 0, len(tiles.factors) - 1
    for index, items in enumerate(tiles.factors):
        n, used = items.shape[1], -(-items.shape[1] // group)  # (used < per_tile in a last, narrow tile)
        torch.mm(factors, items, out=tile[:, :n])
        scores = tile[:, : used * group]
        if n < used * group or used < per_tile:
            scores[:, n:] = -torch.inf  # beyond the catalogue
            maxima[:, used:] = -torch.inf  # groups wholly beyond it
        if clean:
            scores.nan_to_num_(nan=-torch.inf, posinf=torch.inf, neginf=-torch.inf)
        groups.reshape(-1)[seen[index]] = -np.inf
        if floor.min() > 0:
            bits = scores.view(torch.int32).view(users, used, group)
            torch.amax(bits, dim=-1, out=maxima.view(torch.int32)[:, :used])
        else:
            torch.amax(scores.view(users, used, group), dim=-1, out=maxima[:, :used])
        pool[:, k + waiting * per_tile : k + (waiting + 1) * per_tile] = maxima_np
        waiting += 1
        if index < 2 * WAITING or waiting == WAITING or index == last:
            part = pool[:, : k + waiting * per_tile]
            part.partition(waiting * per_tile, axis=1)  # the k largest to the right
            np.maximum(part[:, waiting * per_tile], LOWEST, out=floor)  # T, never -inf
            pool[:, :k] = part[:, waiting * per_tile :]
            waiting = 0
        hits = np.flatnonzero(maxima_np >= floor[:, None])
        copied.append((index, hits, maxima_np.reshape(-1)[hits], groups[hits]))
    if not clean and np.isnan(pool[:, :k]).any():  # a NaN score counts as -inf (never returned)
        return _scan(tiles, factors, rows, cols, clean=True)
    row, at, values = _candidates(copied, floor, width, per_tile)
    return _rank(row, tiles.order[at], values, users, k)


def _candidates(
    copied: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]], floor: np.ndarray, width: int, per_tile: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, item position, score) of the items >= `floor` of their row in the copied groups whose
    maximum is >= it; `copied` holds (tile, group index in the tile, its maximum, its scores)."""
    found = []
    for index, hits, best, values in copied:
        keep = np.flatnonzero(best >= floor[hits // per_tile])
        hits, values = hits[keep], values[keep]
        row = hits // per_tile
        picked = np.flatnonzero(values >= floor[row, None])
        which, offset = np.divmod(picked, values.shape[1])
        items = index * width + hits[which] % per_tile * values.shape[1] + offset
        found.append((row[which], items, values.reshape(-1)[picked]))
    row, items, values = (np.concatenate(column) for column in zip(*found, strict=True))
    return row, items, values


def _concat(picked: list[Picked]) -> Picked:
    row, items, values, rank = (np.concatenate(parts) for parts in zip(*picked, strict=True))
    return row, items, values, rank


def _top_k_factors(
    model: FactorRecommender,
    user_ids: Sequence[str],
    seen: tuple[np.ndarray, np.ndarray, np.ndarray],
    k: int,
    batch_users: int,
    group: int,
) -> list[Picked]:
    """The fast path: blocks of users scored by `_scan` on torch's threads, one block per thread.

    The model is only called from this thread (`user_factors` of the next blocks while the workers
    multiply); each worker runs its block's operations single-threaded, so no operation waits on a
    thread that the machine has descheduled.
    """
    seen_rows, seen_cols, offsets = seen
    item_factors = model.item_factors().detach().to(torch.float32).contiguous()
    n_items = len(model.item_ids)
    if item_factors.ndim != 2 or len(item_factors) != n_items:
        raise ValueError(f"item_factors() is {tuple(item_factors.shape)}, not [{n_items}, d]")
    tiles = _Tiles(item_factors, min(ITEM_CHUNK, -(-n_items // group) * group), group, k)

    def block(start: int) -> tuple[int, torch.Tensor, np.ndarray, np.ndarray]:
        batch = list(user_ids[start : start + batch_users])
        factors = model.user_factors(batch).detach().to(torch.float32).contiguous()
        if factors.shape != (len(batch), item_factors.shape[1]):
            raise ValueError(f"user_factors() is {tuple(factors.shape)}, not [{len(batch)}, d]")
        lo, hi = offsets[start], offsets[start + len(batch)]
        return start, factors, seen_rows[lo:hi] - start, seen_cols[lo:hi]

    def work(start: int, factors: torch.Tensor, rows: np.ndarray, cols: np.ndarray) -> Picked:
        row, items, values, rank = _scan(tiles, factors, rows, cols, clean=False)
        return row + start, items, values, rank

    starts = range(0, len(user_ids), batch_users)
    threads = torch.get_num_threads()
    if threads <= 1 or len(starts) <= 1:
        return [work(*block(start)) for start in starts]
    picked: list[Picked] = []
    try:
        # this thread's own operations (the model's `user_factors`) single-threaded too: an OpenMP team
        # woken for them spins on the cores that the workers need
        torch.set_num_threads(1)
        with ThreadPoolExecutor(threads, initializer=torch.set_num_threads, initargs=(1,)) as pool:
            pending: deque[Future[Picked]] = deque()
            for start in starts:
                pending.append(pool.submit(work, *block(start)))
                if len(pending) >= 2 * threads:  # a block queued for each worker while it waits
                    picked.append(pending.popleft().result())
            picked += [future.result() for future in pending]
    finally:
        torch.set_num_threads(threads)  # as it was, whatever the workers' settings did to the libraries
    return picked


def _column(ids: Sequence[str], arrow: pa.Array | None, positions: np.ndarray) -> object:
    """``ids[positions]`` as a frame column: by Arrow's take where the ids are strings (no Python objects)."""
    if arrow is not None:
        return arrow.take(pa.array(positions)).to_pandas()
    return np.asarray(ids, dtype=object)[positions]


def top_k(
    model: Recommender, user_ids: Sequence[str], seen_pairs: pd.DataFrame, k: int, batch_users: int = 4096
) -> pd.DataFrame:
    """Top-k items per user, excluding the (user_id, item_id) pairs in `seen_pairs`.

    Returns columns user_id, rank (1 = best), item_id, score: by score, ties by catalogue position
    (`model.item_ids` order); items scored -inf, +inf or NaN are not returned (a +inf still takes its
    rank). Users are scored in batches of `batch_users`: the model's users x items score matrix, seen
    items masked, then the selection of `_select`. A model with `user_factors` and `item_factors` (see
    `FactorRecommender`) takes the fast path instead (`_top_k_factors`): `top_k` multiplies the factors
    itself, in blocks of at most FAST_BATCH_USERS users (one block per torch thread) and tiles of
    ITEM_CHUNK items (masked, reduced to group maxima and filtered by a running threshold while they
    are in cache; see `_scan`), and never calls `score`; the ranking is the same.
    """
    columns = ["user_id", "rank", "item_id", "score"]
    if len(user_ids) == 0:
        return pd.DataFrame(columns=columns)
    n_items = len(model.item_ids)
    k = min(k, n_items)
    arrows = (_arrow(user_ids), _arrow(model.item_ids))
    seen = _seen_by_row(seen_pairs, user_ids, model.item_ids, arrows)
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
    row, items, values, rank = _concat(picked)
    finite = np.isfinite(values)
    return pd.DataFrame(
        {
            "user_id": _column(user_ids, arrows[0], row[finite]),
            "rank": rank[finite],
            "item_id": _column(model.item_ids, arrows[1], items[finite]),
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
