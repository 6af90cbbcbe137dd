/* copy_binary.c - the fields of a row in COPY's binary format, the way the
 * calls go into the ledger (ledger/calls_write.c).
 *
 * PostgreSQL reads a binary field without parsing text: a timestamp is its
 * microseconds, an integer its bytes, a text its bytes (the encoding still
 * checked). For the calls, whose 35 columns are mostly numbers, names and a
 * timestamp, that is about an eighth of what the COPY of a row costs the
 * server (bench/README.md, "The calls in COPY's binary format"). Layout
 * (PostgreSQL's "COPY" reference, "Binary Format"): a header, per row a
 * 16-bit field count and per field a 32-bit length (-1: NULL) and the
 * bytes, all integers in network order; a 16-bit -1 ends the data.
 * An array parameter (array_recv) is a header of 32-bit integers (one
 * dimension, a has-nulls flag, the element type, the count, the lower
 * bound) and its elements encoded as fields are. */
#include "ledger_int.h"

#include <endian.h>
#include <stdlib.h>
#include <string.h>

/* Microseconds from the Unix epoch to PostgreSQL's (2000-01-01 UTC). */
#define PG_EPOCH_US INT64_C(946684800000000)

static void put_be16(struct sbuf *s, uint16_t v)
{
	v = htobe16(v);
	sbuf_append(s, &v, sizeof v);
}

static void put_be32(struct sbuf *s, uint32_t v)
{
	v = htobe32(v);
	sbuf_append(s, &v, sizeof v);
}

static void put_be64(struct sbuf *s, uint64_t v)
{
	v = htobe64(v);
	sbuf_append(s, &v, sizeof v);
}

void copyb_header(struct sbuf *s)
{
	static const char sig[11] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', '\377', '\r', '\n', '\0'};

	sbuf_append(s, sig, sizeof sig);
	put_be32(s, 0); /* flags: no OIDs */
	put_be32(s, 0); /* no header extension */
}

void copyb_trailer(struct sbuf *s)
{
	put_be16(s, 0xffff);
}

void copyb_row(struct sbuf *s, int fields)
{
	put_be16(s, (uint16_t)fields);
}

void copyb_null(struct sbuf *s)
{
	put_be32(s, 0xffffffffu);
}

void copyb_text(struct sbuf *s, const char *v)
{
	if (!v) {
		copyb_null(s);
		return;
	}
	size_t n = strlen(v);
	put_be32(s, (uint32_t)n);
	sbuf_append(s, v, n);
}

void copyb_opt_text(struct sbuf *s, const char *v)
{
	copyb_text(s, *v ? v : NULL);
}

void copyb_jsonb(struct sbuf *s, const char *json)
{
	if (!*json) {
		copyb_null(s);
		return;
	}
	size_t n = strlen(json);
	put_be32(s, (uint32_t)n + 1);
	sbuf_putc(s, 1); /* jsonb's binary format: version 1, then the text */
	sbuf_append(s, json, n);
}

void copyb_i64(struct sbuf *s, int64_t v)
{
	put_be32(s, 8);
	put_be64(s, (uint64_t)v);
}

void copyb_opt_i64(struct sbuf *s, bool present, int64_t v)
{
	if (present)
		copyb_i64(s, v);
	else
		copyb_null(s);
}

void copyb_i32(struct sbuf *s, int32_t v)
{
	put_be32(s, 4);
	put_be32(s, (uint32_t)v);
}

void copyb_bool(struct sbuf *s, bool v)
{
	put_be32(s, 1);
	sbuf_putc(s, v ? 1 : 0);
}

void copyb_ts(struct sbuf *s, int64_t unix_us)
{
	copyb_i64(s, unix_us - PG_EPOCH_US);
}

void copyb_score(struct sbuf *s, double v)
{
	/* The float4 that PostgreSQL makes of the score's text (float4in is
	 * strtof), so that the stored value is the one a text COPY stored. */
	char buf[32];
	float f = strtof(score_text(v, buf), NULL);
	uint32_t bits;

	memcpy(&bits, &f, sizeof bits);
	put_be32(s, 4);
	put_be32(s, bits);
}

/* Where an array's count goes: after ndim, the flag and the type. */
#define ARRAY_COUNT_AT 12

void copyb_array_begin(struct sbuf *s, enum pg_type_oid elem)
{
	sbuf_reset(s);
	put_be32(s, 1); /* one dimension */
	put_be32(s, 1); /* may hold NULLs (array_recv reads each element's length) */
	put_be32(s, (uint32_t)elem);
	put_be32(s, 0); /* the count, set by copyb_array_end */
	put_be32(s, 1); /* lower bound */
}

void copyb_array_end(struct sbuf *s, size_t n)
{
	uint32_t v = htobe32((uint32_t)n);
	if (!s->oom && s->len >= ARRAY_COUNT_AT + sizeof v)
		memcpy(s->p + ARRAY_COUNT_AT, &v, sizeof v);
}

size_t copyb_var_begin(struct sbuf *s)
{
	size_t at = s->len;
	put_be32(s, 0);
	return at;
}

void copyb_var_end(struct sbuf *s, size_t at, bool null)
{
	if (s->oom)
		return;
	if (null) {
		s->len = at;
		copyb_null(s);
		return;
	}
	uint32_t n = htobe32((uint32_t)(s->len - at - 4));
	memcpy(s->p + at, &n, sizeof n);
}
