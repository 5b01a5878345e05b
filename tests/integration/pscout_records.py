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
