"""Writes the golden vectors: cookies and records made by real Flask and Django with a fixed
secret and a fixed clock, which tessera must reproduce byte for byte.

    python golden.py > ../../crates/tessera/tests/data/golden.json
"""

import datetime
from importlib import metadata
import json
import sys
import uuid
from unittest import mock

import django
from django.conf import settings

FLASK_SECRET = "flask-golden-secret-key-0123456789abcdef"
DJANGO_SECRET = "django-golden-secret-key-0123456789abcdefghij"
OLD_SECRET = "an-older-secret-key-still-accepted-0123456"
NOW = 1_700_000_000

settings.configure(SECRET_KEY=DJANGO_SECRET, SECRET_KEY_FALLBACKS=[], USE_TZ=True)
django.setup()

from django.core import signing  # noqa: E402
from flask import Flask  # noqa: E402
from markupsafe import Markup  # noqa: E402


def flask_cookies():
    cases = [
        ("plain", {"user": "ada", "count": 3}, False),
        ("unicode and nesting", {"name": "Zoë ✓ 😀", "list": [1, 2.5, True, None], "nested": {"b": 1, "a": "x"}}, False),
        ("permanent", {"user": "grace"}, True),
        ("compressed", {"text": "abc" * 200}, False),
        ("floats", {"f": 1e16, "g": 0.1, "h": 1e-05, "i": -0.0, "j": 123456.789}, False),
        ("empty-looking values", {"a": "", "b": [], "c": {}, "d": 0}, False),
    ]
    tagged = [
        ("tuple", {"t": (1, "two", (3,))}),
        ("bytes", {"b": b"\x00\xffbinary"}),
        ("datetime", {"d": datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)}),
        ("uuid", {"u": uuid.UUID("12345678-1234-5678-1234-567812345678")}),
        ("markup", {"m": Markup("<b>bold</b>")}),
        ("dict with a tag-like key", {"x": {" t": "not a tuple"}}),
    ]
    app = Flask(__name__)
    app.secret_key = FLASK_SECRET
    out = []
    with app.app_context(), mock.patch("itsdangerous.timed.time.time", return_value=NOW):
        serializer = app.session_interface.get_signing_serializer(app)
        for name, data, permanent in cases:
            session = dict(data)
            if permanent:
                session["_permanent"] = True
            cookie = serializer.dumps(session)
            out.append({"name": name, "permanent": permanent, "data": data, "cookie": cookie})
        for name, data in tagged:
            cookie = serializer.dumps(data)
            # What tessera sees: the tagged JSON, kept as it came.
            tagged_json = app.session_interface.serializer.dumps(data)
            out.append({"name": name, "permanent": False, "data": json.loads(tagged_json), "cookie": cookie})
    # Signed with a key that is now a fallback.
    app.secret_key = OLD_SECRET
    with app.app_context(), mock.patch("itsdangerous.timed.time.time", return_value=NOW):
        cookie = app.session_interface.get_signing_serializer(app).dumps({"old": True})
    out.append({"name": "signed with the fallback key", "permanent": False, "data": {"old": True}, "cookie": cookie, "fallback": True})
    return out


def django_values():
    cases = [
        ("login", {"_auth_user_backend": "django.contrib.auth.backends.ModelBackend", "_auth_user_hash": "5f4dcc3b5aa765d61d8327deb882cf99", "_auth_user_id": "1"}),
        ("browser session", {"_session_expiry": 0, "cart": [1, 2]}),
        ("age", {"_session_expiry": 300, "n": 1}),
        ("fixed date", {"_session_expiry": "2030-01-02T03:04:05+00:00", "n": 1}),
        ("compressed", {"text": "abc" * 200}),
        ("unicode", {"name": "Zoë ✓ 😀"}),
    ]
    out = []
    with mock.patch("django.core.signing.time.time", return_value=NOW):
        for name, data in cases:
            # Django writes keys in insertion order; tessera sorted. Sorted here, so the bytes match.
            data = dict(sorted(data.items()))
            out.append({
                "name": name,
                "data": data,
                "signed_cookie": signing.dumps(data, salt="django.contrib.sessions.backends.signed_cookies", compress=True),
                "session_data": signing.dumps(data, salt="django.contrib.sessions.SessionStore", compress=True),
            })
    return out


