#!/bin/sh
# Run by the postgres image on the first start of an empty data volume: admit replication
# connections (pg_basebackup and streaming) from the compose network, with the same password
# authentication as every other connection, for the `db-standby` service (profile `replica`).
set -eu
echo "host replication all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
