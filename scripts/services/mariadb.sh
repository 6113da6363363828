#!/usr/bin/env bash
# Makes sure MariaDB answers on 127.0.0.1:3306 for the tests. The machine normally starts it
# before a session; this starts the packaged server only if nothing is listening.
set -euo pipefail

listening() { (exec 3<>/dev/tcp/127.0.0.1/3306) 2>/dev/null; }

if listening; then
  echo "mariadb: listening on 127.0.0.1:3306"
  exit 0
fi
if [ ! -x /usr/sbin/mariadbd ]; then
  echo "mariadb: not installed; its tests will skip (or fail under TESSERA_REQUIRE_SERVICES=1)" >&2
  exit 0
fi
start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
for _ in $(seq 1 100); do
  if listening; then
    echo "mariadb: started on 127.0.0.1:3306"
    exit 0
  fi
  sleep 0.1
done
echo "mariadb: did not start within 10 s" >&2
exit 1
