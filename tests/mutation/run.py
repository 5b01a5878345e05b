#!/usr/bin/env python3
"""run.py - `make mutation`: how many planted bugs the test suites catch.

1. Coverage: a scratch copy of the tree is built with --coverage and the
   suites are run on it (all but fuzz_smoke and asan, which build with
   their own flags); gcov then says which lines of analyzer/{core,cmd}/*.c and
   preload/*.c the suites execute. Cached in build/mutation/coverage.txt
   until a source or test file changes.
2. Mutants: tests/mutation/mutants.py offers single-line mutants of those
   lines only; MUTANTS of them are drawn at random (SEED).
3. Each mutant is applied in a scratch copy of the tree (never in the
   working files), rebuilt, and the suites are run fastest first (timed on
   the unmutated code) until one fails: the mutant is killed. A suite
   that outlives its timeout (TIMEOUT_FACTOR x its normal time, at least
   30 s) kills the mutant too, reported as a hang. A mutant that does not
   compile is discarded and another is drawn.
4. The score is killed / (killed + survived). Survivors listed in
   tests/mutation/equivalent.txt (the mutant cannot change behaviour) are
   left out of the score and listed apart. Every survivor is printed with
   file:line, the original and the mutated line; build/mutation/report.txt
   has every mutant, tab-separated.

Environment: MUTANTS=80 (mutants that compile), SEED= (default: random,
printed), FILES="reader.c preload/hooks.c" (names or globs), JOBS=1
(mutants in parallel, each in its own tree), TIMEOUT_FACTOR=4,
MUTATION_FUZZ_SECONDS=0 (fuzzing after the corpus replay, per mutant),
KEEP=1 (keep the scratch trees), TMPDIR; RESCORE=1 scores the last report
again against equivalent.txt without running anything. REPLAY=FILE runs
the mutants of an earlier report (a copy of build/mutation/report.txt)
again on the tree as it is now, instead of drawing new ones: after tests
were added for its survivors, say. REPLAY_ONLY="survived" (statuses,
default: every mutant that compiled) runs only those, but for the ones
equivalent.txt lists; the others keep the verdict FILE gives them (a
kill stands while tests are only added), marked "(from FILE)" in the
report. A mutant's line is found again by its text, the nearest to its
old number; a line that is gone is said and left out. A long run can be
cut short: `touch build/mutation/STOP` stops drawing mutants (the one
running finishes), Ctrl-C or SIGTERM stops at once (the one running is
left out); the report then scores the mutants finished so far.
"""
import fnmatch
import hashlib
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mutants  # noqa: E402

ROOT = subprocess.run(["git", "rev-parse", "--show-toplevel"],
                      capture_output=True, text=True, check=True).stdout.strip()
OUT = os.path.join(ROOT, "build", "mutation")
EQUIV = os.path.join(ROOT, "tests", "mutation", "equivalent.txt")
COVERAGE_SKIPS = {"fuzz_smoke", "asan"}
# touch build/mutation/STOP to end a run after the mutants being run;
# SIGINT or SIGTERM ends it at once; either way the report covers the
# mutants scored so far
STOP_FILE = os.path.join(OUT, "STOP")
stopping = threading.Event()
interrupted = threading.Event()
MIN_TIMEOUT = 30
print_lock = threading.Lock()


def say(*args):
    with print_lock:
        print(*args, flush=True)


def env_int(name, default):
    v = os.environ.get(name, "").strip()
    return int(v) if v else default


def all_suites():
    """The suite names, from tests/run.sh (one list, kept there)."""
    with open(os.path.join(ROOT, "tests", "run.sh")) as f:
        m = re.search(r'^all_suites="([^"]*)"', f.read(), re.M)
    return m.group(1).split()


def tree_files():
    """The files of the working tree (tracked or new, not ignored)."""
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"],
                         cwd=ROOT, capture_output=True, check=True).stdout
    return sorted(p for p in out.decode().split("\0")
                  if p and os.path.isfile(os.path.join(ROOT, p)))


