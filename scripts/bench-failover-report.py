#!/usr/bin/env python3
"""Tables of scripts/bench-failover.sh (docs/benchmarks.md section 5).

  bench-failover-report.py cost RAW         the cost table from RAW's
                                            "cost ..." lines
  bench-failover-report.py run OUT LOG T KIND
                                            one failure run: OUT is
                                            spanblk-bench's stdout
                                            (--timeline), LOG its -v log,
                                            T the Unix time of the signal;
                                            prints one key=value line
  bench-failover-report.py failover RAW     the failover tables from RAW's
                                            "failover ..." lines
  bench-failover-report.py redo RAW         RAW's failover lines measured
                                            again from the runs' files
                                            next to it (failover-KIND-REP
                                            .out and .log), to stdout

Every number is a median over the rounds or runs, with the range.
"""
import re
import statistics as st
import sys


def kvs(line):
    return dict(re.findall(r'(\w+)=(\S+)', line))


# ---- cost ------------------------------------------------------------------

def cost(raw):
    rows = {}
    for line in open(raw):
        if not line.startswith('cost '):
            continue
        kv = kvs(line)
        metric = 'iops' if ':4k:' in kv['row'] else 'mib_s'
        d = rows.setdefault(kv['row'], {'metric': metric})
        # the gateway's CPU during the run per I/O, microseconds (the
        # nodes are the same processes for plain and etcd); 0 for a base
        # build without cpu_s
        cpu = float(kv.get('cpu_s', 0)) / int(kv['ios']) * 1e6
        d.setdefault(kv['variant'], {})[int(kv['round'])] = (
            float(kv[metric]), cpu)

    def paired(d, a, b, i=0):
        rs = [d[a][r][i] / d[b][r][i] for r in d[a]
              if r in d[b] and d[b][r][i] > 0]
        return f'{st.median(rs):.2f} ({min(rs):.2f}-{max(rs):.2f})'

    def spread(d, v):
        xs = [x[0] for x in d[v].values()]
        return f'{max(xs) / min(xs):.2f}'

    def med(d, v, i=0):
        return st.median(x[i] for x in d[v].values())

    base = any('base' in d for d in rows.values())
    n = max(len(d['plain']) for d in rows.values())
    print(f'medians of {n} rounds; paired = the ratio within each round, '
          'median (range); spread = max/min of one variant\'s rounds')
    print('| row | plain | etcd | etcd/plain, paired | plain spread | '
          'etcd spread | gateway CPU us/IO plain, etcd | CPU etcd/plain, '
          'paired |' + (' base | plain/base, paired | base spread |'
                        if base else ''))
    print('|---|---|---|---|---|---|---|---|' + ('---|---|---|'
                                                 if base else ''))
    for row, d in rows.items():
        fmt = '{:,.0f}' if d['metric'] == 'iops' else '{:.0f}'
        out = (f'| {row} {d["metric"]} | {fmt.format(med(d, "plain"))} | '
               f'{fmt.format(med(d, "etcd"))} | '
               f'**{paired(d, "etcd", "plain")}** | {spread(d, "plain")} | '
               f'{spread(d, "etcd")} | {med(d, "plain", 1):.1f}, '
               f'{med(d, "etcd", 1):.1f} | {paired(d, "etcd", "plain", 1)} |')
        if base and 'base' in d:
            out += (f' {fmt.format(med(d, "base"))} | '
                    f'**{paired(d, "plain", "base")}** | '
                    f'{spread(d, "base")} |')
        print(out)


# ---- one failure run -------------------------------------------------------

def run(out, log, t_fail, kind, file=sys.stdout):
    t0 = bucket = None
    gaps, ios, res = [], {}, {}
    for line in open(out):
        m = re.match(r'timeline: start_unix=(\S+) bucket_ms=(\d+)', line)
        if m:
            t0, bucket = float(m.group(1)), int(m.group(2)) / 1000
        m = re.match(r'gap: from_unix=(\S+) to_unix=(\S+)', line)
        if m:
            gaps.append((float(m.group(1)), float(m.group(2))))
        m = re.match(r'timeline: t_ms=(\d+) ios=(\d+)', line)
        if m:
            ios[int(m.group(1)) / 1000] = int(m.group(2))
        if line.startswith('result:'):
            res = kvs(line)
    if t0 is None or not res:
        sys.exit(f'{out}: no timeline or no result line')
    end = t0 + float(res['seconds'])

    def rate(a, b):  # completions per second in [a, b), Unix times
        n = sum(c for t, c in ios.items()
                if a <= t0 + t and t0 + t + bucket <= b)
        return n / (b - a) if b > a else 0

    def logged(text):  # when the gateway logged it (Unix s), 0: never
        for line in open(log):
            f = line.split(' ', 1)
            if text in line and float(f[0]) >= t_fail:
                return float(f[0])
        return 0

    def ms(t):
        return (t - t_fail) * 1000 if t else -1

    t_down = logged('down in the cluster store')
    # Writes to chunks with a replica on the node wait until the gateway
    # has it down; those soon hold every slot, so the first completion at
    # or after that moment is the first degraded write: the end of the gap
    # the moment falls in, or (no gap of a timeline interval or more
    # there) the moment itself, less than an interval early.
    t_first = t_down or t_fail
    for g in gaps:
        if g[0] <= t_first < g[1]:
            t_first = g[1]
            break
    # The stall: the longest gap between the signal and that write (all
    # of it: a gap that began before the signal also held the writes up).
    stall = max([g[1] - g[0] for g in gaps
                 if g[1] > t_fail and g[0] < t_first] or [0])
    after = t_first
    later = rate(after + 5, end)
    # back to speed: the first 0.5 s window after the stall at 80 % of
    # the later rate
    recover, t = -1, after
    while later > 0 and t + 0.5 <= end:
        if rate(t, t + 0.5) >= 0.8 * later:
            recover = (t - after) * 1000
            break
        t += bucket
    lost = logged('connection lost') if kind == 'kill' else 0
    print(f'stall_ms={stall * 1000:.0f} '
          f'first_ms={(t_first - t_fail) * 1000:.0f} '
          f'lat_max_ms={int(res["lat_max_us"]) / 1000:.0f} '
          f'lost_ms={ms(lost):.0f} '
          f'refused_ms={ms(logged("refuses connections")):.0f} '
          f'down_ms={ms(t_down):.0f} '
          f'iops_before={rate(t_fail - 2, t_fail):.0f} '
          f'iops_0_1={rate(after, after + 1):.0f} '
          f'iops_1_2={rate(after + 1, after + 2):.0f} '
          f'iops_2_3={rate(after + 2, after + 3):.0f} '
          f'iops_later={later:.0f} later_s={max(end - after - 5, 0):.1f} '
          f'recover_ms={recover:.0f} iops={res["iops"]} '
          f'errors={res["errors"]}', file=file)


