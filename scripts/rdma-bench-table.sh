#!/usr/bin/env bash
# Builds the RDMA tables of docs/benchmarks.md (section 3, issue 4) from a
# run of tests/vm/scenarios/rdma_bench.sh (`scripts/bench-vm.sh
# rdma_bench`):
#
#   scripts/rdma-bench-table.sh [--update DOC] RESULTS
#
# RESULTS is build/vm/rdma_bench/results (or a copy of it): bench.txt
# ("KEY VALUE" lines: perftest, iperf3, spanblk-bench with RDMA and TCP
# payload, its copy counters), iscsi-runs.txt (one key=value line per fio
# run over iSCSI: round= backend= job= iops= mib_s= ...), and
# host-load.txt when scripts/bench-vm.sh ran the guest.
#
# Prints, in Markdown: spanblk-bench with RDMA payload against TCP payload
# (throughput, CPU seconds per GiB); the limits on the same link (perftest,
# iperf3) and spanblk's ratios to them; the gateway's copy to and from the
# RDMA pool; fio over iSCSI on the RDMA path, the TCP path and LIO fileio
# (medians of the rounds, ratios to fileio); issue 4's aims, checked.
#
# --update DOC replaces the text between the lines
#   <!-- rdma-bench-table: begin --> and <!-- rdma-bench-table: end -->
# of DOC with the tables (the rest of DOC is kept).
# Exit status: 0, 1 when RESULTS lacks bench.txt or a run reports I/O
# errors, 2 for usage errors.
set -eu
doc=
while [ $# -gt 1 ]; do
	case $1 in
	--update)
		doc=$2
		shift 2
		;;
	*) break ;;
	esac
done
[ $# -eq 1 ] && [ -f "$1/bench.txt" ] || {
	echo "usage: $0 [--update DOC] RESULTS_DIR (with bench.txt)" >&2
	exit 2
}
exec python3 - "$1" "$doc" <<'PY'
import os
import sys

res, doc = sys.argv[1], sys.argv[2]
GIB = float(1 << 30)
JOBS = ("write1m", "read1m", "randread4k", "randwrite4k")
LABEL = {"write1m": "1 MiB sequential write", "read1m": "1 MiB sequential read",
         "randread4k": "4 KiB random read", "randwrite4k": "4 KiB random write"}
QD = {"write1m": 4, "read1m": 4, "randread4k": 16, "randwrite4k": 16}

kv = {}
with open(os.path.join(res, "bench.txt")) as f:
    for line in f:
        p = line.split()
        if len(p) == 2:
            kv[p[0]] = p[1]


def num(key):
    try:
        return float(kv[key])
    except (KeyError, ValueError):
        return None


def fmt(v, nd=1):
    if v is None:
        return "-"
    if nd == 0:
        return "{:,.0f}".format(v)
    return "%.*f" % (nd, v)


def ratio(a, b):
    return a / b if a is not None and b else None


out = []
w = out.append
lp = os.path.join(res, "host-load.txt")
if os.path.exists(lp):
    w("Host load while the guest ran (2 cores, shared with other "
      "engineers' work):")
    w("")
    for line in open(lp):
        w("    " + line.rstrip())
    w("")

# ---- spanblk-bench, RDMA against TCP payload -------------------------------
w("spanblk-bench on the three nodes, the same LUN, RDMA payload against TCP "
  "payload ([cluster] rdma on / off). CPU s/GiB: the nodes' and the "
  "benchmark's own CPU time / the whole guest's busy time (rxe's kernel "
  "work is charged to no process), per GiB of LUN data moved.")
w("")
w("| run | RDMA payload | TCP payload | RDMA / TCP throughput "
  "| RDMA / TCP guest CPU per GiB |")
w("|---|---|---|---|---|")
for j in JOBS:
    cells = []
    for t in ("rdma", "tcp"):
        if j.endswith("4k"):
            speed = "%s IOPS" % fmt(num("%s.%s.iops" % (t, j)), 0)
        else:
            speed = "%s MiB/s" % fmt(num("%s.%s.mib_s" % (t, j)), 1)
        cells.append("%s, %s / %s CPU s/GiB" % (
            speed, fmt(num("%s.%s.cpu_s_per_gib" % (t, j)), 0),
            fmt(num("%s.%s.sys_cpu_s_per_gib" % (t, j)), 0)))
    w("| %s, QD %d | %s | %s | **%s** | %s |" % (
        LABEL[j], QD[j], cells[0], cells[1],
        fmt(ratio(num("rdma.%s.mib_s" % j), num("tcp.%s.mib_s" % j)), 2),
        fmt(ratio(num("rdma.%s.sys_cpu_s_per_gib" % j),
                  num("tcp.%s.sys_cpu_s_per_gib" % j)), 2)))
w("")

