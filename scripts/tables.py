# SPDX-License-Identifier: Apache-2.0
"""The Markdown tables of docs/benchmarks.md and docs/conformance.md, built
from the results a guest run leaves in build/vm/<scenario>/results.

    tables.py bench-vm RESULTS [DOC]      bench_guest.sh's run (section 2)
    tables.py rdma-bench RESULTS [DOC]    rdma_bench.sh's run (section 3)
    tables.py conformance RESULTS CHECK DOC EXPECTED
                                          conformance.sh's iscsi-test-cu runs

The shell wrappers scripts/bench-vm-table.sh, scripts/rdma-bench-table.sh
and scripts/conformance-table.sh parse the command line and call this;
their comments say what each table holds. With DOC (not empty) the table
replaces the text between DOC's "<!-- NAME: begin -->" and
"<!-- NAME: end -->" lines instead of going to stdout.

Shared here: the median of the rounds, key=value lines, number and ratio
cells, the host-load lines, the splice into a document. Exit status: 0; 1
(with a message on stderr) when the results hold no complete run or report
I/O errors, or DOC has no markers; conformance with CHECK=1 exits 1 when a
test passes on fileio but not on spanblk and EXPECTED does not explain it.
"""

import os
import re
import sys

# ---- shared -----------------------------------------------------------------


def median(v):
    """The median of the numbers in v (the mean of the middle two for an
    even count), or None for none."""
    v = sorted(v)
    n = len(v)
    if n == 0:
        return None
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2.0


def kv_line(line):
    """{key: value} of the key=value words of one line."""
    return dict(p.split("=", 1) for p in line.split() if "=" in p)


def fmt(v, nd=1):
    """A number cell: "-" for None, thousands separators with nd=0, else
    nd decimals."""
    if v is None:
        return "-"
    if nd == 0:
        return "{:,.0f}".format(v)
    return "%.*f" % (nd, v)


def ratio(a, b):
    """a / b, or None when either is missing or b is 0."""
    return a / b if a is not None and b else None


def file_lines(path):
    """The lines of path without their newlines; [] when it cannot be read."""
    try:
        with open(path) as f:
            return [line.rstrip("\n") for line in f]
    except OSError:
        return []


HOST_LOAD = ("Host load while the guest ran (2 cores, shared with other "
             "engineers' work):")


def splice(doc, name, body):
    """Replaces the text between DOC's "<!-- name: begin -->" and
    "<!-- name: end -->" lines with a newline and body; exits 1 when the
    markers are missing."""
    begin = "<!-- %s: begin -->" % name
    end = "<!-- %s: end -->" % name
    with open(doc) as f:
        text = f.read()
    i, j = text.find(begin), text.find(end)
    if i < 0 or j < i:
        sys.exit("%s has no %s ... %s lines" % (doc, begin, end))
    text = text[:i + len(begin)] + "\n" + body + text[j:]
    with open(doc, "w") as f:
        f.write(text)


def emit(table, doc, name, body):
    """table to stdout, or body (table and the lines after it) spliced into
    doc between the markers of name."""
    if doc:
        splice(doc, name, body)
    else:
        sys.stdout.write(table)


# ---- bench-vm: bench_guest.sh's run ------------------------------------------

BV_BACKENDS = ("spanblk", "fileio", "qcow")
BV_NAMES = {"spanblk": "spanblk", "fileio": "LIO fileio", "qcow": "user:qcow",
            "spanblk-bench": "spanblk-bench"}
BV_JOBS = ("randread4k", "randwrite4k", "read1m", "write1m")
# Ceph's iSCSI gateway is reported at about 11% of its backend's
# throughput; "far above" is read here as at least three times that, on
# the 1 MiB (throughput) rows.
CEPH_EFF = 0.11
FAR = 3 * CEPH_EFF


