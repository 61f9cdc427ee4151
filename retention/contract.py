"""The data contract: what event, item and user files must look like, and the checks that enforce it.

Files are read by DuckDB into temporary "staged" tables (`stage_files`, `stage_csv`, `stage_parquet`):
the file's own columns plus ``_file`` (the path) and ``_line`` (the row's position in its file). `conform`
then validates a staged table with SQL (TRY_CAST finds the rows that do not fit) and defines a typed
view over it; `check_unique` finds duplicated keys. Every violation found is reported in one `ContractError`
naming the file, the column, the problem, how many rows, and up to 5 example rows.

Positions: CSV line numbers count the header as line 1 and assume one line per record (blank lines are
skipped by the reader and not counted); Parquet and in-memory rows are numbered from 1.

Types: ids are always VARCHAR (numeric ids are cast); timestamps become naive UTC ``TIMESTAMP``s, read
from Parquet timestamps (naive means UTC), ISO-8601 strings (with "Z"/an offset, or naive = UTC) or
integer epoch seconds; floats must be finite.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

EVENT_TYPES = ("view", "click", "add_to_cart", "purchase")
MAX_EXAMPLES = 5
MAX_PROBLEMS_SHOWN = 20
# Epoch values beyond this many seconds (year 5138) are rejected: they are almost always milliseconds.
MAX_EPOCH_SECONDS = 100_000_000_000

Kind = Literal["id", "text", "ts", "float", "int"]
SQL_TYPES: dict[str, str] = {
    "id": "VARCHAR",
    "text": "VARCHAR",
    "ts": "TIMESTAMP",
    "float": "DOUBLE",
    "int": "BIGINT",
}


@dataclass(frozen=True)
class Field:
    """One contract column. Required: present in every file and never null; optional: may be either."""

    name: str
    kind: Kind
    required: bool = True
    non_negative: bool = False


@dataclass(frozen=True)
class Check:
    """A table-specific rule: rows where `condition` (SQL over the typed columns) holds violate it."""

    column: str
    problem: str
    condition: str
    also_show: tuple[str, ...] = ()


EVENT_FIELDS = (
    Field("event_id", "id"),
    Field("user_id", "id"),
    Field("item_id", "id"),
    Field("event_type", "text"),
    Field("ts", "ts"),
    Field("value", "float", non_negative=True),
    Field("session_id", "id", required=False),
    Field("rating", "float", required=False),
)
EVENT_CHECKS = (
    Check(
        "event_type",
        f"event_type not one of {', '.join(EVENT_TYPES)}",
        "event_type NOT IN (" + ", ".join(f"'{t}'" for t in EVENT_TYPES) + ")",
    ),
    Check(
        "value",
        "value is not 0 for a non-purchase event",
        "value <> 0 AND event_type <> 'purchase'",
        also_show=("event_type",),
    ),
)
ITEM_FIELDS = (
    Field("item_id", "id"),
    Field("title", "text"),
    Field("category", "text"),
    Field("price", "float", non_negative=True),
)
USER_FIELDS = (Field("user_id", "id"), Field("signup_ts", "ts"))


@dataclass(frozen=True)
class Problem:
    """One violation: in `file`, `rows` rows break `problem` on `column` (None for whole-file problems)."""

    file: str
    column: str | None
    problem: str
    rows: int = 0
    examples: tuple[str, ...] = ()

    def __str__(self) -> str:
        text = self.file if self.column is None else f"{self.file}, column '{self.column}'"
        text += f": {self.problem}"
        if self.rows:
            text += f" ({self.rows} row{'s' if self.rows != 1 else ''})"
        if self.examples:
            text += ", e.g. " + "; ".join(self.examples)
        return text


class ContractError(ValueError):
    """Data that breaks the contract; `problems` lists every violation found."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        lines = [str(p) for p in self.problems[:MAX_PROBLEMS_SHOWN]]
        if len(self.problems) > MAX_PROBLEMS_SHOWN:
            lines.append(f"... and {len(self.problems) - MAX_PROBLEMS_SHOWN} more problem(s)")
        super().__init__("data contract violated:\n  " + "\n  ".join(lines))


