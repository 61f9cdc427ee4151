"""Transaction logs in the CDNOW format (customer id, YYYYMMDD date, quantity, amount; an optional header)
into the data contract, on small generated files."""

import datetime as dt
from pathlib import Path

import duckdb
import numpy as np
import pytest

from retention.adapters.transactions import detect_transactions, load_transactions, write_contract_folder
from retention.contract import ContractError
from retention.ingest import ingest


def write_log(path: Path, customers: int = 40, seed: int = 0) -> Path:
    """A CDNOW-like log: zero-padded ids, irregular spacing, several purchases a customer."""
    rng = np.random.default_rng(seed)
    lines = []
    for customer in range(1, customers + 1):
        day = dt.date(1997, 1, 1) + dt.timedelta(days=int(rng.integers(0, 60)))
        for _ in range(int(rng.integers(1, 5))):
            amount = rng.gamma(2, 15)
            lines.append(f"{customer:05d} {day:%Y%m%d}  {rng.integers(1, 4)}  {amount:.2f}")
            day += dt.timedelta(days=int(rng.integers(0, 90)))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_log_becomes_purchase_events_of_one_item(tmp_path):
    path = write_log(tmp_path / "cdnow.txt")
    frames = load_transactions(path)
    lines = path.read_text().splitlines()
    assert len(frames.events) == len(lines)
    assert set(frames.events["event_type"]) == {"purchase"}
    first = lines[0].split()
    row = frames.events.iloc[0]
    assert (row["user_id"], row["ts"].date(), row["value"]) == (
        first[0],
        dt.datetime.strptime(first[1], "%Y%m%d").date(),
        float(first[3]),
    )
    assert frames.events["event_id"].is_unique
    assert list(frames.items["item_id"]) == ["all"]
    signup = frames.users.set_index("user_id")["signup_ts"]
    assert (signup == frames.events.groupby("user_id")["ts"].min().reindex(signup.index)).all()
    assert detect_transactions(path) and not detect_transactions(tmp_path)


def test_the_converted_folder_loads_through_the_contract(tmp_path):
    frames = load_transactions(write_log(tmp_path / "cdnow.txt"))
    folder = write_contract_folder(frames, tmp_path / "contract")
    report = ingest(tmp_path / "warehouse.duckdb", folder)
    assert report.events_loaded == len(frames.events)
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        total = con.execute("select sum(value) from raw.events").fetchone()[0]
    assert total == pytest.approx(frames.events["value"].sum())


def test_a_header_line_and_crlf_endings_are_accepted(tmp_path):
    plain = write_log(tmp_path / "plain.txt")
    with_header = tmp_path / "with_header.txt"
    body = plain.read_text().replace("\n", "\r\n")
    with_header.write_bytes((" customer_id  date number_of_cds  dollar_value\r\n" + body).encode())
    assert detect_transactions(with_header)
    a, b = load_transactions(plain).events, load_transactions(with_header).events
    assert (a.drop(columns="event_id").values == b.drop(columns="event_id").values).all()


def test_malformed_lines_are_reported_with_their_line_numbers(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("00001 19970101 1 11.77\n00002 19970102 1\n00003 19970103 2 5.00 extra\n")
    with pytest.raises(ContractError) as error:
        load_transactions(path)
    assert "line 2" in str(error.value) and "line 3" in str(error.value)


def test_bad_dates_and_negative_amounts_break_the_contract(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text(
        "00001 19970101 1 11.77\n00002 1997011 1 3.00\n00003 19970230 1 4.00\n00004 19970105 1 -2\n"
    )
    with pytest.raises(ContractError) as error:
        load_transactions(path)
    text = str(error.value)
    assert "date is not a date YYYYMMDD (2 rows)" in text
    assert "amount is negative (1 row)" in text


def test_the_shipped_cdnow_log_loads_whole():
    from benchmarks.churn import shipped_cdnow

    frames = load_transactions(shipped_cdnow())
    assert len(frames.events) == 69_659 and frames.events["user_id"].nunique() == 23_570
    assert (frames.events["ts"].min().date(), frames.events["ts"].max().date()) == (
        dt.date(1997, 1, 1),
        dt.date(1998, 6, 30),
    )
