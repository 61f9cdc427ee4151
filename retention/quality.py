"""Great Expectations gates: one suite per table (``expectations/<table>.json``), run as a checkpoint.

Each expectation carries ``meta.severity``: ``error`` stops the run (`QualityGateError`), ``warn`` is
recorded and the run goes on. Data reaches GE as a pandas DataFrame read from DuckDB (GE's SQL route
does not work with DuckDB).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from retention.config import PROJECT_ROOT

SUITES_DIR = PROJECT_ROOT / "expectations"


class QualityGateError(RuntimeError):
    pass


@dataclass
class Failure:
    suite: str
    expectation: str
    column: str | None
    severity: str
    unexpected_count: int | None
    sample: list[Any]

    def describe(self) -> str:
        where = f" column '{self.column}'" if self.column else ""
        count = f", {self.unexpected_count} rows" if self.unexpected_count is not None else ""
        return f"[{self.severity}] suite '{self.suite}': {self.expectation}{where}{count}, e.g. {self.sample}"


@dataclass
class GateResult:
    suite: str
    evaluated: int
    failures: list[Failure] = field(default_factory=list)

    @property
    def errors(self) -> list[Failure]:
        return [f for f in self.failures if f.severity == "error"]

    @property
    def warnings(self) -> list[Failure]:
        return [f for f in self.failures if f.severity == "warn"]

    def summary(self) -> dict[str, Any]:
        return {
            "suite": self.suite,
            "evaluated": self.evaluated,
            "errors": [f.describe() for f in self.errors],
            "warnings": [f.describe() for f in self.warnings],
        }


def load_suite(name: str) -> dict[str, Any]:
    return json.loads((SUITES_DIR / f"{name}.json").read_text())


def _quiet_ge() -> None:
    for name in ("great_expectations", "great_expectations._docs_decorators"):
        logging.getLogger(name).setLevel(logging.WARNING)


def run_checkpoint(suite_name: str, frame: pd.DataFrame) -> GateResult:
    """Validate `frame` against one suite with a GE checkpoint; never raises for failed expectations."""
    _quiet_ge()
    import great_expectations as gx

    spec = load_suite(suite_name)
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    asset = context.data_sources.add_pandas("retention").add_dataframe_asset(suite_name)
    batch = asset.add_batch_definition_whole_dataframe("whole")
    suite = context.suites.add(gx.ExpectationSuite(name=suite_name, expectations=spec["expectations"]))
    validation = context.validation_definitions.add(
        gx.ValidationDefinition(data=batch, suite=suite, name=f"{suite_name}_validation")
    )
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(name=f"{suite_name}_checkpoint", validation_definitions=[validation])
    )
    run = checkpoint.run(batch_parameters={"dataframe": frame})
    result = GateResult(suite=suite_name, evaluated=len(spec["expectations"]))
    for validation_result in run.run_results.values():
        for outcome in validation_result.results:
            if outcome.success:
                continue
            config = outcome.expectation_config
            details = outcome.result or {}
            result.failures.append(
                Failure(
                    suite=suite_name,
                    expectation=config.type,
                    column=config.kwargs.get("column"),
                    severity=(config.meta or {}).get("severity", "error"),
                    unexpected_count=details.get("unexpected_count"),
                    sample=list(details.get("partial_unexpected_list") or [details.get("observed_value")])[
                        :5
                    ],
                )
            )
    return result


def enforce(results: list[GateResult]) -> dict[str, Any]:
    """Raise QualityGateError naming every error-severity failure; return a summary otherwise."""
    errors = [f for r in results for f in r.errors]
    if errors:
        raise QualityGateError("data quality gate failed:\n" + "\n".join(f.describe() for f in errors))
    return {r.suite: r.summary() for r in results}