@dataclass
class ContractFrames:
    """Events, items and users in the contract's columns, in memory (e.g. converted from MovieLens)."""

    events: pd.DataFrame
    items: pd.DataFrame
    users: pd.DataFrame


def q(name: str) -> str:
    """Quote a SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def position(file: str, line: int) -> str:
    """How an example row is pointed at: "line N" in text files, "row N" in Parquet and frames."""
    return f"{'line' if file.lower().endswith(('.csv', '.data', '.item')) else 'row'} {line}"


def file_format(path: Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    raise ContractError([Problem(str(path), None, "not a .csv or .parquet file")])


def stage_files(con: duckdb.DuckDBPyConnection, table: str, paths: Sequence[Path]) -> dict[str, list[str]]:
    """Read contract files (all CSV or all Parquet) into temp `table`; return each file's columns."""
    formats = {file_format(p) for p in paths}
    if len(formats) != 1:
        raise ValueError(f"stage_files takes files of one format, got {sorted(formats)}")
    return stage_csv(con, table, paths) if formats == {"csv"} else stage_parquet(con, table, paths)


def stage_csv(
    con: duckdb.DuckDBPyConnection,
    table: str,
    paths: Sequence[Path],
    *,
    delim: str = ",",
    names: Sequence[str] | None = None,
    encoding: str = "utf-8",
    quoted: bool = True,
) -> dict[str, list[str]]:
    """Read CSV files as text into temp `table`; without `names` the first line is the header."""
    columns = {str(p): list(names) if names else _csv_header(Path(p), delim, encoding) for p in paths}
    options = f"delim='{delim}', all_varchar=true, filename='_file', strict_mode=true, encoding='{encoding}'"
    options += ", quote='\"', escape='\"'" if quoted else ", quote='', escape=''"
    if names:
        options += ", header=false, names=[" + ", ".join(f"'{n}'" for n in names) + "]"
    else:
        options += ", header=true, union_by_name=true"
    raw = f"{table}__raw"
    _read(con, f"CREATE TEMP TABLE {raw} AS SELECT *", f"read_csv($files, {options})", paths, "CSV")
    # Insertion order is preserved, so rowid follows the files' line order.
    first_line = 2 if names is None else 1
    con.execute(
        f"""CREATE TEMP TABLE {table} AS
        SELECT r.*, r.rowid - f.first_rowid + {first_line} AS _line
        FROM {raw} r
        JOIN (SELECT _file, min(rowid) AS first_rowid FROM {raw} GROUP BY _file) f USING (_file)"""
    )
    con.execute(f"DROP TABLE {raw}")
    return columns


def stage_parquet(con: duckdb.DuckDBPyConnection, table: str, paths: Sequence[Path]) -> dict[str, list[str]]:
    """Read Parquet files into temp `table`, keeping their types."""
    columns: dict[str, list[str]] = {}
    for path in paths:
        try:
            columns[str(path)] = pq.read_schema(path).names
        except (pa.ArrowException, OSError) as exc:
            raise ContractError([Problem(str(path), None, f"unreadable Parquet file: {exc}")]) from exc
    _read(
        con,
        f"CREATE TEMP TABLE {table} AS SELECT * EXCLUDE (file_row_number), file_row_number + 1 AS _line",
        "read_parquet($files, union_by_name=true, filename='_file', file_row_number=true)",
        paths,
        "Parquet",
    )
    return columns


def stage_frame(
    con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame, label: str
) -> dict[str, list[str]]:
    """Copy an in-memory frame into temp `table`, labelling its rows with `label` as the file."""
    view = f"{table}__frame"
    con.complete()  # duckdb 2 refuses register() while an earlier result is only partly fetched
    con.register(view, frame)
    try:
        con.execute(
            f"CREATE TEMP TABLE {table} AS SELECT *, CAST($label AS VARCHAR) AS _file, "
            f"row_number() OVER () AS _line FROM {view}",
            {"label": label},
        )
    finally:
        con.unregister(view)
    return {label: [str(c) for c in frame.columns]}


