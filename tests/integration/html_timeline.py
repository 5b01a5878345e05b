#!/usr/bin/env python3
"""html_timeline.py - the numbers of `report --html`'s timeline, live-site
tables and threads per site against a profile this script writes itself,
event by event, so it knows every count (docs/format.md, version 5 with
version 2 records, as tests/pswriter.h writes them):

  html_timeline.py POOLSCOUT WORKDIR

One process, 18 threads, 601 snapshots 10 ms apart (more than the page's
600 points: two snapshots a point, the last point one snapshot):
  - thread t (1..18) works in every snapshot i with i % 18 == t - 1: it
    allocates 19 - t blocks of 32 B at site A and frees the ones it
    allocated the time before, from two stacks by turns (site A: 18 threads, more than
    the 16 the page lists, each with two stacks);
  - thread 1 allocates 1000 blocks of 64 B at site B in snapshot 400 and
    frees them in 401: the peak of the bytes in use;
  - thread 2 allocates one block of 16 + 8 j bytes at each of 230 sites
    C_j (j = 0..229) in snapshot 5 and keeps them: with A and B more than
    the 200 rows a live table lists (and the page's more than 256
    (thread, stack) pairs);
  - thread 3 allocates, in snapshot 6, sites whose bytes tie two by two
    (2 x 1000 B at D1 and 1 x 2000 B at D2; 1 x 2200 B at E1 and
    2 x 1100 B at E2: the one with more blocks comes first) and one block
    of 0 bytes at Z (still a live block), and keeps them.
A second process (pid 4243, 600 snapshots: one a point; 13 threads: a
series each), sampled 1 in 4, records at site A 100 + 60 blocks from its
thread 1 (on its two stacks) and 250 from its thread 2 (640 and 1000 once
scaled: the second thread first), which frees 60 of them in snapshot 1
(as many in use as in snapshot 0: the peak is the first) and 30 in
snapshot 2; its thread 3 has an entry at site A that allocated nothing
(not one of the site's threads), its thread 4 none (the two in thread
order), threads 5..13 allocate and free t - 4 blocks in snapshot 3.
It checks `report --json`'s totals, threads (their counts and timelines)
and sites (counts, threads, sizes, first and latest allocation, rates),
and the folded and gperftools exports' values per stack, on the same two
files. Prints "ok NAME" or "FAIL NAME: DETAIL" per check
(views.sh counts them).
"""
import json
import re
import subprocess
import sys

from pscout_records import varint, string, record

NSNAPS, NTHREADS, NC = 601, 18, 230
INTERVAL_NS = 10_000_000
PEAK_SNAP = 400
SITE_A, SITE_B = 0xA000, 0xB000


def site_c(j):
    return 0xC0000 + 0x100 * j


# ---- the programs' events: (pid, snapshot, thread, stack id, allocs,
# frees); stack id i + 1 is stacks[i], its site the leaf (first) address
PID, PID2 = 4242, 4243
SAMPLE2 = 4  # the second process records 1 allocation in 4


def scale(pid):
    return SAMPLE2 if pid == PID2 else 1
# the C sites' stacks first: their rows (one thread each) come before A's
stacks = [(site_c(j), 0x9000) for j in range(NC)] + \
    [(SITE_A, 0x9000), (SITE_A, 0x9100), (SITE_B, 0x9000)]
A1, A2, B = NC + 1, NC + 2, NC + 3
TIES = [(0xD1000, 1000, 2), (0xD2000, 2000, 1), (0xE1000, 2200, 1), (0xE2000, 1100, 2),
        (0xF0000, 0, 1)]  # (site, block size, blocks)
