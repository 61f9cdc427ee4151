# The image every Airflow component runs in docker compose: the official Airflow image plus this project,
# installed with the same pinned constraints as `make install`.
FROM apache/airflow:3.3.2-python3.11

USER airflow
WORKDIR /opt/retention
COPY --chown=airflow:root pyproject.toml constraints.txt README.md ./
COPY --chown=airflow:root retention ./retention
COPY --chown=airflow:root training ./training
COPY --chown=airflow:root benchmarks ./benchmarks
# torch's CPU build (the constraints pin torch==2.13.0; the default index would pull the CUDA build).
RUN pip install --no-cache-dir --extra-index-url https://download.pytorch.org/whl/cpu \
        -c constraints.txt -e . "apache-airflow-providers-postgres"
COPY --chown=airflow:root . .
