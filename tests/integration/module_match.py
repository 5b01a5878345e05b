#!/usr/bin/env python3
"""module_match.py - a module is symbolized only from the object whose
build-id the profile names: two profiles this script writes (docs/format.md)
load tests/progs/planted from its path, one with its build-id as readelf
reads it, three with a build-id that differs in every byte's low four
bits only, in its high four bits only, or in its first byte only; each
allocates 5 blocks from handle_request (called from consumer):

  module_match.py POOLSCOUT WORKDIR PLANTED

The first names handle_request; the others name no function of planted
(an address in it), `info` says why, and in one report of the first and
another, either first, the site handle_request holds the first's 5
blocks only. Two profiles of the right one both name it, and a profile
of a path that does not exist, PLANTED followed by the first byte of the
build-id in hex, with the build-id's other bytes (the same characters
in a row), names nothing (`info`: not found on disk); nor does one that
names planted by a relative path (not looked up, wherever the analyzer
runs). The gperftools export of the first maps planted's executable
segments where the profile loaded them, and tells its 5 blocks still in
use from the 5 allocated by one byte (readers take equal pairs for an
old profile of one kind of value), exits 0 as the pprof export does; its
stacks start at the site: past a wrapper (--wrapper), and at the first
of two frames of a recursion. Prints "ok NAME" or
"FAIL NAME: DETAIL" per check.
"""
import json
import os
import re
import subprocess
import sys

from pscout_records import varint, blob, record

BASE = 0x555500000000


def elf_facts(path):
    """(build-id bytes, [(vaddr, memsz, offset, flags)], {function: address})"""
    notes = subprocess.run(["readelf", "-n", path], capture_output=True, text=True).stdout
    build_id = bytes.fromhex(re.search(r"Build ID: *([0-9a-f]+)", notes).group(1))
    segs = []
    for line in subprocess.run(["readelf", "-lW", path], capture_output=True,
                               text=True).stdout.splitlines():
        f = line.split()
        if f and f[0] == "LOAD":
            flags = line[line.index(f[5]) + len(f[5]):].split()[:-1]
            flags = "".join(flags)
            segs.append((int(f[2], 16), int(f[5], 16), int(f[1], 16),
                         (4 if "R" in flags else 0) | (2 if "W" in flags else 0) |
                         (1 if "E" in flags else 0)))
    syms = {}
    for line in subprocess.run(["nm", path], capture_output=True, text=True).stdout.splitlines():
        f = line.split()
        if len(f) == 3 and f[1] in "tT":
            syms[f[2]] = int(f[0], 16)
    return build_id, segs, syms


def write_profile(path, pid, exe, build_id, segs, ips):
    v = varint
    out = bytearray(b"PSCOUT\r\n" + (5).to_bytes(4, "little") + (16).to_bytes(4, "little"))
    out += record(1, v(pid) + v(1) + v(0) + v(1_700_000_000 * 10**9) + v(0) + v(10) +
                  v(64) + v(1) + blob(exe.encode()) + blob(b"planted") + v(0))
    seg = b"".join(v(a) + v(b) + v(c) + v(d) for (a, b, c, d) in segs)
    out += record(2, v(1) + v(0) + v(BASE) + blob(exe.encode()) + blob(build_id) +
                  v(len(segs)) + seg)
    out += record(4, v(1) + v(0) + v(len(ips)) + b"".join(v(ip) for ip in ips) +
                  v(0) + v(len(ips)))
    out += record(5, v(1) + v(pid) + blob(b"main") + v(0) + v(0) + v(0))
    tick = 5_000_000 + 1
    entry = (v(1) + v(1) + v(1) + v(5) + v(5 * 48) + v(0) + v(0) + v(0) + v(0) +
             v(48) + v(48) + v(5) + v(5 * 48) + v(tick) + v(tick) + v(0) +
             v(1) + v(5) + v(5) + v(0))
    out += record(6, v(1) + v(10_000_000) + v(10**9) + v(0) + v(1) + entry +
                  v(0) + v(0) + v(0) + v(0))
    out += record(7, v(1) + v(10_000_000))
    with open(path, "wb") as fh:
        fh.write(out)


