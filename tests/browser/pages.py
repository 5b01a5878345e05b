#!/usr/bin/python3
"""pages.py - the pages of `report --html` and `diff --html` in headless
Chromium (cdp.py), opened from disk (file://), checked against what the
recorded programs are known to do, never against another poolscout output:

  tests/progs/planted.c   REQUESTS handle_request allocations of 256 B,
                          at most IN_FLIGHT live (a pool, the first row);
                          CHAINS start_buffer + CHAINS * CHAIN_STEPS
                          append_bytes reallocs of 2, 4, ... 2^CHAIN_STEPS
                          B; TABLE_ROWS load_table rows of 1 KiB and their
                          pointer array, live until exit; TOKENS
                          parse_token of 24 B; MESSAGES produce_message of
                          512 B on the thread named "producer"
  demo-apps/logger/logger_before.c
                          one format_field allocation per key of keys[]
                          per log line, a unit of work; logger_after has
                          none

The counts come from the programs' #defines and source lines; the sizes
are those of the header comment of planted.c. A few allocations of the C
runtime (stdout's buffer, thread setup) come on top, so shares are
compared with a tolerance that allows at most a few hundred of them.

Prints "  ok   NAME" or "  FAIL NAME: WHY" per check, then "N passed, N
failed"; exits 1 when a check failed.
"""
import argparse
import json
import os
import re
import sys
import time

import cdp

passed = 0
failed = 0


def check(name, condition, why=""):
    global passed, failed
    if condition:
        passed += 1
        print("  ok   " + name)
    else:
        failed += 1
        print("  FAIL %s: %s" % (name, why))
    return condition


def near(a, b, tolerance):
    return a is not None and b is not None and abs(a - b) <= tolerance


# ---- ground truth -----------------------------------------------------------

def planted_truth(path):
    text = open(path).read()
    d = {k: int(v) for k, v in re.findall(r"#define (\w+) (\d+)", text)}
    lines = text.split("\n")

    def line_of(code):
        return next(i + 1 for i, l in enumerate(lines) if code in l)

    steps = range(1, d["CHAIN_STEPS"] + 1)
    t = {
        "requests": d["REQUESTS"], "in_flight": d["IN_FLIGHT"],
        "rows": d["TABLE_ROWS"], "tokens": d["TOKENS"],
        "messages": d["MESSAGES"],
        "request_line": line_of("malloc(256)"),
        "row_line": line_of("rows[i] = malloc(1024)"),
        "array_line": line_of("calloc(TABLE_ROWS"),
        "append_space": d["CHAINS"] * sum(2 ** s for s in steps),
    }
    t["alloc_objects"] = (d["REQUESTS"] + d["CHAINS"] * (1 + d["CHAIN_STEPS"])
                          + d["TABLE_ROWS"] + 1 + d["TOKENS"] + d["MESSAGES"])
    t["alloc_space"] = (d["REQUESTS"] * 256 + d["CHAINS"] * 1 +
                        t["append_space"] + d["TABLE_ROWS"] * (1024 + 8) +
                        d["TOKENS"] * 24 + d["MESSAGES"] * 512)
    t["table_space"] = d["TABLE_ROWS"] * 1024 + d["TABLE_ROWS"] * 8
    return t


def logger_fields(path):
    """format_field allocations per log line: the keys of log_line."""
    keys = re.search(r"keys\[\] = \{([^}]*)\}", open(path).read()).group(1)
    return len(re.findall(r'"[^"]*"', keys))


# ---- reading the page -----------------------------------------------------

HELPERS = r"""
window.__t = {
  table(sel) {
    const t = document.querySelector(sel);
    const head = t.tHead.rows[t.tHead.rows.length - 1];
    return {
      heads: [...head.cells].map(c => c.textContent.trim()),
      rows: [...t.tBodies[0].rows].filter(r => !r.classList.contains('detail'))
        .map(r => ({ fn: r.dataset.function, status: r.dataset.status,
          cells: [...r.cells].map(c => ({ text: c.textContent.trim(),
            value: c.dataset.value === undefined ? null : +c.dataset.value,
            cls: c.className })) })),
    };
  },
  frames(graph) {
    return [...document.querySelectorAll(graph + ' g.frame')].map(g => ({
      name: g.dataset.name, value: +g.dataset.value, share: +g.dataset.share,
      cls: g.getAttribute('class'),
      before: g.dataset.before === undefined ? null : +g.dataset.before,
      after: g.dataset.after === undefined ? null : +g.dataset.after,
      width: +g.querySelector('rect').getAttribute('width') }));
  },
};
true
"""