def conform(
    con: duckdb.DuckDBPyConnection,
    staged: str,
    out: str,
    fields: Sequence[Field],
    columns_by_file: Mapping[str, Sequence[str]],
    checks: Sequence[Check] = (),
    reject_share: float | None = None,
) -> None:
    """Validate temp table `staged` against `fields` and `checks`, then create temp view `out`.

    `out` holds the typed fields plus the staged columns whose names start with "_" (``_file``,
    ``_line``, ...); it is a view over `staged` (no second copy of the data), so keep `staged` while
    using it. Raises ContractError listing every violation; a missing required column is reported before
    anything else is checked.

    With `reject_share`, bad rows are tolerated: only files where more than that share of rows break a
    rule raise, and the bad rows are listed in temp table ``{out}_rejects``: the staged "_" columns,
    ``_reject`` (the first broken rule, "column: problem") and ``_record`` (the raw values as JSON), for
    the caller to quarantine them (`out` still holds every row).
    """
    missing = [
        Problem(file, f.name, "required column missing")
        for file, cols in columns_by_file.items()
        for f in fields
        if f.required and f.name not in cols
    ]
    staged_types = {row[0]: str(row[1]) for row in con.execute(f"DESCRIBE {staged}").fetchall()}
    missing += [
        Problem(", ".join(columns_by_file), f.name, "required column missing")
        for f in fields
        if f.required and f.name not in staged_types and not any(p.column == f.name for p in missing)
    ]
    if missing:
        raise ContractError(missing)
    con.execute("SET TimeZone = 'UTC'")  # naive timestamp strings mean UTC
    present = {f.name for f in fields if f.name in staged_types}
    typed = {
        f.name: _typed_sql(q(f.name), staged_types[f.name], f.kind)
        if f.name in present
        else f"CAST(NULL AS {SQL_TYPES[f.kind]})"
        for f in fields
    }
    passthrough = [c for c in staged_types if c.startswith("_")]
    view_sql = (
        f"SELECT {', '.join(q(c) for c in passthrough)}, "
        + ", ".join(f"{q(n) if n in present else 'NULL'} AS {q(f'_raw_{n}')}" for n in typed)
        + ", "
        + ", ".join(f"{sql} AS {q(n)}" for n, sql in typed.items())
        + f" FROM {staged}"
    )
    rules = [*_field_checks(fields, present), *checks]
    any_rule = " OR ".join(f"({r.condition})" for r in rules) or "false"
    counts = con.execute(
        f"SELECT _file, count(*), count(*) FILTER (WHERE {any_rule}), "
        + ", ".join(f"count(*) FILTER (WHERE {r.condition})" for r in rules)
        + f" FROM ({view_sql}) GROUP BY _file ORDER BY _file"
    ).fetchall()
    problems = []
    key = fields[0].name
    for file, total, bad, *per_rule in counts:
        if reject_share is not None:
            if bad <= reject_share * total:
                continue
            problems.append(Problem(file, None, _too_many_bad_rows(bad, total, reject_share)))
        for rule, n in zip(rules, per_rule, strict=True):
            if not n:
                continue
            shown = tuple(dict.fromkeys((key, rule.column, *rule.also_show)))
            # Examples only for the problems the message shows: each costs a scan.
            examples = (
                _examples(con, view_sql, file, rule, shown) if len(problems) < MAX_PROBLEMS_SHOWN else ()
            )
            problems.append(Problem(file, rule.column, rule.problem, n, examples))
    if problems:
        raise ContractError(problems)
    if reject_share is not None:
        any_bad = any(bad for _, _, bad, *_ in counts)
        _create_rejects(con, f"{out}_rejects", view_sql, passthrough, list(typed), rules, any_bad)
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW {out} AS SELECT {', '.join(q(c) for c in passthrough)}, "
        + ", ".join(f"{sql} AS {q(n)}" for n, sql in typed.items())
        + f" FROM {staged}"
    )


