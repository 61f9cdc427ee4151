"""`retention up` / `retention down`: the real Airflow and MLflow UIs on 127.0.0.1 (free, non-default
ports, every path in a temp folder), a DAG run triggered through the REST API as the UI's trigger form
does, and a clean stop by PID."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import psutil
import pytest
import requests
from conftest import platform_env

from retention.config import Config, load_config
from retention.ingest import latest_event_date
from retention.pipeline import MARTS
from retention.services import airflow_password, running

RETENTION = str(Path(sys.executable).with_name("retention"))
DAG_ID = "retention_nightly"
PARAMS = {"run_date", "data_dir", "churn_model", "recommender"}
ACTIVE = {"queued", "running"}


@dataclass
class Stack:
    cfg: Config
    up_output: str
    seen: dict[int, psutil.Process]  # every process of ours seen so far (services and their children)

    @property
    def airflow(self) -> str:
        return f"http://127.0.0.1:{self.cfg.services.airflow_port}"

    @property
    def mlflow(self) -> str:
        return f"http://127.0.0.1:{self.cfg.services.mlflow_port}"

    @property
    def run_dir(self) -> Path:
        return self.cfg.paths.warehouse.parent / "run"

    def processes(self) -> list[psutil.Process]:
        """The processes in the run dir's PID files and all their children, as they are now."""
        found: list[psutil.Process] = []
        for pid_file in self.run_dir.glob("*.pid"):
            try:
                leader = psutil.Process(int(pid_file.read_text()))
                found += [leader, *leader.children(recursive=True)]
            except psutil.NoSuchProcess:
                continue
        self.seen |= {p.pid: p for p in found}
        return found


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def retention(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [RETENTION, *args], env=dict(os.environ), capture_output=True, text=True, timeout=timeout
    )


def alive(process: psutil.Process) -> bool:
    """Still running (not a reused PID); a zombie is dead, only waiting for init to reap it."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def wait_for(what: str, check: Callable[[], Any], timeout_s: float, every_s: float = 2) -> Any:
    """Poll `check` until it returns something truthy; fail after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout_s:.0f} s")
        time.sleep(every_s)