class BenchVm:
    """The runs of RESULTS/runs.txt by (backend, job), and their labels."""

    def __init__(self, runs):
        self.qd = {}
        self.by = {}
        for r in runs:
            self.by.setdefault((r["backend"], r["job"]), []).append(r)
            self.qd[r["job"]] = r.get("qd", "?")

    @staticmethod
    def metric(job):
        return "iops" if job.endswith("4k") else "mb_s"

    def med(self, be, job, key=None):
        key = key or self.metric(job)
        return median([float(r[key]) for r in self.by.get((be, job), [])
                       if key in r])

    def label(self, job):
        return {
            "randread4k": "4 KiB random read, QD %s (IOPS)",
            "randwrite4k": "4 KiB random write, QD %s (IOPS)",
            "read1m": "1 MiB sequential read, QD %s (MB/s)",
            "write1m": "1 MiB sequential write, QD %s (MB/s)",
        }[job] % self.qd.get(job, "?")

    def fmt(self, v, job):
        return fmt(v, 0 if self.metric(job) == "iops" else 1)


def bench_vm_runs(res):
    """The runs of res/runs.txt; exits 1 on none or on I/O errors."""
    runs = []
    for line in file_lines(os.path.join(res, "runs.txt")):
        kv = kv_line(line)
        if "backend" in kv and "job" in kv:
            runs.append(kv)
    if not runs:
        sys.exit("bench-vm-table: no runs in %s/runs.txt" % res)
    bad = [r for r in runs if r.get("errors", "0") != "0"]
    if bad:
        sys.exit("bench-vm-table: %d runs report I/O errors, e.g. %s" %
                 (len(bad), " ".join("%s=%s" % i for i in bad[0].items())))
    return runs


def bench_vm_head(w, res, nrounds):
    info = {}
    for line in file_lines(os.path.join(res, "versions.txt")):
        if ": " in line:
            k, v = line.split(": ", 1)
            info[k] = v
    host = file_lines(os.path.join(res, "host-load.txt"))
    w("")
    w("Run: %s; guest kernel %s, %s; spanblk %s." % (
        info.get("date", "?"), info.get("kernel", "?"),
        info.get("guest", "?"), info.get("spanblk", "?")))
    w("fio %s (libaio, direct=1), tcmu-runner %s, targetcli-fb %s, "
      "open-iscsi %s. Settings: `%s`; LUN `%s`." % (
          info.get("fio", "?"), info.get("tcmu-runner", "?"),
          info.get("targetcli-fb", "?"), info.get("open-iscsi", "?"),
          info.get("config", "?"), info.get("snippet lun", "?")))
    if host:
        w("")
        w(HOST_LOAD)
        w("")
        for line in host:
            w("    " + line)
    w("")
    w("Medians of %d rounds; ratios are to LIO fileio in the same boot." %
      nrounds)
    w("")


def bench_vm_medians(w, b, jobs):
    w("| measurement | spanblk | LIO fileio | user:qcow | spanblk / fileio "
      "| qcow / fileio | spanblk / qcow |")
    w("|---|---|---|---|---|---|---|")
    for j in jobs:
        s, fi, q = (b.med(be, j) for be in BV_BACKENDS)
        w("| %s | %s | %s | %s | **%s** | %s | %s |" % (
            b.label(j), b.fmt(s, j), b.fmt(fi, j), b.fmt(q, j),
            fmt(ratio(s, fi), 2), fmt(ratio(q, fi), 2), fmt(ratio(s, q), 2)))
    w("")


def bench_vm_efficiency(w, b, jobs):
    """The gateway efficiency table; returns {job: efficiency or None}."""
    w("Gateway efficiency: fio over iSCSI on spanblk divided by "
      "spanblk-bench (the engine alone, no LIO/TCMU/iSCSI) on the same "
      "cluster, same sizes and depth, same rounds:")
    w("")
    w("| measurement | fio over iSCSI on spanblk | spanblk-bench | "
      "gateway efficiency |")
    w("|---|---|---|---|")
    effs = {}
    for j in jobs:
        s, sb = b.med("spanblk", j), b.med("spanblk-bench", j)
        effs[j] = ratio(s, sb)
        w("| %s | %s | %s | **%s** |" % (
            b.label(j), b.fmt(s, j), b.fmt(sb, j),
            "-" if effs[j] is None else "%.0f%%" % (100 * effs[j])))
    w("")
    return effs


