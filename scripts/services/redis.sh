#!/usr/bin/env bash
# Makes sure Redis answers on 127.0.0.1:6379 for the tests. The machine normally starts it
# before a session; this starts Debian's redis-server (installing it if absent) only if
# nothing is listening. It keeps nothing on disk.
set -euo pipefail

listening() { (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; }

if listening; then
  echo "redis: listening on 127.0.0.1:6379"
  exit 0
fi
if ! command -v redis-server >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq redis-server >/dev/null
fi
redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
for _ in $(seq 1 100); do
  if listening; then
    echo "redis: started on 127.0.0.1:6379"
    exit 0
  fi
  sleep 0.1
done
echo "redis: did not start within 10 s" >&2
exit 1
