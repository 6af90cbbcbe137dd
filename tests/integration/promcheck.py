#!/usr/bin/env python3
"""promcheck.py [FILE] - a strict validator of the Prometheus text exposition
format 0.0.4 (standard library only). Reads FILE or stdin; prints each
violation as "line N: why" and exits 1 when there is any, else prints a
summary and exits 0.

Checked: every line is a HELP or TYPE comment, another comment, blank, or a
sample; metric and label names match the grammar; label values are quoted
with only \\\\, \\" and \\n escapes; no duplicate label names; values are
floats (or NaN, +Inf, -Inf); optional timestamps are integers; TYPE comes
before the family's samples, once, with a known type; HELP at most once;
a family's samples are contiguous; no sample repeats (same name and labels);
counters are not negative; histograms have _bucket series with an le label,
le increasing, cumulative counts non-decreasing, a +Inf bucket equal to
_count, and _sum and _count present for each label set.
"""
import math
import re
import sys

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


def parse_float(s):
    if s in ("+Inf", "Inf"):
        return math.inf
    if s == "-Inf":
        return -math.inf
    if s == "NaN":
        return math.nan
    if not re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", s):
        raise ValueError("not a float: %r" % s)
    return float(s)


def parse_labels(s, i):
    """Parses {a="b",...} from s[i] == '{'; returns (dict, index after '}')."""
    labels = {}
    i += 1
    while True:
        if i < len(s) and s[i] == "}":
            return labels, i + 1
        m = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*").match(s, i)
        if not m:
            raise ValueError("bad label name at column %d" % (i + 1))
        name = m.group(0)
        i = m.end()
        if s[i:i + 2] != '="':
            raise ValueError("label %s: expected =\"" % name)
        i += 2
        val = []
        while True:
            if i >= len(s):
                raise ValueError("label %s: unterminated value" % name)
            c = s[i]
            if c == "\\":
                if i + 1 >= len(s) or s[i + 1] not in '\\"n':
                    raise ValueError("label %s: bad escape" % name)
                val.append({"\\": "\\", '"': '"', "n": "\n"}[s[i + 1]])
                i += 2
                continue
            if c == '"':
                i += 1
                break
            if c == "\n":
                raise ValueError("label %s: raw newline" % name)
            val.append(c)
            i += 1
        if name in labels:
            raise ValueError("duplicate label %s" % name)
        labels[name] = "".join(val)
        if i < len(s) and s[i] == ",":
            i += 1
            continue
        if i < len(s) and s[i] == "}":
            return labels, i + 1
        raise ValueError("expected , or } after label %s" % name)


def family_of(name, types):
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and types.get(name[: -len(suffix)]) in ("histogram", "summary"):
            return name[: -len(suffix)]
    return name


def check(text):
    errors = []
    types, helps, seen_samples = {}, set(), set()
    done_families, current = set(), None
    hist = {}  # (family, labels without le) -> {"buckets": [(le, v)], "sum": x, "count": n}
    samples = 0
    if text and not text.endswith("\n"):
        errors.append("last line: the exposition must end with a newline")
    for n, line in enumerate(text.split("\n")[:-1] if text.endswith("\n") else text.split("\n"), 1):
        def err(msg):
            errors.append("line %d: %s: %r" % (n, msg, line[:120]))

        if line == "":
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 2 and parts[1] in ("HELP", "TYPE"):
                if len(parts) < 3 or not NAME.match(parts[2]):
                    err("HELP/TYPE needs a valid metric name")
                    continue
                name = parts[2]
                if parts[1] == "TYPE":
                    t = parts[3] if len(parts) > 3 else ""
                    if t not in TYPES:
                        err("unknown type %r" % t)
                    if name in types:
                        err("second TYPE for %s" % name)
                    if any(k[0] in (name, name + "_bucket", name + "_sum", name + "_count")
                           for k in seen_samples):
                        err("TYPE for %s after its samples" % name)
                    types[name] = t
                else:
                    if name in helps:
                        err("second HELP for %s" % name)
                    helps.add(name)
                    desc = parts[3] if len(parts) > 3 else ""
                    if re.search(r"\\[^\\n]", desc):
                        err("HELP text has a bad escape")
            continue
        m = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*").match(line)
        if not m:
            err("a sample must start with a metric name")
            continue
        name = m.group(0)
        i = m.end()
        labels = {}
        try:
            if i < len(line) and line[i] == "{":
                labels, i = parse_labels(line, i)
            rest = line[i:]
            if not rest.startswith(" "):
                raise ValueError("expected a space before the value")
            fields = rest.strip(" ").split(" ")
            if len(fields) not in (1, 2):
                raise ValueError("expected VALUE [TIMESTAMP]")
            value = parse_float(fields[0])
            if len(fields) == 2 and not re.fullmatch(r"-?\d+", fields[1]):
                raise ValueError("timestamp must be an integer")
        except ValueError as e:
            err(str(e))
            continue
        samples += 1
        fam = family_of(name, types)
        if fam != current:
            if fam in done_families:
                err("samples of %s are not contiguous" % fam)
            if current is not None:
                done_families.add(current)
            current = fam
        key = (name, tuple(sorted(labels.items())))
        if key in seen_samples:
            err("duplicate sample")
        seen_samples.add(key)
        t = types.get(fam, "untyped")
        if t == "counter" and not (value >= 0):
            err("counter value is negative or NaN")
        if t == "histogram":
            base = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
            h = hist.setdefault((fam, base), {"buckets": [], "sum": None, "count": None, "line": n})
            if name == fam + "_bucket":
                if "le" not in labels:
                    err("histogram bucket without le")
                    continue
                try:
                    le = parse_float(labels["le"])
                except ValueError:
                    err("le is not a float")
                    continue
                h["buckets"].append((le, value, n))
            elif name == fam + "_sum":
                h["sum"] = value
            elif name == fam + "_count":
                h["count"] = value
            else:
                err("a histogram holds only _bucket, _sum and _count")
        if name != fam and t not in ("histogram", "summary"):
            pass
        if t in ("counter", "gauge", "untyped") and name != fam:
            err("sample name differs from its family")
    for (fam, base), h in hist.items():
        where = "histogram %s%s" % (fam, dict(base) if base else "")
        b = h["buckets"]
        if not b:
            errors.append("%s: no buckets" % where)
            continue
        les = [x[0] for x in b]
        if any(les[i] >= les[i + 1] for i in range(len(les) - 1)):
            errors.append("%s: le values are not increasing" % where)
        if any(b[i][1] > b[i + 1][1] for i in range(len(b) - 1)):
            errors.append("%s: bucket counts are not cumulative" % where)
        if les[-1] != math.inf:
            errors.append("%s: no le=\"+Inf\" bucket" % where)
        if h["count"] is None or h["sum"] is None:
            errors.append("%s: _sum or _count missing" % where)
        elif les[-1] == math.inf and b[-1][1] != h["count"]:
            errors.append("%s: +Inf bucket %s differs from _count %s" % (where, b[-1][1], h["count"]))
    for name, t in types.items():
        if not any(k[0] == name or family_of(k[0], types) == name for k in seen_samples):
            pass  # a family with no samples is allowed
    return errors, samples, len(types)


def main():
    text = open(sys.argv[1], encoding="utf-8").read() if len(sys.argv) > 1 else sys.stdin.read()
    errors, samples, families = check(text)
    for e in errors:
        print(e)
    if errors:
        return 1
    print("ok: %d samples in %d families" % (samples, families))
    return 0


if __name__ == "__main__":
    sys.exit(main())
