"""The dbt unit tests (given/expected rows for sessions, window boundaries and churn labels): the nightly
build leaves them out (retention/transform.py: NIGHTLY_BUILD), so they run here, every one of them."""

from __future__ import annotations

import yaml

from retention import pipeline
from retention.ingest import latest_event_date
from retention.transform import DBT_PROJECT, NIGHTLY_BUILD, run_dbt


def declared_unit_tests() -> set[str]:
    names = set()
    for path in (DBT_PROJECT / "models").rglob("*.yml"):
        names |= {test["name"] for test in yaml.safe_load(path.read_text()).get("unit_tests") or []}
    return names


def test_every_dbt_unit_test_runs_and_passes_outside_the_nightly_build(platform):
    cfg = platform
    run_date = latest_event_date(cfg.paths.data_dir)
    pipeline.ingest(cfg, run_date)
    nightly = run_dbt(cfg, NIGHTLY_BUILD, run_date)  # unit tests introspect their models' input tables
    assert not [node for node in nightly.nodes if node.startswith("unit_test.")]

    result = run_dbt(cfg, ["test", "--select", "test_type:unit"], run_date)

    assert {node.split(".")[-1] for node in result.nodes} == declared_unit_tests()
    assert {status for status, _ in result.nodes.values()} == {"pass"}
    assert len(declared_unit_tests()) >= 3  # sessions, window boundaries, churn labels
