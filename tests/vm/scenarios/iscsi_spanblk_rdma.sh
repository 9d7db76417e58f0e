#!/bin/bash
# The whole iSCSI scenario with payload over RDMA: scenarios/iscsi_spanblk.sh
# (fio crc32c verify, ext4 with sha256 sums across a restart of tcmu-runner
# and every node, UNMAP, SYNCHRONIZE CACHE) with rxe0-2 on veth links and
# every node on RDMA, the nodes' counters showing more than 99 % of payload
# bytes by RDMA before and after the restart and control bytes on TCP at
# every node. Conformance stays in the TCP boot. Skips (77) without
# rdma_rxe.
export ISCSI_RDMA=1
. "$SBVM_REPO/tests/vm/scenarios/iscsi_spanblk.sh"
