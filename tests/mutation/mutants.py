#!/usr/bin/env python3
"""mutants.py - the single-line mutants of a C file, for tests/mutation/run.py.

Reads a C source, blanks its comments, string and character literals and
the arguments of assert and of the log and error-message calls, then
offers, on each line the test suites execute (from gcov), every one of:

  rel     < <-> <=, > <-> >=, == <-> !=
  arith   binary + <-> -, * <-> /
  const   integer literal 0 <-> 1, n -> n+1
  logic   && <-> ||
  delete  an update statement removed: x = ...; x += ...; x++; ...
  return  return E; -> return 0;  return 0/1/true/false flipped;
          return COND; -> return !(COND);

Each mutant changes one token (or deletes one statement) on one line.
Mutants that do not compile are the caller's to discard.

As a command: mutants.py [--coverage FILE] SOURCE... prints the mutants as
tab-separated file, line, function, operator, original line, mutated line.
"""
import os
import re
import sys
from dataclasses import dataclass

# calls whose arguments are messages, not logic (their spans are blanked)
LOG_CALL = re.compile(
    r"\b(assert|fail|usage_error|ps_warn|perror|die_name)\s*\("
    r"|\bv?fprintf\s*\(\s*stderr\b"
    r"|\bsnprintf\s*\(\s*[\w.>-]*(err|why|msg)\w*\s*,")

PUNCT = sorted("""<<= >>= ... -> ++ -- << >> <= >= == != && || += -= *= /=
%= &= |= ^= + - * / % < > = ! ~ & | ^ ? : ; , . ( ) [ ] { }""".split(),
               key=len, reverse=True)
TOKEN = re.compile(r"\s+|(?P<id>[A-Za-z_]\w*)|(?P<num>\d[\w.]*)|(?P<p>"
                   + "|".join(re.escape(p) for p in PUNCT) + r")|(?P<other>.)")
KEYWORDS = set("""return sizeof case goto break continue if else for while do
switch default typeof alignof""".split())
TYPE_WORDS = set("""char short int long unsigned signed void float double
const volatile struct union enum static extern register inline bool size_t
ssize_t""".split())
STMT_KEYWORDS = set("""return break continue goto if else for while do switch
case default""".split())
ASSIGN = {"=", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "<<=", ">>="}
REL = {"<": "<=", "<=": "<", ">": ">=", ">=": ">", "==": "!=", "!=": "=="}
ARITH = {"+": "-", "-": "+", "*": "/", "/": "*"}
LOGIC = {"&&": "||", "||": "&&"}
# a function definition's first line: at column 0, the name before "("
# (after its attributes and type, or alone: the second line of a header
# whose attributes and type take the first)
FUNCTION_HEADER = re.compile(r"^(?:__attribute__\(\(.*?\)\)\s*)?"
                             r"(?:[A-Za-z_][\w \t*]*?\b)?([A-Za-z_]\w*)\s*\(")
DECL_BEFORE = {"(", ",", ";", "{", "const", "struct", "static", "union", "enum"}
DECL_AFTER = {"=", ";", ",", "[", ")"}


@dataclass
class Mutant:
    file: str
    line: int          # 1-based
    op: str
    original: str      # the whole original line, without its newline
    mutated: str       # the whole mutated line
    function: str = ""  # the function the line is in ("f#2": its 2nd copy)

    def key(self):
        """What names the mutant in tests/mutation/equivalent.txt: stable
        when lines move, distinct for a line repeated in another function."""
        return (self.file, self.function, self.original.strip(),
                self.mutated.strip())