def copy_tree(files, dest):
    for p in files:
        d = os.path.join(dest, os.path.dirname(p))
        os.makedirs(d, exist_ok=True)
        shutil.copy2(os.path.join(ROOT, p), os.path.join(dest, p))


def source_files(files):
    return [p for p in files if re.fullmatch(r"(analyzer/core|analyzer/cmd|preload)/[^/]+\.c", p)]


def suite_env(tmp, fuzz_seconds):
    env = dict(os.environ)
    for k in ("TESTS", "CI", "GOLDEN_UPDATE", "POOLSCOUT_BUILD", "MAKEFLAGS",
              "MAKELEVEL", "MFLAGS"):
        env.pop(k, None)
    env["POOLSCOUT_BUILD"] = "build"
    env["FUZZ_SECONDS"] = str(fuzz_seconds)
    env["TMPDIR"] = tmp
    return env


running = set()  # process groups started by run_group, still running


def kill_group(p):
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    p.wait()


def run_group(cmd, cwd, env, log, timeout):
    """Runs cmd in its own process group, output to log; returns its exit
    status, or None when it outlived timeout (the group is killed)."""
    with open(log, "w") as f:
        p = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=f,
                             stderr=subprocess.STDOUT, start_new_session=True)
        running.add(p)
        try:
            return p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(p)
            return None
        finally:
            running.discard(p)


# ---- coverage -----------------------------------------------------------

def coverage(files, work):
    """{source file: set of executed lines}, cached by the tree's hash."""
    h = hashlib.sha1()
    for p in files:
        if p.startswith(("analyzer/", "preload/", "include/", "tests/",
                         "demo-apps/", "Makefile", "mk/")) and \
                not p.startswith("tests/mutation/"):
            h.update(p.encode())
            with open(os.path.join(ROOT, p), "rb") as f:
                h.update(f.read())
    key = h.hexdigest()
    cache = os.path.join(OUT, "coverage.txt")
    if os.path.exists(cache):
        with open(cache) as f:
            if f.readline().strip() == f"# tree {key}":
                say(f"coverage: cached ({cache})")
                return mutants.read_coverage(cache)
    say("coverage: building a copy with --coverage and running the suites "
        "(a minute or two)")
    tree = os.path.join(work, "coverage")
    copy_tree(files, tree)
    make = ["make", "-s", "-j2", "all", "test-build", "CFLAGS=-O0 -g --coverage",
            "LDFLAGS=--coverage",
            "PRELOAD_LIBS=-lunwind -lz -ldl -lpthread -lm -lgcov"]
    log = os.path.join(OUT, "coverage-build.log")
    if run_group(make, tree, suite_env(work, 0), log, 900) != 0:
        sys.exit(f"mutation: the coverage build failed; see {log}")
    suites = " ".join(s for s in all_suites() if s not in COVERAGE_SKIPS)
    env = suite_env(work, 0)
    env["TESTS"] = suites
    log = os.path.join(OUT, "coverage-tests.log")
    if run_group(["sh", "tests/run.sh"], tree, env, log, 1800) != 0:
        say(f"coverage: warning: a suite failed under --coverage ({log})")
    cov = {}
    for src in source_files(files):
        obj = os.path.join("build", os.path.dirname(src))
        r = subprocess.run(["gcov", "-t", "-o", obj, src], cwd=tree,
                           capture_output=True, text=True)
        lines = set()
        for row in r.stdout.splitlines():
            m = re.match(r"\s*(\d+)\*?:\s*(\d+):", row)
            if m and int(m.group(1)) > 0:
                lines.add(int(m.group(2)))
        cov[src] = lines
    with open(cache, "w") as f:
        f.write(f"# tree {key}\n# FILE executed-line...\n")
        for src, lines in sorted(cov.items()):
            f.write(src + " " + " ".join(map(str, sorted(lines))) + "\n")
    return cov


# ---- equivalent mutants -------------------------------------------------

