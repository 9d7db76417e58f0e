/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Cluster secret and HELLO/AUTH proofs (docs/protocol.md, "Handshake").
 * HMAC-SHA256 comes from OpenSSL's libcrypto; nothing here rolls its own
 * cryptography.
 */
#include "auth.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

int xp_secret_load(const char *path, struct xp_secret *s)
{
	uint8_t buf[XP_SECRET_MAX + 2];
	size_t len = 0;
	ssize_t r;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (len < sizeof(buf)) {
		r = read(fd, buf + len, sizeof(buf) - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			r = -errno;
			close(fd);
			return (int)r;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	if (len && buf[len - 1] == '\n')
		len--;
	if (len && buf[len - 1] == '\r')
		len--;
	if (len < XP_SECRET_MIN || len > XP_SECRET_MAX) {
		OPENSSL_cleanse(buf, sizeof(buf));
		return -EINVAL;
	}
	memcpy(s->key, buf, len);
	s->len = len;
	OPENSSL_cleanse(buf, sizeof(buf));
	return 0;
}

int xp_auth_nonce(uint8_t nonce[XP_NONCE_LEN])
{
	size_t got = 0;

	while (got < XP_NONCE_LEN) {
		ssize_t r = getrandom(nonce + got, XP_NONCE_LEN - got, 0);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)r;
	}
	return 0;
}

int xp_auth_proof(const struct xp_secret *s, bool node_side,
		  const uint8_t nc[XP_NONCE_LEN],
		  const uint8_t ns[XP_NONCE_LEN], uint8_t out[XP_PROOF_LEN])
{
	static const char node_label[] = "spanblk-node";
	static const char gate_label[] = "spanblk-gate";
	uint8_t msg[sizeof(node_label) - 1 + 2 * XP_NONCE_LEN];
	unsigned int olen = 0;
	const uint8_t *first = node_side ? nc : ns;
	const uint8_t *second = node_side ? ns : nc;

	_Static_assert(sizeof(node_label) == sizeof(gate_label), "labels");
	memcpy(msg, node_side ? node_label : gate_label,
	       sizeof(node_label) - 1);
	memcpy(msg + sizeof(node_label) - 1, first, XP_NONCE_LEN);
	memcpy(msg + sizeof(node_label) - 1 + XP_NONCE_LEN, second,
	       XP_NONCE_LEN);
	if (!HMAC(EVP_sha256(), s->key, (int)s->len, msg, sizeof(msg), out,
		  &olen) ||
	    olen != XP_PROOF_LEN)
		return -EIO;
	return 0;
}

bool xp_auth_equal(const uint8_t a[XP_PROOF_LEN], const uint8_t b[XP_PROOF_LEN])
{
	return CRYPTO_memcmp(a, b, XP_PROOF_LEN) == 0;
}