def bench_vm_rounds(w, b, jobs, nrounds):
    w("Every round, with latency (median of the rounds) and CPU (percent of "
      "one vCPU over the run, medians; guest = all processes and the "
      "kernel, up to 200):")
    w("")
    w("| job | backend | %s | p50 / p99 us | guest | tcmu-runner | nodes "
      "| client |" % " | ".join("round %d" % (i + 1)
                                 for i in range(nrounds)))
    w("|---|---|%s---|---|---|---|---|" % ("---|" * nrounds))
    for j in jobs:
        for be in BV_BACKENDS + ("spanblk-bench",):
            rs = b.by.get((be, j))
            if not rs:
                continue
            per = {int(r["round"]): float(r[b.metric(j)]) for r in rs}
            cells = [b.fmt(per.get(i + 1), j) for i in range(nrounds)]

            def m(key):
                v = b.med(be, j, key)
                return "-" if v is None else "%.0f" % v
            tc = m("tcmu_cpu_pct") if be in ("spanblk", "qcow") else "-"
            nd = m("nodes_cpu_pct") if be in ("spanblk", "spanblk-bench") \
                else "-"
            w("| %s | %s | %s | %s / %s | %s | %s | %s | %s |" % (
                j, BV_NAMES[be], " | ".join(cells), m("lat_p50_us"),
                m("lat_p99_us"), m("guest_busy_pct"), tc, nd,
                m("client_cpu_pct")))
    w("")


def bench_vm_aims(w, b, jobs, effs):
    w("The aims, checked on these medians:")
    w("")
    for j in ("read1m", "write1m"):
        r = ratio(b.med("spanblk", j), b.med("fileio", j))
        if r is not None:
            w("- spanblk >= 50%% of fileio, %s: %.2f, **%s**" % (
                b.label(j), r, "met" if r >= 0.5 else "not met"))
    behind = []
    for j in jobs:
        r = ratio(b.med("spanblk", j), b.med("qcow", j))
        if r is not None and r <= 1.0:
            behind.append("%s (%.2f)" % (b.label(j), r))
    if any(b.med("qcow", j) is not None for j in jobs):
        w("- spanblk ahead of user:qcow on every row: **%s**" % (
            "met" if not behind else "not met: behind or level on " +
            ", ".join(behind)))
    # Ceph's figure is a share of its backend's throughput: the 1 MiB rows
    # compare with it; the 4 KiB rows are shown beside them.
    ev = [(e, j) for j, e in effs.items()
          if e is not None and j.endswith("1m")]
    if ev:
        lo = min(ev)
        w("- gateway efficiency far above Ceph's ~%d%% of backend "
          "throughput (read as >= %d%%, on the 1 MiB rows): lowest %.0f%% "
          "(%s), **%s**" % (
              100 * CEPH_EFF, 100 * FAR, 100 * lo[0], b.label(lo[1]),
              "met" if lo[0] >= FAR else "not met"))
    ev4 = ["%s %.0f%%" % (b.label(j), 100 * e) for j, e in effs.items()
           if e is not None and j.endswith("4k")]
    if ev4:
        w("- gateway efficiency on the 4 KiB rows (IOPS, no Ceph figure to "
          "compare with): " + ", ".join(ev4))


def bench_vm(res, doc):
    runs = bench_vm_runs(res)
    b = BenchVm(runs)
    jobs = [j for j in BV_JOBS if any(k[1] == j for k in b.by)]
    nrounds = max(int(r["round"]) for r in runs)
    out = []
    w = out.append
    bench_vm_head(w, res, nrounds)
    bench_vm_medians(w, b, jobs)
    effs = bench_vm_efficiency(w, b, jobs)
    bench_vm_rounds(w, b, jobs, nrounds)
    bench_vm_aims(w, b, jobs, effs)
    table = "\n".join(out) + "\n"
    emit(table, doc, "bench-vm-table", table + "\n")


