"""Transaction logs → data contract, in memory; e.g. the classic CDNOW file.

Format: one purchase a line, whitespace-separated columns customer id, date (YYYYMMDD), quantity,
amount (``00001 19970101  1  11.77``); an optional first line of column names (as in the copy the
`lifetimes` package ships) is skipped.

Mapping: each line is one ``purchase`` event of the customer at midnight UTC of its date, value = the
amount, event_id = "tx-<line number>". The log names no products: every event has the one item
``all`` (category "all", price 0). The quantity is checked (a non-negative integer) but the contract has
no column for it. Users: signup_ts = the first purchase.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from retention.contract import Check, ContractError, ContractFrames, Field, Problem, conform, stage_frame

COLUMNS = ("customer_id", "date", "quantity", "amount")
FIELDS = (
    Field("customer_id", "id"),
    Field("date", "text"),
    Field("quantity", "int", non_negative=True),
    Field("amount", "float", non_negative=True),
)
CHECKS = (
    Check(
        "date",
        "date is not a date YYYYMMDD",
        "NOT regexp_full_match(date, '[0-9]{8}') OR try_strptime(date, '%Y%m%d') IS NULL",
    ),
)
ITEM_ID = "all"


def is_header(fields: list[str]) -> bool:
    """A line of column names: four fields, none of them a number."""
    return len(fields) == len(COLUMNS) and not any(f.replace(".", "", 1).isdigit() for f in fields)


def read_lines(path: Path) -> pd.DataFrame:
    """The file's fields as text, one row a line (blank lines and a header skipped); wrong field counts
    raise."""
    rows, bad = [], []
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            fields = line.split()
            if not fields or (not rows and not bad and is_header(fields)):
                continue
            if len(fields) != len(COLUMNS):
                bad.append(f"line {number}: {line.strip()[:60]!r}")
            rows.append((number, *fields[: len(COLUMNS)]))
    if bad:
        problem = f"expected {len(COLUMNS)} whitespace-separated fields ({', '.join(COLUMNS)})"
        raise ContractError([Problem(str(path), None, problem, len(bad), tuple(bad[:5]))])
    return pd.DataFrame(rows, columns=["line", *COLUMNS]).astype({"line": "int64"})


def load_transactions(path: Path) -> ContractFrames:
    """Read a transaction log into contract frames; malformed lines raise ContractError."""
    path = Path(path)
    lines = read_lines(path)
    with duckdb.connect() as con:
        columns = stage_frame(con, "tx_staged", lines.drop(columns="line"), str(path))
        conform(con, "tx_staged", "tx", FIELDS, columns, CHECKS)
        con.register("line_numbers", lines[["line"]].assign(_line=range(1, len(lines) + 1)))
        events = con.execute(
            f"""SELECT 'tx-' || n.line AS event_id, t.customer_id AS user_id, '{ITEM_ID}' AS item_id,
                       'purchase' AS event_type, CAST(strptime(t.date, '%Y%m%d') AS TIMESTAMP) AS ts,
                       t.amount AS value, CAST(NULL AS VARCHAR) AS session_id
                FROM tx AS t JOIN line_numbers AS n USING (_line) ORDER BY n.line"""
        ).df()
    users = events.groupby("user_id", sort=False)["ts"].min().rename("signup_ts").reset_index()
    items = pd.DataFrame(
        {"item_id": [ITEM_ID], "title": ["any product"], "category": ["all"], "price": [0.0]}
    )
    return ContractFrames(events=events, items=items, users=users)


def write_contract_folder(frames: ContractFrames, out: Path) -> Path:
    """Write contract frames as a data folder (items, users, events/date=YYYY-MM-DD/events.parquet)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    frames.items.to_parquet(out / "items.parquet", index=False)
    frames.users.to_parquet(out / "users.parquet", index=False)
    for day, events in frames.events.groupby(frames.events["ts"].dt.date):
        folder = out / "events" / f"date={day.isoformat()}"
        folder.mkdir(parents=True, exist_ok=True)
        events.to_parquet(folder / "events.parquet", index=False)
    return out


def detect_transactions(path: Path) -> bool:
    """True when `path` is a file whose first data line (after an optional header) has the four fields of
    a transaction log."""
    path = Path(path)
    if not path.is_file():
        return False
    with open(path, encoding="utf-8", errors="replace") as lines:
        first = next((f for f in (line.split() for line in lines) if f and not is_header(f)), [])
    return len(first) == len(COLUMNS) and first[1].isdigit() and len(first[1]) == 8