def load_equivalents():
    """{(file, function, original, mutated): why} from
    tests/mutation/equivalent.txt."""
    eq = {}
    if not os.path.exists(EQUIV):
        return eq
    with open(EQUIV) as f:
        for no, line in enumerate(f, 1):
            if line.startswith("#") or not line.strip():
                continue
            parts = [x.strip() for x in line.rstrip("\n").split("\t")]
            if len(parts) != 5 or not all(parts):
                sys.exit(f"{EQUIV}:{no}: expected file, function, original, "
                         "mutated, why, separated by tabs")
            eq[tuple(parts[:4])] = parts[4]
    return eq


# ---- one scratch tree per job -------------------------------------------

class Slot:
    def __init__(self, work, n, files, make_jobs):
        self.dir = os.path.join(work, f"slot{n}")
        self.tmp = os.path.join(work, f"slot{n}-tmp")
        self.logs = os.path.join(work, f"slot{n}-logs")
        self.make_jobs = make_jobs
        for d in (self.tmp, self.logs):
            os.makedirs(d, exist_ok=True)
        copy_tree(files, self.dir)

    def build(self, log):
        return run_group(["make", "-s", f"-j{self.make_jobs}", "all",
                          "test-build"], self.dir, suite_env(self.tmp, 0),
                         log, 900)

    def run_suite(self, suite, fuzz_seconds, timeout, log):
        shutil.rmtree(self.tmp, ignore_errors=True)
        os.makedirs(self.tmp)
        env = suite_env(self.tmp, fuzz_seconds)
        env["TESTS"] = suite
        t0 = time.time()
        rc = run_group(["sh", "tests/run.sh"], self.dir, env, log, timeout)
        return rc, time.time() - t0


def failure_detail(log):
    """The first lines of a failed suite's log that say what failed."""
    pat = re.compile(r"^\s*FAIL |\[  FAILED  \] test_|\[  ERROR   \]|"
                     r"ERROR: AddressSanitizer|runtime error|SUMMARY: |"
                     r"Segmentation|Aborted|<== .*FAILED")
    try:
        with open(log, errors="replace") as f:
            hits = [l.strip() for l in f if pat.search(l)]
    except OSError:
        return ""
    return " | ".join(hits[:3])[:300]


def read_report(path):
    """The rows of a report as (mutant, status, suite, seconds, detail),
    with its SEED, MUTANTS and FILES; "equivalent" rows read as
    survivors (equivalent.txt judges them again)."""
    rows, seed, n_wanted, patterns = [], "?", 0, []
    with open(path) as f:
        for line in f:
            m = re.match(r"# SEED=(\S+) MUTANTS=(\d+) FILES=(.*)", line)
            if m:
                seed, n_wanted = m.group(1), int(m.group(2))
                patterns = [] if m.group(3) == "(all)" else m.group(3).split()
            if line.startswith("#") or not line.strip():
                continue
            r = line.rstrip("\n").split("\t")
            if len(r) == 9:  # a report without the function column
                fn = next((x.function for x in mutants.file_mutants(
                    r[1], None, ROOT) if x.line == int(r[2]) and
                    x.mutated.strip() == r[7]), "")
                r.insert(3, fn)
            status, file, no, fn, op, suite, secs, orig, mut, detail = r
            if status == "equivalent":
                status, detail = "survived", ""
            mu = mutants.Mutant(file, int(no), op, orig, mut, fn)
            rows.append((mu, status, suite, float(secs), detail))
    return rows, seed, n_wanted, patterns


def rescore():
    """RESCORE=1: the last report scored again against equivalent.txt as
    it is now (after judging survivors), without running anything."""
    rows, seed, n_wanted, patterns = read_report(
        os.path.join(OUT, "report.txt"))
    equivalents = load_equivalents()
    results = [r + (equivalents.get(r[0].key()),) for r in rows]
    report(results, seed, n_wanted, [], patterns)


def locate(mu):
    """mu with the line number and whole lines of the current tree: the
    line whose text is mu's original nearest to mu.line, or None."""
    try:
        with open(os.path.join(ROOT, mu.file)) as f:
            lines = f.read().split("\n")
    except OSError:
        return None
    hits = [i for i, l in enumerate(lines) if l.strip() == mu.original.strip()]
    if not hits:
        return None
    i = min(hits, key=lambda k: abs(k + 1 - mu.line))
    indent = lines[i][:len(lines[i]) - len(lines[i].lstrip())]
    return mutants.Mutant(mu.file, i + 1, mu.op, lines[i],
                          indent + mu.mutated.strip(), mu.function)


