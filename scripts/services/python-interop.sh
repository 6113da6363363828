#!/usr/bin/env bash
# The Python side of the interop tests: a virtualenv with Flask, Flask-Session and Django from
# PyPI (interop/python/requirements.txt), and the small Flask and Django apps the tests talk to:
# 127.0.0.1:5101 Flask's cookie session, 127.0.0.1:5102 Django's signed_cookies, 127.0.0.1:5103
# Flask-Session on the Redis at 127.0.0.1:6379, 127.0.0.1:5104 Flask-Session on the memcached at
# 127.0.0.1:11211, 127.0.0.1:5105 Flask-Session on that Redis with every setting at its default
# (SESSION_TYPE="redis" alone); Flask-Session's other backends: 127.0.0.1:5121 filesystem (cachelib's layout,
# pickled; the tests check tessera names its files alike), 127.0.0.1:5122 MongoDB (the
# MongoDB-wire server at 127.0.0.1:27018), 127.0.0.1:5123 SQLAlchemy on PostgreSQL (database
# test), 127.0.0.1:5124 SQLAlchemy on an SQLite file, 127.0.0.1:5125 SQLAlchemy on the MariaDB
# at 127.0.0.1:3306 (database test, through PyMySQL); and Django's server-side engines:
# 127.0.0.1:5111 db on PostgreSQL (database test), 127.0.0.1:5112 db on an SQLite file,
# 127.0.0.1:5113 the file engine, 127.0.0.1:5114 db on MariaDB (database test, PyMySQL);
# and Django's cache engines: 127.0.0.1:5115 cache on the Redis at 127.0.0.1:6379 (db 0),
# 127.0.0.1:5116 cache on the memcached at 127.0.0.1:11211, 127.0.0.1:5117 cached_db on
# PostgreSQL (database test) with that Redis as its cache. Django connects to its caches on
# the first request, so Redis (scripts/services/redis.sh, started after this script by
# scripts/test) need not be up yet; PostgreSQL must be, for `migrate`.
# Files live under target/services/. The newest Django
# (interop/python/requirements-django-newest.txt, which needs Python 3.12: taken from PATH or
# pyenv) runs the same Django apps on 127.0.0.1:5141-5148 (db on PostgreSQL, db on SQLite,
# file, signed_cookies, db on MariaDB, cache on Redis, cache on memcached, cached_db).
# Idempotent.
set -euo pipefail
cd "$(dirname "$0")/../.."

