#!/usr/bin/env bash
# Makes sure PostgreSQL answers on 127.0.0.1:5432 for the tests. The machine normally starts
# it before a session; this starts the packaged cluster only if nothing is listening.
set -euo pipefail

listening() { (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; }

if listening; then
  echo "postgres: listening on 127.0.0.1:5432"
  exit 0
fi
if ! command -v pg_ctlcluster >/dev/null || [ ! -d /etc/postgresql ]; then
  echo "postgres: not installed; its tests will skip (or fail under TESSERA_REQUIRE_SERVICES=1)" >&2
  exit 0
fi
pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
for _ in $(seq 1 100); do
  if listening; then
    echo "postgres: started on 127.0.0.1:5432"
    exit 0
  fi
  sleep 0.1
done
echo "postgres: did not start within 10 s" >&2
exit 1
