/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The edge checks the codec's files share: one JSON document parsed
 * whole, typed field getters (int64 as decimal strings, booleans, base64
 * byte strings), the header's revision, one key-value decoded into a
 * struct xp_kv_item, base64 both ways. Each getter returns 0 or -EPROTO
 * (-ENOMEM where it allocates); an absent field is its zero unless the
 * caller requires it.
 */
#ifndef SPANBLK_XPORT_ETCD_JSONVAL_H
#define SPANBLK_XPORT_ETCD_JSONVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "xport/kv.h"

/* One JSON object spanning @body (whitespace may follow). The caller
 * puts *@out. */
int xpe_json_parse(const char *body, size_t len, json_object **out);

/* The object @name of @o: NULL when absent and not @required. */
int xpe_get_obj(json_object *o, const char *name, bool required,
		json_object **out);
/* The array @name of @o, NULL when absent. */
int xpe_get_arr(json_object *o, const char *name, json_object **out);
/* A non-negative int64 written as a decimal string. */
int xpe_get_i64(json_object *o, const char *name, bool required, int64_t *out);
int xpe_get_bool(json_object *o, const char *name, bool *out);
/* A plain string, NULL and 0 when absent (points into @o). */
int xpe_get_str(json_object *o, const char *name, const char **s, size_t *len);
/* Base64 bytes, at most @max once decoded: malloc'd, NUL-terminated
 * (not counted in *@n), never NULL on success. */
int xpe_get_bytes(json_object *o, const char *name, size_t max, uint8_t **out,
		  size_t *n);

/* "header"."revision" of a reply: -EPROTO when absent or not >= 1 and
 * @required; 0 when absent otherwise. */
int xpe_header_rev(json_object *o, bool required, int64_t *rev);

/* One etcd KeyValue: a key of 1..XPE_KEY_MAX bytes without NUL, a value
 * of at most XPE_VAL_MAX. @it is cleared first and owns what it holds. */
int xpe_item_decode(json_object *kv, struct xp_kv_item *it);
void xpe_item_clear(struct xp_kv_item *it); /* frees key and val */

/* Append @it (moved, then zeroed) to @l whose array has room for *@cap. */
int xpe_list_push(struct xp_kv_list *l, size_t *cap, struct xp_kv_item *it);

/* gRPC status codes are 1..XPE_GRPC_MAX (0 is OK). */
#define XPE_GRPC_MAX 16

/* The errno of gRPC status @code (codec.h, xpe_parse_error). */
int xpe_grpc_errno(int64_t code);
/* A stream's error object {"grpc_code": N, "message", ...}: its code. */
int xpe_stream_error(json_object *e, int64_t *code);

/* A decimal non-negative int64 of exactly @n characters. */
int xpe_i64_parse(const char *s, size_t n, int64_t *out);

/* Base64 of @n bytes: malloc'd, NUL-terminated. -ENOMEM, -EINVAL. */
int xpe_b64_encode(const void *p, size_t n, char **out);
/* Strict base64 (the alphabet, length a multiple of 4, at most two '='
 * at the end) of at most @max bytes once decoded. Output as for
 * xpe_get_bytes. -EPROTO, -ENOMEM. */
int xpe_b64_decode(const char *s, size_t slen, size_t max, uint8_t **out,
		   size_t *n);

#endif
