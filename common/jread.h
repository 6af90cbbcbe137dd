/* jread.h - the JSON reader of event messages (common/event.c).
 *
 * One pass over the bytes into a flat array of values in the caller's
 * struct jread_doc: no allocation for a message of ordinary size (its
 * values and strings fit the doc's own arrays), one or two for a large one.
 * Strings are decoded into the doc, NUL-terminated; a value's first child
 * follows it in the array and its next sibling lies `next` values further.
 *
 * It reads JSON exactly as cJSON 1.7.15 (Debian's, with its security
 * fixes) does, which event_parse used before and whose behaviour the
 * quarantine reasons depend on: the same texts accepted and refused (any
 * byte up to 0x20 is whitespace, a leading UTF-8 BOM is skipped, numbers are
 * what strtod reads of a run of [0-9+-eE.], at most 1000 levels of nesting),
 * the same offset where a syntax error is reported, the same doubles, and
 * the same strings: a \u escape with a non-hex digit decodes as U+0000, and
 * a string or key reads up to its first NUL as a C string does.
 * tests/unit/test_event.c compares the two over generated traffic and every
 * test case; tests/fuzz/fuzz_event.c does on any input.
 */
#ifndef TALLY_JREAD_H
#define TALLY_JREAD_H

#include "common.h" /* TALLY_MUST_USE */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum jread_type {
	JREAD_NULL = 0,
	JREAD_FALSE,
	JREAD_TRUE,
	JREAD_NUMBER,
	JREAD_STRING,
	JREAD_ARRAY,
	JREAD_OBJECT,
};

struct jread_val {
	uint8_t type;     /* enum jread_type */
	bool key_seen;    /* an earlier member of its object has a key of the same
	                     jread_keybit: maybe the same key */
	uint16_t key2;    /* jread_key2(key) */
	uint32_t n;       /* members of an object, elements of an array */
	uint32_t next;    /* distance to the next sibling; 0 for the last */
	uint32_t key_len; /* strlen(key) */
	uint32_t str_len; /* strlen(str) */
	uint32_t hint;    /* JREAD_OBJECT: where jread_member looks first */
	const char *key;  /* a member's name, decoded; NULL outside objects */
	const char *str;  /* JREAD_STRING: decoded, NUL-terminated */
	union {
		double num;       /* JREAD_NUMBER */
		uint64_t keymask; /* JREAD_OBJECT: jread_keybit() of each member's key */
	};
};

#define JREAD_SMALL_VALS 160  /* values held in the doc itself */
#define JREAD_SMALL_TEXT 2048 /* bytes of message whose strings the doc holds */

/* A parsed message. Its storage belongs to the caller (usually the stack):
 * jread_parse fills it, jread_cleanup frees what a large message needed. */
struct jread_doc {
	struct jread_val *vals; /* vals[0] is the root */
	size_t n_vals, cap_vals;
	char *text; /* the decoded strings */
	size_t text_used;
	size_t end;      /* after a parse: the offset just past the root value */
	size_t error_at; /* after a syntax error: the offset cJSON reports */
	size_t nul_at;   /* the offset of the first NUL byte or \u0000 escape
	                    before end, SIZE_MAX when there is none */
	bool nul_escape; /* nul_at is a \u0000 escape, not a NUL byte */
	bool key_seen;   /* some member has key_seen: an object may name a key twice */
	struct jread_val small_vals[JREAD_SMALL_VALS];
	char small_text[JREAD_SMALL_TEXT];
};

/* Parses the JSON value at the start of the len bytes at buf (what follows
 * it is not looked at: see d->end). Returns 0; -1 on a syntax error
 * (d->error_at set; an empty buffer is one, at offset 0); -2 when out of
 * memory. Either way call jread_cleanup. Never keeps a pointer into buf. */
TALLY_MUST_USE int jread_parse(struct jread_doc *d, const char *buf, size_t len);
void jread_cleanup(struct jread_doc *d); /* NULL is fine */

/* Writes the object obj, whose members must be strings, numbers or
 * booleans, as compact JSON exactly as cJSON_PrintUnformatted prints it,
 * into out (n bytes, NUL-terminated, cut short when too small). Returns the
 * length of the whole text, which may exceed n - 1. */
size_t jread_print_scalars(const struct jread_val *obj, char *out, size_t n);

/* The first two bytes of a NUL-terminated key (one when it has one), and a
 * bit for them and the key's length: a lookup compares these before the
 * whole key and skips an object whose keymask lacks the bit. */
static inline uint16_t jread_key2(const char *key)
{
	const unsigned char *k = (const unsigned char *)key;

	return (uint16_t)(k[0] | (k[0] ? k[1] << 8 : 0));
}

static inline uint64_t jread_keybit(uint16_t key2, size_t len)
{
	return UINT64_C(1) << (((uint64_t)key2 << 32 | (uint32_t)len) *
	                           UINT64_C(0x9E3779B97F4A7C15) >>
	                       58);
}

/* The member of obj named key (NUL-terminated), or NULL; obj may be NULL or
 * not an object. When obj names key twice, either may be returned: refuse
 * such objects first (the key_seen flags say which may). The search starts
 * after the member found last in obj (obj->hint, updated: the doc is the
 * caller's, never const storage), so that members looked up in the order
 * they were written cost a comparison or two each. */
const struct jread_val *jread_member(const struct jread_val *obj, const char *key);

static inline const struct jread_val *jread_first(const struct jread_val *v)
{
	return v && v->n ? v + 1 : NULL;
}

static inline const struct jread_val *jread_next(const struct jread_val *v)
{
	return v->next ? v + v->next : NULL;
}

#endif
