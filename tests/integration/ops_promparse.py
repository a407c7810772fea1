#!/usr/bin/python3
"""A strict parser of the Prometheus text exposition format 0.0.4, for the ops tests.
promtool (Debian's `prometheus` package) would pull ~40 packages (node exporter, ipmitool,
...) into the test machine, so the rules that matter are checked here instead:
line grammar, label escaping, one HELP and TYPE per family before its samples, families
contiguous, no duplicate series, histogram buckets cumulative with +Inf equal to _count.
Usage: ops_promparse.py FILE  -> prints `series value` lines (sorted), exit 1 on error."""
import math
import re
import sys

NAME = r'[a-zA-Z_:][a-zA-Z0-9_:]*'
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*'
TYPES = {'counter', 'gauge', 'histogram', 'summary', 'untyped'}


def fail(lineno, msg, line=''):
    sys.stderr.write('line %d: %s: %r\n' % (lineno, msg, line))
    sys.exit(1)


def parse_value(s, lineno):
    if s in ('+Inf', 'Inf'):
        return math.inf
    if s == '-Inf':
        return -math.inf
    if s == 'NaN':
        return math.nan
    if not re.fullmatch(r'[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?', s):
        fail(lineno, 'bad value', s)
    return float(s)


def parse_labels(s, lineno):
    """s is the text after '{'; returns (labels dict, rest after '}')."""
    labels, i = {}, 0
    while True:
        if s[i:i + 1] == '}':
            return labels, s[i + 1:]
        m = re.match(LABEL, s[i:])
        if not m:
            fail(lineno, 'bad label name', s)
        name = m.group(0)
        i += len(name)
        if s[i:i + 2] != '="':
            fail(lineno, 'expected ="', s)
        i += 2
        val = []
        while True:
            if i >= len(s):
                fail(lineno, 'unterminated label value', s)
            c = s[i]
            if c == '\\':
                n = s[i + 1:i + 2]
                if n not in ('\\', '"', 'n'):
                    fail(lineno, 'bad escape in label value', s)
                val.append('\n' if n == 'n' else n)
                i += 2
            elif c == '"':
                i += 1
                break
            elif c == '\n':
                fail(lineno, 'raw newline in label value', s)
            else:
                val.append(c)
                i += 1
        if name in labels:
            fail(lineno, 'duplicate label ' + name, s)
        labels[name] = ''.join(val)
        if s[i:i + 1] == ',':
            i += 1
        elif s[i:i + 1] != '}':
            fail(lineno, 'expected , or }', s)


def family_of(name, types):
    for suf in ('_bucket', '_sum', '_count'):
        if name.endswith(suf) and types.get(name[:-len(suf)]) == 'histogram':
            return name[:-len(suf)]
    return name


def main():
    text = open(sys.argv[1], encoding='utf-8').read()
    if text and not text.endswith('\n'):
        fail(0, 'no final newline')
    helps, types, seen, done, samples = {}, {}, set(), set(), {}
    current = None
    for lineno, line in enumerate(text.split('\n')[:-1], 1):
        if line.startswith('#'):
            m = re.fullmatch(r'# (HELP|TYPE) (' + NAME + r') (.*)', line)
            if not m:
                if line.startswith('# HELP') or line.startswith('# TYPE'):
                    fail(lineno, 'bad HELP/TYPE', line)
                continue
            kind, name, rest = m.groups()
            if name in done:
                fail(lineno, 'family not contiguous', line)
            if current and current != name:
                done.add(current)
            current = name
            if kind == 'HELP':
                if name in helps:
                    fail(lineno, 'second HELP', line)
                if re.search(r'\\[^\\n]', rest.replace('\\\\', '')):
                    fail(lineno, 'bad escape in HELP', line)
                helps[name] = rest
            else:
                if name in types or rest not in TYPES:
                    fail(lineno, 'second or bad TYPE', line)
                if any(family_of(s, {name: rest}) == name for s in seen):
                    fail(lineno, 'TYPE after samples', line)
                types[name] = rest
            continue
        if line.strip() == '':
            fail(lineno, 'empty line', line)
        m = re.match(NAME, line)
        if not m:
            fail(lineno, 'bad metric name', line)
        name = m.group(0)
        rest = line[len(name):]
        labels = {}
        if rest.startswith('{'):
            labels, rest = parse_labels(rest[1:], lineno)
        parts = rest.split(' ')
        if len(parts) not in (2, 3) or parts[0] != '':
            fail(lineno, 'expected " value [timestamp]"', line)
        value = parse_value(parts[1], lineno)
        fam = family_of(name, types)
        if fam in done:
            fail(lineno, 'family not contiguous', line)
        if current and current != fam:
            done.add(current)
        current = fam
        if types.get(fam) == 'counter' and not value >= 0:
            fail(lineno, 'negative counter', line)
        key = name + '{' + ','.join('%s=%s' % (k, labels[k]) for k in sorted(labels)) + '}'
        if key in samples:
            fail(lineno, 'duplicate series', line)
        samples[key] = value
        seen.add(name)
    # histograms: cumulative buckets, +Inf == _count
    for fam, t in types.items():
        if t != 'histogram':
            continue
        groups = {}
        for key, v in samples.items():
            if key.startswith(fam + '_bucket{'):
                lab = dict(kv.split('=', 1) for kv in key[len(fam) + 8:-1].split(','))
                le = lab.pop('le')
                g = ','.join('%s=%s' % (k, lab[k]) for k in sorted(lab))
                groups.setdefault(g, []).append((parse_value(le, 0), v))
        for g, buckets in groups.items():
            buckets.sort()
            vals = [v for _, v in buckets]
            if vals != sorted(vals) or buckets[-1][0] != math.inf:
                fail(0, 'histogram %s{%s}: buckets not cumulative or no +Inf' % (fam, g))
            if samples.get(fam + '_count{' + g + '}') != vals[-1]:
                fail(0, 'histogram %s{%s}: +Inf bucket != _count' % (fam, g))
    for key in sorted(samples):
        v = samples[key]
        print(key, int(v) if math.isfinite(v) and v == int(v) else v)


main()