def assert_all_gone(processes: list[psutil.Process], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while (left := [p for p in processes if alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not left, f"still running after `retention down`: {left}"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, tiny_data: Path) -> Iterator[Stack]:
    """`retention up` on a temp warehouse, MLflow store and Airflow home; `retention down` at the end."""
    root = tmp_path_factory.mktemp("services")
    airflow_port, mlflow_port = free_ports(2)
    env = {
        **platform_env(root, tiny_data),
        "RETENTION_SERVICES__AIRFLOW_PORT": airflow_port,
        "RETENTION_SERVICES__MLFLOW_PORT": mlflow_port,
    }
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, str(value))
        cfg = load_config()
        assert (cfg.services.airflow_port, cfg.services.mlflow_port) == (airflow_port, mlflow_port)
        stack = Stack(cfg, "", {})
        try:
            started = retention("up")
            stack.processes()
            assert started.returncode == 0, started.stdout[-5000:] + started.stderr[-5000:]
            stack.up_output = started.stdout
            yield stack
        finally:
            stack.processes()
            stopped = retention("down", timeout=300)
            assert stopped.returncode == 0, stopped.stdout[-3000:] + stopped.stderr[-3000:]
            assert_all_gone(list(stack.seen.values()))
            assert not running(cfg)


@pytest.fixture(scope="module")
def api(stack: Stack) -> requests.Session:
    """A session logged in as admin, once the dag-processor has parsed the DAG."""
    session = requests.Session()
    response = session.post(
        f"{stack.airflow}/auth/token",
        json={"username": "admin", "password": airflow_password(stack.cfg)},
        timeout=30,
    )
    assert response.status_code in (200, 201), response.text
    session.headers["Authorization"] = f"Bearer {response.json()['access_token']}"

    def parsed() -> bool:
        return session.get(f"{stack.airflow}/api/v2/dags/{DAG_ID}", timeout=30).status_code == 200

    wait_for(f"{DAG_ID} listed by the API (dag-processor parse)", parsed, timeout_s=180)
    return session


def test_up_prints_the_urls_and_login_and_serves_on_localhost_only(stack: Stack):
    out = stack.up_output
    password = airflow_password(stack.cfg)
    assert not password.startswith("(see"), password
    assert stack.airflow in out and stack.mlflow in out
    assert f"admin / {password}" in out
    assert requests.get(f"{stack.airflow}/api/v2/monitor/health", timeout=30).status_code == 200
    assert requests.get(f"{stack.mlflow}/health", timeout=30).status_code == 200
    assert requests.get(f"{stack.airflow}/", timeout=30).status_code == 200  # the UI itself
    assert requests.get(f"{stack.mlflow}/", timeout=30).status_code == 200

    assert set(running(stack.cfg)) == {
        "airflow-api-server",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
        "mlflow",
    }
    ours = {p.pid for p in stack.processes()}
    listening = [
        c for c in psutil.net_connections(kind="inet") if c.pid in ours and c.status == psutil.CONN_LISTEN
    ]
    assert {c.laddr.port for c in listening} >= {
        stack.cfg.services.airflow_port,
        stack.cfg.services.mlflow_port,
    }
    assert all(c.laddr.ip == "127.0.0.1" for c in listening), listening


def test_login_works_and_the_dag_is_listed_with_its_params(stack: Stack, api: requests.Session):
    response = api.get(f"{stack.airflow}/api/v2/dags/{DAG_ID}/details", timeout=30)
    assert response.status_code == 200, response.text
    details = response.json()
    assert set(details["params"]) == PARAMS
    assert details["params"]["run_date"]["schema"]["format"] == "date"
    listed = api.get(f"{stack.airflow}/api/v2/dags", params={"dag_id_pattern": DAG_ID}, timeout=30).json()
    assert [d["dag_id"] for d in listed["dags"]] == [DAG_ID]
    # Without a token the API refuses.
    assert requests.get(f"{stack.airflow}/api/v2/dags", timeout=30).status_code in (401, 403)


def task_logs(cfg: Config, run_id: str, tail: int = 4000) -> str:
    logs = cfg.paths.airflow_home / "logs" / f"dag_id={DAG_ID}" / f"run_id={run_id}"
    parts = [
        f"--- {path.relative_to(logs)} ---\n{path.read_text(errors='replace')[-tail:]}"
        for path in sorted(logs.rglob("*.log"), key=lambda p: p.stat().st_mtime)
    ]
    scheduler = cfg.paths.warehouse.parent / "log" / "airflow-scheduler.log"
    if scheduler.exists():
        parts.append(f"--- scheduler ---\n{scheduler.read_text(errors='replace')[-tail:]}")
    return "\n".join(parts) or f"(no task logs under {logs})"


def test_a_run_triggered_through_the_api_publishes_and_tracks(
    stack: Stack, api: requests.Session, tiny_data: Path
):
    base = f"{stack.airflow}/api/v2/dags/{DAG_ID}"
    run_date = latest_event_date(tiny_data)
    # As the UI's trigger form does: unpause (new DAGs start paused), then trigger with the form's conf.
    unpaused = api.patch(base, json={"is_paused": False}, timeout=30)
    assert unpaused.status_code == 200 and unpaused.json()["is_paused"] is False, unpaused.text
    conf = {"run_date": run_date.isoformat(), "data_dir": str(tiny_data)}
    triggered = api.post(f"{base}/dagRuns", json={"logical_date": None, "conf": conf}, timeout=30)
    assert triggered.status_code == 200, triggered.text
    run_id = triggered.json()["dag_run_id"]

    def finished() -> str | None:
        state = api.get(f"{base}/dagRuns/{run_id}", timeout=30).json()["state"]
        return state if state in ("success", "failed") else None

    state = wait_for(f"run {run_id}", finished, timeout_s=400, every_s=3)
    assert state == "success", task_logs(stack.cfg, run_id)
    stack.processes()

    # Unpausing also starts the scheduled run for yesterday (catchup=False); no run may still be writing
    # the warehouse when we read it.
    def quiet() -> bool:
        runs = api.get(f"{base}/dagRuns", params={"limit": 100}, timeout=30).json()["dag_runs"]
        return not any(r["state"] in ACTIVE for r in runs)

    wait_for("no active runs of the DAG", quiet, timeout_s=300, every_s=3)

    with duckdb.connect(str(stack.cfg.paths.warehouse), read_only=True) as con:
        for table in MARTS:
            [(rows,)] = con.execute(
                f"select count(*) from marts.{table} where run_date = ?", [run_date]
            ).fetchall()
            assert rows > 0, table

    response = requests.post(
        f"{stack.mlflow}/api/2.0/mlflow/experiments/search", json={"max_results": 100}, timeout=30
    )
    assert response.status_code == 200, response.text
    names = {e["name"] for e in response.json()["experiments"]}
    assert {"retention-churn", "retention-recommender"} <= names


def test_up_again_starts_nothing_new(stack: Stack):
    before = running(stack.cfg)
    again = retention("up", timeout=300)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert running(stack.cfg) == before
    assert stack.airflow in again.stdout and stack.mlflow in again.stdout


def test_down_stops_every_process_and_closes_the_ports(stack: Stack):
    stack.processes()
    assert stack.seen
    stopped = retention("down", timeout=300)
    assert stopped.returncode == 0, stopped.stdout[-3000:] + stopped.stderr[-3000:]
    assert "stopped: " in stopped.stdout and "mlflow" in stopped.stdout
    assert_all_gone(list(stack.seen.values()))
    assert not running(stack.cfg)
    assert not list(stack.run_dir.glob("*.pid"))
    assert not port_open(stack.cfg.services.airflow_port)
    assert not port_open(stack.cfg.services.mlflow_port)
