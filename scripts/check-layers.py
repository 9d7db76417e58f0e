#!/usr/bin/env python3
"""Checks the layering rule of docs/architecture.md ("Layers") on every
#include "..." of the product's C files, resolved the way the compiler does
(next to the including file first, then from the repository root, -I.).

    handler -> lib -> xport -> lib/util      node -> lib/config, xport
    tools   -> lib                           lib/util -> nothing of ours

Prints each violation and exits 1, or prints one line and exits 0.
"""
import os
import re
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), '..'))

# layer of a path -> the layers it may include (itself always allowed)
ALLOWED = {
    'util': set(),
    'xport': {'util'},
    'lib': {'xport', 'util'},
    'node': {'config', 'xport', 'util'},
    'handler': {'lib', 'config', 'xport', 'util'},
    'tools': {'lib', 'config', 'xport', 'util'},
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def layer(rel):
    if rel.startswith('lib/util/'):
        return 'util'
    if rel in ('lib/config.h', 'lib/config.c'):
        return 'config'
    return rel.split('/', 1)[0]


def resolve(src, inc):
    here = os.path.normpath(os.path.join(os.path.dirname(src), inc))
    if os.path.exists(os.path.join(ROOT, here)):
        return here
    return os.path.normpath(inc)


def main():
    bad = 0
    files = 0
    for top in ALLOWED:
        base = os.path.join(ROOT, 'lib' if top == 'util' else top)
        if top == 'util':
            base = os.path.join(ROOT, 'lib', 'util')
        for dirpath, _, names in os.walk(base):
            for n in sorted(names):
                if not n.endswith(('.c', '.h')):
                    continue
                src = os.path.relpath(os.path.join(dirpath, n), ROOT)
                me = layer(src)
                if me != top and not (top == 'lib' and me == 'config'):
                    continue
                files += 1
                mine = ALLOWED['lib' if me == 'config' else me]
                with open(os.path.join(ROOT, src)) as f:
                    for ln, line in enumerate(f, 1):
                        m = INCLUDE.match(line)
                        if not m:
                            continue
                        tgt = resolve(src, m.group(1))
                        other = layer(tgt)
                        if other == me or other in mine:
                            continue
                        if me == 'config' and other == 'lib':
                            continue
                        if me == 'lib' and other == 'config':
                            continue
                        print(f'{src}:{ln}: {me} must not include {tgt} '
                              f'({other})')
                        bad += 1
    if bad:
        print(f'layers: {bad} include(s) break the layering rule')
        return 1
    print(f'layers: {files} files follow the layering rule')
    return 0


if __name__ == '__main__':
    sys.exit(main())
