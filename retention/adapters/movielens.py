"""MovieLens → data contract, in memory.

Two layouts are understood: "latest" (``ratings.csv`` userId,movieId,rating,timestamp + ``movies.csv``
movieId,title,genres, e.g. ml-latest-small) and "100k" (``u.data``, tab-separated user item rating
timestamp without header, + ``u.item``, pipe-separated latin-1 with 19 genre flags).

Mapping: each rating is one ``click`` event. A rating is an explicit interaction with the item, the
closest of the contract's event types; the rating itself is kept in the optional ``rating`` column so
explicit-rating models can use it. value = 0, session_id = null, event_id = "ml-{user}-{item}-{epoch}".
Items: category = the first genre ("unknown" when none), price = 0. Users: signup_ts = first rating.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from retention.contract import ContractFrames, Field, check_unique, conform, stage_csv

GENRES_100K = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip
# Ratings columns (user, item, rating, epoch seconds) as each layout names them.
LATEST_RATING_COLUMNS = ("userId", "movieId", "rating", "timestamp")
RATING_100K_COLUMNS = ("user_id", "item_id", "rating", "timestamp")
LATEST_MOVIE_FIELDS = (
    Field("movieId", "id"),
    Field("title", "text"),
    Field("genres", "text", required=False),
)
ITEM_100K_COLUMNS = ("item_id", "title", "release_date", "video_release_date", "imdb_url") + tuple(
    f"genre_{i}" for i in range(len(GENRES_100K))
)
ITEM_100K_FIELDS = (
    Field("item_id", "id"),
    Field("title", "text", required=False),
    *(Field(f"genre_{i}", "int", required=False) for i in range(len(GENRES_100K))),
)


def detect_movielens(data_dir: Path) -> str | None:
    """ "latest" or "100k" when `data_dir` holds that MovieLens layout, else None."""
    d = Path(data_dir)
    if (d / "ratings.csv").is_file() and (d / "movies.csv").is_file():
        return "latest"
    if (d / "u.data").is_file() and (d / "u.item").is_file():
        return "100k"
    return None


def movielens_files(data_dir: Path) -> tuple[Path, Path]:
    """The ratings file (the events' source_file) and the movies file of a MovieLens folder."""
    names = ("ratings.csv", "movies.csv") if _flavour(data_dir) == "latest" else ("u.data", "u.item")
    return Path(data_dir) / names[0], Path(data_dir) / names[1]


def load_movielens(data_dir: Path) -> ContractFrames:
    """Read a MovieLens folder into contract frames; malformed files raise ContractError."""
    data_dir = Path(data_dir)
    flavour = _flavour(data_dir)
    with duckdb.connect() as con:
        if flavour == "latest":
            _stage_latest(con, data_dir)
            user, item, rating, epoch = LATEST_RATING_COLUMNS
        else:
            _stage_100k(con, data_dir)
            user, item, rating, epoch = RATING_100K_COLUMNS
        con.execute(
            f"""CREATE TEMP TABLE ml_events AS SELECT
                'ml-' || {user} || '-' || {item} || '-' || CAST({epoch} AS VARCHAR) AS event_id,
                {user} AS user_id, {item} AS item_id, 'click' AS event_type,
                make_timestamp({epoch} * 1000000) AS ts, 0.0 AS value, CAST(NULL AS VARCHAR) AS session_id,
                {rating} AS rating, _file, _line
            FROM ratings ORDER BY _line"""
        )
        check_unique(con, "ml_events", "event_id", "the ratings file (one rating per user, movie and second)")
        check_unique(con, "items", "item_id", "the movies file")
        events = con.execute(
            "SELECT event_id, user_id, item_id, event_type, ts, value, session_id, rating FROM ml_events"
        ).df()
        items = con.execute("SELECT item_id, title, category, price FROM items ORDER BY _line").df()
        users = con.execute(
            "SELECT user_id, min(ts) AS signup_ts FROM ml_events GROUP BY user_id ORDER BY min(_line)"
        ).df()
    return ContractFrames(events=events, items=items, users=users)


def _flavour(data_dir: Path) -> str:
    flavour = detect_movielens(data_dir)
    if flavour is None:
        raise FileNotFoundError(f"{data_dir} holds neither ratings.csv+movies.csv nor u.data+u.item")
    return flavour


def _rating_fields(columns: tuple[str, ...]) -> tuple[Field, ...]:
    user, item, rating, epoch = columns
    return Field(user, "id"), Field(item, "id"), Field(rating, "float"), Field(epoch, "int")


def _stage_latest(con: duckdb.DuckDBPyConnection, data_dir: Path) -> None:
    columns = stage_csv(con, "ratings_staged", [data_dir / "ratings.csv"])
    conform(con, "ratings_staged", "ratings", _rating_fields(LATEST_RATING_COLUMNS), columns)
    columns = stage_csv(con, "movies_staged", [data_dir / "movies.csv"])
    conform(con, "movies_staged", "movies", LATEST_MOVIE_FIELDS, columns)
    con.execute(
        """CREATE TEMP TABLE items AS SELECT movieId AS item_id, title,
            CASE WHEN genres IS NULL OR genres IN ('', '(no genres listed)') THEN 'unknown'
                 ELSE split_part(genres, '|', 1) END AS category,
            0.0 AS price, _file, _line
        FROM movies"""
    )


def _stage_100k(con: duckdb.DuckDBPyConnection, data_dir: Path) -> None:
    columns = stage_csv(
        con, "ratings_staged", [data_dir / "u.data"], delim="\t", names=RATING_100K_COLUMNS, quoted=False
    )
    conform(con, "ratings_staged", "ratings", _rating_fields(RATING_100K_COLUMNS), columns)
    columns = stage_csv(
        con,
        "movies_staged",
        [data_dir / "u.item"],
        delim="|",
        names=ITEM_100K_COLUMNS,
        encoding="latin-1",
        quoted=False,
    )
    conform(con, "movies_staged", "movies", ITEM_100K_FIELDS, columns)
    first_genre = " ".join(
        f"WHEN genre_{i} = 1 THEN '{name.replace(chr(39), chr(39) * 2)}'"
        for i, name in enumerate(GENRES_100K)
    )
    con.execute(
        f"""CREATE TEMP TABLE items AS SELECT item_id, title,
            CASE {first_genre} ELSE 'unknown' END AS category, 0.0 AS price, _file, _line
        FROM movies"""
    )
