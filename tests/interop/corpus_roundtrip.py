"""fastavro's side of the codegen corpus round trip (driven by tests/tests/fastavro_corpus.rs).

    corpus_roundtrip.py write DIR   random values of every schema in DIR/manifest.json, written
                                    by fastavro into DIR/<name>.py.bin
    corpus_roundtrip.py check DIR   reads what evc wrote: DIR/<name>.evc.bin (evc's re-encoding
                                    of the .py.bin datums) must read back equal to the values
                                    fastavro wrote; DIR/<name>.evc-random.bin (values evc made up)
                                    must read to the last byte as the values in
                                    DIR/<name>.evc-random.json (read without logical types, so
                                    any value evc can hold is compared, not only those Python's
                                    datetime and Decimal can)

A .bin file is a sequence of datums, each a 4-byte little-endian length and the Avro binary.
Prints one JSON line with counts; exits 1 (listing every problem) when something differs.
"""

import datetime
import decimal
import io
import json
import random
import struct
import sys
import uuid

import fastavro
from fastavro.read import LOGICAL_READERS

VALUES_PER_SCHEMA = 25
MAX_DEPTH = 4
UTC = datetime.timezone.utc
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=UTC)
PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}


def read_datums(path):
    with open(path, "rb") as f:
        data = f.read()
    out, pos = [], 0
    while pos < len(data):
        (n,) = struct.unpack_from("<I", data, pos)
        out.append(data[pos + 4 : pos + 4 + n])
        pos += 4 + n
    return out


def write_datums(path, datums):
    with open(path, "wb") as f:
        for d in datums:
            f.write(struct.pack("<I", len(d)))
            f.write(d)


