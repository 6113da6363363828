"""A one-file Django app with the signed_cookies session engine, for tessera's interop tests.

    SECRET_KEY=... python django_app.py --port 5102
"""

import argparse
import os
import sys

import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY=os.environ["SECRET_KEY"],
    SECRET_KEY_FALLBACKS=[k for k in os.environ.get("SECRET_KEY_FALLBACKS", "").split(",") if k],
    ALLOWED_HOSTS=["127.0.0.1", "localhost"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=["django.contrib.sessions.middleware.SessionMiddleware"],
    INSTALLED_APPS=["django.contrib.sessions"],
    SESSION_ENGINE="django.contrib.sessions.backends.signed_cookies",
    SESSION_COOKIE_AGE=int(os.environ.get("SESSION_COOKIE_AGE", "3600")),
    USE_TZ=True,
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


def logout(request):
    request.session.flush()
    return describe(request)


urlpatterns = [
    path("health", health),
    path("get", get),
    path("set/<str:key>/<str:value>", set_value),
    path("expiry/<int:seconds>", expiry),
    path("logout", logout),
]

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=5102)
    args = parser.parse_args()
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    from django.core.wsgi import get_wsgi_application

    class Quiet(WSGIRequestHandler):
        def log_message(self, *a):
            pass

    server = make_server("127.0.0.1", args.port, get_wsgi_application(), handler_class=Quiet)
    print(f"django on 127.0.0.1:{args.port}", file=sys.stderr, flush=True)
    server.serve_forever()
