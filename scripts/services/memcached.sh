#!/usr/bin/env bash
# Starts memcached on 127.0.0.1:${TESSERA_MEMCACHED_PORT:-11211} for the tests, installing
# Debian's package if it is absent. Idempotent: does nothing when memcached already answers.
set -euo pipefail
port="${TESSERA_MEMCACHED_PORT:-11211}"

answers() {
  # A `version` round trip over bash's /dev/tcp.
  (
    exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
    printf 'version\r\n' >&3
    read -r -t 2 reply <&3 || exit 1
    [[ $reply == VERSION* ]]
  ) 2>/dev/null
}

if answers; then
  echo "memcached already answers on 127.0.0.1:$port"
  exit 0
fi

if ! command -v memcached >/dev/null 2>&1; then
  echo "installing memcached (Debian package)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq memcached >/dev/null
fi

if ! answers; then
  user=nobody
  id memcache >/dev/null 2>&1 && user=memcache
  memcached -d -u "$user" -l 127.0.0.1 -p "$port" -m 128 -c 1024
fi

for _ in $(seq 1 50); do
  if answers; then
    echo "memcached answers on 127.0.0.1:$port"
    exit 0
  fi
  sleep 0.2
done
echo "memcached did not start on 127.0.0.1:$port" >&2
exit 1
