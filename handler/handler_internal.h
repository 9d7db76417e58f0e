/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Types shared by the handler's files: the per-device state handler.c
 * keeps with tcmur_dev_set_private().
 */
#ifndef SPANBLK_HANDLER_HANDLER_INTERNAL_H
#define SPANBLK_HANDLER_HANDLER_INTERNAL_H

#include "../lib/config.h"
#include "../lib/engine.h"
#include "cfgstring.h"
#include "dispatch.h"
#include "tcmu_abi.h"

/*
 * The runner's Block Limits page (scsi.c, tcmu-runner 1.5.4) reports
 * MAXIMUM COMPARE AND WRITE LENGTH 1 and MAXIMUM UNMAP BLOCK DESCRIPTOR
 * COUNT 4 whatever the handler says; the handler enforces the same.
 */
#define SBH_RUNNER_MAX_CAW_BLOCKS 1
#define SBH_RUNNER_MAX_UNMAP_DESC 4
/* Largest UNMAP descriptor (and WRITE SAME unmap piece) we advertise. */
/* MAXIMUM UNMAP LBA COUNT in bytes; libiscsi bounds it at 1 Mi blocks. */
#define SBH_MAX_UNMAP_BYTES (512ull << 20)

/* One open device. Owned by handler.c: open publishes it, close frees. */
struct sbh_dev {
	struct tcmu_device *dev; /* libtcmu's device, not owned */
	struct sbh_cfg cfg; /* the cfgstring it was opened with */
	struct sb_cluster cluster; /* cluster file with cfgstring overrides */
	struct sb_engine *engine; /* owned */
	struct sbh_lun lun; /* what dispatch.c needs */
	/*
	 * WRITE SAME with the UNMAP bit that handle_cmd routed to the
	 * writesame callout (see handler.c). Command thread only.
	 */
	const struct tcmulib_cmd *ws_unmap_cmd;
};

#endif
