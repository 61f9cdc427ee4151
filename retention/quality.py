"""Great Expectations gates: one suite per table (``expectations/<table>.json``), run as a checkpoint.

Each expectation carries ``meta.severity``: ``error`` stops the run (`QualityGateError`), ``warn`` is
recorded and the run goes on. Thresholds that depend on the run (a volume band, the previous run's row
count, settings from ``retention.yaml``) are GE suite parameters, ``{"$PARAMETER": "name"}``; an
expectation whose parameter is None this run (no history yet) is skipped. Data reaches GE as a pandas
DataFrame read from DuckDB (GE's SQL route does not work with DuckDB). With a `DocsSite`, the checkpoint
runs in a file context whose validation results are kept and rendered as Data Docs in a known folder.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from retention.config import PROJECT_ROOT

SUITES_DIR = PROJECT_ROOT / "expectations"
MAX_SAMPLE = 5


class QualityGateError(RuntimeError):
    pass


@dataclass(frozen=True)
class DocsSite:
    """Where GE keeps its project (suites, validation results) and where the Data Docs site is built."""

    gx_root: Path
    docs_dir: Path

    @property
    def index(self) -> Path:
        return self.docs_dir / "index.html"


@dataclass
class Failure:
    suite: str
    expectation: str
    column: str | None
    severity: str
    unexpected_count: int | None
    sample: list[Any]
    settings: dict[str, Any] = field(default_factory=dict)  # the expectation's bounds, value set, ...

    def describe(self) -> str:
        where = f" column '{self.column}'" if self.column else ""
        settings = ", ".join(f"{k}={v}" for k, v in self.settings.items())
        count = f", {self.unexpected_count} rows" if self.unexpected_count is not None else ""
        return (
            f"[{self.severity}] suite '{self.suite}': {self.expectation}({settings}){where}{count},"
            f" e.g. {self.sample}"
        )


@dataclass
class GateResult:
    suite: str
    evaluated: int
    failures: list[Failure] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # expectations without a parameter value this run
    stored: list[Any] = field(default_factory=list)  # GE's ids of the validation results kept for Data Docs

    @property
    def errors(self) -> list[Failure]:
        return [f for f in self.failures if f.severity == "error"]

    @property
    def warnings(self) -> list[Failure]:
        return [f for f in self.failures if f.severity == "warn"]

    @property
    def passed(self) -> int:
        return self.evaluated - len(self.failures)

    def summary(self) -> dict[str, Any]:
        return {
            "suite": self.suite,
            "evaluated": self.evaluated,
            "passed": self.passed,
            "errors": [f.describe() for f in self.errors],
            "warnings": [f.describe() for f in self.warnings],
            "skipped": self.skipped,
        }


def load_suite(name: str) -> dict[str, Any]:
    return json.loads((SUITES_DIR / f"{name}.json").read_text())


def _quiet_ge() -> None:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")  # no usage reports from a batch job
    for name in ("great_expectations", "great_expectations._docs_decorators"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _parameters(kwargs: dict[str, Any]) -> list[str]:
    return [v["$PARAMETER"] for v in kwargs.values() if isinstance(v, dict) and "$PARAMETER" in v]


def _applicable(spec: dict[str, Any], params: dict[str, Any]) -> tuple[list[dict], list[str]]:
    """The suite's expectations whose parameters all have a value this run, and those skipped."""
    kept, skipped = [], []
    for expectation in spec["expectations"]:
        if all(params.get(name) is not None for name in _parameters(expectation["kwargs"])):
            kept.append(expectation)
        else:
            skipped.append(f"{expectation['type']}({expectation['kwargs'].get('column', '')})")
    return kept, skipped


def _context(site: DocsSite | None):
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    if site is None:
        context = gx.get_context(mode="ephemeral")
    else:
        context = gx.get_context(mode="file", project_root_dir=str(site.gx_root))
        _use_docs_site(context, site.docs_dir)
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def _use_docs_site(context, docs_dir: Path) -> None:
    """One Data Docs site, built into `docs_dir` (GE's default site is replaced)."""
    config = {
        "class_name": "SiteBuilder",
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
    }
    if (context.variables.data_docs_sites or {}) == {"retention": config}:
        return
    for name in context.get_site_names():
        context.delete_data_docs_site(name)
    context.add_data_docs_site("retention", config)


