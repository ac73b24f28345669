# Astro Runtime for Airflow 3.3 (Astronomer users: `astro dev start`). The runtime already carries
# Airflow; requirements.txt adds the providers and libraries, and the project package itself is
# installed from include/ so DAGs, plugins and the sidecar import the same code.
FROM astrocrpublic.azurecr.io/runtime:3.3-2

COPY --chown=astro:astro pyproject.toml README.md /usr/local/airflow/
COPY --chown=astro:astro include /usr/local/airflow/include
COPY --chown=astro:astro airflow_provider /usr/local/airflow/airflow_provider
RUN pip install --no-cache-dir --no-deps -e /usr/local/airflow -e /usr/local/airflow/airflow_provider