def mask(text):
    """Returns text with comments, string and char literals and log-call
    arguments replaced by spaces (newlines and lengths kept), and the set
    of preprocessor line numbers (1-based)."""
    out = list(text)
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            for k in range(i, j):
                out[k] = " "
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            for k in range(i, j):
                if out[k] != "\n":
                    out[k] = " "
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            for k in range(i + 1, min(j, n)):
                out[k] = " "
            i = j + 1
        else:
            i += 1
    masked = "".join(out)
    # blank the argument lists of log and assert calls
    chars = list(masked)
    for m in LOG_CALL.finditer(masked):
        line_start = masked.rfind("\n", 0, m.start()) + 1
        if not masked[line_start].isspace():
            continue  # a definition or prototype at column 0, not a call
        depth, j = 0, masked.find("(", m.start())
        while j < n:
            if masked[j] == "(":
                depth += 1
            elif masked[j] == ")":
                depth -= 1
                if depth == 0:
                    break
            j += 1
        for k in range(m.start(), min(j + 1, n)):
            if chars[k] != "\n":
                chars[k] = " "
    masked = "".join(chars)
    pre = set()
    cont = False
    for no, line in enumerate(masked.split("\n"), 1):
        if cont or line.lstrip().startswith("#"):
            pre.add(no)
            cont = line.rstrip().endswith("\\")
    return masked, pre


def tokens(line):
    """(kind, text, start, end) for each token of a masked line."""
    out = []
    for m in TOKEN.finditer(line):
        kind = m.lastgroup
        if kind is None:
            continue
        out.append((kind, m.group(), m.start(), m.end()))
    return out


def is_operand_end(tok):
    """True when tok can end an operand, so a following + - * / is binary."""
    kind, text = tok[0], tok[1]
    if kind == "num" or text in (")", "]"):
        return True
    return kind == "id" and text not in KEYWORDS and text not in TYPE_WORDS \
        and not text.endswith("_t")


def replace(line, start, end, new):
    return line[:start] + new + line[end:]


def int_literal(text):
    m = re.fullmatch(r"(\d+)([uUlL]*)", text)
    if not m or (len(m.group(1)) > 1 and m.group(1)[0] == "0"):
        return None
    return int(m.group(1)), m.group(2)


def is_declaration(lhs):
    """True when the tokens before a statement's first '=' declare a
    variable (two identifiers with only '*' between them)."""
    prev_id = False
    for kind, text, _, _ in lhs:
        if kind == "id":
            if prev_id or text in TYPE_WORDS:
                return True
            prev_id = True
        elif text == "*" and prev_id:
            continue
        else:
            prev_id = False
    return False


def statement_start(prev_code):
    """True when a line after prev_code (the previous non-blank masked
    line) starts a statement rather than continuing one."""
    p = prev_code.rstrip()
    return (not p or p[-1] in ";{}:)" or p.endswith("else")
            or p.lstrip().startswith("#"))