def replay_pool(path):
    """REPLAY=FILE: (mutants to run again, rows carried over as they
    are, SEED of FILE)."""
    only = set(os.environ.get("REPLAY_ONLY", "").replace(",", " ").split())
    rows, seed, _, _ = read_report(path)
    equivalents = load_equivalents()
    pool, carried = [], []
    for row in rows:
        mu, status = row[0], row[1]
        if status == "compile-error":
            continue
        # judged equivalent: it would survive again, and stays left out
        if (only and status not in only) or mu.key() in equivalents:
            carried.append((mu, status, row[2], row[3],
                            (row[4] + f" (from {path})").strip()))
            continue
        m = locate(mu)
        if m is None:
            say(f"mutation: {mu.file}:{mu.line}: its line is gone "
                f"({mu.original.strip()}): left out")
            continue
        pool.append(m)
    return pool, carried, seed


def main():
    if os.environ.get("RESCORE") == "1":
        return rescore()
    replay = None
    if os.environ.get("REPLAY"):
        path = os.path.abspath(os.environ["REPLAY"])
        pool, carried, seed = replay_pool(path)
        replay = (pool, carried)
        n_wanted = len(pool)
        say(f"mutation: replaying {n_wanted} mutants of {path} "
            f"({len(carried)} more keep their verdict)")
    else:
        n_wanted = env_int("MUTANTS", 80)
        seed = env_int("SEED", random.SystemRandom().randrange(1, 1 << 31))
    jobs = max(1, env_int("JOBS", 1))
    factor = max(1, env_int("TIMEOUT_FACTOR", 4))
    fuzz_seconds = env_int("MUTATION_FUZZ_SECONDS", 0)
    patterns = os.environ.get("FILES", "").split()
    os.makedirs(OUT, exist_ok=True)
    if os.path.exists(STOP_FILE):
        os.unlink(STOP_FILE)  # left by an earlier run
    files = tree_files()
    work = tempfile.mkdtemp(prefix="poolscout-mutation-")
    # suites run programs as nobody (nginx's worker): it must reach them
    os.chmod(work, 0o755)
    say(f"mutation: SEED={seed} MUTANTS={n_wanted} JOBS={jobs} "
        f"(scratch trees in {work})")
    try:
        run(files, work, n_wanted, seed, jobs, factor, fuzz_seconds, patterns,
            replay)
    finally:
        for p in list(running):
            kill_group(p)
        if os.environ.get("KEEP") == "1":
            say(f"mutation: scratch trees kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def stale_equivalents(sources):
    """The entries of equivalent.txt that no line of the sources makes any
    more (the line was changed or removed): said, so the list is pruned
    instead of growing stale."""
    made = set()
    for src in sources:
        made.update(m.key() for m in mutants.file_mutants(src, None, ROOT))
    return sorted(k for k in load_equivalents() if k not in made)


def run(files, work, n_wanted, seed, jobs, factor, fuzz_seconds, patterns,
        replay=None):
    sources = source_files(files)
    stale = stale_equivalents(sources)
    if stale:
        say(f"mutation: note: {len(stale)} entries of {EQUIV} match no "
            "mutant of the code any more (remove them):")
        for k in stale:
            say(f"  {k[0]} {k[1]}: {k[2]}  ->  {k[3]}")
    if replay:
        run_pool(files, work, n_wanted, seed, jobs, factor, fuzz_seconds,
                 patterns, replay[0], replay[1], sources)
        return
    cov = coverage(files, work)
    if patterns:
        sources = [s for s in sources if any(
            fnmatch.fnmatch(s, p) or fnmatch.fnmatch(os.path.basename(s), p)
            for p in patterns)]
        if not sources:
            sys.exit(f"mutation: FILES={' '.join(patterns)} matches none of "
                     "analyzer/core/*.c analyzer/cmd/*.c preload/*.c")
    pool = []
    for src in sources:
        pool += mutants.file_mutants(src, cov.get(src, set()), ROOT)
    say(f"mutation: {len(pool)} mutants on executed lines of "
        f"{len(sources)} files")
    if not pool:
        sys.exit("mutation: no mutant to run")
    rng = random.Random(seed)
    rng.shuffle(pool)
    run_pool(files, work, n_wanted, seed, jobs, factor, fuzz_seconds,
             patterns, pool, [], sources)


def run_pool(files, work, n_wanted, seed, jobs, factor, fuzz_seconds,
             patterns, pool, carried, sources):
    """Runs up to n_wanted mutants of pool, in order, and reports them
    with the rows carried (mutant, status, suite, seconds, detail)."""
    equivalents = load_equivalents()

    say(f"mutation: building {jobs} scratch tree(s)")
    make_jobs = 2 if jobs == 1 else 1
    slots = [Slot(work, i, files, make_jobs) for i in range(jobs)]
    for s in slots:
        if s.build(os.path.join(OUT, "baseline-build.log")) != 0:
            sys.exit("mutation: the unmutated tree does not build; see "
                     f"{OUT}/baseline-build.log")

    # the suites on the unmutated code: all must pass; their times give
    # the order (fastest first) and the timeouts
    times = {}
    for suite in all_suites():
        log = os.path.join(OUT, f"baseline-{suite}.log")
        rc, secs = slots[0].run_suite(suite, fuzz_seconds, 1800, log)
        if rc != 0:
            sys.exit(f"mutation: suite {suite} fails on the unmutated code "
                     f"(exit {rc}); see {log}")
        times[suite] = secs
    order = sorted(times, key=times.get)
    timeouts = {s: max(MIN_TIMEOUT, factor * times[s]) for s in order}
    say("mutation: suites, fastest first: " +
        ", ".join(f"{s} {times[s]:.0f} s" for s in order))

    results = []
    lock = threading.Lock()
    it = iter(pool)
    scored = [0]
    busy = [0]  # mutants being run, not yet scored or discarded

    def next_mutant():
        with lock:
            if scored[0] + busy[0] >= n_wanted or stopping.is_set():
                return None
            if os.path.exists(STOP_FILE):
                say("mutation: build/mutation/STOP found: no more mutants "
                    "drawn; the ones running finish")
                stopping.set()
                os.unlink(STOP_FILE)
                return None
            m = next(it, None)
            if m is not None:
                busy[0] += 1
            return m

    def evaluate(slot, m):
        path = os.path.join(slot.dir, m.file)
        with open(path) as f:
            original = f.read()
        lines = original.split("\n")
        assert lines[m.line - 1] == m.original
        lines[m.line - 1] = m.mutated
        t0 = time.time()
        try:
            with open(path, "w") as f:
                f.write("\n".join(lines))
            blog = os.path.join(slot.logs, "build.log")
            if slot.build(blog) != 0:
                return ("compile-error", "", 0.0, "")
            for suite in order:
                log = os.path.join(slot.logs, f"{suite}.log")
                rc, _ = slot.run_suite(suite, fuzz_seconds, timeouts[suite], log)
                if rc is None:
                    return ("hang", suite, time.time() - t0,
                            f"{suite} outlived its {timeouts[suite]:.0f} s "
                            "timeout")
                if rc != 0:
                    return ("killed", suite, time.time() - t0,
                            failure_detail(log))
            return ("survived", "", time.time() - t0, "")
        finally:
            with open(path, "w") as f:
                f.write(original)

    def worker(slot):
        while True:
            m = next_mutant()
            if m is None:
                return
            status, suite, secs, detail = evaluate(slot, m)
            eq = equivalents.get(m.key())
            with lock:
                busy[0] -= 1
                if interrupted.is_set():
                    return  # its suite was killed: no verdict
                if status != "compile-error":
                    scored[0] += 1
                n = scored[0]
                results.append((m, status, suite, secs, detail, eq))
            tag = status
            if status == "survived" and eq is not None:
                tag = "equivalent"
            say(f"[{n}/{n_wanted}] {tag:13} {m.file}:{m.line} {m.op:6} "
                f"{suite} {secs:.0f} s" + (f"  {detail[:100]}" if detail else ""))

    threads = [threading.Thread(target=worker, args=(s,), daemon=True)
               for s in slots]
    def on_signal(signum, frame):
        # stop at once: the running suites are killed and their mutants
        # left out; the report covers the mutants scored so far
        stopping.set()
        interrupted.set()
        for p in list(running):
            kill_group(p)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    for t in threads:
        t.start()
    for t in threads:
        while t.is_alive():
            t.join(1)
    if stopping.is_set():
        say(f"mutation: stopped early: {scored[0]} of {n_wanted} mutants "
            "scored")
    results += [r + (equivalents.get(r[0].key()),) for r in carried]
    report(results, seed, n_wanted + len(carried), sources, patterns)


def report(results, seed, n_wanted, sources, patterns):
    killed = [r for r in results if r[1] == "killed"]
    hangs = [r for r in results if r[1] == "hang"]
    survived = [r for r in results if r[1] == "survived" and r[5] is None]
    equiv = [r for r in results if r[1] == "survived" and r[5] is not None]
    stale_equiv = [r for r in results if r[1] in ("killed", "hang")
                   and r[5] is not None]
    discarded = [r for r in results if r[1] == "compile-error"]
    dead = len(killed) + len(hangs)
    total = dead + len(survived)
    score = 100.0 * dead / total if total else 0.0
    summary = (f"score: {dead}/{total} = {score:.1f}% killed "
               f"({len(killed)} by a failing test, {len(hangs)} by a hang; "
               f"{len(survived)} survived; {len(equiv)} equivalent left out; "
               f"{len(discarded)} did not compile, discarded)")
    path = os.path.join(OUT, "report.txt")

    def clean(s):
        return s.strip().replace("\t", " ")

    with open(path, "w") as f:
        f.write("# poolscout mutation report (make mutation)\n")
        f.write(f"# SEED={seed} MUTANTS={n_wanted} FILES="
                f"{' '.join(patterns) or '(all)'}\n# {summary}\n")
        f.write("# status\tfile\tline\tfunction\top\tsuite\tseconds\t"
                "original\tmutated\tdetail\n")
        for m, status, suite, secs, detail, eq in sorted(
                results, key=lambda r: (r[0].file, r[0].line)):
            if status == "survived" and eq is not None:
                status = "equivalent"
                detail = eq
            f.write("\t".join([status, m.file, str(m.line), m.function,
                               m.op, suite,
                               f"{secs:.0f}", clean(m.original),
                               clean(m.mutated), clean(detail)]) + "\n")
    print()
    print("== mutation " + summary)
    if hangs:
        print("killed by a hang (the suite outlived its timeout):")
        for m, _, suite, _, _, _ in hangs:
            print(f"  {m.file}:{m.line} [{m.op}] in {suite}")
    if survived:
        print(f"survivors ({len(survived)}): no test failed")
        last = None
        for m, *_ in sorted(survived, key=lambda r: (r[0].file, r[0].line)):
            if m.file != last:
                print(f"  {m.file}")
                last = m.file
            print(f"    {m.line} in {m.function} [{m.op}]")
            print(f"      - {m.original.strip()}")
            print(f"      + {m.mutated.strip()}")
    if equiv:
        print(f"equivalent (tests/mutation/equivalent.txt, not scored): "
              f"{len(equiv)}")
        for m, *_, eq in equiv:
            print(f"  {m.file}:{m.line} in {m.function}: "
                  f"{m.original.strip()}  ->  {m.mutated.strip()}  ({eq})")
    if stale_equiv:
        print("listed as equivalent but killed (remove them from "
              "equivalent.txt):")
        for m, *_ in stale_equiv:
            print(f"  {m.file}:{m.line}: {m.original.strip()}  ->  "
                  f"{m.mutated.strip()}")
    print(f"report: {path}")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("mutation: interrupted")