def open_page(b, path):
    """Opens the page; returns (url, the events before it, drawn, seconds)."""
    url = "file://" + os.path.abspath(path)
    start = time.time()
    since = len(b.events)
    b.open(url)
    ready = b.wait_for("document.body.dataset.ready === 'true'")
    b.evaluate(HELPERS)
    return (url, since), ready, time.time() - start


def table(b, sel):
    t = b.evaluate("__t.table(%s)" % json.dumps(sel))
    rows = []
    for r in t["rows"]:
        named = dict(zip(t["heads"], r["cells"]))
        rows.append(dict(r, named=named))
    return rows


def frames(b, graph):
    return b.evaluate("__t.frames(%s)" % json.dumps(graph))


def frame(fs, name):
    return next((f for f in fs if f["name"] == name), None)


def embedded_document(path):
    html = open(path, encoding="utf-8").read()
    m = re.search(r'<script type="application/json" id="poolscout-data">'
                  r'(.*?)</script>', html, re.S)
    return m.group(1) if m else ""


def clean_page(b, page, name):
    url, since = page
    errors = b.console_errors(since)
    check(name + ": no console errors", not errors, "; ".join(errors)[:600])
    others = [u for u in b.requests(since) if u != url]
    check(name + ": no network request but the page itself", not others,
          ", ".join(others)[:600])


# ---- the report page ----------------------------------------------------------

