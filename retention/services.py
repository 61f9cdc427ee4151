"""`make up` / `make down`: the Airflow UI (api-server, scheduler, dag-processor, triggerer) and the MLflow
UI on 127.0.0.1, as background processes tracked by PID files under var/run/."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import psutil

from retention.config import Config
from retention.orchestration import airflow_env, ensure_metadata_db


@dataclass(frozen=True)
class Service:
    name: str
    command: list[str]
    health_url: str | None = None


def services(cfg: Config) -> list[Service]:
    bin_dir = Path(sys.executable).parent
    airflow = str(bin_dir / "airflow")
    api_port, mlflow_port = cfg.services.airflow_port, cfg.services.mlflow_port
    return [
        Service(
            "airflow-api-server",
            [airflow, "api-server", "--host", "127.0.0.1", "--port", str(api_port), "-w", "1"],
            f"http://127.0.0.1:{api_port}/api/v2/monitor/health",
        ),
        Service("airflow-scheduler", [airflow, "scheduler", "--skip-serve-logs"]),
        Service("airflow-dag-processor", [airflow, "dag-processor"]),
        Service("airflow-triggerer", [airflow, "triggerer", "--skip-serve-logs"]),
        Service(
            "mlflow",
            [
                str(bin_dir / "mlflow"),
                "server",
                "--host",
                "127.0.0.1",
                "--port",
                str(mlflow_port),
                "--backend-store-uri",
                cfg.paths.mlflow_uri,
                "--artifacts-destination",
                str(cfg.paths.mlflow_artifacts),
                "--workers",
                "1",
            ],
            f"http://127.0.0.1:{mlflow_port}/health",
        ),
    ]


def _run_dir(cfg: Config) -> Path:
    path = cfg.paths.warehouse.parent / "run"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _group_members(pgid: int) -> list[psutil.Process]:
    """Live (non-zombie) processes of a process group: a service and every child it started."""
    members = []
    for process in psutil.process_iter(["status"]):
        try:
            if os.getpgid(process.pid) == pgid and process.info["status"] != psutil.STATUS_ZOMBIE:
                members.append(process)
        except (ProcessLookupError, psutil.Error):
            continue
    return members


def running(cfg: Config) -> dict[str, int]:
    pids = {}
    for pid_file in _run_dir(cfg).glob("*.pid"):
        pid = int(pid_file.read_text())
        if _group_members(pid):
            pids[pid_file.stem] = pid
    return pids


def wait_healthy(url: str, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not answer within {timeout_s:.0f} s")
        time.sleep(1)


def up(cfg: Config) -> dict[str, str]:
    """Start every service not already running; wait until the UIs answer; return URLs and login."""
    ensure_metadata_db(cfg)
    env = airflow_env(cfg) | {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    cfg.paths.mlflow_artifacts.mkdir(parents=True, exist_ok=True)
    log_dir = cfg.paths.warehouse.parent / "log"
    log_dir.mkdir(parents=True, exist_ok=True)
    already = running(cfg)
    for service in services(cfg):
        if service.name in already:
            continue
        with open(log_dir / f"{service.name}.log", "ab") as log:
            process = subprocess.Popen(
                service.command,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        (_run_dir(cfg) / f"{service.name}.pid").write_text(str(process.pid))
    for service in services(cfg):
        if service.health_url:
            wait_healthy(service.health_url)
    return {
        "airflow": f"http://127.0.0.1:{cfg.services.airflow_port}",
        "mlflow": f"http://127.0.0.1:{cfg.services.mlflow_port}",
        "login": f"admin / {airflow_password(cfg)}",
        "logs": str(log_dir),
    }


def airflow_password(cfg: Config) -> str:
    generated = cfg.paths.airflow_home / "simple_auth_manager_passwords.json.generated"
    if not generated.exists():
        return f"(see {generated})"
    return json.loads(generated.read_text()).get("admin", f"(see {generated})")


def down(cfg: Config, timeout_s: float = 30) -> list[str]:
    """SIGTERM every service's process group at once, SIGKILL what is left after `timeout_s`."""
    services_running = running(cfg)
    for pgid in services_running.values():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while any(_group_members(p) for p in services_running.values()) and time.monotonic() < deadline:
        time.sleep(0.5)
    for pgid in services_running.values():
        if _group_members(pgid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
    for pid_file in _run_dir(cfg).glob("*.pid"):
        pid_file.unlink()
    return list(services_running)
