#!/bin/sh
# Creates the Temporal and visibility databases in PostgreSQL and migrates them to the image's schema version.
set -eu
SCHEMA=/etc/temporal/schema/postgresql/v12
for db in temporal temporal_visibility; do
  dir=$SCHEMA/temporal/versioned
  [ "$db" = temporal_visibility ] && dir=$SCHEMA/visibility/versioned
  sql() { temporal-sql-tool --plugin postgres12 --ep postgresql -p 5432 -u temporal --pw "$POSTGRES_PASSWORD" --db "$db" "$@"; }
  sql create || true # already there on a restart
  sql setup-schema -v 0.0
  sql update-schema -d "$dir"
done
