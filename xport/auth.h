/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Cluster secret and the HELLO/AUTH challenge-response of
 * docs/protocol.md: HMAC-SHA256 (OpenSSL libcrypto) over both nonces with
 * a label per side, compared in constant time.
 */
#ifndef SPANBLK_XPORT_AUTH_H
#define SPANBLK_XPORT_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

#define XP_SECRET_MIN 16
#define XP_SECRET_MAX 256

struct xp_secret {
	uint8_t key[XP_SECRET_MAX];
	size_t len;
};

/*
 * Read the secret file at @path: its bytes less one trailing newline,
 * XP_SECRET_MIN to XP_SECRET_MAX bytes. Returns 0, -ENOENT/-EACCES (the
 * file), -EINVAL (too short or too long).
 */
int xp_secret_load(const char *path, struct xp_secret *s);

/* Fill @nonce from getrandom(). 0 or -errno. */
int xp_auth_nonce(uint8_t nonce[XP_NONCE_LEN]);

/*
 * Proof of @side: node side = HMAC(secret, "spanblk-node" || nc || ns),
 * gateway side = HMAC(secret, "spanblk-gate" || ns || nc). 0 or -EIO.
 */
int xp_auth_proof(const struct xp_secret *s, bool node_side,
		  const uint8_t nc[XP_NONCE_LEN],
		  const uint8_t ns[XP_NONCE_LEN], uint8_t out[XP_PROOF_LEN]);

/* Constant-time comparison of two proofs. */
bool xp_auth_equal(const uint8_t a[XP_PROOF_LEN],
		   const uint8_t b[XP_PROOF_LEN]);

#endif
