"""Writes the golden vectors: cookies and records made by real Flask and Django with a fixed
secret and a fixed clock, which tessera must reproduce byte for byte.

    python golden.py > ../../crates/tessera/tests/data/golden.json
"""

import datetime
from importlib import metadata
import json
import os
import sys
import uuid
from unittest import mock

import django
from django.conf import settings

# Sets of str and bytes iterate (and pickle) in an order set by the hash seed: a fixed seed,
# so the vectors are the same bytes every run.
if os.environ.get("PYTHONHASHSEED") != "0":
    os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "PYTHONHASHSEED": "0"})

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


# The tags of tessera::interop::pickle's JSON mapping.
PICKLE_TAGS = {" i", " b", " t", " s", " di"}


def pickle_json(v):
    """A plain Python value as tessera::interop::pickle maps it to JSON."""
    import base64

    if v is None or isinstance(v, (bool, str, float)):
        return v
    if isinstance(v, int):
        return v if -(2**63) <= v < 2**64 else {" i": str(v)}
    if isinstance(v, bytes):
        return {" b": base64.b64encode(v).decode()}
    if isinstance(v, tuple):
        return {" t": [pickle_json(x) for x in v]}
    if isinstance(v, set):
        # In iteration order: the order pickle writes the items in.
        return {" s": [pickle_json(x) for x in v]}
    if isinstance(v, list):
        return [pickle_json(x) for x in v]
    if isinstance(v, dict):
        assert all(type(k) is str for k in v), v
        if len(v) == 1 and next(iter(v)) in PICKLE_TAGS:
            key = next(iter(v))
            return {" di": {key + "__": pickle_json(v[key])}}
        return {k: pickle_json(x) for k, x in v.items()}
    raise TypeError(type(v))


# The opcodes tessera reads; the first opcode outside them is where it stops.
PICKLE_ALLOWED = {
    "PROTO", "FRAME", "STOP", "MARK", "POP", "POP_MARK", "DUP",
    "PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE", "GET", "BINGET", "LONG_BINGET",
    "NONE", "NEWTRUE", "NEWFALSE",
    "INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4",
    "FLOAT", "BINFLOAT", "STRING", "BINSTRING", "SHORT_BINSTRING",
    "UNICODE", "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8",
    "BINBYTES", "SHORT_BINBYTES", "BINBYTES8",
    "EMPTY_LIST", "APPEND", "APPENDS", "LIST",
    "EMPTY_DICT", "SETITEM", "SETITEMS", "DICT",
    "EMPTY_TUPLE", "TUPLE", "TUPLE1", "TUPLE2", "TUPLE3",
    "EMPTY_SET", "ADDITEMS",
}
# Plain, but outside the JSON mapping.
PICKLE_UNREPRESENTABLE = {"FROZENSET", "BYTEARRAY8"}


class GoldenThing:
    """A class instance, as an app might put in a session."""

    def __init__(self):
        self.x = 1