# ---- limits on the same link ------------------------------------------------
w("Limits on the same link in the same boot: perftest over rdma_cm on rxe0 "
  "to its own address (one QP; `-n 2000 -t 16` at 4 KiB, `-n 40 -t 4` at "
  "1 MiB; BW average as perftest prints it, MB/sec) and iperf3 (one TCP "
  "stream to the same address, `-l 4K` / `-l 1M`, CPU: server + client "
  "processes / whole guest).")
w("")
w("| limit | 4 KiB | 1 MiB |")
w("|---|---|---|")
for tool in ("ib_write_bw", "ib_read_bw"):
    w("| perftest `%s` (MB/sec) | %s | %s |" % (
        tool, fmt(num(tool + ".4k"), 2), fmt(num(tool + ".1m"), 2)))
if "iperf3.skipped" in kv:
    w("| iperf3 | not measured: %s | |" % kv["iperf3.skipped"].replace("_", " "))
else:
    w("| iperf3, one stream (MiB/s, CPU s/GiB process / guest) | %s | %s |" % tuple(
        "%s, %s / %s" % (fmt(num("iperf3.%s.mib_s" % s), 1),
                         fmt(num("iperf3.%s.cpu_s_per_gib" % s), 0),
                         fmt(num("iperf3.%s.sys_cpu_s_per_gib" % s), 0))
        for s in ("4k", "1m")))
w("")
w("spanblk against those limits, same boot. A spanblk read is a node's "
  "RDMA WRITE into the gateway's pool (against `ib_write_bw`), a write a "
  "node's RDMA READ from it (against `ib_read_bw`). A LUN's chunks are "
  "spread over three nodes, i.e. three rxe devices and QPs, where perftest "
  "drives one QP: \"per node\" divides by three and counts a write's two "
  "replicas on the wire (x2 / 3); \"whole LUN\" does not.")
w("")
w("| ratio | per node (one QP each) | whole LUN |")
w("|---|---|---|")


def per_node(j):
    v = num("rdma.%s.mib_s" % j)
    if v is None:
        return None
    return v * (2.0 if "write" in j else 1.0) / 3.0


MATCH = (("read1m", "ib_write_bw"), ("write1m", "ib_read_bw"))
for j, tool in MATCH:
    w("| RDMA %s / `%s` 1 MiB | %s | %s |" % (
        LABEL[j], tool, fmt(ratio(per_node(j), num(tool + ".1m")), 2),
        fmt(ratio(num("rdma.%s.mib_s" % j), num(tool + ".1m")), 2)))
w("| TCP 1 MiB read / iperf3 `-l 1M` | %s | %s |" % (
    fmt(ratio(num("tcp.read1m.mib_s"), 3 * (num("iperf3.1m.mib_s") or 0)), 2),
    fmt(ratio(num("tcp.read1m.mib_s"), num("iperf3.1m.mib_s")), 2)))
w("| TCP 1 MiB write / iperf3 `-l 1M` | %s | %s |" % (
    fmt(ratio(2 * (num("tcp.write1m.mib_s") or 0),
              3 * (num("iperf3.1m.mib_s") or 0)), 2),
    fmt(ratio(num("tcp.write1m.mib_s"), num("iperf3.1m.mib_s")), 2)))
w("")

# ---- the gateway's copy -----------------------------------------------------
w("The gateway's copy between its callers' buffers and the registered RDMA "
  "pool (`copy:` line of spanblk-bench, CLOCK_MONOTONIC around each copy; "
  "a write is copied once per replica). Share: copy seconds per GiB of LUN "
  "data / the run's whole-guest CPU seconds per GiB.")
w("")
w("| RDMA run | bytes copied | copy time | s per GiB copied | s per LUN GiB "
  "| share of the guest's CPU |")
w("|---|---|---|---|---|---|")
for j in JOBS:
    cb, cn = num("rdma.%s.copy_bytes" % j), num("rdma.%s.copy_ns" % j)
    if not cb or cn is None:
        w("| %s | - | - | - | - | - |" % LABEL[j])
        continue
    rep = 2.0 if "write" in j else 1.0
    per_gib = cn / 1e9 / (cb / GIB)
    per_lun_gib = cn / 1e9 / (cb / rep / GIB)
    sysg = num("rdma.%s.sys_cpu_s_per_gib" % j)
    w("| %s | %s | %.1f ms | %.2f | %.2f | %s |" % (
        LABEL[j], "{:,.0f}".format(cb), cn / 1e6, per_gib, per_lun_gib,
        "%.2f%%" % (100 * per_lun_gib / sysg) if sysg else "-"))
w("")

# ---- fio over iSCSI ---------------------------------------------------------
runs = []
rp = os.path.join(res, "iscsi-runs.txt")
if os.path.exists(rp):
    for line in open(rp):
        d = dict(x.split("=", 1) for x in line.split() if "=" in x)
        if d:
            runs.append(d)
