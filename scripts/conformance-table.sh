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
# it names those tests on stderr. The table is scripts/tables.py's.
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
if [ $# -ne 1 ] || [ ! -d "$1" ]; then
	echo "usage: $0 [--check] [--update DOC] RESULTS_DIR" >&2
	exit 2
fi
exec python3 "$here/tables.py" conformance "$1" "$check" "$doc" \
	"$here/../tests/vm/conformance-expected.txt"