# ---- rdma-bench: rdma_bench.sh's run -----------------------------------------

GIB = float(1 << 30)
RB_JOBS = ("write1m", "read1m", "randread4k", "randwrite4k")
RB_LABEL = {"write1m": "1 MiB sequential write",
            "read1m": "1 MiB sequential read",
            "randread4k": "4 KiB random read",
            "randwrite4k": "4 KiB random write"}
RB_QD = {"write1m": 4, "read1m": 4, "randread4k": 16, "randwrite4k": 16}
# A spanblk read is a node's RDMA WRITE, a write a node's RDMA READ.
RB_MATCH = (("read1m", "ib_write_bw"), ("write1m", "ib_read_bw"))
RB_BACKENDS = ("spanblk-rdma", "spanblk-tcp", "fileio")


class RdmaBench:
    """The "KEY VALUE" lines of RESULTS/bench.txt."""

    def __init__(self, res):
        self.kv = {}
        for line in file_lines(os.path.join(res, "bench.txt")):
            p = line.split()
            if len(p) == 2:
                self.kv[p[0]] = p[1]

    def num(self, key):
        try:
            return float(self.kv[key])
        except (KeyError, ValueError):
            return None

    def per_node(self, j):
        """RDMA MiB/s of job j per node: over three nodes, a write's two
        replicas counted on the wire."""
        v = self.num("rdma.%s.mib_s" % j)
        if v is None:
            return None
        return v * (2.0 if "write" in j else 1.0) / 3.0


def rdma_bench_payload(w, k):
    w("spanblk-bench on the three nodes, the same LUN, RDMA payload against "
      "TCP payload ([cluster] rdma on / off). CPU s/GiB: the nodes' and the "
      "benchmark's own CPU time / the whole guest's busy time (rxe's kernel "
      "work is charged to no process), per GiB of LUN data moved.")
    w("")
    w("| run | RDMA payload | TCP payload | RDMA / TCP throughput "
      "| RDMA / TCP guest CPU per GiB |")
    w("|---|---|---|---|---|")
    for j in RB_JOBS:
        cells = []
        for t in ("rdma", "tcp"):
            if j.endswith("4k"):
                speed = "%s IOPS" % fmt(k.num("%s.%s.iops" % (t, j)), 0)
            else:
                speed = "%s MiB/s" % fmt(k.num("%s.%s.mib_s" % (t, j)), 1)
            cells.append("%s, %s / %s CPU s/GiB" % (
                speed, fmt(k.num("%s.%s.cpu_s_per_gib" % (t, j)), 0),
                fmt(k.num("%s.%s.sys_cpu_s_per_gib" % (t, j)), 0)))
        w("| %s, QD %d | %s | %s | **%s** | %s |" % (
            RB_LABEL[j], RB_QD[j], cells[0], cells[1],
            fmt(ratio(k.num("rdma.%s.mib_s" % j),
                      k.num("tcp.%s.mib_s" % j)), 2),
            fmt(ratio(k.num("rdma.%s.sys_cpu_s_per_gib" % j),
                      k.num("tcp.%s.sys_cpu_s_per_gib" % j)), 2)))
    w("")


