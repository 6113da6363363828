"""Writes the fuzz corpora's seeds from the golden vectors (real Flask and Django output):

    python3 seeds.py        # from fuzz/, rewrites corpus/<target>/golden-*

Standard library only. Targets whose first input byte picks a mode (see each target's docs)
get seeds for each mode: 0, the bytes as a client or a store hands them over; others, the part
behind the MAC, which the target signs itself. `corpus/pickle/` is hand-kept and not written
here. Seeds stay small: a few dozen files of a few KB per target.
"""

import base64
import json
import os
import re
import shutil
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, "..", "crates", "tessera", "tests", "data", "golden.json")
CORPUS = os.path.join(HERE, "corpus")
MAX_SEED = 4096


def slug(name):
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def raw_deflate(data):
    c = zlib.compressobj(wbits=-15)
    return c.compress(data) + c.flush()


def compact(value):
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


def msgpack(value):
    """MessagePack of a JSON value, smallest forms first (as rmp writes them); floats are
    always float 64, as tessera writes them."""
    if value is None:
        return b"\xc0"
    if value is True or value is False:
        return b"\xc3" if value else b"\xc2"
    if isinstance(value, int):
        if 0 <= value < 0x80 or -32 <= value < 0:
            return struct.pack(">b" if value < 0 else ">B", value)
        for lo, hi, tag, fmt in [
            (0, 1 << 8, 0xCC, ">B"), (0, 1 << 16, 0xCD, ">H"), (0, 1 << 32, 0xCE, ">I"),
            (0, 1 << 64, 0xCF, ">Q"), (-(1 << 7), 0, 0xD0, ">b"), (-(1 << 15), 0, 0xD1, ">h"),
            (-(1 << 31), 0, 0xD2, ">i"), (-(1 << 63), 0, 0xD3, ">q"),
        ]:
            if lo <= value < hi:
                return bytes([tag]) + struct.pack(fmt, value)
        raise ValueError(value)
    if isinstance(value, float):
        return b"\xcb" + struct.pack(">d", value)

    def header(n, fix, fix_max, tags):
        if n < fix_max:
            return bytes([fix | n])
        for tag, fmt, limit in tags:
            if n < limit:
                return bytes([tag]) + struct.pack(fmt, n)
        raise ValueError(n)

    if isinstance(value, str):
        b = value.encode()
        tags = [(0xD9, ">B", 1 << 8), (0xDA, ">H", 1 << 16), (0xDB, ">I", 1 << 32)]
        return header(len(b), 0xA0, 32, tags) + b
    if isinstance(value, list):
        tags = [(0xDC, ">H", 1 << 16), (0xDD, ">I", 1 << 32)]
        return header(len(value), 0x90, 16, tags) + b"".join(map(msgpack, value))
    if isinstance(value, dict):
        tags = [(0xDE, ">H", 1 << 16), (0xDF, ">I", 1 << 32)]
        body = b"".join(msgpack(k) + msgpack(v) for k, v in value.items())
        return header(len(value), 0x80, 16, tags) + body
    raise TypeError(value)


def binary_record(record):
    """tessera's binary record: the version byte 0x01, then MessagePack of the record map."""
    return b"\x01" + msgpack(record)


class Corpus:
    def __init__(self):
        self.seeds = {}

    def add(self, target, name, data):
        if isinstance(data, str):
            data = data.encode()
        if len(data) > MAX_SEED:
            return
        self.seeds.setdefault(target, {})[f"golden-{slug(name)}"] = data

    def write(self):
        for target, seeds in sorted(self.seeds.items()):
            directory = os.path.join(CORPUS, target)
            os.makedirs(directory, exist_ok=True)
            for old in os.listdir(directory):
                if old.startswith("golden-"):
                    os.remove(os.path.join(directory, old))
            for name, data in sorted(seeds.items()):
                with open(os.path.join(directory, name), "wb") as f:
                    f.write(data)
            print(f"{target}: {len(seeds)} seeds, {sum(map(len, seeds.values()))} bytes")


def main():
    with open(GOLDEN, encoding="utf-8") as f:
        g = json.load(f)
    now = g["now"]
    c = Corpus()

    # Every session dict the vectors hold, for the formats that take JSON.
    dicts = [(case["name"], case["data"]) for case in g["flask"] + g["django"]]
    expiries = ["default", "browser_close", {"age": 300}, {"at": now + 86_400}]
    natives = []
    for i, (name, data) in enumerate(dicts):
        record = {"d": data, "x": now + 3600}
        expiry = expiries[i % len(expiries)]
        if expiry != "default":
            record["e"] = expiry
        natives.append((name, compact(record), binary_record(record)))

    for name, json_bytes, binary in natives:
        c.add("record_native", name, json_bytes)
        c.add("record_native", f"binary {name}", binary)
        c.add("cookie_native_signed", f"json {name}", b"\x01" + json_bytes)
        c.add("cookie_native_signed", f"deflated {name}", b"\x02" + raw_deflate(json_bytes))
        c.add("cookie_native_encrypted", f"json {name}", b"\x01\x00" + json_bytes)
        c.add("cookie_native_encrypted", f"deflated {name}", b"\x01\x01" + raw_deflate(json_bytes))

    for case in g["flask"]:
        name = case["name"]
        cookie = case["cookie"]
        c.add("cookie_flask", f"cookie {name}", b"\x00" + cookie.encode())
        c.add("cookie_flask", f"json {name}", b"\x01" + compact(case["data"]))
        payload, ts, _sig = cookie.rsplit(".", 2)
        c.add("itsdangerous_payload", name, payload)
        stamp = int.from_bytes(base64.urlsafe_b64decode(ts + "=" * (-len(ts) % 4)), "big")
        c.add("cookie_flask", f"payload {name}", b"\x02" + stamp.to_bytes(8, "big") + payload.encode())

    for case in g["django"]:
        name = case["name"]
        for key in ("signed_cookie", "session_data"):
            signed = case[key]
            c.add("cookie_django", f"{key} {name}", b"\x00" + signed.encode())
            c.add("cookie_django", f"unsigned {key} {name}", b"\x01" + signed.rsplit(":", 1)[0].encode())
        c.add("cookie_django", f"json {name}", b"\x02" + now.to_bytes(8, "big") + compact(case["data"]))
        data = case["session_data"]
        c.add("record_django", f"session_data {name}", b"\x00" + data.encode())
        c.add("record_django", f"unsigned {name}", b"\x01" + data.rsplit(":", 1)[0].encode())
        c.add("itsdangerous_payload", f"django {name}", data.split(":", 1)[0])

    fs = g["flask_session"]
    for record in fs["records"]:
        c.add("record_flask_session", record["name"], base64.b64decode(record["record_b64"]))
    c.add("record_flask_session", "pickled (refused)", base64.b64decode(fs["pickle_b64"]))
    c.add("flask_session_id", "signed sid", b"\x00" + fs["signed_sid"].encode())
    c.add("flask_session_id", "sid", b"\x01" + fs["sid"].encode())

    # The session-shaped pickles (a dict at the top) at two protocols, and what must be refused.
    for case in g["pickle"]:
        name = case["name"]
        if name.endswith((", protocol 2", ", protocol 5")) and isinstance(case["json"], dict):
            c.add("record_pickled", name, base64.b64decode(case["pickle_b64"]))
    for case in g["pickle_refused"][::3]:
        c.add("record_pickled", f"refused {case['name']}", base64.b64decode(case["pickle_b64"]))

    c.write()


if __name__ == "__main__":
    main()
