#!/bin/sh
# The namespace batch jobs run in, and the search attributes they set (the UI filters on them).
set -eu
until temporal operator cluster health >/dev/null 2>&1; do sleep 2; done
temporal operator namespace describe --namespace default >/dev/null 2>&1 ||
  temporal operator namespace create --namespace default --retention 30d
temporal operator search-attribute create --namespace default \
  --name BatchJobStatus --type Keyword \
  --name BatchJobEstimatedUsd --type Double \
  --name BatchJobExpiringSoon --type Bool || true # already there on a restart
