#!/bin/bash
# Conformance on its own boot: libiscsi's iscsi-test-cu against a
# spanblk LUN (three spanblkd, replicas 2, tcmu-runner --handler-path
# build/) and a kernel LIO fileio backstore (a file on ext4 on a RAM disk,
# thin provisioning on). The work is tests/vm/lib-conformance.sh, which
# scenarios/iscsi_spanblk.sh also runs in its boot (so make check covers
# it); this scenario is for reruns and for docs/conformance.md's table.
# Settings: SBVM_CONF_FAMILIES, SBVM_CONF_HW_MAX_SECTORS, SBVM_CONF_LIMIT.
. "$SBVM_REPO/tests/vm/lib.sh"
. "$SBVM_REPO/tests/vm/lib-conformance.sh"

build=$SBVM_REPO/build
vmg_need_build spanblkd spanblkctl handler_spanblk.so

vmg_step modules
vmg_lio_up

vmg_step storage
vmg_ramdisk /srv 524288
mkdir -p /srv/spanblk /srv/lio

vmg_step nodes
vmg_cluster_up /srv/spanblk 3 2
vmg_info "3 storage nodes up on 127.0.0.2-4:7400, replicas 2"

vmg_step tcmu-runner
vmg_dbus_up
vmg_tcmu_up "$build"

vmg_conformance /srv/lio

vmg_step shutdown
vmg_tcmu_down
vmg_nodes_stop
vmg_info "conformance runs done"