def _too_many_bad_rows(bad: int, total: int, share: float) -> str:
    return (
        f"{bad} of {total} rows ({bad / total:.0%}) break the contract, more than the "
        f"{share:.0%} that are quarantined (quality.max_rejected_share): the file is rejected"
    )


def _create_rejects(
    con: duckdb.DuckDBPyConnection,
    table: str,
    view_sql: str,
    passthrough: Sequence[str],
    names: Sequence[str],
    rules: Sequence[Check],
    any_bad: bool,
) -> None:
    """Temp `table`: the bad rows' "_" columns, first broken rule and raw values. Only bad rows are
    kept, so good data costs no second copy (and no scan at all when the counts found none)."""
    reasons = " ".join(
        f"WHEN {r.condition} THEN '{r.column}: {r.problem.replace(chr(39), chr(39) * 2)}'" for r in rules
    )
    reject = f"CASE {reasons} END" if rules else "CAST(NULL AS VARCHAR)"
    record = (
        "to_json(struct_pack("
        + ", ".join(f"{q(n)} := CAST({q(f'_raw_{n}')} AS VARCHAR)" for n in names)
        + "))"
    )
    where = " OR ".join(f"({r.condition})" for r in rules) if any_bad and rules else "false"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT "
        + ", ".join(q(c) for c in passthrough)
        + f", {reject} AS _reject, CAST({record} AS VARCHAR) AS _record FROM ({view_sql}) WHERE {where}"
    )


def check_unique(
    con: duckdb.DuckDBPyConnection, table: str, key: str, scope: str = "the files loaded"
) -> None:
    """Raise ContractError if a value of `key` appears more than once in temp `table`."""
    dups = f"(SELECT {q(key)} FROM {table} GROUP BY {q(key)} HAVING count(*) > 1)"
    rows = con.execute(
        f"""SELECT _file, count(*) OVER (PARTITION BY _file) AS n, _line, {q(key)}
        FROM {table} SEMI JOIN {dups} d USING ({q(key)})
        QUALIFY row_number() OVER (PARTITION BY _file ORDER BY _line) <= {MAX_EXAMPLES}
        ORDER BY _file, _line"""
    ).fetchall()
    if not rows:
        return
    by_file: dict[str, list[tuple[int, int, str]]] = {}
    for file, n, line, value in rows:
        by_file.setdefault(file, []).append((n, line, value))
    raise ContractError(
        [
            Problem(
                file,
                key,
                f"duplicated {key} (must be unique within {scope})",
                found[0][0],
                tuple(f"{position(file, line)}: {key}={value!r}" for _, line, value in found),
            )
            for file, found in by_file.items()
        ]
    )


def _examples(
    con: duckdb.DuckDBPyConnection, view_sql: str, file: str, rule: Check, shown: tuple[str, ...]
) -> tuple[str, ...]:
    rows = con.execute(
        "SELECT _line, "
        + ", ".join(f"CAST({q(f'_raw_{c}')} AS VARCHAR)" for c in shown)
        + f" FROM ({view_sql}) WHERE _file = $file AND ({rule.condition})"
        + f" ORDER BY _line LIMIT {MAX_EXAMPLES}",
        {"file": file},
    ).fetchall()
    return tuple(
        f"{position(file, line)}: " + ", ".join(f"{c}={v!r}" for c, v in zip(shown, values, strict=True))
        for line, *values in rows
    )


