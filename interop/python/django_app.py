"""A one-file Django app for tessera's interop tests, on one of Django's session engines:

    SECRET_KEY=... python django_app.py --port 5102                      # signed_cookies
    SECRET_KEY=... python django_app.py --port 5111 --engine db \
        --database postgres://postgres@127.0.0.1:5432/test                 # db on PostgreSQL
    SECRET_KEY=... python django_app.py --port 5112 --engine db --database /path/sessions.sqlite3
    SECRET_KEY=... python django_app.py --port 5114 --engine db \
        --database mysql://root@127.0.0.1:3306/test                        # db on MariaDB/MySQL
    SECRET_KEY=... python django_app.py --port 5113 --engine file --file-path /path/dir
    SECRET_KEY=... python django_app.py --port 5115 --engine cache \
        --cache redis://127.0.0.1:6379/0                                   # cache on Redis
    SECRET_KEY=... python django_app.py --port 5116 --engine cache \
        --cache memcached://127.0.0.1:11211                                # cache on memcached
    SECRET_KEY=... python django_app.py --port 5117 --engine cached_db \
        --database postgres://postgres@127.0.0.1:5432/test --cache redis://127.0.0.1:6379/0

With `--engine db` or `cached_db` it runs `migrate sessions` at startup, which creates
`django_session`. `--cache` is the default cache (Django's `RedisCache` for `redis://`,
`PyMemcacheCache` for `memcached://host:port`), with Django's `KEY_PREFIX` and `VERSION`
unless `--cache-key-prefix` or `--cache-version` is given. Whatever `SESSION_SERIALIZER` is,
these engines hand the session dict itself to the cache, which pickles it: a `datetime` (the
`/set-datetime/<key>` view) is kept there, while `db` and `cached_db`'s table hold JSON.
"""

import argparse
import datetime
import os
import sys
from urllib.parse import unquote, urlparse

import django
from django.conf import settings

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, default=5102)
parser.add_argument(
    "--engine", choices=["signed_cookies", "db", "file", "cache", "cached_db"], default="signed_cookies"
)
parser.add_argument(
    "--database", help="postgres:// or mysql:// URL, or SQLite file path (--engine db, cached_db)"
)
parser.add_argument("--file-path", help="SESSION_FILE_PATH (--engine file)")
parser.add_argument(
    "--cache", help="redis://host:port/db or memcached://host:port (--engine cache, cached_db)"
)
parser.add_argument("--cache-key-prefix", help="the cache's KEY_PREFIX (Django's default: '')")
parser.add_argument("--cache-version", type=int, help="the cache's VERSION (Django's default: 1)")
args = parser.parse_args()
if args.engine in ("cache", "cached_db") and not args.cache:
    parser.error(f"--engine {args.engine} needs --cache")


def server(spec, backend, name, user, port):
    """Django's settings for the database server at URL `spec`, with these defaults."""
    url = urlparse(spec)
    return {
        "ENGINE": "django.db.backends." + backend,
        "NAME": url.path.lstrip("/") or name,
        "USER": unquote(url.username or user),
        "PASSWORD": unquote(url.password or ""),
        "HOST": url.hostname or "127.0.0.1",
        "PORT": url.port or port,
    }


