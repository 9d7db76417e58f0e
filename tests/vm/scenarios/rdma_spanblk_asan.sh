#!/bin/bash
# rdma_spanblk with the ASan/UBSan builds (build-san/, `make san`) of
# spanblkd, spanblkctl and spanblk-bench, so the RDMA code of the node and
# the engine runs under the sanitizers on a real (soft-RoCE) device. The
# handler stays the plain build (tcmu-runner is not built with ASan). A
# sanitizer report makes the process exit non-zero, which the scenario's
# checks (bench exit status, clean node stops) turn into a failure; the
# reports land in logs/asan.* and logs/ubsan.*. Skips (77) without
# build-san/ or what rdma_spanblk needs.
. "$SBVM_REPO/tests/vm/lib.sh"

vmg_need_build -s spanblkd spanblkctl spanblk-bench
vmg_need_build handler_spanblk.so rdma-forge
if [ "${SBVM_NATIVE:-}" = yes ]; then
	echo "SKIP rdma_spanblk_asan bind-mounts over build/: guest only"
	exit 77
fi
mkdir -p /run/sanbuild "$SBVM_OUT/logs"
cp "$SBVM_REPO"/build-san/{spanblkd,spanblkctl,spanblk-bench} /run/sanbuild/ ||
	vmg_fail "cannot copy build-san/"
cp "$SBVM_REPO"/build/{handler_spanblk.so,rdma-forge} /run/sanbuild/ ||
	vmg_fail "cannot copy build/"
# Only inside the guest's overlay: the host's build/ is untouched.
mount --bind /run/sanbuild "$SBVM_REPO/build" || vmg_fail "bind build-san"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:log_path=$SBVM_OUT/logs/asan
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$SBVM_OUT/logs/ubsan
. "$SBVM_REPO/tests/vm/scenarios/rdma_spanblk.sh"
ls "$SBVM_OUT"/logs/asan.* "$SBVM_OUT"/logs/ubsan.* >/dev/null 2>&1 &&
	vmg_fail "sanitizer reports in logs/"
vmg_info "rdma_spanblk_asan passed"