def flask_session_records():
    import base64
    import pickle

    import msgspec
    from itsdangerous import Signer

    cases = [
        ("login", {"_permanent": True, "user": "ada", "count": 3}),
        ("nested and unicode", {"name": "Zoë ✓ 😀", "list": [1, -1, 300, -70000, 2.5, None, True], "m": {"a": {"b": []}}}),
        ("bytes and datetime", {"raw": b"\x00\xff", "when": datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)}),
        ("big ints", {"u": 2**64 - 1, "i": -(2**63)}),
    ]
    def sort(v):
        # Python keeps insertion order, tessera sorted keys: sorted here, the bytes match.
        if isinstance(v, dict):
            return {k: sort(v[k]) for k in sorted(v)}
        if isinstance(v, list):
            return [sort(x) for x in v]
        return v

    encoder = msgspec.msgpack.Encoder()
    out = [
        {"name": name, "record_b64": base64.b64encode(encoder.encode(sort(data))).decode()}
        for name, data in cases
    ]
    signer = Signer(FLASK_SECRET, salt="flask-session", key_derivation="hmac")
    sid = "f1BHbYtxQ2fu2pmo0LmHCE1pz3Tp5OcDNrSSUdi4pjU"
    return {
        "records": out,
        "pickle_b64": base64.b64encode(pickle.dumps({"user": "ada"}, protocol=4)).decode(),
        "sid": sid,
        "signed_sid": signer.sign(sid.encode()).decode(),
    }


def framework_defaults():
    """Each framework's own defaults for the settings a tessera profile mirrors."""
    from django.conf import global_settings
    from django.contrib.sessions.backends import cache as django_cache
    from flask_session.defaults import Defaults

    app = Flask(__name__)
    flask = {k: app.config[k] for k in ("SESSION_COOKIE_NAME", "SESSION_COOKIE_HTTPONLY", "SESSION_COOKIE_SECURE", "SESSION_COOKIE_SAMESITE", "SESSION_REFRESH_EACH_REQUEST", "APPLICATION_ROOT")}
    flask["PERMANENT_SESSION_LIFETIME"] = int(app.config["PERMANENT_SESSION_LIFETIME"].total_seconds())
    with app.test_request_context():
        from flask import session
        flask["session.permanent"] = session.permanent
    flask_session = {k: getattr(Defaults, k) for k in ("SESSION_PERMANENT", "SESSION_USE_SIGNER", "SESSION_KEY_PREFIX", "SESSION_FILE_THRESHOLD", "SESSION_FILE_MODE", "SESSION_SERIALIZATION_FORMAT")}
    django_defaults = {k: getattr(global_settings, k) for k in ("SESSION_COOKIE_NAME", "SESSION_COOKIE_AGE", "SESSION_COOKIE_HTTPONLY", "SESSION_COOKIE_SECURE", "SESSION_COOKIE_SAMESITE", "SESSION_COOKIE_PATH", "SESSION_EXPIRE_AT_BROWSER_CLOSE", "SESSION_SAVE_EVERY_REQUEST")}
    django_defaults["cache KEY_PREFIX"] = django_cache.KEY_PREFIX
    return {"flask": flask, "flask_session": flask_session, "django": django_defaults}


json.dump(
    {
        "generated_by": {"flask": metadata.version("flask"), "itsdangerous": metadata.version("itsdangerous"), "flask-session": metadata.version("flask-session"), "msgspec": metadata.version("msgspec"), "django": django.get_version()},
        "now": NOW,
        "flask_secret": FLASK_SECRET,
        "django_secret": DJANGO_SECRET,
        "old_secret": OLD_SECRET,
        "flask": flask_cookies(),
        "django": django_values(),
        "flask_session": flask_session_records(),
        "defaults": framework_defaults(),
    },
    sys.stdout,
    indent=1,
    ensure_ascii=False,
)
sys.stdout.write("\n")