def database(spec):
    if spec is None:
        return {}
    if spec.startswith(("postgres://", "postgresql://")):
        return {"default": server(spec, "postgresql", "postgres", "postgres", 5432)}
    if spec.startswith("mysql://"):
        # PyMySQL stands in for mysqlclient (no C build). Django checks the version of the
        # MySQLdb it imports (5.2: mysqlclient 1.4.3+, 6.x: 2.2.1+); PyMySQL 1.2 reports
        # mysqlclient 2.2.8 in `pymysql.version_info`, so both take it as it is.
        import pymysql

        pymysql.install_as_MySQLdb()
        return {"default": server(spec, "mysql", "test", "root", 3306)}
    return {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": spec}}


def caches(spec):
    if spec is None:
        return {}
    if spec.startswith("redis://"):
        cache = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": spec}
    elif spec.startswith("memcached://"):
        url = urlparse(spec)
        cache = {
            "BACKEND": "django.core.cache.backends.memcached.PyMemcacheCache",
            "LOCATION": f"{url.hostname or '127.0.0.1'}:{url.port or 11211}",
        }
    else:
        raise SystemExit(f"--cache {spec!r}: expected redis:// or memcached://")
    if args.cache_key_prefix is not None:
        cache["KEY_PREFIX"] = args.cache_key_prefix
    if args.cache_version is not None:
        cache["VERSION"] = args.cache_version
    return {"default": cache}


extra = {}
if args.cache:
    extra["CACHES"] = caches(args.cache)
if args.engine == "file":
    os.makedirs(args.file_path, exist_ok=True)
    extra["SESSION_FILE_PATH"] = args.file_path

settings.configure(
    DEBUG=False,
    SECRET_KEY=os.environ["SECRET_KEY"],
    SECRET_KEY_FALLBACKS=[k for k in os.environ.get("SECRET_KEY_FALLBACKS", "").split(",") if k],
    ALLOWED_HOSTS=["127.0.0.1", "localhost"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=["django.contrib.sessions.middleware.SessionMiddleware"],
    INSTALLED_APPS=["django.contrib.sessions"],
    SESSION_ENGINE="django.contrib.sessions.backends." + args.engine,
    SESSION_COOKIE_AGE=int(os.environ.get("SESSION_COOKIE_AGE", "3600")),
    DATABASES=database(args.database),
    USE_TZ=True,
    **extra,
)
django.setup()

from django.http import HttpResponse, JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402


def describe(request):
    s = request.session
    return JsonResponse(
        {
            "data": {k: s[k] for k in s.keys()},
            "expiry_age": s.get_expiry_age(),
            "browser_close": s.get_expire_at_browser_close(),
        }
    )


def health(request):
    return HttpResponse("ok")


def get(request):
    return describe(request)


def set_value(request, key, value):
    request.session[key] = value
    return describe(request)


def expiry(request, seconds):
    request.session.set_expiry(seconds)
    request.session["x"] = 1
    return describe(request)


def types(request):
    # Every JSON type Django's JSONSerializer keeps, to check they cross intact.
    request.session.update(
        {
            "int": 42,
            "big": 2**53 + 1,
            "float": 1.5,
            "text": "é✓ \"quoted\" <tag>",
            "list": [1, "x", None, True],
            "nested": {"a": {"b": [False, 0.25]}},
            "empty": {},
        }
    )
    return describe(request)


def expiry_default(request):
    request.session.set_expiry(None)
    request.session["x"] = 1
    return describe(request)


def set_datetime(request, key):
    # A value only pickle keeps: the cache engine stores it, JSON could not.
    request.session[key] = datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    return describe(request)


def login(request, user):
    # What django.contrib.auth.login does to the session, without the auth app's tables.
    request.session.cycle_key()
    request.session["_auth_user_id"] = user
    return describe(request)


def logout(request):
    request.session.flush()
    return describe(request)


urlpatterns = [
    path("health", health),
    path("get", get),
    path("set/<str:key>/<str:value>", set_value),
    path("expiry/<int:seconds>", expiry),
    path("expiry-default", expiry_default),
    path("types", types),
    path("set-datetime/<str:key>", set_datetime),
    path("login/<str:user>", login),
    path("logout", logout),
]

if __name__ == "__main__":
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    from django.core.management import call_command
    from django.core.wsgi import get_wsgi_application

    if args.engine in ("db", "cached_db"):
        call_command("migrate", "sessions", verbosity=0)

    class Quiet(WSGIRequestHandler):
        def log_message(self, *a):
            pass

    server = make_server("127.0.0.1", args.port, get_wsgi_application(), handler_class=Quiet)
    print(f"django ({args.engine}) on 127.0.0.1:{args.port}", file=sys.stderr, flush=True)
    server.serve_forever()