stacks += [(site, 0x9000) for (site, size, n) in TIES]
size_of = {SITE_A: 32, SITE_B: 64}
size_of.update({site_c(j): 16 + 8 * j for j in range(NC)})
size_of.update({site: size for (site, size, n) in TIES})
events = []
turns = {}
for i in range(NSNAPS):
    t = i % NTHREADS + 1
    k = turns.get(t, 0)
    turns[t] = k + 1
    n = NTHREADS + 1 - t
    if k:  # frees the blocks of its turn before, on the other stack
        events.append((PID, i, t, A1 + (k - 1) % 2, 0, n))
    events.append((PID, i, t, A1 + k % 2, n, 0))
    if i == PEAK_SNAP:
        events.append((PID, i, 1, B, 1000, 0))
    if i == PEAK_SNAP + 1:
        events.append((PID, i, 1, B, 0, 1000))
    if i == 5:
        for j in range(NC):
            events.append((PID, i, 2, 1 + j, 1, 0))
    if i == 6:
        for j, (site, size, n) in enumerate(TIES):
            events.append((PID, i, 3, B + 1 + j, n, 0))
NSNAPS2 = 600  # the second process: one snapshot a point, just
NTHREADS2 = 13  # one more than the 12 series: all shown
events += [(PID2, 0, 1, A1, 100, 0), (PID2, 0, 2, A2, 250, 0),
           (PID2, 1, 1, A2, 60, 0), (PID2, 1, 2, A2, 0, 60),  # the same in use
           (PID2, 2, 2, A2, 0, 30), (PID2, 2, 3, A1, 0, 0)]
events += [(PID2, 3, t, A1, t - 4, t - 4) for t in range(5, NTHREADS2 + 1)]


def site_of(sid):
    return stacks[sid - 1][0]


# ---- the profile


def bucket(x):
    b = 0
    while x > 1 and b < 47:
        x >>= 1
        b += 1
    return b


def write_profile(path, pid, nthreads, nsnaps):
    out = bytearray(b"PSCOUT\r\n" + (5).to_bytes(4, "little") + (16).to_bytes(4, "little"))
    v = varint
    sampled = scale(pid) > 1
    out += record(1, v(pid) + v(1) + v(1 if sampled else 0) +
                  v(1_700_000_000 * 10**9 + (pid - PID) * 10**6) +
                  v(0) + v(10) + v(64) + v(scale(pid)) + string("/bin/tl") + string("tl") + v(0))
    for sid, (leaf, caller) in enumerate(stacks, 1):
        out += record(4, v(sid) + v(0) + v(2) + v(leaf) + v(caller) + v(0) + v(2))
    for t in range(1, nthreads + 1):
        tid = (5000 if pid == PID else 6000) + t
        out += record(5, v(t) + v(tid) + string("w%d" % t) + v(0) + v(0) + v(0))
    # cumulative counters per (thread, stack)
    cum = {}
    for i in range(nsnaps):
        t_ns = (i + 1) * INTERVAL_NS
        tick = t_ns - INTERVAL_NS // 2 + 1  # ticks + 1 at 1 GHz
        changed = []
        for (p, s, t, sid, allocs, frees) in events:
            if p != pid or s != i:
                continue
            c = cum.setdefault((t, sid), {"allocs": 0, "frees": 0, "first": 0,
                                           "last": 0, "free": 0})
            c["allocs"] += allocs
            c["frees"] += frees
            if allocs:
                c["first"] = c["first"] or tick
                c["last"] = tick
            if frees:
                c["free"] = tick
            if (t, sid) not in changed:
                changed.append((t, sid))
        body = bytearray()
        for (t, sid) in changed:
            c = cum[(t, sid)]
            site = site_of(sid)
            size = size_of[site]
            a, f = c["allocs"], c["frees"]
            peak = min(a, max(a - f, 1000 if site == SITE_B else t))
            body += v(t) + v(sid) + v(1)
            body += v(a) + v(a * size) + v(f) + v(f * size) + v(0) + v(0)
            body += v(size) + v(size) + v(peak) + v(peak * size)
            body += v(c["first"]) + v(c["last"]) + v(c["free"])
            body += v(1) + v(bucket(size)) + v(a)
            body += (v(1) + v(20) + v(f)) if f else v(0)
        out += record(6, v(i + 1) + v(t_ns) + v(10**9) + v(0) + v(len(changed)) +
                      body + v(0) + v(0) + v(0) + v(0))
    out += record(7, v(1) + v(nsnaps * INTERVAL_NS))
    with open(path, "wb") as fh:
        fh.write(out)