def _checkpoint(context, suite_name: str, expectations: list[dict], index_columns: list[str]):
    import great_expectations as gx

    source = context.data_sources.add_or_update_pandas("retention")
    names = [a.name for a in source.assets]
    asset = source.get_asset(suite_name) if suite_name in names else source.add_dataframe_asset(suite_name)
    try:
        batch = asset.get_batch_definition("whole")
    except KeyError:
        batch = asset.add_batch_definition_whole_dataframe("whole")
    suite = context.suites.add_or_update(gx.ExpectationSuite(name=suite_name, expectations=expectations))
    validation = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(data=batch, suite=suite, name=suite_name)
    )
    result_format = {"result_format": "SUMMARY", "unexpected_index_column_names": index_columns}
    return context.checkpoints.add_or_update(
        gx.Checkpoint(name=suite_name, validation_definitions=[validation], result_format=result_format)
    )


def run_checkpoint(
    suite_name: str,
    frame: pd.DataFrame,
    params: dict[str, Any] | None = None,
    site: DocsSite | None = None,
) -> GateResult:
    """Validate `frame` against one suite with a GE checkpoint; never raises for failed expectations.

    Sample offending rows are keyed by the suite's ``meta.index_columns`` (e.g. event_id)."""
    _quiet_ge()
    spec = load_suite(suite_name)
    params = params or {}
    expectations, skipped = _applicable(spec, params)
    index_columns = [c for c in spec.get("meta", {}).get("index_columns", []) if c in frame.columns]
    context = _context(site)
    checkpoint = _checkpoint(context, suite_name, expectations, index_columns)
    values = {k: v for k, v in params.items() if v is not None}
    run = checkpoint.run(batch_parameters={"dataframe": frame}, expectation_parameters=values)
    result = GateResult(suite=suite_name, evaluated=len(expectations), skipped=skipped)
    result.stored = list(run.run_results) if site is not None else []
    for validation_result in run.run_results.values():
        result.failures += [
            _failure(suite_name, o, frame) for o in validation_result.results if not o.success
        ]
    return result


def build_docs(site: DocsSite, results: list[GateResult]) -> None:
    """Render these validation results (and the index of all kept ones) into the Data Docs folder: once
    per gate, as rendering per checkpoint costs about a second each."""
    _quiet_ge()
    stored = [key for r in results for key in r.stored]
    if stored:
        _context(site).build_data_docs(resource_identifiers=stored)


def _failure(suite_name: str, outcome, frame: pd.DataFrame) -> Failure:
    config = outcome.expectation_config
    details = outcome.result or {}
    rows = details.get("partial_unexpected_index_list")
    column = config.kwargs.get("column")
    if rows and isinstance(rows[0], dict):
        sample = [{k: _plain(v) for k, v in row.items()} for row in rows[:MAX_SAMPLE]]
    elif rows and column in frame.columns:  # row positions: show the offending rows' values
        sample = [{"row": _plain(i), column: _plain(frame[column].iloc[i])} for i in rows[:MAX_SAMPLE]]
    elif "partial_unexpected_list" in details:
        sample = [_plain(v) for v in details["partial_unexpected_list"][:MAX_SAMPLE]]
    else:
        sample = [{"observed": _plain(details.get("observed_value"))}]
    if outcome.exception_info and outcome.exception_info.get("raised_exception"):
        sample = [{"exception": outcome.exception_info.get("exception_message")}]
    return Failure(
        suite=suite_name,
        expectation=config.type,
        column=column,
        severity=(config.meta or {}).get("severity", "error"),
        unexpected_count=details.get("unexpected_count"),
        sample=sample,
        settings={k: v for k, v in config.kwargs.items() if k not in ("batch_id", "column")},
    )


def _plain(value: Any) -> Any:
    """numpy scalars as Python values, so messages read `-5.0`, not `np.float64(-5.0)`."""
    return value.item() if hasattr(value, "item") else value


def enforce(results: list[GateResult]) -> dict[str, Any]:
    """Raise QualityGateError naming every error-severity failure; return a summary otherwise."""
    errors = [f for r in results for f in r.errors]
    if errors:
        raise QualityGateError("data quality gate failed:\n" + "\n".join(f.describe() for f in errors))
    return {r.suite: r.summary() for r in results}