venv=.venv-interop
req=interop/python/requirements.txt
logs=target/services
mkdir -p "$logs"

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
stamp="$venv/.requirements.sha256"
want=$(sha256sum "$req" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
  echo "$want" > "$stamp"
fi

# The keys the interop tests use (tests/interop_live.rs); test-only values.
export SECRET_KEY="interop-live-secret-key-0123456789abcdef"
export SECRET_KEY_FALLBACKS="interop-live-older-key-0123456789abcdef"

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() { # name port script [args…]
  local name=$1 port=$2 script=$3
  shift 3
  if listening "$port"; then
    return
  fi
  nohup "${python:-$venv/bin/python}" "interop/python/$script" --port "$port" "$@" >"$logs/$name.log" 2>&1 &
  for _ in $(seq 1 100); do
    if listening "$port"; then
      echo "$name up on 127.0.0.1:$port"
      return
    fi
    sleep 0.1
  done
  echo "$name did not start; its log:" >&2
  cat "$logs/$name.log" >&2
  exit 1
}

start flask 5101 flask_app.py
start django 5102 django_app.py
SESSION_KEY_PREFIX="tessera-interop:" start flask-session 5103 flask_app.py --flask-session-redis 127.0.0.1:6379
start flask-session-redis-defaults 5105 flask_app.py --flask-session-redis-defaults
SESSION_KEY_PREFIX="tessera-interop:" start flask-session-memcached 5104 flask_app.py --flask-session-memcached 127.0.0.1:11211
SESSION_KEY_PREFIX="tessera-interop:" start flask-session-filesystem 5121 flask_app.py --flask-session-filesystem "$PWD/$logs/flask-session-files"
SESSION_KEY_PREFIX="tessera-interop:" start flask-session-mongodb 5122 flask_app.py --flask-session-mongodb mongodb://127.0.0.1:27018
SESSION_KEY_PREFIX="tessera-interop:" start flask-session-postgres 5123 flask_app.py --flask-session-sqlalchemy postgresql+psycopg://postgres@127.0.0.1:5432/test
SESSION_KEY_PREFIX="tessera-interop:" start flask-session-sqlite 5124 flask_app.py --flask-session-sqlalchemy "sqlite:///$PWD/$logs/flask-session.db"
SESSION_KEY_PREFIX="tessera-interop:" start flask-session-mysql 5125 flask_app.py --flask-session-sqlalchemy mysql+pymysql://root@127.0.0.1:3306/test
start django-db-postgres 5111 django_app.py --engine db \
  --database "${TESSERA_DJANGO_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
start django-db-sqlite 5112 django_app.py --engine db --database "$PWD/$logs/django-sessions.sqlite3"
start django-file 5113 django_app.py --engine file --file-path "$PWD/$logs/django-file-sessions"
start django-db-mysql 5114 django_app.py --engine db \
  --database "${TESSERA_DJANGO_MYSQL_URL:-mysql://root@127.0.0.1:3306/test}"
start django-cache-redis 5115 django_app.py --engine cache \
  --cache "${TESSERA_DJANGO_REDIS_URL:-redis://127.0.0.1:6379/0}"
start django-cache-memcached 5116 django_app.py --engine cache \
  --cache "${TESSERA_DJANGO_MEMCACHED_URL:-memcached://127.0.0.1:11211}"
start django-cached-db 5117 django_app.py --engine cached_db \
  --database "${TESSERA_DJANGO_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}" \
  --cache "${TESSERA_DJANGO_REDIS_URL:-redis://127.0.0.1:6379/0}"

# The newest Django on the package index needs Python 3.12 or newer, not Debian's 3.11.
py312=""
for candidate in $(command -v python3.13 python3.12 2>/dev/null) "$HOME"/.pyenv/versions/3.1[2-9]*/bin/python3; do
  # pyenv's shims exist on PATH even when they cannot run: try each one.
  if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
    py312=$candidate
    break
  fi
done
if [ -z "$py312" ]; then
  echo "!!! no Python 3.12 (PATH or pyenv): the newest Django is not started; its tests will skip or, under TESSERA_REQUIRE_SERVICES=1, fail" >&2
  exit 0
fi
venv6=.venv-interop-django-newest
req6=interop/python/requirements-django-newest.txt
if [ ! -x "$venv6/bin/python" ]; then
  "$py312" -m venv "$venv6"
fi
stamp6="$venv6/.requirements.sha256"
want6=$(sha256sum "$req6" | cut -d' ' -f1)
if [ "$(cat "$stamp6" 2>/dev/null)" != "$want6" ]; then
  "$venv6/bin/pip" install --quiet --disable-pip-version-check -r "$req6"
  echo "$want6" > "$stamp6"
fi
python="$venv6/bin/python"
start django-newest-db-postgres 5141 django_app.py --engine db \
  --database "${TESSERA_DJANGO_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
start django-newest-db-sqlite 5142 django_app.py --engine db --database "$PWD/$logs/django-newest-sessions.sqlite3"
start django-newest-file 5143 django_app.py --engine file --file-path "$PWD/$logs/django-newest-file-sessions"
start django-newest 5144 django_app.py
start django-newest-db-mysql 5145 django_app.py --engine db \
  --database "${TESSERA_DJANGO_MYSQL_URL:-mysql://root@127.0.0.1:3306/test}"
start django-newest-cache-redis 5146 django_app.py --engine cache \
  --cache "${TESSERA_DJANGO_REDIS_URL:-redis://127.0.0.1:6379/0}"
start django-newest-cache-memcached 5147 django_app.py --engine cache \
  --cache "${TESSERA_DJANGO_MEMCACHED_URL:-memcached://127.0.0.1:11211}"
start django-newest-cached-db 5148 django_app.py --engine cached_db \
  --database "${TESSERA_DJANGO_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}" \
  --cache "${TESSERA_DJANGO_REDIS_URL:-redis://127.0.0.1:6379/0}"
