#!/bin/sh
# Creates the Temporal and visibility databases in PostgreSQL and migrates them to this admin-tools image's schema.
# temporal-sql-tool (1.31) reads its connection from SQL_PLUGIN, SQL_HOST, SQL_PORT, SQL_USER and SQL_PASSWORD (set
# in docker-compose.yml), so the password is never on a command line; `create-database` was called `create` before.
set -eu
SCHEMA=/etc/temporal/schema/postgresql/v12
for db in temporal temporal_visibility; do
  dir=$SCHEMA/temporal/versioned
  [ "$db" = temporal_visibility ] && dir=$SCHEMA/visibility/versioned
  temporal-sql-tool --db "$db" create-database || true # already there on a restart
  temporal-sql-tool --db "$db" setup-schema -v 0.0
  temporal-sql-tool --db "$db" update-schema -d "$dir"
done
