"""The DAG's form offers exactly the models the training code knows."""

from __future__ import annotations

import importlib.util

from retention.config import PROJECT_ROOT
from training.churn_model import CHURN_MODELS
from training.train_recommender import MODELS as RECOMMENDERS


def nightly_dag():
    spec = importlib.util.spec_from_file_location(
        "retention_nightly", PROJECT_ROOT / "dags" / "retention_nightly.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.retention_nightly()


def test_the_model_params_list_every_registered_model():
    params = nightly_dag().params
    assert params.get_param("churn_model").schema["enum"] == [None, *CHURN_MODELS]
    assert params.get_param("recommender").schema["enum"] == [None, *RECOMMENDERS]
