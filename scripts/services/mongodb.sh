#!/usr/bin/env bash
# Starts a MongoDB-wire-compatible server for the tests: nx-27017 (PyPI), in memory, on
# 127.0.0.1:27018 (TESSERA_MONGODB_PORT). Idempotent: does nothing if the port already answers.
# Tests only: production users point TESSERA_MONGODB_URL / SESSION_URL at a real MongoDB.
set -euo pipefail
cd "$(dirname "$0")/../.."

port="${TESSERA_MONGODB_PORT:-27018}"
venv=".venv-services"
log="$venv/nx-27017.log"

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }

if listening; then
  echo "mongodb (nx-27017): already listening on 127.0.0.1:$port"
  exit 0
fi

if [ ! -x "$venv/bin/nx-27017" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check nx-27017
fi

# setsid: the server outlives this script and the test run that started it.
setsid "$venv/bin/nx-27017" --host 127.0.0.1 -p "$port" --db memory \
  --log-file "$log" --pid-file "$venv/nx-27017.pid" >>"$log" 2>&1 </dev/null &

for _ in $(seq 1 100); do
  if listening; then
    echo "mongodb (nx-27017): listening on 127.0.0.1:$port (log: $log)"
    exit 0
  fi
  sleep 0.1
done
echo "mongodb (nx-27017): did not start within 10 s; see $log" >&2
tail -n 20 "$log" >&2 || true
exit 1
