"""Great Expectations gates: errors stop the run with a message naming suite, expectation and column."""

import pandas as pd
import pytest

from retention.quality import QualityGateError, enforce, run_checkpoint


def events(**overrides) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "event_id": ["e1", "e2", "e3"],
            "user_id": ["u1", "u2", "u1"],
            "item_id": ["i1", "i1", "i2"],
            "event_type": ["view", "click", "purchase"],
            "value": [0.0, 0.0, 9.5],
            "hours_from_day_start": [1.0, 2.5, 23.9],
        }
    )
    return frame.assign(**overrides)


def test_clean_events_pass():
    result = run_checkpoint("raw_events", events())
    assert result.failures == []
    assert enforce([result])["raw_events"]["errors"] == []


@pytest.mark.parametrize(
    ("overrides", "expectation", "column"),
    [
        ({"event_type": ["view", "zap", "click"]}, "expect_column_values_to_be_in_set", "event_type"),
        ({"value": [0.0, -1.0, 2.0]}, "expect_column_values_to_be_between", "value"),
        ({"event_id": ["e1", "e1", "e3"]}, "expect_column_values_to_be_unique", "event_id"),
        ({"user_id": ["u1", None, "u2"]}, "expect_column_values_to_not_be_null", "user_id"),
    ],
)
def test_error_expectations_stop_the_run(overrides, expectation, column):
    result = run_checkpoint("raw_events", events(**overrides))
    with pytest.raises(QualityGateError) as failure:
        enforce([result])
    message = str(failure.value)
    assert "raw_events" in message and expectation in message and f"'{column}'" in message


def test_warnings_are_recorded_but_do_not_stop_the_run():
    result = run_checkpoint("raw_events", events(hours_from_day_start=[1.0, 2.0, 30.0]))
    assert len(result.warnings) == 1 and result.errors == []
    summary = enforce([result])
    assert "hours_from_day_start" in summary["raw_events"]["warnings"][0]