def _field_checks(fields: Sequence[Field], present: set[str]) -> list[Check]:
    checks = []
    for f in fields:
        if f.name not in present:
            continue
        raw, typed = q(f"_raw_{f.name}"), q(f.name)
        if f.required:
            checks.append(Check(f.name, f"null in required column {f.name}", f"{raw} IS NULL"))
        if f.kind not in ("id", "text"):
            checks.append(
                Check(
                    f.name,
                    f"{f.name} is not a valid {_KIND_NAMES[f.kind]}",
                    f"{raw} IS NOT NULL AND {typed} IS NULL",
                )
            )
        if f.kind == "float":
            checks.append(Check(f.name, f"{f.name} is NaN or infinite", f"NOT isfinite({typed})"))
        if f.non_negative:
            checks.append(Check(f.name, f"{f.name} is negative", f"{typed} < 0"))
    return checks


_KIND_NAMES = {"ts": "timestamp", "float": "number", "int": "integer"}
_INTEGER_TYPES = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "UHUGEINT",
)


def _typed_sql(col: str, source_type: str, kind: Kind) -> str:
    """SQL turning `col` (of DuckDB type `source_type`) into the contract type; NULL where it cannot."""
    t = source_type.upper()
    if kind in ("id", "text"):
        return f"CAST({col} AS VARCHAR)"
    if kind == "float":
        return f"TRY_CAST({col} AS DOUBLE)"
    if kind == "int":
        return f"TRY_CAST({col} AS BIGINT)"
    if t.startswith("TIMESTAMP WITH TIME ZONE"):
        return f"timezone('UTC', {col})"
    if t.startswith("TIMESTAMP") or t == "DATE":
        return f"CAST({col} AS TIMESTAMP)"
    if t in _INTEGER_TYPES or t in ("FLOAT", "DOUBLE") or t.startswith("DECIMAL"):
        return _epoch_sql(f"TRY_CAST({col} AS DOUBLE)")
    if t == "VARCHAR":
        return (
            f"CASE WHEN regexp_full_match({col}, '\\s*-?[0-9]+\\s*') "
            f"THEN {_epoch_sql(f'TRY_CAST({col} AS DOUBLE)')} "
            f"ELSE timezone('UTC', TRY_CAST({col} AS TIMESTAMPTZ)) END"
        )
    return "CAST(NULL AS TIMESTAMP)"


def _epoch_sql(seconds: str) -> str:
    return (
        f"CASE WHEN abs({seconds}) < {MAX_EPOCH_SECONDS} "
        f"THEN make_timestamp(CAST(round({seconds} * 1000000) AS BIGINT)) END"
    )


def _csv_header(path: Path, delim: str, encoding: str) -> list[str]:
    try:
        with open(path, encoding="utf-8-sig" if encoding == "utf-8" else encoding, newline="") as f:
            line = f.readline()
    except UnicodeDecodeError as exc:
        raise ContractError(
            [Problem(str(path), None, f"unreadable CSV file: not {encoding} ({exc})")]
        ) from exc
    except OSError as exc:
        raise ContractError([Problem(str(path), None, f"unreadable CSV file: {exc}")]) from exc
    return next(csv.reader([line], delimiter=delim), [])


def _read(con: duckdb.DuckDBPyConnection, select: str, reader: str, paths: Sequence[Path], kind: str) -> None:
    """Run `select` FROM `reader` over all `paths`; on failure find the file to blame, raise ContractError."""
    files = [str(p) for p in paths]
    try:
        con.execute(f"{select} FROM {reader}", {"files": files})
        return
    except duckdb.Error as exc:
        error = exc
    # Re-read the files one by one to name the culprit (DuckDB does not always name it).
    for file in files:
        try:
            con.execute(f"SELECT count(*) FROM {reader}", {"files": [file]}).fetchone()
        except duckdb.Error as exc:
            raise ContractError([Problem(file, None, f"unreadable {kind} file: {_short(exc)}")]) from exc
    raise ContractError(
        [Problem(", ".join(files), None, f"unreadable {kind} files: {_short(error)}")]
    ) from error


def _short(exc: Exception) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return " ".join(lines[:2])