def check_report(b, path, truth, shots):
    page, ready, secs = open_page(b, path)
    check("report: the page opens from disk and draws (%.1f s)" % secs, ready)

    doc = embedded_document(path)
    check("report: the embedded document holds no '<'", doc and "<" not in doc)
    data = json.loads(doc) if doc else {}
    check("report: the document has report, stacks and timeline",
          all(k in data for k in ("report", "stacks", "timeline")))
    totals = data.get("report", {}).get("totals", {})
    text = b.evaluate("[...document.querySelectorAll('.warning')]"
                      ".map(w => w.textContent).join(' | ')")
    check("report: the recording's time is said, as the document has it "
          "(%d of %d ns)" % (totals.get("recording_ns", 0), totals.get("duration_ns", 0)),
          totals.get("recording_ns", 0) >= totals.get("duration_ns", 1) / 100 and
          "RECORDING: took about" in text and "program's own" in text, text[:300])
    odd = "</script><!--\u2028"
    check("report: a module path with </script>, <!-- and U+2028 survives",
          b.evaluate("loadData().stacks.some(s => s.frames.some(f =>"
                     " f.module.includes(%s)))" % json.dumps(odd)))

    # the ranked table
    rows = table(b, "#ranked-table")
    first = rows[0] if rows else {"fn": None, "named": {}}
    n = first["named"]
    check("ranked: the first row is handle_request", first["fn"] == "handle_request",
          "first row is %s" % first["fn"])
    check("ranked: handle_request made %d allocations" % truth["requests"],
          n.get("alloc_objects", {}).get("value") == truth["requests"],
          str(n.get("alloc_objects")))
    check("ranked: %d bytes" % (truth["requests"] * 256),
          n.get("alloc_space", {}).get("value") == truth["requests"] * 256,
          str(n.get("alloc_space")))
    check("ranked: at planted.c:%d" % truth["request_line"],
          n.get("file:line", {}).get("text") == "planted.c:%d" % truth["request_line"],
          str(n.get("file:line")))
    check("ranked: remedy pool, with its reasons",
          n.get("remedy", {}).get("text", "").startswith("pool") and
          "at most %d live at once" % truth["in_flight"] in n.get("site", {}).get("text", ""),
          str(n.get("remedy")))
    check("ranked: peak live %d" % truth["in_flight"],
          n.get("peak live", {}).get("value") == truth["in_flight"], str(n.get("peak live")))
    check("ranked: one thread", n.get("threads", {}).get("value") == 1, str(n.get("threads")))
    check("ranked: every column is there",
          all(h in n for h in ("site", "file:line", "remedy", "saves", "alloc_objects",
                               "alloc_space", "inuse", "peak live", "lifetime",
                               "threads", "stacks")), str(list(n)))

    b.click("#ranked-table th:nth-child(7)")  # alloc_space
    rows = table(b, "#ranked-table")
    check("ranked: sorted by alloc_space, append_bytes first (%d bytes)" % truth["append_space"],
          rows[0]["fn"] == "append_bytes" and
          rows[0]["named"]["alloc_space"]["value"] == truth["append_space"],
          "%s %s" % (rows[0]["fn"], rows[0]["named"]["alloc_space"]))
    b.click("#ranked-table th:nth-child(7)")
    rows = table(b, "#ranked-table")
    values = [r["named"]["alloc_space"]["value"] for r in rows]
    check("ranked: a second click sorts the other way", values == sorted(values), str(values))
    b.click("#ranked-table th:nth-child(1)")
    rows = table(b, "#ranked-table")
    check("ranked: back in rank order", [r["named"]["#"]["value"] for r in rows] ==
          list(range(1, len(rows) + 1)))

    b.click("#site-1 button.expand")
    detail = b.evaluate("(() => { const d = document.querySelector('#site-1 + tr.detail');"
                        " return d ? d.textContent : ''; })()")
    check("ranked: the row opens its stacks (handle_request < serve < main)",
          all(f in detail for f in ("handle_request", "serve", "main")), detail[:200])

    # the flame graph
    fs = frames(b, "#flame-graph")
    hr = frame(fs, "handle_request")
    share = truth["requests"] / truth["alloc_objects"]
    check("flame: handle_request is %d allocations" % truth["requests"],
          hr and hr["value"] == truth["requests"], str(hr))
    check("flame: handle_request holds %.3f%% of alloc_objects" % (100 * share),
          hr and near(hr["share"], share, 0.0005), str(hr))
    root = frame(fs, "all")
    check("flame: the root holds every allocation (%d + the runtime's few)" % truth["alloc_objects"],
          root and truth["alloc_objects"] <= root["value"] <= truth["alloc_objects"] + 300,
          str(root))
    check("flame: stacks start at the site (no malloc frame)",
          frame(fs, "malloc") is None and frame(fs, "serve") is not None)

    b.hover('#flame-graph g.frame[data-name="handle_request"]')
    tip = b.evaluate("(() => { const t = document.getElementById('tooltip');"
                     " return t && t.style.display === 'block' ? t.textContent : ''; })()")
    check("flame: the tooltip has the exact count",
          "handle_request" in tip and "{:,}".format(truth["requests"]) in tip, tip)

    b.click('#flame-graph g.frame[data-name="serve"]')
    fs = frames(b, "#flame-graph")
    serve = frame(fs, "serve")
    svg_width = b.evaluate("+document.querySelector('#flame-graph svg').getAttribute('width')")
    check("flame: a click zooms into serve (full width, parse_token gone)",
          serve and serve["width"] >= svg_width - 1 and frame(fs, "parse_token") is None,
          "serve %s of %s" % (serve and serve["width"], svg_width))
    b.click("#flame-reset")
    check("flame: reset zoom brings parse_token back",
          frame(frames(b, "#flame-graph"), "parse_token") is not None)

    b.click('#flame-metric button[data-value="inuse_space"]')
    fs = frames(b, "#flame-graph")
    lt = frame(fs, "load_table")
    check("flame: inuse_space drops handle_request (all freed)",
          frame(fs, "handle_request") is None)
    check("flame: inuse_space of load_table is %d bytes, nearly all" % truth["table_space"],
          lt and lt["value"] == truth["table_space"] and lt["share"] > 0.99, str(lt))
    b.click('#flame-metric button[data-value="inuse_objects"]')
    lt = frame(frames(b, "#flame-graph"), "load_table")
    check("flame: inuse_objects of load_table is %d" % (truth["rows"] + 1),
          lt and lt["value"] == truth["rows"] + 1, str(lt))
    b.click('#flame-metric button[data-value="alloc_objects"]')

    b.type_into("#flame-search", "handle_req")
    match = b.evaluate("[+document.getElementById('flame-match').dataset.share,"
                       " +document.getElementById('flame-match').dataset.value,"
                       " document.getElementById('flame-match').textContent]")
    lit = [f["name"] for f in frames(b, "#flame-graph") if "match" in f["cls"].split()]
    check("search: handle_req lights up handle_request", lit == ["handle_request"], str(lit))
    check("search: and reports its share, %.3f%%" % (100 * share),
          near(match[0], share, 0.0005) and match[1] == truth["requests"], str(match))
    b.evaluate("document.getElementById('flame-search').value = ''")
    b.type_into("#flame-search", "^(parse_token|handle_request)$")
    value = b.evaluate("+document.getElementById('flame-match').dataset.value")
    check("search: a regular expression adds up both (%d)" % (truth["requests"] + truth["tokens"]),
          value == truth["requests"] + truth["tokens"], str(value))

    # the timeline
    proc = data["timeline"]["processes"][0]
    points = b.evaluate("document.querySelector('#chart-inuse-space polyline')"
                        ".getAttribute('points').trim().split(/\\s+/).length")
    check("timeline: bytes in use drawn over the snapshots (%d points)" % points, points >= 3)
    check("timeline: the peak is marked",
          b.evaluate("!!document.querySelector('#chart-inuse-space .peak-marker')"))
    check("timeline: the peak holds at least the table (%d bytes)" % truth["table_space"],
          proc["peak"]["inuse_space"] >= truth["table_space"], str(proc["peak"]))
    peak = {r["named"]["file:line"]["text"]: r for r in table(b, "#peak-table")}
    row = peak.get("planted.c:%d" % truth["row_line"])
    check("timeline: live at the peak, load_table's %d rows" % truth["rows"],
          row and row["named"]["objects"]["value"] == truth["rows"] and
          row["named"]["bytes"]["value"] == truth["rows"] * 1024, str(row))
    names = b.evaluate("[...document.querySelectorAll('#chart-rate polyline')].map(p => p.dataset.name)")
    check("timeline: allocation rate per thread, producer among them",
          any(n.startswith("producer") for n in names), str(names))

    # live at exit
    leaks = {r["named"]["file:line"]["text"]: r for r in table(b, "#leaks-table")}
    row = leaks.get("planted.c:%d" % truth["row_line"])
    arr = leaks.get("planted.c:%d" % truth["array_line"])
    check("leaks: load_table's %d rows of 1 KiB live at exit" % truth["rows"],
          row and row["named"]["objects"]["value"] == truth["rows"] and
          row["named"]["bytes"]["value"] == truth["rows"] * 1024, str(row))
    check("leaks: and the array of %d pointers" % truth["rows"],
          arr and arr["named"]["objects"]["value"] == 1 and
          arr["named"]["bytes"]["value"] == truth["rows"] * 8, str(arr))
    check("leaks: nothing of handle_request",
          not any(r["fn"] == "handle_request" for r in leaks.values()))

    b.evaluate("document.getElementById('flame-search').value = '';"
               " document.getElementById('flame-search').dispatchEvent(new Event('input'))")
    b.evaluate("document.querySelector('#site-1 + tr.detail') &&"
               " document.querySelector('#site-1 button.expand').click()")
    b.screenshot(os.path.join(shots, "report.png"), height=1800)
    check("report: screenshot saved", os.path.getsize(os.path.join(shots, "report.png")) > 10000)
    clean_page(b, page, "report")