def rdma_bench_limits(w, k):
    w("Limits on the same link in the same boot: perftest over rdma_cm on "
      "rxe0 to its own address (one QP; `-n 2000 -t 16` at 4 KiB, `-n 40 "
      "-t 4` at 1 MiB; BW average as perftest prints it, MB/sec) and iperf3 "
      "(one TCP stream to the same address, `-l 4K` / `-l 1M`, CPU: server "
      "+ client processes / whole guest).")
    w("")
    w("| limit | 4 KiB | 1 MiB |")
    w("|---|---|---|")
    for tool in ("ib_write_bw", "ib_read_bw"):
        w("| perftest `%s` (MB/sec) | %s | %s |" % (
            tool, fmt(k.num(tool + ".4k"), 2), fmt(k.num(tool + ".1m"), 2)))
    if "iperf3.skipped" in k.kv:
        w("| iperf3 | not measured: %s | |" %
          k.kv["iperf3.skipped"].replace("_", " "))
    else:
        w("| iperf3, one stream (MiB/s, CPU s/GiB process / guest) | %s | "
          "%s |" % tuple(
              "%s, %s / %s" % (
                  fmt(k.num("iperf3.%s.mib_s" % s), 1),
                  fmt(k.num("iperf3.%s.cpu_s_per_gib" % s), 0),
                  fmt(k.num("iperf3.%s.sys_cpu_s_per_gib" % s), 0))
              for s in ("4k", "1m")))
    w("")
    w("spanblk against those limits, same boot. A spanblk read is a node's "
      "RDMA WRITE into the gateway's pool (against `ib_write_bw`), a write a "
      "node's RDMA READ from it (against `ib_read_bw`). A LUN's chunks are "
      "spread over three nodes, i.e. three rxe devices and QPs, where "
      "perftest drives one QP: \"per node\" divides by three and counts a "
      "write's two replicas on the wire (x2 / 3); \"whole LUN\" does not.")
    w("")
    w("| ratio | per node (one QP each) | whole LUN |")
    w("|---|---|---|")
    for j, tool in RB_MATCH:
        w("| RDMA %s / `%s` 1 MiB | %s | %s |" % (
            RB_LABEL[j], tool, fmt(ratio(k.per_node(j),
                                         k.num(tool + ".1m")), 2),
            fmt(ratio(k.num("rdma.%s.mib_s" % j), k.num(tool + ".1m")), 2)))
    w("| TCP 1 MiB read / iperf3 `-l 1M` | %s | %s |" % (
        fmt(ratio(k.num("tcp.read1m.mib_s"),
                  3 * (k.num("iperf3.1m.mib_s") or 0)), 2),
        fmt(ratio(k.num("tcp.read1m.mib_s"), k.num("iperf3.1m.mib_s")), 2)))
    w("| TCP 1 MiB write / iperf3 `-l 1M` | %s | %s |" % (
        fmt(ratio(2 * (k.num("tcp.write1m.mib_s") or 0),
                  3 * (k.num("iperf3.1m.mib_s") or 0)), 2),
        fmt(ratio(k.num("tcp.write1m.mib_s"), k.num("iperf3.1m.mib_s")), 2)))
    w("")


def rdma_bench_copy(w, k):
    w("The gateway's copy between its callers' buffers and the registered "
      "RDMA pool (`copy:` line of spanblk-bench, CLOCK_MONOTONIC around each "
      "copy; a write is copied once per replica). Share: copy seconds per "
      "GiB of LUN data / the run's whole-guest CPU seconds per GiB.")
    w("")
    w("| RDMA run | bytes copied | copy time | s per GiB copied | s per LUN "
      "GiB | share of the guest's CPU |")
    w("|---|---|---|---|---|---|")
    for j in RB_JOBS:
        cb, cn = k.num("rdma.%s.copy_bytes" % j), k.num("rdma.%s.copy_ns" % j)
        if not cb or cn is None:
            w("| %s | - | - | - | - | - |" % RB_LABEL[j])
            continue
        rep = 2.0 if "write" in j else 1.0
        per_gib = cn / 1e9 / (cb / GIB)
        per_lun_gib = cn / 1e9 / (cb / rep / GIB)
        sysg = k.num("rdma.%s.sys_cpu_s_per_gib" % j)
        w("| %s | %s | %.1f ms | %.2f | %.2f | %s |" % (
            RB_LABEL[j], "{:,.0f}".format(cb), cn / 1e6, per_gib,
            per_lun_gib, "%.2f%%" % (100 * per_lun_gib / sysg)
            if sysg else "-"))
    w("")


def rdma_bench_iscsi_runs(res):
    """The fio runs of res/iscsi-runs.txt; exits 1 on I/O errors."""
    runs = []
    for line in file_lines(os.path.join(res, "iscsi-runs.txt")):
        d = kv_line(line)
        if d:
            runs.append(d)
    bad = [r for r in runs if r.get("errors") != "0"]
    if bad:
        sys.exit("rdma-bench-table: %d fio runs report I/O errors" % len(bad))
    return runs


