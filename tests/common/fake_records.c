/* SPDX-License-Identifier: Apache-2.0 */
/* Fixtures and recording callbacks of the RDMA unit tests (see .h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fake_records.h"
#include "fake_verbs.h"

int fake_setup(void **state)
{
	(void)state;
	fake_reset();
	return 0;
}

/* Every object the fake handed out was given back. */
int fake_teardown(void **state)
{
	(void)state;
	assert_int_equal(F.n_ch, 0);
	assert_int_equal(F.n_id, 0);
	assert_int_equal(F.n_pd, 0);
	assert_int_equal(F.n_cch, 0);
	assert_int_equal(F.n_cq, 0);
	assert_int_equal(F.n_qp, 0);
	assert_int_equal(F.n_mr, 0);
	assert_int_equal(F.n_mw, 0);
	assert_null(F.unacked);
	return 0;
}

void done_cb(void *arg, int err)
{
	struct done *d = arg;

	d->calls++;
	d->err = err;
}

void state_cb(void *arg, struct xp_rdma_conn *c, int err)
{
	struct state_rec *s = arg;

	s->calls++;
	s->last_err = err;
	s->conn = c;
	if (err)
		s->downs++;
	else
		s->ups++;
}

void buf_cb(void *arg, struct xp_rdma_buf *b)
{
	struct buf_rec *r = arg;

	r->calls++;
	r->buf = b;
}

struct sockaddr_storage fake_dst_addr(void)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	ss.ss_family = AF_INET;
	return ss;
}
