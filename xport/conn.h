/* SPDX-License-Identifier: Apache-2.0 */
/*
 * xp_conn: one framed, non-blocking TCP connection, event-loop agnostic
 * (libiscsi's get_fd / which_events / service shape). The owner polls
 * xp_conn_fd() for POLLIN always and for POLLOUT while xp_conn_want_write(),
 * and calls xp_conn_service() when the fd is ready.
 *
 * Received frames are decoded and checked at this edge (xp_hdr_decode and
 * the data CRC); only whole, valid frames reach the owner's callback.
 * Not thread-safe: one thread owns a connection.
 */
#ifndef SPANBLK_XPORT_CONN_H
#define SPANBLK_XPORT_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "proto.h"

struct xp_conn;

/*
 * Received payloads start at an address aligned to this, so a WRITE's
 * payload can go to an O_DIRECT file as it is.
 */
#define XP_PAYLOAD_ALIGN 4096u

/*
 * Called once per received frame. @payload is heap memory aligned to
 * XP_PAYLOAD_ALIGN, owned by the callee from now on and released with
 * free() (NULL when payload_len is 0). Return 0 to go on, or a
 * negative errno to stop servicing: xp_conn_service() then returns it and
 * the owner is expected to free the connection. A frame whose data CRC
 * did not match reaches the callback with @crc_ok false.
 */
typedef int (*xp_frame_cb)(void *arg, const struct xp_hdr *h, void *payload,
			   bool crc_ok);

/* Most pieces of memory one placement (xp_place_cb) may name. */
#define XP_PLACE_MAX 16

/*
 * Optional: the owner already has the memory a payload belongs in (a READ
 * answer's destination) and wants it received there, without an
 * allocation and a copy. Called once per frame that has a payload, after
 * its header is decoded (framing only: run xp_hdr_check yourself) and
 * before any payload byte is stored. Fill up to XP_PLACE_MAX entries of
 * @iov whose lengths add up to exactly h->payload_len and return how many,
 * or return 0 to receive into an allocation as usual. Placed bytes are
 * stored as they arrive, before the data CRC is known: the frame callback
 * then gets @payload NULL and @crc_ok saying whether they were intact.
 * The memory must stay valid until that callback runs, xp_conn_unplace()
 * or xp_conn_free(), whichever comes first.
 */
typedef int (*xp_place_cb)(void *arg, const struct xp_hdr *h,
			   struct iovec *iov);

/* Called when a queued frame's payload is no longer referenced. */
typedef void (*xp_sent_cb)(void *arg, int err);

/*
 * Wrap connected socket @fd (made non-blocking here). The connection owns
 * @fd from now on and closes it in xp_conn_free(). Returns NULL on
 * allocation failure (then @fd is not closed).
 */
struct xp_conn *xp_conn_new(int fd, xp_frame_cb on_frame, void *arg);

/* Install (or with NULL remove) the placement callback of @c. */
void xp_conn_set_place(struct xp_conn *c, xp_place_cb place);

/*
 * The owner takes back the memory placed for the frame being received
 * (say its request timed out): no byte is stored there any more. The rest
 * of that payload is read and dropped, and the frame reaches the frame
 * callback with @payload NULL and @crc_ok false. No-op when nothing is
 * placed (as inside the callbacks of @c, which never run mid-payload).
 */
void xp_conn_unplace(struct xp_conn *c);

/*
 * Close the fd, call every pending xp_sent_cb with -ECONNABORTED, free.
 * Accepts NULL.
 */
void xp_conn_free(struct xp_conn *c);

int xp_conn_fd(const struct xp_conn *c);
bool xp_conn_want_write(const struct xp_conn *c);

/*
 * Queue one frame: header @h (encoded here, hdr_crc computed; data_crc
 * computed over the payload when @h has XP_F_DCRC) and @iovcnt payload
 * pieces whose lengths add up to h->payload_len. The payload memory is
 * referenced, not copied, until @sent runs (exactly once, possibly from
 * xp_conn_free with an error). @sent may be NULL. Tries to write at once.
 * Returns 0, -ENOMEM, -EINVAL (lengths disagree) or -EPIPE once the
 * connection has failed; on error @sent never runs.
 */
int xp_conn_send(struct xp_conn *c, const struct xp_hdr *h,
		 const struct iovec *iov, int iovcnt, xp_sent_cb sent,
		 void *sent_arg);

/*
 * CRC32C of the payload pieces @iov taken together: the data_crc that
 * xp_conn_send() would put in a header with XP_F_DCRC.
 */
uint32_t xp_conn_payload_crc(const struct iovec *iov, int iovcnt);

/*
 * xp_conn_send() for a payload that goes to several peers: with XP_F_DCRC
 * the header's data_crc is sent as @h->data_crc says instead of being
 * computed here, so the caller pays for the CRC once per payload. The
 * caller guarantees @h->data_crc == xp_conn_payload_crc(@iov, @iovcnt)
 * and that the bytes do not change until @sent runs (a wrong value makes
 * the peer refuse the frame as corrupt). Same returns and @sent contract
 * as xp_conn_send().
 */
int xp_conn_send_crc(struct xp_conn *c, const struct xp_hdr *h,
		     const struct iovec *iov, int iovcnt, xp_sent_cb sent,
		     void *sent_arg);

/*
 * Read what the socket has and dispatch complete frames; write what can be
 * written. Returns 0, or a negative errno when the connection is finished
 * (-ECONNRESET on EOF, -EBADMSG on a broken frame, or the callback's error).
 */
int xp_conn_service(struct xp_conn *c, uint32_t revents);

/*
 * Stop (or resume) reading frames: the owner's back-pressure when it has
 * too much in flight. While paused, xp_conn_service() only writes.
 */
void xp_conn_pause_rx(struct xp_conn *c, bool paused);

/*
 * True when whole frames are already buffered (the per-call work budget
 * stopped xp_conn_service() early, or reading was resumed): the owner must
 * call xp_conn_service(c, POLLIN) again without waiting for the fd, which
 * may never become readable again.
 */
bool xp_conn_rx_pending(const struct xp_conn *c);

/* Bytes received and sent, payload and headers, since creation. */
void xp_conn_counters(const struct xp_conn *c, uint64_t *rx, uint64_t *tx);

#endif