def main():
    ps, work, exe = sys.argv[1], sys.argv[2], sys.argv[3]
    build_id, segs, syms = elf_facts(exe)
    # return addresses just past a call: inside the functions
    ips = [BASE + syms["handle_request"] + 4, BASE + syms["consumer"] + 4]
    right = work + "/poolscout.planted.7001.pscout"
    write_profile(right, 7001, exe, build_id, segs, ips)
    wrongs = []
    for pid, flip, what in ((7002, [0x01] * len(build_id), "low nibbles"),
                            (7003, [0x10] * len(build_id), "high nibbles"),
                            (7004, [0xff] + [0] * (len(build_id) - 1), "first byte")):
        wrongs.append((work + "/poolscout.planted.%d.pscout" % pid, pid, what))
        write_profile(wrongs[-1][0], pid, exe, bytes(b ^ x for b, x in zip(build_id, flip)),
                      segs, ips)
    again = work + "/poolscout.planted.7005.pscout"
    write_profile(again, 7005, exe, build_id, segs, ips)
    elsewhere = work + "/poolscout.planted.7006.pscout"
    write_profile(elsewhere, 7006, exe + build_id[:1].hex(), build_id[1:], segs, ips)
    relative = work + "/poolscout.planted.7007.pscout"
    write_profile(relative, 7007, os.path.relpath(exe), build_id, segs, ips)

    def check(name, ok, detail):
        print(("ok %s" % name) if ok else ("FAIL %s: %s" % (name, detail)))

    def sites(*files):
        run = subprocess.run([ps, "report", "--json"] + list(files),
                             capture_output=True, text=True)
        if run.returncode:
            return {"exit %d" % run.returncode: run.stderr}
        return {s["function"]: s["alloc_objects"] for s in json.loads(run.stdout)["sites"]}

    got = sites(right)
    check("module match: the right build-id names handle_request",
          got == {"handle_request": 5}, got)
    for wrong, pid, what in wrongs:
        got = sites(wrong)
        check("module match: a build-id other in its %s names no function of planted"
              % what, len(got) == 1 and not any(n in syms for n in got), got)
        run = subprocess.run([ps, "info", "--json", right, wrong], capture_output=True,
                             text=True)
        status = {}
        if not run.returncode:
            for f in json.loads(run.stdout):
                for m in f.get("modules", []):
                    status[f["pid"]] = m.get("symbols")
        check("module match: info says the one other in its %s differs" % what,
              status.get(7001) != status.get(pid) and
              status.get(pid) == "build-id differs from the profile", status)
        for files in ((right, wrong), (wrong, right)):
            got = sites(*files)
            check("module match: with the one other in its %s, %s first: handle_request "
                  "holds the right one's 5 blocks"
                  % (what, "right" if files[0] == right else "wrong"),
                  got.get("handle_request") == 5 and sum(got.values()) == 10, got)
    got = sites(right, again)
    check("module match: two profiles of the right one: handle_request holds both's 10",
          got == {"handle_request": 10}, got)
    for files in ((right, elsewhere), (elsewhere, right)):
        got = sites(*files)
        check("module match: a missing path that spells the same with the build-id: "
              "handle_request holds the right one's 5 blocks",
              got.get("handle_request") == 5 and sum(got.values()) == 10, got)

    run = subprocess.run([ps, "info", "--json", elsewhere], capture_output=True, text=True)
    status = [m.get("symbols") for f in json.loads(run.stdout or "[]")
              for m in f.get("modules", [])]
    check("module match: info says the missing path is not found on disk",
          status == ["not found on disk"], status)
    got = sites(relative)
    check("module match: a relative path names no function of planted (%s)"
          % os.path.relpath(exe), len(got) == 1 and not any(n in syms for n in got), got)

    run = subprocess.run([ps, "export", "--format", "gperftools", "-o", "-", right],
                         capture_output=True, text=True)
    head = [int(n) for n in re.findall(r"\d+", run.stdout.split("@")[0])]
    check("gperftools: exit 0, 5 blocks of 48 B in use, allocated (one byte more)",
          run.returncode == 0 and head == [5, 240, 5, 241], (run.returncode, head))
    maps = run.stdout.split("MAPPED_LIBRARIES:\n")[-1].splitlines()
    want = ["%08x-%08x r-xp %08x 00:00 0 %s"
            % ((BASE + va) & ~0xfff, (BASE + va + sz + 0xfff) & ~0xfff, off & ~0xfff, exe)
            for (va, sz, off, fl) in segs if fl & 1]
    check("gperftools: planted's executable segments where the profile loaded them",
          maps == want, (maps, want))

    pb = work + "/planted.pb.gz"
    run = subprocess.run([ps, "export", "--format", "pprof", "-o", pb, right],
                         capture_output=True, text=True)
    check("pprof export: exit 0, a file written",
          run.returncode == 0 and os.path.getsize(pb) > 0, run.stderr)
    # a wrapper before the site; a site that recurses once
    runtime = work + "/poolscout.planted.7008.pscout"
    write_profile(runtime, 7008, exe, build_id, segs, [BASE + syms["append_bytes"] + 4] + ips)
    recursion = work + "/poolscout.planted.7009.pscout"
    write_profile(recursion, 7009, exe, build_id, segs, [ips[0]] + ips)
    for f, want in ((runtime, ips), (recursion, [ips[0]] + ips)):
        run = subprocess.run([ps, "export", "--format", "gperftools", "--wrapper",
                              "^append_bytes$", "-o", "-", f],
                             capture_output=True, text=True)
        lines = [line for line in run.stdout.splitlines()[1:] if "@" in line]
        got = [[int(a, 16) for a in line.split("@")[1].split()] for line in lines]
        check("gperftools: the stack from its site out (%s)"
              % ("past a wrapper" if f == runtime else "a recursion"),
              got == [want], ["%x" % a for line in got for a in line])


main()
