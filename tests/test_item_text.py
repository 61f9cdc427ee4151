"""The item text tower: the packaged sentence encoder runs offline and deterministically, SASRec with the
fused title embeddings recommends brand-new items by their titles (its MLflow round trip is in
test_recommenders.py), and the cold-start split keeps its held-out items out of training."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from retention.simulator import CATEGORIES
from training import item_text
from training.cold_start import OnlyItems, hold_out_items
from training.item_text import ItemTitles, embed_titles
from training.recsys_data import Interactions
from training.sasrec import SASRecConfig, SASRecRecommender

TITLES = ["Toy Story (1995)", "Toy Story 2 (1999)", "Heat (1995)", ""]
GROUPS = CATEGORIES[:4]  # electronics, books, kitchen, garden: title words differ by group
FAST_TEXT = SASRecConfig(
    hidden=32, max_len=8, dropout=0.1, learning_rate=0.01, batch_size=32, max_epochs=10, item_text=True,
    id_dropout=0.5,
)  # fmt: skip


def catalogue_titles(per_group: int, seed: int, prefix: str) -> dict[str, str]:
    """`per_group` items per group, titled adjective + feature + noun from the group's vocabulary."""
    rng = np.random.default_rng(seed)
    titles = {}
    for g, group in enumerate(GROUPS):
        for n in range(per_group):
            words = [
                vocab[rng.integers(len(vocab))] for vocab in (group.adjectives, group.features, group.nouns)
            ]
            titles[f"{prefix}{g}-{n:02d}"] = " ".join(words)
    return titles


def group_events(item_ids: list[str], users: int = 120, per_user: int = 6, seed: int = 0) -> pd.DataFrame:
    """User u clicks items of group u % 4 only, in a random order."""
    rng = np.random.default_rng(seed)
    by_group = [[i for i in item_ids if i.split("-")[0][-1] == str(g)] for g in range(len(GROUPS))]
    rows = [
        (f"u{u:03d}", item)
        for u in range(users)
        for item in rng.permutation(by_group[u % len(GROUPS)])[:per_user]
    ]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id"])
    return frame.assign(ts=pd.to_datetime(np.arange(len(frame)), unit="h"))


def test_title_embeddings_load_offline_and_are_deterministic(tmp_path):
    vectors = embed_titles(TITLES)
    assert vectors.shape == (4, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors[:3], axis=1), 1, atol=1e-5) and not vectors[3].any()
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2  # the sequel is the nearer title
    # A fresh process with no hub cache and no network route computes the same vectors from the wheel.
    offline = os.environ | {"HF_HOME": str(tmp_path / "hf"), "HTTPS_PROXY": "http://127.0.0.1:9"}
    script = (
        "import json; from training.item_text import embed_titles; "
        f"print(json.dumps(embed_titles({TITLES!r}).tolist()))"
    )
    fresh = subprocess.run(
        [sys.executable, "-c", script], env=offline, capture_output=True, text=True, check=True
    )
    assert np.array_equal(np.asarray(json.loads(fresh.stdout), dtype=np.float32), vectors)
    assert not (tmp_path / "hf").exists()


def test_title_embeddings_are_cached_per_catalogue(tmp_path):
    first = embed_titles(TITLES[:2], tmp_path)
    assert len(list(tmp_path.glob("*.npy"))) == 1
    item_text._memory.clear()
    assert np.array_equal(embed_titles(TITLES[:2], tmp_path), first)  # read back from the file
    embed_titles(TITLES[1:3], tmp_path)
    assert len(list(tmp_path.glob("*.npy"))) == 2


def test_a_brand_new_item_is_recommended_by_its_title():
    titles = catalogue_titles(10, seed=0, prefix="i")
    catalogue = list(titles)
    model = SASRecRecommender(FAST_TEXT, ItemTitles(titles))
    model.fit(Interactions(group_events(catalogue), catalogue))
    new_items = model.add_items(catalogue_titles(1, seed=1, prefix="new"))  # one per group, after the fit
    assert model.item_ids == catalogue + new_items
    users = [f"u{u:03d}" for u in range(40)]
    scores = OnlyItems(model, new_items).score(users)
    best = scores.argmax(dim=1).numpy()
    own_group = np.arange(len(users)) % len(GROUPS)
    assert (best == own_group).mean() > 0.8  # chance: 0.25
    with pytest.raises(ValueError, match="item_text"):
        SASRecRecommender(SASRecConfig()).add_items({"x": "a title"})


def test_cold_start_split_keeps_held_out_items_out_of_training():
    titles = catalogue_titles(10, seed=0, prefix="i")
    catalogue = list(titles)
    events = group_events(catalogue)
    split = hold_out_items(events, catalogue, share=0.1, seed=0)
    assert len(split.held_out) == 4 and set(split.held_out) <= set(catalogue)
    assert not split.train["item_id"].isin(split.held_out).any()
    assert len(split.train) + len(split.test.truth) == len(events)  # every held-out interaction is truth
    assert set(split.test.truth["item_id"]) <= set(split.held_out)
    assert hold_out_items(events, catalogue, share=0.1, seed=0).held_out == split.held_out