def pickle_vectors():
    """Plain values as CPython pickles them, and pickles tessera must refuse."""
    import base64
    import collections
    import decimal
    import os
    import pickle
    import pickletools
    import struct
    import tempfile

    import msgspec
    from cachelib import FileSystemCache
    from django.core.cache.backends.redis import RedisSerializer

    def b64(b):
        return base64.b64encode(b).decode()

    shared = [1, "two"]
    login = {
        "_auth_user_id": "1",
        "_auth_user_backend": "django.contrib.auth.backends.ModelBackend",
        "_auth_user_hash": "9ebcb0a9c7d1ab0e3b1b3bc6eb04f3e1a5b2c7d8e9f0a1b2c3d4e5f60718293a",
        "_session_expiry": 300,
    }
    deep = "bottom"
    for i in range(40):
        deep = [deep] if i % 2 else {"d": deep}
    # At every protocol: no bytes (plain from protocol 3) and no sets (from 4).
    every_protocol = [
        ("None", None),
        ("bools", [True, False]),
        ("small ints", [0, 1, -1, 255, 256, 65535, 65536, -(2**31), 2**31 - 1, 2**31, -(2**31) - 1]),
        ("i64 and u64 edges", [2**63 - 1, -(2**63), 2**63, 2**64 - 1]),
        ("big ints", [2**64, -(2**63) - 1, -(2**64), 10**40, -(10**40), 2**200 + 1, -(2**2000), 7**2000]),
        ("floats", [0.0, -0.0, 1.5, -2.25, 1e300, 5e-324, 0.1, 1e16, 123456.789, 2.0**-1074 * 3]),
        ("unicode", "Zoë ✓ 😀 \n \\ \x00 \r \x1a \\u0041 end"),
        ("a long str", "é" * 300 + "x" * 700),
        ("empty containers", [[], {}, (), ""]),
        ("tuples of every size", [(1,), (1, 2), (1, 2, 3), (1, 2, 3, 4), (1, (2, (3, ())))]),
        ("nested", {"a": [1, (2, 3), {"b": (4,)}], "t": (1, 2, 3, 4, 5), "n": None}),
        ("repeated strings, memoized", {"k": ["same", "same", "same"], "d": [{"name": "x"}, {"name": "y"}], "name": "name"}),
        ("a shared sub-list", {"a": shared, "b": shared, "c": [shared, (shared,)]}),
        ("tag-like keys", [{" t": 1}, {" di": {" b": "x"}}, {" i": "5", "other": 1}, {"x": {" s": []}}]),
        ("django login session", login),
        ("django session with a date", {"_session_expiry": "2030-01-02T03:04:05+00:00", "cart": [1, 2], "n": 1}),
        ("deep-ish nesting", deep),
        ("a list past one APPENDS batch", list(range(1001))),
        ("a dict past one SETITEMS batch", {f"k{i}": i for i in range(1001)}),
    ]
    with_bytes = [
        ("bytes", [b"", b"\x00\xff", b"x" * 300, (b"in a tuple",)]),
        ("flask-session-like record", {"_permanent": True, "raw": b"\x00\x01", "user": "ada"}),
    ]
    with_sets = [
        ("sets", {"ints": {1, 2, 3}, "mixed": {"a", (1, b"x"), 2**70}, "empty": set()}),
        ("a set past one ADDITEMS batch", set(range(1001))),
    ]
    out = []
    for protocol in range(6):
        cases = every_protocol + (with_bytes if protocol >= 3 else []) + (with_sets if protocol >= 4 else [])
        for name, value in cases:
            data = pickle.dumps(value, protocol)
            out.append({"name": f"{name}, protocol {protocol}", "pickle_b64": b64(data), "json": pickle_json(value)})

    # Python 2's str opcodes, which Python 3 reads as ASCII str (hand-written as Python 2 wrote them).
    py2 = [
        ("python 2 protocol 0 dict", b"(dp0\nS'user'\np1\nS'ada'\np2\nsS'n'\np3\nI5\nsS'big'\np4\nL12345678901234567890123L\nsS'esc'\np5\nS'a\\\\b\\'c\\x41\\101\\n\\t'\np6\nsS\"q\"\np7\nI01\ns."),
        ("python 2 protocol 1 dict", b"}q\x00(U\x04userq\x01U\x03adaq\x02T\x04\x00\x00\x00longq\x03K\x01U\x01fq\x04G?\xf8\x00\x00\x00\x00\x00\x00u."),
        ("protocol 0 unicode escapes", b"(lp0\nV\\u00e9\\U0001f600\xe9\\\\x\np1\naF-2.5e-10\naL-0\na."),
    ]
    for name, data in py2:
        out.append({"name": name, "pickle_b64": b64(data), "json": pickle_json(pickle.loads(data))})

    # What the frameworks store, made by the frameworks.
    out.append({"name": "django 5.2 RedisSerializer, login session", "pickle_b64": b64(RedisSerializer().dumps(login)), "json": pickle_json(login)})
    flask_session_record = msgspec.msgpack.encode({"_permanent": True, "user": "ada"})
    with tempfile.TemporaryDirectory() as tmp:
        cache = FileSystemCache(tmp, threshold=0, default_timeout=0)
        files = []
        for key, value in [("login", login), ("flask-session-0.8", flask_session_record)]:
            cache.set(key, value)
            with open(cache._get_filename(key), "rb") as f:
                files.append((key, value, f.read()))
    for key, value, raw in files:
        assert raw[:4] == struct.pack("I", 0)
        out.append({
            "name": f"cachelib 0.17 FileSystemCache file ({key}) after its expiry header",
            "pickle_b64": b64(raw[4:]),
            "json": pickle_json(value),
            "file_b64": b64(raw),
        })

    # Refused: the first opcode tessera does not read, and where it is.
    os_system = b"cos\nsystem\n(S'echo pwned'\ntR."
    # Never loaded: only its opcodes are listed (pickletools.genops runs nothing).
    body = b"\x8c\x02os\x94\x8c\x06system\x94\x93\x94\x8c\x04echo\x94\x85\x94R\x94."
    os_system_4 = b"\x80\x04\x95" + struct.pack("<Q", len(body)) + body
    refused = [
        ("datetime, protocol 5", pickle.dumps(datetime.datetime(2030, 1, 1), 5)),
        ("datetime, protocol 2", pickle.dumps(datetime.datetime(2030, 1, 1), 2)),
        ("datetime in a session dict, protocol 5", pickle.dumps({"user": "ada", "when": datetime.datetime(2030, 1, 1)}, 5)),
        ("os.system REDUCE, protocol 0 (hand-made)", os_system),
        ("os.system REDUCE, protocol 4 (hand-made)", os_system_4),
        ("REDUCE without GLOBAL (hand-made)", b"N)R."),
        ("a class instance, protocol 5", pickle.dumps(GoldenThing(), 5)),
        ("a class instance, protocol 0", pickle.dumps(GoldenThing(), 0)),
        ("Decimal, protocol 5", pickle.dumps(decimal.Decimal("1.5"), 5)),
        ("OrderedDict, protocol 5", pickle.dumps(collections.OrderedDict(a=1), 5)),
        ("frozenset, protocol 5", pickle.dumps(frozenset({1, 2}), 5)),
        ("frozenset, protocol 2", pickle.dumps(frozenset({1, 2}), 2)),
        ("bytearray, protocol 5", pickle.dumps(bytearray(b"ab"), 5)),
        ("bytes, protocol 2", pickle.dumps(b"ab", 2)),
        ("set, protocol 2", pickle.dumps({1, 2}, 2)),
        ("set, protocol 3", pickle.dumps({1, 2}, 3)),
        ("INST (hand-made)", b"(i__main__\nGoldenThing\n."),
        ("BUILD on a dict (hand-made)", b"}}b."),
        ("PERSID (hand-made)", b"P1\n."),
        ("EXT1 (hand-made)", b"\x80\x02\x82\x01."),
        ("NEXT_BUFFER (hand-made)", b"\x80\x05\x97."),
    ]
    refused_out = []
    for name, data in refused:
        for opcode, _arg, pos in pickletools.genops(data):
            if opcode.name not in PICKLE_ALLOWED:
                break
        else:
            raise AssertionError(f"{name}: nothing to refuse")
        refused_out.append({
            "name": name,
            "pickle_b64": b64(data),
            "opcode": opcode.name,
            "offset": pos,
            "unrepresentable": opcode.name in PICKLE_UNREPRESENTABLE,
        })
    return out, refused_out


pickles, pickles_refused = pickle_vectors()
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
        "pickle": pickles,
        "pickle_refused": pickles_refused,
    },
    sys.stdout,
    indent=1,
    ensure_ascii=False,
)
sys.stdout.write("\n")