bad = [r for r in runs if r.get("errors") != "0"]
if bad:
    sys.exit("rdma-bench-table: %d fio runs report I/O errors" % len(bad))


def median(v):
    v = sorted(v)
    n = len(v)
    if not n:
        return None
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2.0


def med(be, job, key):
    return median([float(r[key]) for r in runs
                   if r["backend"] == be and r["job"] == job and key in r])


BES = ("spanblk-rdma", "spanblk-tcp", "fileio")
FJOBS = [j for j in ("randread4k", "randwrite4k", "read1m", "write1m")
         if any(r["job"] == j for r in runs)]
if runs:
    rounds = max(int(r["round"]) for r in runs)
    secs = runs[0].get("secs", "?")
    w("fio over iSCSI (libaio, direct=1, QD 16, %s s measured after a ramp; "
      "medians of %d rounds, backends interleaved, the first rotating): "
      "spanblk with `rdma = on`, spanblk with `rdma = off` (same nodes, "
      "same handler, one tcmu-runner) and LIO fileio on the nodes' RAM "
      "disk." % (secs, rounds))
    w("")
    w("| measurement | spanblk RDMA | spanblk TCP | LIO fileio "
      "| RDMA / fileio | TCP / fileio | RDMA / TCP |")
    w("|---|---|---|---|---|---|---|")
    for j in FJOBS:
        key = "iops" if j.endswith("4k") else "mib_s"
        unit = "IOPS" if key == "iops" else "MiB/s"
        v = [med(be, j, key) for be in BES]
        w("| %s, QD 16 (%s) | %s | %s | %s | **%s** | **%s** | %s |" % (
            LABEL[j], unit, *[fmt(x, 0 if key == "iops" else 1) for x in v],
            fmt(ratio(v[0], v[2]), 2), fmt(ratio(v[1], v[2]), 2),
            fmt(ratio(v[0], v[1]), 2)))
    w("")
    w("Every round, with CPU (percent of one vCPU over the run, medians; "
      "guest = every process and the kernel, up to 200) and the payload "
      "bytes the nodes moved by RDMA and on TCP (sums over the rounds):")
    w("")
    w("| job | backend | %s | guest | tcmu-runner | nodes | node bytes "
      "RDMA / TCP |" % " | ".join("round %d" % (i + 1) for i in range(rounds)))
    w("|---|---|%s---|---|---|---|" % ("---|" * rounds))
    for j in FJOBS:
        key = "iops" if j.endswith("4k") else "mib_s"
        for be in BES:
            rr = sorted((r for r in runs if r["backend"] == be and r["job"] == j),
                        key=lambda r: int(r["round"]))
            vals = " | ".join(fmt(float(r[key]), 0 if key == "iops" else 1)
                              for r in rr)
            rb = sum(int(r.get("node_rdma_bytes", 0)) for r in rr)
            tb = sum(int(r.get("node_tcp_bytes", 0)) for r in rr)
            w("| %s | %s | %s | %s | %s | %s | %s / %s |" % (
                j, be, vals, fmt(med(be, j, "guest_busy_pct"), 0),
                fmt(med(be, j, "tcmu_cpu_pct"), 0),
                fmt(med(be, j, "nodes_cpu_pct"), 0),
                "{:,}".format(rb), "{:,}".format(tb)))
    w("")

# ---- issue 4's aims ---------------------------------------------------------
w("Issue 4's aims, checked on this boot:")
w("")
for j, tool in MATCH:
    r = ratio(per_node(j), num(tool + ".1m"))
    w("- RDMA payload >= 80%% of `%s` at 1 MiB, %s, per node (one QP "
      "each, as perftest): %s, **%s** (whole LUN over three nodes: %s)" % (
          tool, LABEL[j], fmt(r, 2),
          "-" if r is None else ("met" if r >= 0.8 else "not met"),
          fmt(ratio(num("rdma.%s.mib_s" % j), num(tool + ".1m")), 2)))
worse = []
for j in JOBS:
    r = ratio(num("rdma.%s.sys_cpu_s_per_gib" % j),
              num("tcp.%s.sys_cpu_s_per_gib" % j))
    if r is not None and r >= 1:
        worse.append("%s (%.2f)" % (LABEL[j], r))
w("- RDMA payload with less CPU per GiB than TCP payload (whole guest): "
  + ("**met** on every row" if not worse else
     "**not met** on " + ", ".join(worse)))
table = "\n".join(out) + "\n"

if doc:
    begin = "<!-- rdma-bench-table: begin -->"
    end = "<!-- rdma-bench-table: end -->"
    with open(doc) as f:
        text = f.read()
    i, j = text.find(begin), text.find(end)
    if i < 0 or j < i:
        sys.exit("%s has no %s ... %s lines" % (doc, begin, end))
    text = text[:i + len(begin)] + "\n" + table + "\n" + text[j:]
    with open(doc, "w") as f:
        f.write(text)
else:
    sys.stdout.write(table)
PY
