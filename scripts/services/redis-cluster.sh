#!/usr/bin/env bash
# Starts a three-node Redis Cluster on loopback for the tests (ports ${TESSERA_REDIS_CLUSTER_PORTS:-7001 7002 7003}),
# with Debian's redis-server (installed if absent), data under target/services/redis-cluster.
# Idempotent: does nothing when the cluster already reports cluster_state:ok.
set -euo pipefail
cd "$(dirname "$0")/../.."
read -r -a ports <<< "${TESSERA_REDIS_CLUSTER_PORTS:-7001 7002 7003}"
base="$PWD/target/services/redis-cluster"

cli() { redis-cli -h 127.0.0.1 -p "$1" "${@:2}"; }
cluster_ok() { cli "${ports[0]}" cluster info 2>/dev/null | grep -q '^cluster_state:ok'; }

if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
  echo "installing redis-server and redis-tools (Debian packages)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq redis-server redis-tools >/dev/null
fi

if cluster_ok; then
  echo "redis cluster already up on ports ${ports[*]}"
  exit 0
fi

for port in "${ports[@]}"; do
  if cli "$port" ping >/dev/null 2>&1; then
    continue
  fi
  dir="$base/$port"
  mkdir -p "$dir"
  redis-server --bind 127.0.0.1 --port "$port" --daemonize yes \
    --cluster-enabled yes --cluster-config-file "$dir/nodes.conf" --cluster-node-timeout 5000 \
    --dir "$dir" --save '' --appendonly no \
    --logfile "$dir/redis.log" --pidfile "$dir/redis.pid"
done

for port in "${ports[@]}"; do
  for _ in $(seq 1 50); do
    cli "$port" ping >/dev/null 2>&1 && break
    sleep 0.2
  done
  cli "$port" ping >/dev/null || { echo "redis-server did not start on port $port" >&2; exit 1; }
done

# Nodes restarted from their nodes.conf rejoin by themselves; fresh ones need the cluster made.
known=$(cli "${ports[0]}" cluster info | tr -d '\r' | sed -n 's/^cluster_known_nodes://p')
if [ "${known:-1}" = "1" ]; then
  nodes=()
  for port in "${ports[@]}"; do nodes+=("127.0.0.1:$port"); done
  redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >/dev/null
fi

for _ in $(seq 1 100); do
  if cluster_ok; then
    echo "redis cluster up on ports ${ports[*]}"
    exit 0
  fi
  sleep 0.2
done
echo "the redis cluster on ports ${ports[*]} did not reach cluster_state:ok" >&2
cli "${ports[0]}" cluster info >&2 || true
exit 1