def line_mutants(path, no, line, mline, prev_code):
    """Every mutant of one line (mline: the masked line)."""
    out = []
    toks = tokens(mline)

    def add(op, new_line):
        if new_line != line:
            out.append(Mutant(path, no, op, line, new_line))

    for i, (kind, text, s, e) in enumerate(toks):
        prev = toks[i - 1] if i else None
        if kind == "p" and text in REL:
            add("rel", replace(line, s, e, REL[text]))
        elif kind == "p" and text in LOGIC:
            add("logic", replace(line, s, e, LOGIC[text]))
        elif kind == "p" and text in ARITH and prev and is_operand_end(prev):
            nxt = toks[i + 1] if i + 1 < len(toks) else None
            if not nxt or nxt[1] in (")", ";", ",", "=", "["):
                continue  # a cast or a declarator, not a product
            if text == "*" and prev[0] == "id" and nxt[0] == "id" and \
                    (i == 1 or toks[i - 2][1] in DECL_BEFORE) and \
                    i + 2 < len(toks) and toks[i + 2][1] in DECL_AFTER:
                continue  # "type *name =": a declaration
            add("arith", replace(line, s, e, ARITH[text]))
        elif kind == "num":
            lit = int_literal(text)
            if lit is None or (prev and prev[1] == "["
                               and i >= 2 and toks[i - 2][0] == "id"
                               and is_declaration(toks[:i - 1])):
                continue
            v, suffix = lit
            new = {0: 1, 1: 0}.get(v, v + 1)
            add("const", replace(line, s, e, f"{new}{suffix}"))

    code = mline.strip()
    if not toks or not statement_start(prev_code):
        return out
    first = toks[0][1]
    # return value flips
    if first == "return" and code.endswith(";") and len(toks) > 2:
        expr_toks = toks[1:-1]
        s, e = expr_toks[0][2], expr_toks[-1][3]
        expr = line[s:e]
        flips = {"0": "1", "1": "0", "true": "false", "false": "true",
                 "NULL": None}
        if expr in flips:
            if flips[expr]:
                add("return", replace(line, s, e, flips[expr]))
        else:
            add("return", replace(line, s, e, "0"))
            depth, boolean = 0, expr.startswith("!")
            for _, t, _, _ in expr_toks:
                if t in ("(", "["):
                    depth += 1
                elif t in (")", "]"):
                    depth -= 1
                elif depth == 0 and (t in REL or t in LOGIC):
                    boolean = True
            if boolean:
                add("return", replace(line, s, e, f"!({expr})"))
        return out
    # a deleted update: the whole statement on this line, nothing else
    if not code.endswith(";") or first in STMT_KEYWORDS or first in TYPE_WORDS:
        return out
    depth, assign_at = 0, None
    for i, (kind, text, s, e) in enumerate(toks):
        if text in ("(", "["):
            depth += 1
        elif text in (")", "]"):
            depth -= 1
        elif depth == 0 and text in ASSIGN and assign_at is None:
            assign_at = i
        elif text in ("{", "}"):
            return out
    if depth != 0:
        return out
    if assign_at is not None:
        update = not is_declaration(toks[:assign_at])
    elif len(toks) >= 3:
        update = "++" in (toks[0][1], toks[-2][1]) or \
            "--" in (toks[0][1], toks[-2][1])
    else:
        update = False
    if update:
        indent = line[:len(line) - len(line.lstrip())]
        add("delete", indent + ";")
    return out


def file_mutants(path, covered=None, root="."):
    """Every mutant of the C file root/path, on the lines in covered (a
    set of 1-based line numbers; None: every line)."""
    with open(os.path.join(root, path)) as f:
        text = f.read()
    masked, pre = mask(text)
    lines = text.split("\n")
    mlines = masked.split("\n")
    out, seen = [], set()
    prev_code = ""
    function = ""
    repeats = {}
    for no, (line, mline) in enumerate(zip(lines, mlines), 1):
        if no in pre:
            prev_code = ""
            continue
        header = FUNCTION_HEADER.match(mline)
        if header and not mline.rstrip().endswith(";"):
            function = header.group(1)
            repeats = {}
        # a line repeated in one function is told apart as "function#2"
        n = repeats[line.strip()] = repeats.get(line.strip(), 0) + 1
        where = function if n == 1 else f"{function}#{n}"
        if mline.strip() and (covered is None or no in covered) \
                and line[:1] in ("\t", " "):
            for m in line_mutants(path, no, line, mline, prev_code):
                m.function = where
                if (no, m.mutated) not in seen:
                    seen.add((no, m.mutated))
                    out.append(m)
        if mline.strip():
            prev_code = mline
    return out


def read_coverage(path):
    """{file: set of executed line numbers} from a coverage file of lines
    'FILE LINE...' (written by run.py from gcov)."""
    cov = {}
    with open(path) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            name, *nums = line.split()
            cov[name] = set(int(x) for x in nums)
    return cov


def main(argv):
    cov = None
    if len(argv) > 2 and argv[1] == "--coverage":
        cov = read_coverage(argv[2])
        argv = argv[2:]
    for path in argv[1:]:
        covered = cov.get(path, set()) if cov is not None else None
        for m in file_mutants(path, covered):
            print(f"{m.file}\t{m.line}\t{m.function}\t{m.op}\t"
                  f"{m.original.strip()}\t"
                  f"{m.mutated.strip()}")


if __name__ == "__main__":
    main(sys.argv)