# ---- the diff page -------------------------------------------------------------

def check_diff(b, path, fields, shots):
    page, ready, secs = open_page(b, path)
    check("diff: the page opens from disk and draws (%.1f s)" % secs, ready)
    rows = {r["fn"]: r for r in table(b, "#diff-table")}
    ff = rows.get("format_field")
    # columns: site, file:line, status, then before/after/change per metric
    cells = ff["cells"] if ff else [{}] * 15
    check("diff: format_field is gone", ff and ff["status"] == "gone", str(ff))
    check("diff: %d format_field allocations per log line before, 0 after" % fields,
          near(cells[3].get("value"), fields, 1e-9) and cells[4].get("value") == 0,
          str(cells[3:6]))
    check("diff: its change is -%d, shown as shrinking" % fields,
          near(cells[5].get("value"), -fields, 1e-9) and "shrunk" in cells[5].get("cls", ""),
          str(cells[5]))
    fs = frames(b, "#diff-flame-graph")
    f = frame(fs, "format_field")
    check("diff flame: format_field shrank (blue), %d per line before, 0 after" % fields,
          f and "shrunk" in f["cls"].split() and near(f["before"], fields, 1e-9) and
          f["after"] == 0, str(f))
    b.click('#diff-flame-width button[data-value="1"]')
    check("diff flame: as wide as after, format_field is gone",
          frame(frames(b, "#diff-flame-graph"), "format_field") is None)
    b.click('#diff-flame-width button[data-value="0"]')
    b.screenshot(os.path.join(shots, "diff.png"))
    clean_page(b, page, "diff")


