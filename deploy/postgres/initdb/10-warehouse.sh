#!/usr/bin/env bash
# The warehouse database beside Airflow's metadata database, on the first start of an empty
# PostgreSQL volume (the postgres image runs /docker-entrypoint-initdb.d once, never again).
#
# Its own role, owner of its own database and nothing else: the warehouse credentials cannot
# reach Airflow's metadata, and PUBLIC may connect to neither database. The schema itself is
# created by `cfp db upgrade` (the airflow-init service), as this role.
set -euo pipefail

: "${POSTGRES_USER:?}" "${POSTGRES_DB:?}"
: "${CFP_WAREHOUSE_DB:?}" "${CFP_WAREHOUSE_DB_USER:?}" "${CFP_WAREHOUSE_DB_PASSWORD:?}"

psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v wh_db="$CFP_WAREHOUSE_DB" -v wh_user="$CFP_WAREHOUSE_DB_USER" \
  -v wh_password="$CFP_WAREHOUSE_DB_PASSWORD" -v meta_db="$POSTGRES_DB" <<'SQL'
CREATE ROLE :"wh_user" LOGIN PASSWORD :'wh_password';
CREATE DATABASE :"wh_db" OWNER :"wh_user";
REVOKE ALL ON DATABASE :"wh_db" FROM PUBLIC;
REVOKE ALL ON DATABASE :"meta_db" FROM PUBLIC;
SQL