def redo(raw):
    import io
    import os
    here = os.path.dirname(raw)
    for line in open(raw):
        kv = kvs(line)
        if not line.startswith('failover ') or 't_fail' not in kv:
            print(line, end='')
            continue
        base = os.path.join(here, f'failover-{kv["kind"]}-{kv["rep"]}')
        buf = io.StringIO()
        run(base + '.out', base + '.log', float(kv['t_fail']), kv['kind'],
            buf)
        print(f'failover kind={kv["kind"]} rep={kv["rep"]} '
              f'stale={kv["stale"]} t_fail={kv["t_fail"]} {buf.getvalue()}',
              end='')


# ---- the failover tables ---------------------------------------------------

KEYS = [
    ('down_ms', 'signal to node down in the gateway, ms'),
    ('first_ms', 'signal to the first degraded write completed, ms'),
    ('stall_ms', 'longest time without a completion until then, ms'),
    ('lat_max_ms', 'longest write, ms'),
    ('lost_ms', 'signal to connection lost, ms'),
    ('refused_ms', 'signal to reconnect refused, lease revoked, ms'),
    ('iops_before', 'IOPS, 2 s before the signal'),
    ('iops_0_1', 'IOPS, 1st s after the first degraded write'),
    ('iops_1_2', 'IOPS, 2nd s after it'),
    ('iops_2_3', 'IOPS, 3rd s after it'),
    ('iops_later', 'IOPS, from 5 s after it to the end ("later")'),
    ('recover_ms', 'from it to a 0.5 s window at 80 % of later, ms'),
    ('stale', 'chunks recorded stale'),
]


def failover(raw):
    runs = {}
    for line in open(raw):
        if line.startswith('failover '):
            kv = kvs(line)
            runs.setdefault(kv['kind'], []).append(kv)
    kinds = list(runs)

    def cell(xs, fmt='{:.0f}'):
        xs = [x for x in xs if x >= 0]
        if not xs:
            return '-'
        return (f'{fmt.format(st.median(xs))} ({fmt.format(min(xs))}-'
                f'{fmt.format(max(xs))})')

    print('| measurement | ' + ' | '.join(
        f'{k}: median (range) of {len(runs[k])}' for k in kinds) + ' |')
    print('|---|' + '---|' * len(kinds))
    for key, name in KEYS:
        print(f'| {name} | ' + ' | '.join(
            cell([float(r[key]) for r in runs[k]]) for k in kinds) + ' |')
    ratios = [
        ('1st s after it / later', 'iops_0_1', 'iops_later'),
        ('later / before the signal', 'iops_later', 'iops_before'),
    ]
    for name, a, b in ratios:
        print(f'| {name} (ratio in each run) | ' + ' | '.join(
            cell([float(r[a]) / float(r[b]) for r in runs[k]
                  if float(r[a]) > 0 and float(r[b]) > 0], '{:.2f}')
            for k in kinds) + ' |')
    print('| recovery per chunk recorded stale, ms | ' + ' | '.join(
        cell([float(r['recover_ms']) / float(r['stale']) for r in runs[k]
              if float(r['recover_ms']) >= 0 and float(r['stale']) > 0],
             '{:.2f}') for k in kinds) + ' |')


if __name__ == '__main__':
    if len(sys.argv) == 3 and sys.argv[1] == 'cost':
        cost(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == 'failover':
        failover(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == 'redo':
        redo(sys.argv[2])
    elif len(sys.argv) == 6 and sys.argv[1] == 'run':
        run(sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5])
    else:
        sys.exit(__doc__)
