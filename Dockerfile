# Astro Runtime for Airflow 3.3 on Python 3.11 (the lock and requires-python are 3.11; the
# runtime's default distribution is a newer Python). Astronomer users: `astro dev start`;
# docker-compose.yaml builds and runs the same image (docs/deployment.md).
# The runtime's ONBUILD steps install packages.txt and requirements.txt (the providers, the
# Celery provider for the CeleryExecutor among them) and copy the build context, which
# .dockerignore filters; the project package itself is then installed from include/ so DAGs,
# plugins, the sidecar and `cfp db upgrade` import the same code.
FROM astrocrpublic.azurecr.io/runtime:3.3-2-python-3.11

COPY --chown=astro:astro pyproject.toml README.md /usr/local/airflow/
COPY --chown=astro:astro include /usr/local/airflow/include
COPY --chown=astro:astro airflow_provider /usr/local/airflow/airflow_provider
RUN pip install --no-cache-dir --no-deps -e /usr/local/airflow -e /usr/local/airflow/airflow_provider
# Where the reconciliation DAG writes the finance report (CFP_REPORT_OUT_DIR in
# docker-compose.yaml): owned by the runtime's user, so a volume mounted on it is writable.
USER root
RUN install -d -o astro -g astro /usr/local/airflow/reports
USER astro
