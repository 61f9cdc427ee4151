"""Great Expectations gates: errors stop the run with a message naming suite, expectation, column and
sample rows; warnings are recorded; run-time parameters fill the thresholds; Data Docs are written."""

import pandas as pd
import pytest

from retention.quality import DocsSite, QualityGateError, build_docs, enforce, run_checkpoint

RAW_PARAMS = {"min_rows": 1, "max_rows": 10, "min_hours": -72.0, "min_known_share": 0.5}


def events(**overrides) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "event_id": ["e1", "e2", "e3"],
            "user_id": ["u1", "u2", "u1"],
            "item_id": ["i1", "i1", "i2"],
            "event_type": ["view", "click", "purchase"],
            "value": [0.0, 0.0, 9.5],
            "non_purchase_value": [0.0, 0.0, None],
            "hours_from_day_start": [1.0, 2.5, 23.9],
            "user_known": [True, True, True],
            "item_known": [True, True, True],
        }
    )
    return frame.assign(**overrides)


def test_clean_events_pass():
    result = run_checkpoint("raw_events", events(), RAW_PARAMS)
    assert result.failures == [] and result.skipped == []
    assert enforce([result])["raw_events"]["errors"] == []


@pytest.mark.parametrize(
    ("overrides", "expectation", "column"),
    [
        ({"event_type": ["view", "zap", "click"]}, "expect_column_values_to_be_in_set", "event_type"),
        ({"value": [0.0, -1.0, 2.0]}, "expect_column_values_to_be_between", "value"),
        ({"event_id": ["e1", "e1", "e3"]}, "expect_column_values_to_be_unique", "event_id"),
        ({"user_id": ["u1", None, "u2"]}, "expect_column_values_to_not_be_null", "user_id"),
        (
            {"hours_from_day_start": [1.0, 30.0, 2.0]},
            "expect_column_values_to_be_between",
            "hours_from_day_start",
        ),
        ({"user_known": [True, False, False]}, "expect_column_values_to_be_in_set", "user_known"),
    ],
)
def test_error_expectations_stop_the_run(overrides, expectation, column):
    result = run_checkpoint("raw_events", events(**overrides), RAW_PARAMS)
    with pytest.raises(QualityGateError) as failure:
        enforce([result])
    message = str(failure.value)
    assert "raw_events" in message and expectation in message and f"'{column}'" in message
    assert "'event_id': 'e" in message  # sample offending rows, by their event_id


def test_warnings_are_recorded_but_do_not_stop_the_run():
    result = run_checkpoint("raw_events", events(hours_from_day_start=[1.0, 2.0, -5.0]), RAW_PARAMS)
    assert len(result.warnings) == 1 and result.errors == []
    summary = enforce([result])
    assert "hours_from_day_start" in summary["raw_events"]["warnings"][0]
    assert summary["raw_events"]["passed"] == result.evaluated - 1


def test_volume_band_comes_from_the_parameters_and_is_skipped_without_history():
    tight = run_checkpoint("raw_events", events(), {**RAW_PARAMS, "min_rows": 5, "max_rows": 50})
    assert [f.settings for f in tight.errors] == [{"min_value": 5, "max_value": 50}]
    no_history = run_checkpoint("raw_events", events(), {**RAW_PARAMS, "min_rows": None, "max_rows": None})
    assert no_history.failures == [] and len(no_history.skipped) == 1


def test_data_docs_are_built_into_the_configured_folder(tmp_path):
    site = DocsSite(gx_root=tmp_path / "gx", docs_dir=tmp_path / "docs")
    passed = run_checkpoint("raw_events", events(), RAW_PARAMS, site)
    failed = run_checkpoint("raw_events", events(value=[0.0, -1.0, 2.0]), RAW_PARAMS, site)
    build_docs(site, [passed, failed])
    assert site.index.is_file()
    pages = list((tmp_path / "docs" / "validations" / "raw_events").rglob("*.html"))
    assert len(pages) == 2  # every run's validation result is kept and rendered