# ---- what the page must say, from the events
def expected_process(pid, nsnaps, nthreads):
    """One process's timeline: points, thread series, peak, live at it."""
    k = scale(pid)
    allocs = [0] * nsnaps
    space = [0] * nsnaps
    delta_obj = [0] * nsnaps
    delta_bytes = [0] * nsnaps
    per_thread = {t: [0] * nsnaps for t in range(1, nthreads + 1)}
    for (p, s, t, sid, a, f) in events:
        if p != pid:
            continue
        size = size_of[site_of(sid)]
        allocs[s] += a * k
        space[s] += a * k * size
        delta_obj[s] += (a - f) * k
        delta_bytes[s] += (a - f) * k * size
        per_thread[t][s] += a * k
    live_obj, live_bytes, o, b = [], [], 0, 0
    for s in range(nsnaps):
        o += delta_obj[s]
        b += delta_bytes[s]
        live_obj.append(o)
        live_bytes.append(b)
    group = -(-nsnaps // 600)  # at most 600 points
    starts = range(0, nsnaps, group)
    points = []
    for lo in starts:
        hi = min(lo + group, nsnaps)
        points.append({
            "t_ms": hi * INTERVAL_NS / 1e6,
            "alloc_objects": sum(allocs[lo:hi]),
            "alloc_space": sum(space[lo:hi]),
            "inuse_objects": max(live_obj[lo:hi]),
            "inuse_space": max(live_bytes[lo:hi]),
        })
    total = {t: sum(per_thread[t]) for t in per_thread}
    order = sorted(per_thread, key=lambda t: (-total[t], t))
    shown = order if len(order) <= 13 else order[:12]
    threads = [{"tid": tid_of(pid, t), "name": "w%d" % t,
                "alloc_objects": [sum(per_thread[t][lo:lo + group]) for lo in starts]}
               for t in shown]
    rest = order[len(shown):]
    if rest:
        threads.append({"tid": None, "name": "%d other threads" % len(rest),
                        "alloc_objects": [sum(sum(per_thread[t][lo:lo + group]) for t in rest)
                                          for lo in starts]})
    peak = max(range(nsnaps), key=lambda s: (live_bytes[s], -s))  # the first
    return {"snapshots": nsnaps, "group": group, "points": points, "threads": threads,
            "peak": {"snapshot": peak, "t_ms": (peak + 1) * INTERVAL_NS / 1e6,
                     "inuse_objects": live_obj[peak], "inuse_space": live_bytes[peak]},
            "live_at_peak": live_table(pid, peak)}


def live_table(pid, upto):
    """The rows of a live table: what each site held after snapshot upto
    of process pid (pid None: at the end, every process), most bytes
    (then blocks) first, 200 of them and the rest summed."""
    live, allocated = {}, {}
    for (p, s, t, sid, a, f) in events:
        site = site_of(sid)
        a, f = a * scale(p), f * scale(p)
        allocated[site] = allocated.get(site, 0) + a
        if pid is None or (p == pid and s <= upto):
            o, b = live.get(site, (0, 0))
            live[site] = (o + a - f, b + (a - f) * size_of[site])
    rows = sorted(((site, o, b) for site, (o, b) in live.items() if o > 0 or b > 0),
                  key=lambda r: (-r[2], -r[1]))
    shown = [{"function": "0x%x" % site, "inuse_objects": o, "inuse_space": b,
              "alloc_objects": allocated[site]} for (site, o, b) in rows[:200]]
    others = {"sites": max(len(rows) - 200, 0),
              "inuse_objects": sum(r[1] for r in rows[200:]),
              "inuse_space": sum(r[2] for r in rows[200:])}
    return shown, others


def expected_site_threads():
    per = {}  # site -> {tid: allocations}
    for (p, s, t, sid, a, f) in events:
        if a:
            by_tid = per.setdefault("0x%x" % site_of(sid), {})
            by_tid[tid_of(p, t)] = by_tid.get(tid_of(p, t), 0) + a * scale(p)
    return {site: (len(by_tid), sorted(by_tid.items(), key=lambda r: -r[1])[:16])
            for site, by_tid in per.items()}


def tid_of(pid, t):
    return (5000 if pid == PID else 6000) + t


def snap_ms(s):
    """A snapshot's time in ms of its process."""
    return (s + 1) * INTERVAL_NS / 1e6


def alloc_ns(pid, s):
    """When the file says an allocation of snapshot s happened: half an
    interval before it, in ns of the run."""
    return (s + 1) * INTERVAL_NS - INTERVAL_NS // 2 + (10**6 if pid == PID2 else 0)


def check_report(ps, files, check):
    run = subprocess.run([ps, "report", "--json", "-n", "1000"] + files,
                         capture_output=True, text=True)
    if run.returncode:
        print("FAIL report --json: exit %d: %s" % (run.returncode, run.stderr))
        return
    d = json.loads(run.stdout)
    duration_s = NSNAPS * INTERVAL_NS / 1e9
    # the truth, scaled: per thread and per site
    th, site, tl, th_when = {}, {}, {}, {}
    for (p, s, t, sid, a, f) in events:
        k, size = scale(p), size_of[site_of(sid)]
        key = (p, tid_of(p, t))
        x = th.setdefault(key, [0, 0, 0])
        x[0] += a * k
        x[1] += a * k * size
        x[2] += f * k
        if a:
            w = th_when.setdefault(key, [alloc_ns(p, s), alloc_ns(p, s)])
            w[0], w[1] = min(w[0], alloc_ns(p, s)), max(w[1], alloc_ns(p, s))
        if a or f:
            y = tl.setdefault(key, {}).setdefault(snap_ms(s), [0, 0, 0])
            y[0] += a * k
            y[1] += a * k * size
            y[2] += f * k
        z = site.setdefault("0x%x" % site_of(sid),
                            {"alloc_objects": 0, "alloc_space": 0, "frees": 0,
                             "inuse_objects": 0, "inuse_space": 0, "threads": set(),
                             "size_min": size, "size_max": size,
                             "first_alloc_ns": None, "last_alloc_ns": None})
        z["alloc_objects"] += a * k
        z["alloc_space"] += a * k * size
        z["frees"] += f * k
        z["inuse_objects"] += (a - f) * k
        z["inuse_space"] += (a - f) * k * size
        if a:
            z["threads"].add(key)
            when = alloc_ns(p, s)
            z["first_alloc_ns"] = min(z["first_alloc_ns"] or when, when)
            z["last_alloc_ns"] = max(z["last_alloc_ns"] or when, when)
    tot = d["totals"]
    check("report: totals",
          [tot[k] for k in ("alloc_objects", "alloc_space", "frees", "inuse_objects",
                            "inuse_space", "threads", "files", "duration_ns")],
          [sum(x[0] for x in th.values()), sum(x[1] for x in th.values()),
           sum(x[2] for x in th.values()),
           sum(x[0] - x[2] for x in th.values()),
           sum(z["inuse_space"] for z in site.values()),
           NTHREADS + NTHREADS2, 2, NSNAPS * INTERVAL_NS])
    check("report: every thread's allocations, bytes and frees",
          {(t["pid"], t["tid"]): [t["alloc_objects"], t["alloc_space"], t["frees"]]
           for t in d["threads"]},
          {k: x for k, x in th.items()} |
          {(PID2, tid_of(PID2, t)): [0, 0, 0] for t in (3, 4)})
    # a rate over the window from the first allocation to the latest, at
    # least 1 ms
    check("report: every thread's rate while active",
          {(t["pid"], t["tid"]): round(t["alloc_rate_per_s"], 2)
           for t in d["threads"] if t["alloc_objects"]},
          {k: round(th[k][0] / max((w[1] - w[0]) / 1e9, 1e-3), 2)
           for k, w in th_when.items()})
    check("report: every thread's timeline",
          {(t["pid"], t["tid"]): [[round(e["t_ms"], 3), e["alloc_objects"],
                                   e["alloc_space"], e["frees"]] for e in t["timeline"]]
           for t in d["threads"] if t["timeline"]},
          {k: [[round(ms, 3)] + y for ms, y in sorted(v.items())] for k, v in tl.items()})
    got, want = {}, {}
    for s in d["sites"]:
        got[s["function"]] = [s["alloc_objects"], s["alloc_space"], s["frees"],
                              s["inuse_objects"], s["inuse_space"], s["alloc_threads"],
                              s["size_min"], s["size_max"], s["first_alloc_ns"],
                              s["last_alloc_ns"], round(s["alloc_rate_run_per_s"], 2),
                              round(s["alloc_rate_per_s"], 2)]
    for name, z in site.items():
        span = (z["last_alloc_ns"] - z["first_alloc_ns"]) / 1e9
        want[name] = [z["alloc_objects"], z["alloc_space"], z["frees"], z["inuse_objects"],
                      z["inuse_space"], len(z["threads"]), z["size_min"], z["size_max"],
                      z["first_alloc_ns"], z["last_alloc_ns"],
                      round(z["alloc_objects"] / duration_s, 2),
                      round(z["alloc_objects"] / max(span, 1e-3), 2)]
    check("report: every site's counts, threads, sizes, times and rates", got, want)


def check_exports(ps, files, check):
    # the truth per stack (its frames), scaled: alloc_objects,
    # alloc_space, inuse_objects, inuse_space
    per = {}
    for (p, s, t, sid, a, f) in events:
        k, size = scale(p), size_of[site_of(sid)]
        x = per.setdefault(stacks[sid - 1], [0, 0, 0, 0])
        x[0] += a * k
        x[1] += a * k * size
        x[2] += (a - f) * k
        x[3] += (a - f) * k * size
    for i, index in enumerate(("alloc_objects", "alloc_space", "inuse_objects",
                               "inuse_space")):
        run = subprocess.run([ps, "export", "--format", "folded", "--sample-index", index,
                              "-o", "-"] + files, capture_output=True, text=True)
        got = {}
        for line in run.stdout.splitlines():
            path, value = line.rsplit(" ", 1)
            got[path] = got.get(path, 0) + int(value)
        want = {"0x%x;0x%x" % (caller, leaf): x[i]
                for (leaf, caller), x in per.items() if x[i]}
        check("folded %s: every stack's value" % index, got, want)
    run = subprocess.run([ps, "export", "--format", "gperftools", "-o", "-"] + files,
                         capture_output=True, text=True)
    lines = run.stdout.split("\n\nMAPPED_LIBRARIES:")[0].splitlines()
    nums = lambda line: [int(n) for n in re.findall(r"\d+", line.split("@")[0])]
    got = {}
    for line in lines[1:]:
        ips = tuple(int(a, 16) for a in line.split("@")[1].split())
        got[ips] = [g + n for g, n in zip(got.get(ips, [0, 0, 0, 0]), nums(line))]
    want = {(leaf, caller): [x[2], x[3], x[0], x[1]] for (leaf, caller), x in per.items()}
    tot = [sum(x[i] for x in per.values()) for i in (2, 3, 0, 1)]
    check("gperftools: the header's totals", nums(lines[0]) if lines else [], tot)
    check("gperftools: every stack's in-use and allocated objects and bytes", got, want)


def main():
    ps, work = sys.argv[1], sys.argv[2]
    path = work + "/poolscout.tl.%d.pscout" % PID
    path2 = work + "/poolscout.tl.%d.pscout" % PID2
    write_profile(path, PID, NTHREADS, NSNAPS)
    write_profile(path2, PID2, NTHREADS2, NSNAPS2)
    page = work + "/timeline.html"
    run = subprocess.run([ps, "report", "--html", page, path, path2],
                         capture_output=True, text=True)
    if run.returncode:
        print("FAIL html_timeline: report --html exit %d: %s" % (run.returncode, run.stderr))
        return
    text = open(page).read()
    m = re.search(r'<script type="application/json" id="poolscout-data">(.*?)</script>',
                  text, re.S)
    data = json.loads(m.group(1))

    def check(name, got, exp):
        if got == exp:
            print("ok html timeline: " + name)
            return
        if isinstance(got, dict) and isinstance(exp, dict):
            keys = sorted(set(got) | set(exp), key=repr)
            k = [k for k in keys if got.get(k) != exp.get(k)][0]
            got, exp = {k: got.get(k)}, {k: exp.get(k)}
        elif isinstance(got, list) and isinstance(exp, list) and len(got) == len(exp):
            i = [i for i in range(len(got)) if got[i] != exp[i]][0]
            got, exp = ("[%d]" % i, got[i]), ("[%d]" % i, exp[i])
        print("FAIL html timeline: %s: got %s, the profile holds %s"
              % (name, repr(got)[:300], repr(exp)[:300]))

    procs = {p["pid"]: p for p in data["timeline"]["processes"]}
    for pid, nsnaps, nthreads, what in ((PID, NSNAPS, NTHREADS, "601 snapshots, 2 a point"),
                                        (PID2, NSNAPS2, NTHREADS2, "600 snapshots, sampled")):
        want, proc = expected_process(pid, nsnaps, nthreads), procs.get(pid, {})
        check("pid %d: %s" % (pid, what),
              (proc.get("snapshots"), proc.get("snapshots_per_point"), len(proc.get("points", []))),
              (nsnaps, want["group"], len(want["points"])))
        for key in ("alloc_objects", "alloc_space", "inuse_objects", "inuse_space"):
            check("pid %d: every point's %s" % (pid, key),
                  [p[key] for p in proc["points"]], [p[key] for p in want["points"]])
        check("pid %d: every point's time (its last snapshot's)" % pid,
              [round(p["t_ms"], 3) for p in proc["points"]],
              [round(p["t_ms"], 3) for p in want["points"]])
        check("pid %d: the threads, most allocations first (past 13: 12 and the rest)" % pid,
              [(t["tid"], t["name"]) for t in proc["threads"]],
              [(t["tid"], t["name"]) for t in want["threads"]])
        check("pid %d: each thread's allocations per point" % pid,
              [t["alloc_objects"] for t in proc["threads"]],
              [t["alloc_objects"] for t in want["threads"]])
        p = proc["peak"]
        check("pid %d: the peak (the first snapshot with the most bytes in use)" % pid,
              (p["snapshot"], round(p["t_ms"], 3), p["inuse_objects"], p["inuse_space"]),
              (want["peak"]["snapshot"], round(want["peak"]["t_ms"], 3),
               want["peak"]["inuse_objects"], want["peak"]["inuse_space"]))
        keys = ("function", "inuse_objects", "inuse_space", "alloc_objects")
        check("pid %d: live_at_peak, most bytes first" % pid,
              [{k: r[k] for k in keys} for r in proc["live_at_peak"]], want["live_at_peak"][0])
        check("pid %d: live_at_peak_others" % pid,
              proc["live_at_peak_others"], want["live_at_peak"][1])
    keys = ("function", "inuse_objects", "inuse_space", "alloc_objects")
    end_rows, end_others = live_table(None, None)
    check("live_at_end: 200 rows, most bytes first",
          [{k: r[k] for k in keys} for r in data["timeline"]["live_at_end"]], end_rows)
    check("live_at_end_others: the sites past 200",
          data["timeline"]["live_at_end_others"], end_others)
    name = {s["rank"]: s["function"] for s in data["report"]["sites"]}
    got = {name.get(st["rank"]): (st["count"], [(t["tid"], t["alloc_objects"])
                                                for t in st["threads"]])
           for st in data["site_threads"]}
    check("site A: 20 threads in two processes, 16 listed, most allocations first",
          got.get("0x%x" % SITE_A), expected_site_threads()["0x%x" % SITE_A])
    check("every site's threads and their allocations", got, expected_site_threads())
    # -n 5: the threads of the 5 sites ranked first, as many as the report
    run = subprocess.run([ps, "report", "--html", page, "-n", "5", path, path2],
                         capture_output=True, text=True)
    text = open(page).read()
    m = re.search(r'<script type="application/json" id="poolscout-data">(.*?)</script>',
                  text, re.S)
    data5 = json.loads(m.group(1))
    check("-n 5: 5 sites and their threads",
          ([s["rank"] for s in data5["report"]["sites"]],
           [st["rank"] for st in data5["site_threads"]]),
          ([1, 2, 3, 4, 5], [1, 2, 3, 4, 5]))
    check_report(ps, [path, path2], check)
    check_exports(ps, [path, path2], check)


main()
