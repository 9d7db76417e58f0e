#!/usr/bin/env bash
# Builds the conformance table of docs/conformance.md from the outputs of a
# conformance run (tests/vm/scenarios/conformance.sh):
#
#   scripts/conformance-table.sh [--check] [--update DOC] RESULTS
#
# RESULTS is build/vm/conformance/results/conformance (or a copy of it):
# RESULTS/<backend>/<Family>.log, one `iscsi-test-cu -d -S
# --test=SCSI.<Family>` output each for the backends spanblk and fileio,
# RESULTS/runs.txt ("backend family exit-status seconds" per run) and
# RESULTS/versions.txt.
#
# Prints, in Markdown, one row per family with the tests passed, failed and
# skipped on spanblk and on fileio, then every test whose result differs.
# A test counts as skipped when it passed but printed a [SKIPPED] line
# (CUnit counts those as passed); a family whose output has no CUnit run
# summary (timeout, crash) counts all its tests seen as failed and is
# marked "incomplete".
#
# --update DOC replaces the text between the lines
#   <!-- conformance-table: begin --> and <!-- conformance-table: end -->
# of DOC with the table (the rest of DOC is kept).
# --check exits 1 when a test passes on fileio but not on spanblk (failed
# or skipped) and is not listed in tests/vm/conformance-expected.txt
# (lines "SCSI.Family.Test reason"; docs/conformance.md explains each);
# it names those tests on stderr.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
check=0
doc=
while [ $# -gt 1 ]; do
	case $1 in
	--check) check=1; shift ;;
	--update) doc=$2; shift 2 ;;
	*) break ;;
	esac
done
[ $# -eq 1 ] && [ -d "$1" ] || {
	echo "usage: $0 [--check] [--update DOC] RESULTS_DIR" >&2
	exit 2
}
exec python3 - "$1" "$check" "$doc" \
	"$here/../tests/vm/conformance-expected.txt" <<'PY'
import os
import re
import sys

res, check, doc, expected_path = sys.argv[1], sys.argv[2] == "1", \
    sys.argv[3], sys.argv[4]
BACKENDS = ("spanblk", "fileio")


def parse(path):
    """-> (complete, {test: 'passed'|'failed'|'skipped'}) of one output."""
    tests = {}
    suite = None
    cur = None
    skipped = False
    complete = False
    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            m = re.match(r"^Suite: (\S+)", line)
            if m:
                suite = m.group(1)
                continue
            m = re.match(r"^  Test: (\S+) \.\.\.(.*)$", line)
            if m and suite:
                cur = "SCSI.%s.%s" % (suite, m.group(1))
                skipped = False
                rest = m.group(2)
            elif cur:
                rest = line
            else:
                if line.startswith("Run Summary:"):
                    complete = True
                continue
            if "[SKIPPED]" in rest:
                skipped = True
            # CUnit ends a test with "passed" or "FAILED", after whatever
            # the test printed on the same line.
            if rest.endswith("passed"):
                tests[cur] = "skipped" if skipped else "passed"
                cur = None
            elif rest.endswith("FAILED"):
                tests[cur] = "failed"
                cur = None
            if line.startswith("Run Summary:"):
                complete = True
    if cur:  # cut off in the middle of a test
        tests[cur] = "failed"
    return complete, tests


families = []
runs = {}
try:
    with open(os.path.join(res, "runs.txt")) as f:
        for line in f:
            p = line.split()
            if len(p) >= 4:
                runs[(p[0], p[1])] = (int(p[2]), float(p[3]))
                if p[1] not in families:
                    families.append(p[1])
except FileNotFoundError:
    pass
for be in BACKENDS:
    d = os.path.join(res, be)
    for name in sorted(os.listdir(d)) if os.path.isdir(d) else []:
        if name.endswith(".log") and name[:-4] not in families:
            families.append(name[:-4])

results = {}   # (backend, family) -> (complete, tests)
for be in BACKENDS:
    for fam in families:
        p = os.path.join(res, be, fam + ".log")
        results[(be, fam)] = parse(p) if os.path.exists(p) else None

expected = {}
if os.path.exists(expected_path):
    with open(expected_path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                name, _, why = line.partition(" ")
                expected[name] = why.strip()

out = []
versions = os.path.join(res, "versions.txt")
if os.path.exists(versions):
    with open(versions) as f:
        v = [l.strip() for l in f if l.strip()]
    out.append("Measured with " + "; ".join(v) + ".")
    out.append("")
out.append("| family | spanblk pass / fail / skip | fileio pass / fail / skip "
           "| spanblk s | fileio s |")
out.append("|---|---|---|---:|---:|")
tot = {be: [0, 0, 0] for be in BACKENDS}
diffs = []
for fam in families:
    cells = []
    for be in BACKENDS:
        r = results[(be, fam)]
        if r is None:
            cells.append("not run")
            continue
        complete, tests = r
        n = [sum(1 for s in tests.values() if s == k)
             for k in ("passed", "failed", "skipped")]
        for i in range(3):
            tot[be][i] += n[i]
        cell = "%d / %d / %d" % tuple(n)
        if n[1]:
            cell = "**%s**" % cell
        if not complete:
            cell += " (incomplete)"
        cells.append(cell)
    secs = []
    for be in BACKENDS:
        rt = runs.get((be, fam))
        secs.append("%.1f" % rt[1] if rt else "-")
    out.append("| %s | %s | %s | %s | %s |" % (fam, cells[0], cells[1],
                                              secs[0], secs[1]))
    sb = results[("spanblk", fam)]
    fi = results[("fileio", fam)]
    names = sorted(set((sb[1] if sb else {}).keys()) |
                   set((fi[1] if fi else {}).keys()))
    for t in names:
        a = sb[1].get(t, "not run") if sb else "not run"
        b = fi[1].get(t, "not run") if fi else "not run"
        if a != b:
            diffs.append((t, a, b))
out.append("| **all** | %d / %d / %d | %d / %d / %d | | |" %
           (tuple(tot["spanblk"]) + tuple(tot["fileio"])))
out.append("")
if diffs:
    out.append("Tests whose result differs (spanblk vs fileio):")
    out.append("")
    out.append("| test | spanblk | fileio | explained (when fileio passes) |")
    out.append("|---|---|---|---|")
    for t, a, b in diffs:
        if b == "passed" and a != "passed":
            why = expected.get(t, "**no**")
        else:  # spanblk does as well or better: nothing to explain
            why = "-"
        out.append("| %s | %s | %s | %s |" % (t, a, b, why))
else:
    out.append("Every test has the same result on spanblk and on fileio.")
table = "\n".join(out) + "\n"

if doc:
    begin = "<!-- conformance-table: begin -->"
    end = "<!-- conformance-table: end -->"
    with open(doc) as f:
        text = f.read()
    i, j = text.find(begin), text.find(end)
    if i < 0 or j < i:
        sys.exit("%s has no %s ... %s lines" % (doc, begin, end))
    text = text[:i + len(begin)] + "\n" + table + text[j:]
    with open(doc, "w") as f:
        f.write(text)
else:
    sys.stdout.write(table)

bad = [t for t, a, b in diffs if b == "passed" and a != "passed"
       and t not in expected]
if check and bad:
    for t in bad:
        a = [x for x in diffs if x[0] == t][0][1]
        sys.stderr.write("conformance: %s passes on fileio, %s on spanblk, "
                         "not explained in tests/vm/conformance-expected.txt\n"
                         % (t, a))
    sys.exit(1)
PY
