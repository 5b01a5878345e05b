"""pscout_records.py - the encoding of a .pscout profile's records for the
test scripts that write profiles themselves (html_timeline.py,
module_match.py): varints, length-prefixed strings and bytes, and a
record's frame (type, length, payload, crc32), as docs/format.md says and
tests/pswriter.h writes them in C.
"""
import zlib


def varint(x):
    out = bytearray()
    while x >= 0x80:
        out.append((x & 0x7F) | 0x80)
        x >>= 7
    out.append(x)
    return bytes(out)


def blob(b):
    return varint(len(b)) + b


def string(s):
    return blob(s.encode())


def record(rtype, payload):
    head = rtype.to_bytes(4, "little") + len(payload).to_bytes(4, "little")
    return head + payload + zlib.crc32(head + payload).to_bytes(4, "little")


def read_varint(b, at):
    """The varint at b[at:]: (value, offset after it)."""
    v, shift = 0, 0
    while True:
        c = b[at]
        at += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            return v, at


def read_records(path):
    """The records of the profile at path in file order, the deflated
    ones inflated in their place (one raw deflate stream across the
    DEFLATE records): a list of (type, payload). Stops at a torn tail."""
    d = open(path, "rb").read()
    out = []
    z = zlib.decompressobj(-15)

    def walk(b, inflate):
        at = 0
        while at + 8 <= len(b):
            t, size = int.from_bytes(b[at:at + 4], "little"), \
                int.from_bytes(b[at + 4:at + 8], "little")
            if at + 8 + size + 4 > len(b):
                return
            payload = b[at + 8:at + 8 + size]
            if inflate and t == 10:
                walk(z.decompress(payload), False)
            else:
                out.append((t, payload))
            at += 8 + size + 4

    walk(d[16:], True)
    return out
