#!/usr/bin/env python3
"""find_wrappers.py - the allocator wrapper functions of a binary, found
without its symbols and without poolscout: the ground truth the real-world
suite (real_world.sh) holds poolscout's report against.

    find_wrappers.py [--names REGEX] MODULE

prints one line per wrapper, "START END RULE NAME" (START/END hex ELF
addresses, END exclusive; NAME is the .dynsym name or "-"), sorted by
START. Two independent sources, both read with binutils only:

  dynsym  an exported function whose .dynsym name matches --names (Debian
          keeps .dynsym in stripped binaries: redis, nginx, perl, python
          and libsqlite3 export their wrappers); its range is the symbol's
          value and size (nm -D -S).
  disasm  for code with no names at all (git, static functions of a
          library): function boundaries come from the .eh_frame FDEs
          (readelf --debug-dump=frames, present in every stripped Debian
          binary), calls from objdump -d. With G = the functions of at most
          256 bytes that call or tail-call an allocator entry point
          (malloc, calloc, realloc, reallocarray, strdup, strndup,
          posix_memalign, aligned_alloc, memalign, valloc through the PLT):
            fanin     a G function called from >= 16 places (xmalloc,
                      zmalloc, ngx_alloc: the small function many callers
                      share)
            table     a G function never called directly whose address is
                      stored in the binary's data (an allocator method
                      table: sqlite3MemMalloc, python's _PyMem_RawMalloc)
            forwarder a function of at most 96 bytes that calls a G
                      function with 1..15 callers (a private helper):
                      xmallocz, xmemdupz in front of git's do_xmalloc
            helper    such a G function whose direct callers all are
                      wrappers (git's do_xmalloc)
The rules know nothing of poolscout's wrapper list or its symbolizer.
"""
import bisect
import re
import subprocess
import sys

ALLOC = re.compile(r"^(malloc|calloc|realloc|reallocarray|strdup|strndup|"
                   r"__strdup|posix_memalign|aligned_alloc|memalign|valloc)"
                   r"@plt$")
SMALL, TINY = 256, 96
MANY_CALLERS = 16


def run(*cmd):
    return subprocess.run(cmd, capture_output=True, text=True,
                          check=False).stdout


def dynsym(module):
    """(start, end, name) of the defined functions in .dynsym."""
    out = []
    for line in run("nm", "-D", "-S", "--defined-only", module).splitlines():
        f = line.split()
        if len(f) == 4 and f[2] in "TtWi":
            start, size = int(f[0], 16), int(f[1], 16)
            out.append((start, start + max(size, 1), f[3].split("@")[0]))
    return sorted(out)


def functions(module):
    """Function ranges from the .eh_frame FDEs."""
    text = run("readelf", "--debug-dump=frames", module)
    return sorted({(int(a, 16), int(b, 16)) for a, b in re.findall(
        r"FDE cie=\w+ pc=([0-9a-f]+)\.\.([0-9a-f]+)", text)})


def stored_addresses(module):
    """Addresses the binary stores in its data: relocation addends and
    targets of RELATIVE/64 relocations (function pointers in tables)."""
    out = set()
    for line in run("readelf", "-rW", module).splitlines():
        f = line.split()
        if len(f) >= 4 and ("RELATIVE" in f[2] or f[2].endswith("_64")):
            try:
                out.add(int(f[-1], 16))
            except ValueError:
                pass
    return out


def disasm(module):
    """Wrappers found by the disasm rules: {(start, end): rule}."""
    ranges = functions(module)
    starts = [r[0] for r in ranges]

    def owner(addr):
        i = bisect.bisect_right(starts, addr) - 1
        if i >= 0 and ranges[i][0] <= addr < ranges[i][1]:
            return ranges[i]
        return None

    insn = re.compile(r"^\s*([0-9a-f]+):\s+(call|jmp)\S*\s+([0-9a-f]+) <([^>]*)>")
    callers = {}      # function start -> set of call-site addresses
    calls = {}        # function -> set of called function starts
    g = set()         # small functions that call an allocator entry
    proc = subprocess.Popen(["objdump", "-d", "--no-show-raw-insn", "-w",
                             module], stdout=subprocess.PIPE, text=True)
    for line in proc.stdout:
        m = insn.match(line)
        if not m:
            continue
        at, target, sym = int(m.group(1), 16), int(m.group(3), 16), m.group(4)
        f = owner(at)
        if f is None:
            continue
        if ALLOC.match(sym):
            if f[1] - f[0] <= SMALL:
                g.add(f)
            continue
        if target == f[0] or (m.group(2) == "jmp" and f[0] <= target < f[1]):
            continue          # a loop or a branch inside the function
        callers.setdefault(target, set()).add(at)
        calls.setdefault(f, set()).add(target)
    proc.wait()
    stored = stored_addresses(module)
    found = {}
    g_starts = {f[0] for f in g}
    for f in g:
        n = len(callers.get(f[0], ()))
        if n >= MANY_CALLERS:
            found[f] = "fanin"
        elif n == 0 and f[0] in stored:
            found[f] = "table"
    # a G function with a few callers is a private helper (do_xmalloc);
    # the tiny functions that call it are the wrappers callers see
    helpers = {f[0]: f for f in g if f not in found and
               0 < len(callers.get(f[0], ())) < MANY_CALLERS}
    for f, targets in calls.items():
        if f not in found and f[1] - f[0] <= TINY and targets & helpers.keys():
            found[f] = "forwarder"
    for f in helpers.values():
        if all(owner(a) in found for a in callers[f[0]]):
            found[f] = "helper"
    return found


def main(argv):
    names = None
    if len(argv) > 2 and argv[0] == "--names":
        names = re.compile(argv[1])
        argv = argv[2:]
    if len(argv) != 1:
        sys.stderr.write("usage: find_wrappers.py [--names REGEX] MODULE\n")
        return 2
    module = argv[0]
    syms = dynsym(module)
    sym_starts = [s[0] for s in syms]

    def name_at(start):
        i = bisect.bisect_right(sym_starts, start) - 1
        if i >= 0 and syms[i][0] == start:
            return syms[i][2]
        return "-"

    rows = {}
    if names:
        for start, end, name in syms:
            if names.search(name):
                rows[(start, end)] = "dynsym"
    for f, rule in disasm(module).items():
        rows.setdefault(f, rule)
    for (start, end), rule in sorted(rows.items()):
        print("%x %x %s %s" % (start, end, rule, name_at(start)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