def rdma_bench_iscsi(w, runs):
    def med(be, job, key):
        return median([float(r[key]) for r in runs
                       if r["backend"] == be and r["job"] == job and key in r])

    fjobs = [j for j in ("randread4k", "randwrite4k", "read1m", "write1m")
             if any(r["job"] == j for r in runs)]
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
    for j in fjobs:
        key = "iops" if j.endswith("4k") else "mib_s"
        unit = "IOPS" if key == "iops" else "MiB/s"
        v = [med(be, j, key) for be in RB_BACKENDS]
        w("| %s, QD 16 (%s) | %s | %s | %s | **%s** | **%s** | %s |" % (
            RB_LABEL[j], unit, *[fmt(x, 0 if key == "iops" else 1)
                                 for x in v],
            fmt(ratio(v[0], v[2]), 2), fmt(ratio(v[1], v[2]), 2),
            fmt(ratio(v[0], v[1]), 2)))
    w("")
    w("Every round, with CPU (percent of one vCPU over the run, medians; "
      "guest = every process and the kernel, up to 200) and the payload "
      "bytes the nodes moved by RDMA and on TCP (sums over the rounds):")
    w("")
    w("| job | backend | %s | guest | tcmu-runner | nodes | node bytes "
      "RDMA / TCP |" % " | ".join("round %d" % (i + 1)
                                  for i in range(rounds)))
    w("|---|---|%s---|---|---|---|" % ("---|" * rounds))
    for j in fjobs:
        key = "iops" if j.endswith("4k") else "mib_s"
        for be in RB_BACKENDS:
            rr = sorted((r for r in runs
                         if r["backend"] == be and r["job"] == j),
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


def rdma_bench_aims(w, k):
    w("The RDMA payload aims, checked on this boot:")
    w("")
    for j, tool in RB_MATCH:
        r = ratio(k.per_node(j), k.num(tool + ".1m"))
        w("- RDMA payload >= 80%% of `%s` at 1 MiB, %s, per node (one QP "
          "each, as perftest): %s, **%s** (whole LUN over three nodes: %s)"
          % (tool, RB_LABEL[j], fmt(r, 2),
             "-" if r is None else ("met" if r >= 0.8 else "not met"),
             fmt(ratio(k.num("rdma.%s.mib_s" % j), k.num(tool + ".1m")), 2)))
    worse = []
    for j in RB_JOBS:
        r = ratio(k.num("rdma.%s.sys_cpu_s_per_gib" % j),
                  k.num("tcp.%s.sys_cpu_s_per_gib" % j))
        if r is not None and r >= 1:
            worse.append("%s (%.2f)" % (RB_LABEL[j], r))
    w("- RDMA payload with less CPU per GiB than TCP payload (whole guest): "
      + ("**met** on every row" if not worse else
         "**not met** on " + ", ".join(worse)))


def rdma_bench(res, doc):
    k = RdmaBench(res)
    out = []
    w = out.append
    host = os.path.join(res, "host-load.txt")
    if os.path.exists(host):
        w(HOST_LOAD)
        w("")
        for line in file_lines(host):
            w("    " + line.rstrip())
        w("")
    rdma_bench_payload(w, k)
    rdma_bench_limits(w, k)
    rdma_bench_copy(w, k)
    runs = rdma_bench_iscsi_runs(res)
    if runs:
        rdma_bench_iscsi(w, runs)
    rdma_bench_aims(w, k)
    table = "\n".join(out) + "\n"
    emit(table, doc, "rdma-bench-table", table + "\n")


# ---- conformance: iscsi-test-cu on spanblk and fileio ------------------------

CF_BACKENDS = ("spanblk", "fileio")


def cf_parse(path):
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


def cf_runs(res):
    """-> (families in run order, {(backend, family): (status, seconds)})
    from res/runs.txt, then any family with a log but no run line."""
    families = []
    runs = {}
    for line in file_lines(os.path.join(res, "runs.txt")):
        p = line.split()
        if len(p) >= 4:
            runs[(p[0], p[1])] = (int(p[2]), float(p[3]))
            if p[1] not in families:
                families.append(p[1])
    for be in CF_BACKENDS:
        d = os.path.join(res, be)
        for name in sorted(os.listdir(d)) if os.path.isdir(d) else []:
            if name.endswith(".log") and name[:-4] not in families:
                families.append(name[:-4])
    return families, runs


def cf_expected(path):
    """{test: reason} of tests/vm/conformance-expected.txt."""
    expected = {}
    for line in file_lines(path):
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, why = line.partition(" ")
            expected[name] = why.strip()
    return expected


def cf_rows(w, families, runs, results):
    """One row per family and the total; returns the tests whose result
    differs, as (test, spanblk's, fileio's)."""
    w("| family | spanblk pass / fail / skip | fileio pass / fail / skip "
      "| spanblk s | fileio s |")
    w("|---|---|---|---:|---:|")
    tot = {be: [0, 0, 0] for be in CF_BACKENDS}
    diffs = []
    for fam in families:
        cells = []
        for be in CF_BACKENDS:
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
        for be in CF_BACKENDS:
            rt = runs.get((be, fam))
            secs.append("%.1f" % rt[1] if rt else "-")
        w("| %s | %s | %s | %s | %s |" % (fam, cells[0], cells[1],
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
    w("| **all** | %d / %d / %d | %d / %d / %d | | |" %
      (tuple(tot["spanblk"]) + tuple(tot["fileio"])))
    w("")
    return diffs


def conformance(res, check, doc, expected_path):
    families, runs = cf_runs(res)
    results = {}   # (backend, family) -> (complete, tests)
    for be in CF_BACKENDS:
        for fam in families:
            p = os.path.join(res, be, fam + ".log")
            results[(be, fam)] = cf_parse(p) if os.path.exists(p) else None
    expected = cf_expected(expected_path)

    out = []
    w = out.append
    v = [line.strip() for line in
         file_lines(os.path.join(res, "versions.txt")) if line.strip()]
    if os.path.exists(os.path.join(res, "versions.txt")):
        w("Measured with " + "; ".join(v) + ".")
        w("")
    diffs = cf_rows(w, families, runs, results)
    if diffs:
        w("Tests whose result differs (spanblk vs fileio):")
        w("")
        w("| test | spanblk | fileio | explained (when fileio passes) |")
        w("|---|---|---|---|")
        for t, a, b in diffs:
            if b == "passed" and a != "passed":
                why = expected.get(t, "**no**")
            else:  # spanblk does as well or better: nothing to explain
                why = "-"
            w("| %s | %s | %s | %s |" % (t, a, b, why))
    else:
        w("Every test has the same result on spanblk and on fileio.")
    table = "\n".join(out) + "\n"
    emit(table, doc, "conformance-table", table)

    bad = [t for t, a, b in diffs if b == "passed" and a != "passed"
           and t not in expected]
    if check and bad:
        for t in bad:
            a = [x for x in diffs if x[0] == t][0][1]
            sys.stderr.write("conformance: %s passes on fileio, %s on "
                             "spanblk, not explained in "
                             "tests/vm/conformance-expected.txt\n" % (t, a))
        sys.exit(1)


def main(argv):
    if len(argv) >= 2 and argv[0] == "bench-vm":
        bench_vm(argv[1], argv[2] if len(argv) > 2 else "")
    elif len(argv) >= 2 and argv[0] == "rdma-bench":
        rdma_bench(argv[1], argv[2] if len(argv) > 2 else "")
    elif len(argv) == 5 and argv[0] == "conformance":
        conformance(argv[1], argv[2] == "1", argv[3], argv[4])
    else:
        sys.exit("usage: tables.py bench-vm|rdma-bench RESULTS [DOC] | "
                 "conformance RESULTS CHECK DOC EXPECTED")


if __name__ == "__main__":
    main(sys.argv[1:])