def check_huge(b, path):
    page, ready, secs = open_page(b, path)
    check("huge: the page of 131072 stacks draws in %.1f s" % secs, ready and secs < 30)
    note = b.evaluate("(document.getElementById('stacks-cut') || {}).textContent || ''")
    check("huge: it says it keeps only the largest stacks", "131,07" in note, note[:200])
    count = b.evaluate("document.querySelectorAll('#flame-graph g.frame').length")
    check("huge: the flame graph has frames (%d)" % count, count > 10)
    clean_page(b, page, "huge")


def check_awkward(b, path, name, warning=None, processes=None):
    """A page of an unusual profile draws without errors, says what is
    unusual about it, and offers each process of a tree."""
    page, ready, secs = open_page(b, path)
    check(name + ": the page draws", ready)
    if warning:
        text = b.evaluate("[...document.querySelectorAll('.warning')]"
                          ".map(w => w.textContent).join(' | ')")
        check(name + ": it warns " + warning, warning in text, text[:300])
    if processes:
        n = b.evaluate("document.querySelectorAll('#timeline-process option').length")
        check(name + ": a timeline for each of its %d processes" % processes,
              n == processes, str(n))
        b.evaluate("(() => { const s = document.getElementById('timeline-process');"
                   " s.value = s.options.length - 1; s.dispatchEvent(new Event('change')); })()")
        check(name + ": switching process redraws the timeline",
              b.evaluate("!!document.querySelector('#chart-inuse-space')"))
    clean_page(b, page, name)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--report", required=True)
    ap.add_argument("--diff", required=True)
    ap.add_argument("--huge")
    ap.add_argument("--shots", required=True)
    ap.add_argument("--source", required=True, help="tests/progs/planted.c")
    ap.add_argument("--logger", required=True, help="logger_before.c")
    ap.add_argument("--tree")
    ap.add_argument("--tree-files", type=int)
    ap.add_argument("--killed")
    ap.add_argument("--sampled")
    ap.add_argument("--nodebug")
    ap.add_argument("--nodebug-truth")
    args = ap.parse_args()
    truth = planted_truth(args.source)
    fields = logger_fields(args.logger)
    try:
        with cdp.Browser(args.chromium) as b:
            check_report(b, args.report, truth, args.shots)
        with cdp.Browser(args.chromium) as b:
            check_diff(b, args.diff, fields, args.shots)
        with cdp.Browser(args.chromium) as b:
            if args.huge:
                check_huge(b, args.huge)
            if args.tree:
                check_awkward(b, args.tree, "tree", processes=args.tree_files)
            if args.killed:
                check_awkward(b, args.killed, "killed", warning="PARTIAL")
            if args.sampled:
                check_awkward(b, args.sampled, "sampled", warning="SAMPLED")
            if args.nodebug:
                check_nodebug(b, args.nodebug, args.nodebug_truth)
    except cdp.CdpError as e:
        check("the browser answers", False, str(e))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


def check_nodebug(b, path, truth_path):
    """tests/progs/nodebug_sites: two calls of two_calls(), a function the
    symbol table names with no line, are two ranked rows, each with the
    program's count and its own place: the module and the call's address
    (the offset the embedded report gives), as the text report names
    them; never two rows that read the same."""
    truth = {}
    for line in open(truth_path):
        f = line.split()
        if len(f) == 3 and f[0] == "truth":
            truth[f[1]] = int(f[2])
    page, ready, secs = open_page(b, path)
    check("nodebug: the page draws", ready)
    doc = json.loads(embedded_document(path) or "{}")
    offsets = {s["alloc_objects"]: s["offset"] for s in doc["report"]["sites"]
               if s["function"] == "two_calls"}
    rows = [r for r in table(b, "#ranked-table") if r["fn"] == "two_calls"]
    got = {r["named"]["alloc_objects"]["value"]: r["named"]["file:line"]["text"] for r in rows}
    want = {n: "nodebug_sites at 0x%x" % offsets.get(n, -1)
            for n in (truth.get("first"), truth.get("second"))}
    check("nodebug: two rows of two_calls, %s and %s allocations, at their calls' addresses"
          % (truth.get("first"), truth.get("second")),
          len(rows) == 2 and got == want, "rows %s, want %s" % (got, want))
    clean_page(b, page, "nodebug")


if __name__ == "__main__":
    sys.exit(main())