class Gen:
    """Random values for a parsed schema (names fully qualified by fastavro.parse_schema)."""

    def __init__(self, named, rng):
        self.named = named
        self.rng = rng

    def resolve(self, s):
        if isinstance(s, str) and s not in PRIMITIVES:
            return self.named[s]
        return s

    def is_record(self, s):
        s = self.resolve(s)
        return isinstance(s, dict) and s["type"] in ("record", "error")

    def inhabited(self, s, seen=()):
        s = self.resolve(s)
        if isinstance(s, list):
            return any(self.inhabited(b, seen) for b in s)
        if isinstance(s, str):
            return True
        t = s["type"]
        if t == "enum":
            return len(s["symbols"]) > 0
        if t in ("record", "error"):
            if s["name"] in seen:
                return False
            return all(self.inhabited(f["type"], seen + (s["name"],)) for f in s["fields"])
        return True

    def terminates(self, s, seen=()):
        """A value of s exists without going deeper than a few levels (no required recursion)."""
        s = self.resolve(s)
        if isinstance(s, list):
            return any(self.terminates(b, seen) for b in s)
        if isinstance(s, dict) and s["type"] in ("record", "error"):
            if s["name"] in seen:
                return False
            return all(self.terminates(f["type"], seen + (s["name"],)) for f in s["fields"])
        return self.inhabited(s)

    def value(self, s, depth=MAX_DEPTH):
        s = self.resolve(s)
        r = self.rng
        if isinstance(s, list):
            ok = [b for b in s if self.inhabited(b)]
            if depth <= 0:
                # deep enough: take a branch that is not a record if there is one
                leaves = [b for b in ok if not self.is_record(b)]
                ok = leaves or [b for b in ok if self.terminates(b)] or ok
            return self.value(r.choice(ok), depth - 1)
        if isinstance(s, str):
            return self.primitive(s, None, s)
        t = s["type"]
        lt = s.get("logicalType")
        if t in PRIMITIVES:
            return self.primitive(t, lt, s)
        if t == "array":
            n = 0 if depth <= 0 else r.randint(0, 3)
            return [self.value(s["items"], depth - 1) for _ in range(n)]
        if t == "map":
            n = 0 if depth <= 0 else r.randint(0, 3)
            return {self.string(): self.value(s["values"], depth - 1) for _ in range(n)}
        if t == "enum":
            return r.choice(s["symbols"])
        if t == "fixed":
            if lt == "decimal" and f"fixed-{lt}" in LOGICAL_READERS:
                return self.decimal(s)
            return bytes(r.getrandbits(8) for _ in range(s["size"]))
        if t in ("record", "error"):
            return {f["name"]: self.value(f["type"], depth - 1) for f in s["fields"]}
        raise ValueError(f"unknown type {t}")

    def string(self):
        r = self.rng
        alphabet = "abcXYZ 09_-é名🎉\u202e\"\\\n"
        return "".join(r.choice(alphabet) for _ in range(r.randint(0, 8)))

    def decimal(self, s):
        r = self.rng
        precision, scale = s["precision"], s.get("scale", 0)
        if s["type"] == "fixed":
            precision = min(precision, int((8 * s["size"] - 1) * 0.30102999566398))
        while True:
            n = r.randint(-(10**precision) + 1, 10**precision - 1)
            # fastavro writes -2^(8k-1) with a redundant sign byte on `bytes` (valid, but not
            # the minimal form evc writes back): leave those values out
            if n < 0 and (-n) & (-n - 1) == 0 and ((-n).bit_length() - 1) % 8 == 7:
                continue
            return decimal.Decimal(n).scaleb(-scale)

    def primitive(self, t, lt, s):
        r = self.rng
        logical = lt is not None and f"{t}-{lt}" in LOGICAL_READERS
        if t == "null":
            return None
        if t == "boolean":
            return r.random() < 0.5
        if t == "int":
            if logical and lt == "date":
                return datetime.date(1, 1, 1) + datetime.timedelta(days=r.randint(0, 3652058))
            if logical and lt == "time-millis":
                ms = r.randint(0, 86_399_999)
                return (datetime.datetime.min + datetime.timedelta(milliseconds=ms)).time()
            return r.choice([0, -1, 1, 2**31 - 1, -(2**31), r.randint(-(2**31), 2**31 - 1)])
        if t == "long":
            if logical and lt == "time-micros":
                us = r.randint(0, 86_399_999_999)
                return (datetime.datetime.min + datetime.timedelta(microseconds=us)).time()
            if logical and lt in ("timestamp-millis", "local-timestamp-millis"):
                ms = r.randint(-62_135_596_800_000, 253_402_300_799_999)
                d = EPOCH + datetime.timedelta(milliseconds=ms)
                return d if lt == "timestamp-millis" else d.replace(tzinfo=None)
            if logical and lt in ("timestamp-micros", "local-timestamp-micros"):
                us = r.randint(-62_135_596_800_000_000, 253_402_300_799_999_999)
                d = EPOCH + datetime.timedelta(microseconds=us)
                return d if lt == "timestamp-micros" else d.replace(tzinfo=None)
            return r.choice([0, -1, 2**63 - 1, -(2**63), r.randint(-(2**63), 2**63 - 1)])
        if t == "float":
            while True:
                (f,) = struct.unpack("<f", struct.pack("<I", r.getrandbits(32)))
                if f == f:
                    return f
        if t == "double":
            while True:
                (f,) = struct.unpack("<d", struct.pack("<Q", r.getrandbits(64)))
                if f == f:
                    return f
        if t == "bytes":
            if logical and lt == "decimal":
                return self.decimal(s)
            if lt == "big-decimal":
                # not a fastavro logical type: write valid big-decimal bytes by hand
                n = r.randint(-(10**20), 10**20)
                raw = n.to_bytes(((n if n >= 0 else ~n).bit_length() // 8) + 1, "big", signed=True)
                return zigzag(len(raw)) + raw + zigzag(r.randint(0, 9))
            return bytes(r.getrandbits(8) for _ in range(r.randint(0, 8)))
        if t == "string":
            if logical and lt == "uuid":
                return uuid.UUID(int=r.getrandbits(128))
            return self.string()
        raise ValueError(f"unknown primitive {t}")


def zigzag(n):
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def differs(want, got, path="$"):
    """Why fastavro's reading `got` is not the value evc wrote (`want`, from expected_json)."""
    if isinstance(want, dict):
        (tag, w), = want.items()
        if tag == "__object":
            if not isinstance(got, dict) or set(got) != {k for k, _ in w} or len(got) != len(w):
                return f"{path}: wrote {want}, fastavro read {got!r}"
            for k, v in w:
                why = differs(v, got[k], f"{path}.{k}")
                if why:
                    return why
            return None
        if tag == "__f":
            (x,) = struct.unpack(">d", bytes.fromhex(w))
            ok = isinstance(got, float) and got == x
        elif tag == "__bytes":
            ok = isinstance(got, bytes) and got.hex() == w
        elif tag == "__decimal":
            ok = isinstance(got, bytes) and int.from_bytes(got, "big", signed=True) == int(w)
        elif tag == "__big_decimal":
            ok = isinstance(got, bytes) and read_big_decimal(got) == (int(w[0]), w[1])
        else:
            return f"{path}: unknown tag {tag}"
        return None if ok else f"{path}: wrote {want}, fastavro read {got!r}"
    if isinstance(want, list):
        if not isinstance(got, list) or len(got) != len(want):
            return f"{path}: wrote {want}, fastavro read {got!r}"
        for i, (w, g) in enumerate(zip(want, got)):
            why = differs(w, g, f"{path}[{i}]")
            if why:
                return why
        return None
    if type(want) is not type(got) or want != got:
        return f"{path}: wrote {want!r}, fastavro read {got!r}"
    return None


def read_big_decimal(b):
    """The unscaled value and scale of a big-decimal's bytes (length, unscaled bytes, scale)."""
    buf = io.BytesIO(b)
    n = read_zigzag(buf)
    unscaled = int.from_bytes(buf.read(n), "big", signed=True)
    return unscaled, read_zigzag(buf)


def read_zigzag(buf):
    shift = result = 0
    while True:
        byte = buf.read(1)[0]
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return (result >> 1) ^ -(result & 1)


def strip_logical(s):
    """The schema without logical types: fastavro then reads and writes the raw values."""
    if isinstance(s, list):
        return [strip_logical(b) for b in s]
    if isinstance(s, dict):
        return {k: strip_logical(v) for k, v in s.items() if k != "logicalType"}
    return s


def encode(parsed, value):
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, parsed, value)
    return buf.getvalue()


def decode_all(parsed, data):
    buf = io.BytesIO(data)
    v = fastavro.schemaless_reader(buf, parsed, None)
    left = len(data) - buf.tell()
    if left:
        raise ValueError(f"{left} bytes left over after the datum")
    return v


def main():
    mode, d = sys.argv[1], sys.argv[2]
    with open(f"{d}/manifest.json", encoding="utf-8") as f:
        manifest = json.load(f)
    problems, counts = [], {"schemas": 0, "fastavro_values": 0, "evc_values": 0}
    for entry in manifest:
        name = entry["name"]
        schema = json.loads(entry["schema"])
        named = {}
        parsed = fastavro.parse_schema(schema, named_schemas=named)
        counts["schemas"] += 1
        if mode == "write":
            g = Gen(named, random.Random(name))
            datums = []
            if g.inhabited(parsed):
                for _ in range(VALUES_PER_SCHEMA):
                    datums.append(encode(parsed, g.value(parsed)))
            write_datums(f"{d}/{name}.py.bin", datums)
            counts["fastavro_values"] += len(datums)
        else:
            originals = read_datums(f"{d}/{name}.py.bin")
            by_evc = read_datums(f"{d}/{name}.evc.bin")
            if len(originals) != len(by_evc):
                problems.append(f"{name}: evc wrote {len(by_evc)} datums for {len(originals)}")
            for i, (a, b) in enumerate(zip(originals, by_evc)):
                try:
                    if decode_all(parsed, a) != decode_all(parsed, b):
                        problems.append(f"{name}[{i}]: fastavro reads evc's bytes as another value")
                except Exception as e:  # noqa: BLE001 - report every failure
                    problems.append(f"{name}[{i}]: fastavro cannot read evc's bytes: {e!r}")
                counts["fastavro_values"] += 1
            raw = fastavro.parse_schema(strip_logical(schema))
            with open(f"{d}/{name}.evc-random.json", encoding="utf-8") as f:
                expected = json.load(f)
            datums = read_datums(f"{d}/{name}.evc-random.bin")
            if len(datums) != len(expected):
                problems.append(f"{name}: {len(datums)} random datums for {len(expected)} values")
            for i, (b, want) in enumerate(zip(datums, expected)):
                try:
                    got = decode_all(raw, b)
                    why = differs(want, got)
                    if why:
                        problems.append(f"{name}: random[{i}] ({b.hex()}): {why}")
                except Exception as e:  # noqa: BLE001
                    problems.append(f"{name}: random[{i}]: fastavro cannot read {b.hex()}: {e!r}")
                counts["evc_values"] += 1
    print(json.dumps(counts))
    for p in problems:
        print(p, file=sys.stderr)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
