"""A Flask app for tessera's interop tests: Flask's built-in cookie session, or Flask-Session
0.8 on Redis, memcached, MongoDB or SQLAlchemy (PostgreSQL, SQLite).

    SECRET_KEY=... python flask_app.py --port 5101
    SECRET_KEY=... SESSION_KEY_PREFIX=... python flask_app.py --port 5103 --flask-session-redis 127.0.0.1:6379
    SECRET_KEY=... python flask_app.py --port 5105 --flask-session-redis-defaults   # SESSION_TYPE="redis" alone
    SECRET_KEY=... SESSION_KEY_PREFIX=... python flask_app.py --port 5104 --flask-session-memcached 127.0.0.1:11211
    SECRET_KEY=... SESSION_KEY_PREFIX=... python flask_app.py --port 5121 --flask-session-filesystem target/services/flask-session-files
    SECRET_KEY=... SESSION_KEY_PREFIX=... python flask_app.py --port 5122 --flask-session-mongodb mongodb://127.0.0.1:27018
    SECRET_KEY=... SESSION_KEY_PREFIX=... python flask_app.py --port 5123 --flask-session-sqlalchemy postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

import argparse
import datetime
import os
import uuid

from flask import Flask, jsonify, session

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, default=5101)
parser.add_argument(
    "--flask-session-redis-defaults",
    action="store_true",
    help="Flask-Session with SESSION_TYPE='redis' and every other setting (and Flask's) left at its default",
)
parser.add_argument(
    "--flask-session-redis",
    metavar="HOST:PORT",
    help="keep sessions server-side with Flask-Session on this Redis (else Flask's cookie session)",
)
parser.add_argument(
    "--flask-session-memcached",
    metavar="HOST:PORT",
    help="keep sessions server-side with Flask-Session on this memcached",
)
parser.add_argument(
    "--flask-session-filesystem",
    metavar="DIR",
    help="keep sessions with Flask-Session's filesystem backend in DIR",
)
parser.add_argument(
    "--flask-session-mongodb",
    metavar="URL",
    help="keep sessions with Flask-Session in this MongoDB (database flask_session, collection sessions)",
)
parser.add_argument(
    "--flask-session-sqlalchemy",
    metavar="URL",
    help="keep sessions with Flask-Session in this SQLAlchemy database (table sessions)",
)
args = parser.parse_args()

app = Flask(__name__)
app.secret_key = os.environ["SECRET_KEY"]
app.config["SECRET_KEY_FALLBACKS"] = [k for k in os.environ.get("SECRET_KEY_FALLBACKS", "").split(",") if k]
if not args.flask_session_redis_defaults:
    app.config["PERMANENT_SESSION_LIFETIME"] = datetime.timedelta(
        seconds=int(os.environ.get("PERMANENT_SESSION_LIFETIME", "3600"))
    )
if args.flask_session_redis_defaults:
    from flask_session import Session

    # Nothing but the type: Redis on localhost:6379, prefix "session:", no signer, permanent.
    app.config["SESSION_TYPE"] = "redis"
    Session(app)
elif args.flask_session_redis:
    import redis
    from flask_session import Session

    host, port = args.flask_session_redis.split(":")
    app.config.update(
        SESSION_TYPE="redis",
        SESSION_REDIS=redis.Redis(host=host, port=int(port)),
        SESSION_KEY_PREFIX=os.environ.get("SESSION_KEY_PREFIX", "session:"),
        SESSION_USE_SIGNER=True,
    )
    Session(app)
elif args.flask_session_memcached:
    from flask_session import Session
    from pymemcache.client.base import PooledClient

    app.config.update(
        SESSION_TYPE="memcached",
        # The development server is threaded and a plain pymemcache Client is not thread-safe;
        # pymemcache's default `noreply` would answer the request before memcached stored the
        # session, so the next request (from Python or tessera) could read the old one.
        SESSION_MEMCACHED=PooledClient(args.flask_session_memcached, default_noreply=False),
        SESSION_KEY_PREFIX=os.environ.get("SESSION_KEY_PREFIX", "session:"),
        SESSION_USE_SIGNER=True,
    )
    Session(app)
elif args.flask_session_filesystem:
    import warnings

    from flask_session import Session

    warnings.simplefilter("ignore", DeprecationWarning)
    app.config.update(
        SESSION_TYPE="filesystem",
        SESSION_FILE_DIR=args.flask_session_filesystem,
        SESSION_KEY_PREFIX=os.environ.get("SESSION_KEY_PREFIX", "session:"),
        SESSION_USE_SIGNER=True,
    )
    Session(app)
elif args.flask_session_mongodb:
    from flask_session import Session
    from pymongo import MongoClient

    app.config.update(
        SESSION_TYPE="mongodb",
        SESSION_MONGODB=MongoClient(args.flask_session_mongodb),
        SESSION_KEY_PREFIX=os.environ.get("SESSION_KEY_PREFIX", "session:"),
        SESSION_USE_SIGNER=True,
    )
    Session(app)
elif args.flask_session_sqlalchemy:
    from flask_session import Session
    from flask_sqlalchemy import SQLAlchemy

    app.config["SQLALCHEMY_DATABASE_URI"] = args.flask_session_sqlalchemy
    app.config.update(
        SESSION_TYPE="sqlalchemy",
        SESSION_SQLALCHEMY=SQLAlchemy(app),
        SESSION_KEY_PREFIX=os.environ.get("SESSION_KEY_PREFIX", "session:"),
        SESSION_USE_SIGNER=True,
    )
    Session(app)


def plain_json(v):
    """Whether JSON holds `v` as it is (a tuple would become a list, bytes fail)."""
    if v is None or isinstance(v, (str, bool, float)):
        return True
    if isinstance(v, int):
        return abs(v) < 2**63
    if isinstance(v, list):
        return all(plain_json(x) for x in v)
    if isinstance(v, dict):
        return all(isinstance(k, str) and plain_json(x) for k, x in v.items())
    return False


def describe():
    """The session as JSON, with each value's Python type name."""
    items = {k: v for k, v in session.items() if k != "_permanent"}
    return jsonify(
        permanent=session.permanent,
        data={k: v if plain_json(v) else repr(v) for k, v in items.items()},
        types={k: type(v).__name__ for k, v in items.items()},
    )


@app.get("/health")
def health():
    return "ok"


@app.get("/get")
def get():
    return describe()


@app.get("/set/<key>/<value>")
def set_value(key, value):
    session[key] = value
    return describe()


@app.get("/login/<user>")
def login(user):
    session["user"] = user
    session.permanent = True
    return describe()


@app.get("/types")
def types():
    session["tuple"] = (1, "two")
    session["bytes"] = b"\x00\xff"
    session["when"] = datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    session["uuid"] = uuid.UUID("12345678-1234-5678-1234-567812345678")
    return describe()


@app.get("/plain-types")
def plain_types():
    # Plain data that pickle keeps and JSON lacks: what crosses the filesystem backend.
    session["tuple"] = (1, "two")
    session["bytes"] = b"\x00\xff"
    session["set"] = {3, 1, 2}
    session["big"] = 2**70 + 1
    session["float"] = 0.1
    session["nested"] = {"a": [(True, None), {"b": b"x"}]}
    return describe()


@app.get("/logout")
def logout():
    session.clear()
    return describe()


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=args.port, threaded=True)
