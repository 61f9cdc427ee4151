"""Stable pseudo-random draws keyed by id: the same id always gets the same number, on any machine."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np


def stable_uniform(ids: Iterable[str], salt: str) -> np.ndarray:
    """A number in [0, 1) per id, from a hash of (salt, id): reproducible, independent of order."""
    values = [
        int.from_bytes(hashlib.blake2b(f"{salt}:{i}".encode(), digest_size=8).digest(), "big") for i in ids
    ]
    return np.asarray(values, dtype=np.float64) / 2.0**64
