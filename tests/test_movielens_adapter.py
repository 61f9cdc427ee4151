"""The MovieLens adapter: both layouts, the mapping onto the contract, malformed files, and the real data."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from conftest import MOVIELENS_SMALL

from retention.adapters.movielens import GENRES_100K, detect_movielens, load_movielens
from retention.contract import ContractError

REAL = MOVIELENS_SMALL


def write_latest(folder: Path, ratings: list[str] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ratings.csv").write_text(
        "\n".join(
            ["userId,movieId,rating,timestamp"]
            + (ratings or ["1,10,4.0,964982703", "1,20,3.5,964981247", "2,10,5.0,1445714994"])
        )
        + "\n"
    )
    (folder / "movies.csv").write_text(
        "movieId,title,genres\n"
        '10,"American President, The (1995)",Comedy|Drama|Romance\n'
        "20,Dracula (1995),Horror\n"
        "30,Unrated (2018),(no genres listed)\n"
    )
    return folder


def flags(*genres: str) -> str:
    return "|".join("1" if g in genres else "0" for g in GENRES_100K)


def write_100k(folder: Path, ratings: list[str] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "u.data").write_text(
        "\n".join(ratings or ["196\t242\t3\t881250949", "186\t302\t3\t891717742", "196\t302\t4\t881250000"])
        + "\n"
    )
    (folder / "u.item").write_bytes(
        (
            f"242|Kolya (1996)|24-Jan-1997||http://us.imdb.com/M/title-exact?Kolya%20(1996)|{flags('Comedy')}\n"
            f"302|L.A. Confidential (1997)|01-Jan-1997||http://x|{flags('Crime', 'Film-Noir', 'Thriller')}\n"
            f'303|Café "Noir" (1997)|01-Jan-1997||http://y|{flags()}\n'
        ).encode("latin-1")
    )
    return folder


def test_detect(tmp_path):
    assert detect_movielens(write_latest(tmp_path / "latest")) == "latest"
    assert detect_movielens(write_100k(tmp_path / "100k")) == "100k"
    assert detect_movielens(tmp_path) is None


def test_latest_maps_ratings_to_click_events(tmp_path):
    frames = load_movielens(write_latest(tmp_path))
    events = frames.events
    assert list(events.columns) == [
        "event_id", "user_id", "item_id", "event_type", "ts", "value", "session_id", "rating",
    ]  # fmt: skip
    assert events["event_id"].tolist() == ["ml-1-10-964982703", "ml-1-20-964981247", "ml-2-10-1445714994"]
    assert events["user_id"].tolist() == ["1", "1", "2"]
    assert events["item_id"].tolist() == ["10", "20", "10"]
    assert set(events["event_type"]) == {"click"}
    assert events["value"].tolist() == [0.0, 0.0, 0.0]
    assert events["session_id"].isna().all()
    assert events["rating"].tolist() == [4.0, 3.5, 5.0]
    assert events.loc[0, "ts"] == pd.Timestamp(964982703, unit="s")


def test_latest_items_and_users(tmp_path):
    frames = load_movielens(write_latest(tmp_path))
    assert frames.items.to_dict("records") == [
        {"item_id": "10", "title": "American President, The (1995)", "category": "Comedy", "price": 0.0},
        {"item_id": "20", "title": "Dracula (1995)", "category": "Horror", "price": 0.0},
        {"item_id": "30", "title": "Unrated (2018)", "category": "unknown", "price": 0.0},
    ]
    users = frames.users.set_index("user_id")["signup_ts"]
    assert users["1"] == pd.Timestamp(964981247, unit="s")  # the first rating, not the first line
    assert users["2"] == pd.Timestamp(1445714994, unit="s")


def test_100k_format(tmp_path):
    frames = load_movielens(write_100k(tmp_path))
    assert frames.events["event_id"].tolist() == [
        "ml-196-242-881250949",
        "ml-186-302-891717742",
        "ml-196-302-881250000",
    ]
    assert frames.events["rating"].tolist() == [3.0, 3.0, 4.0]
    assert frames.items.to_dict("records") == [
        {"item_id": "242", "title": "Kolya (1996)", "category": "Comedy", "price": 0.0},
        {"item_id": "302", "title": "L.A. Confidential (1997)", "category": "Crime", "price": 0.0},
        {"item_id": "303", "title": 'Café "Noir" (1997)', "category": "unknown", "price": 0.0},
    ]
    assert frames.users.set_index("user_id")["signup_ts"]["196"] == pd.Timestamp(881250000, unit="s")


@pytest.mark.parametrize(
    ("ratings", "column", "example"),
    [
        (["1,10,4.0,964982703", "1,20,abc,964981247"], "rating", "line 3"),
        (["1,10,4.0,964982703", "2,10,5.0,yesterday"], "timestamp", "line 3"),
        (["1,10,4.0,964982703", ",10,5.0,964982703"], "userId", "line 3"),
        (["1,10,4.0,964982703", "1,10,4.5,964982703"], "event_id", "line 3"),  # same user, movie, second
    ],
)
def test_malformed_latest_ratings(tmp_path, ratings, column, example):
    write_latest(tmp_path, ratings)
    with pytest.raises(ContractError) as info:
        load_movielens(tmp_path)
    message = str(info.value)
    assert "ratings.csv" in message and f"'{column}'" in message and example in message


def test_malformed_100k_files(tmp_path):
    write_100k(tmp_path, ["196\t242\t3\t881250949", "186\t302\tx\t891717742"])
    with pytest.raises(ContractError, match=r"u\.data, column 'rating'.*line 2"):
        load_movielens(tmp_path)
    (tmp_path / "u.data").write_text("196\t242\t3\n")
    with pytest.raises(ContractError, match=r"u\.data: unreadable CSV file"):
        load_movielens(tmp_path)


def test_missing_movielens_column(tmp_path):
    write_latest(tmp_path)
    (tmp_path / "movies.csv").write_text("movieId,name\n1,x\n")
    with pytest.raises(ContractError, match=r"movies\.csv, column 'title': required column missing"):
        load_movielens(tmp_path)


@pytest.mark.skipif(
    not (REAL / "ratings.csv").exists(), reason="the real MovieLens copy is not on this machine"
)
def test_real_movielens_small():
    frames = load_movielens(REAL)
    assert len(frames.events) == 100_836
    assert frames.events["event_id"].is_unique
    assert frames.users["user_id"].nunique() == len(frames.users) == 610
    assert len(frames.items) == 9_742
    assert frames.events["item_id"].nunique() == 9_724
    assert frames.events["rating"].between(0.5, 5.0).all()
    assert frames.events["ts"].min() >= pd.Timestamp("1996-03-29")
