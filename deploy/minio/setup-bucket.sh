#!/bin/sh
# One-shot: the jobs bucket, and a user who can read and write only that bucket (the workers and whoever submits
# jobs use it; the root credentials stay with the store). Safe to run again: every step is idempotent.
set -eu
mc=$(command -v mcli || command -v mc) # Silo ships the MinIO client as `mcli`
# The alias from the environment, not `alias set`: no credentials on a command line or in a config file.
export MC_HOST_store="http://${MINIO_ROOT_USER}:${MINIO_ROOT_PASSWORD}@minio:9000"
until "$mc" ready store >/dev/null 2>&1; do sleep 1; done
"$mc" mb --ignore-existing "store/$BUCKET"
"$mc" admin policy create store claude-batch /claude-batch/bucket-policy.json
"$mc" admin user add store "$S3_ACCESS_KEY_ID" "$S3_SECRET_ACCESS_KEY"
"$mc" admin policy attach store claude-batch --user "$S3_ACCESS_KEY_ID" 2>/dev/null || true # attached already
echo "bucket $BUCKET ready for $S3_ACCESS_KEY_ID"
