/* tags.c - a call's tags (the compact JSON object event_parse stores) as
 * the key/value pairs PostgreSQL's jsonb_each_text gives for the stored
 * jsonb, so that a rollup aggregated in C groups exactly as one rebuilt from
 * the calls in SQL does: strings unescaped, numbers as numeric prints them
 * (1e+20 as 100000000000000000000, 1.5e-07 as 0.00000015), true and false;
 * a null value is not a tag, and of a key given twice the last counts. */
#include "event.h"

#include <string.h>

#define TAGS_PAIRS_MAX (EVENT_TAGS_MAX / 4 + 1) /* "a":1, is 6 bytes */
#define TAGS_VAL_MAX   (EVENT_TAGS_MAX + 400)   /* an exponent expands by ~330 */

struct pair {
	size_t key, key_len;       /* decoded, in keys[] */
	const char *val, *val_end; /* the value's JSON token */
};

static const char *skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

static int hex4(const char *p, unsigned *out)
{
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		char c = p[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

static size_t put_utf8(char *dst, unsigned cp)
{
	if (cp < 0x80) {
		dst[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		dst[0] = (char)(0xc0 | (cp >> 6));
		dst[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		dst[0] = (char)(0xe0 | (cp >> 12));
		dst[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		dst[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	dst[0] = (char)(0xf0 | (cp >> 18));
	dst[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	dst[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	dst[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Decodes the JSON string at *pp (at its opening quote) into dst (room for
 * cap bytes; a decoded string is never longer than its token); *pp moves
 * past the closing quote. Returns the length, or -1. */
static long decode_string(const char **pp, char *dst, size_t cap)
{
	const char *p = *pp + 1;
	size_t n = 0;

	for (;;) {
		if (n + 4 > cap)
			return -1;
		char c = *p++;
		if (c == '"')
			break;
		if (c == '\0')
			return -1;
		if (c != '\\') {
			dst[n++] = c;
			continue;
		}
		c = *p++;
		switch (c) {
		case '"':
		case '\\':
		case '/': dst[n++] = c; break;
		case 'b': dst[n++] = '\b'; break;
		case 'f': dst[n++] = '\f'; break;
		case 'n': dst[n++] = '\n'; break;
		case 'r': dst[n++] = '\r'; break;
		case 't': dst[n++] = '\t'; break;
		case 'u': {
			unsigned cp, lo;
			if (hex4(p, &cp) < 0)
				return -1;
			p += 4;
			if (cp >= 0xd800 && cp < 0xdc00 && p[0] == '\\' && p[1] == 'u' &&
			    hex4(p + 2, &lo) == 0 && lo >= 0xdc00 && lo < 0xe000) {
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				p += 6;
			}
			n += put_utf8(dst + n, cp);
			break;
		}
		default: return -1;
		}
	}
	*pp = p;
	return (long)n;
}

/* The end of the number token at p, or NULL. */
static const char *number_end(const char *p)
{
	if (*p == '-')
		p++;
	if (*p < '0' || *p > '9')
		return NULL;
	while (*p >= '0' && *p <= '9')
		p++;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return NULL;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (*p < '0' || *p > '9')
			return NULL;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	return p;
}

/* The number token [p, end) as PostgreSQL's numeric prints it: the digits
 * without exponent, as many decimals as the token has after its point less
 * the exponent (never fewer than 0), no leading zeros, no sign on zero.
 * Returns the length, or -1 when it does not fit. */
static long normalise_number(const char *p, const char *end, char *dst, size_t cap)
{
	char digits[EVENT_TAGS_MAX + 2];
	size_t nd = 0, frac = 0;
	long exp = 0;
	bool neg = false, in_frac = false;

	if (*p == '-') {
		neg = true;
		p++;
	}
	for (; p < end && *p != 'e' && *p != 'E'; p++) {
		if (*p == '.') {
			in_frac = true;
			continue;
		}
		digits[nd++] = *p;
		frac += in_frac;
	}
	if (p < end) {
		bool eneg = false;
		p++;
		if (*p == '+' || *p == '-')
			eneg = *p++ == '-';
		for (; p < end; p++) {
			exp = exp * 10 + (*p - '0');
			if (exp > 100000)
				return -1;
		}
		if (eneg)
			exp = -exp;
	}
	/* value = digits * 10^(exp - frac); point `point` digits from the left */
	long scale = (long)frac - exp;
	long point = (long)nd - scale; /* digits before the point */
	long dscale = scale > 0 ? scale : 0;
	size_t n = 0;
	bool zero = true;

	for (size_t i = 0; i < nd; i++)
		zero &= digits[i] == '0';
	if (neg && !zero)
		dst[n++] = '-';
	/* integer part */
	bool any = false;
	for (long i = 0; i < point; i++) {
		char d = i < (long)nd ? digits[i] : '0';
		if (!any && d == '0' && i + 1 < point)
			continue;
		if (n + 2 > cap)
			return -1;
		dst[n++] = d;
		any = true;
	}
	if (point <= 0)
		dst[n++] = '0';
	if (dscale > 0) {
		if (n + (size_t)dscale + 2 > cap)
			return -1;
		dst[n++] = '.';
		for (long i = point; i < point + dscale; i++)
			dst[n++] = i >= 0 && i < (long)nd ? digits[i] : '0';
	}
	return (long)n;
}

int event_tags_each(const char *tags, event_tag_fn *fn, void *arg)
{
	static const size_t keys_cap = EVENT_TAGS_MAX + TAGS_PAIRS_MAX;
	char keys[EVENT_TAGS_MAX + TAGS_PAIRS_MAX], val[TAGS_VAL_MAX];
	struct pair pairs[TAGS_PAIRS_MAX];
	size_t n = 0, used = 0;
	const char *p = skip_ws(tags);
	int count = 0;

	if (*p == '\0')
		return 0;
	if (*p != '{')
		return -1;
	p = skip_ws(p + 1);
	while (*p != '}') {
		if (n == TAGS_PAIRS_MAX || *p != '"')
			return -1;
		long kl = decode_string(&p, keys + used, keys_cap - used);
		if (kl < 0)
			return -1;
		pairs[n].key = used;
		pairs[n].key_len = (size_t)kl;
		used += (size_t)kl;
		p = skip_ws(p);
		if (*p != ':')
			return -1;
		p = skip_ws(p + 1);
		pairs[n].val = p;
		if (*p == '"') {
			const char *q = p + 1;
			while (*q && *q != '"')
				q += *q == '\\' && q[1] ? 2 : 1;
			if (*q != '"')
				return -1;
			p = q + 1;
		} else if (strncmp(p, "true", 4) == 0 || strncmp(p, "null", 4) == 0) {
			p += 4;
		} else if (strncmp(p, "false", 5) == 0) {
			p += 5;
		} else if (!(p = number_end(p))) {
			return -1;
		}
		pairs[n++].val_end = p;
		p = skip_ws(p);
		if (*p == ',')
			p = skip_ws(p + 1);
		else if (*p != '}')
			return -1;
	}
	for (size_t i = 0; i < n; i++) {
		const char *k = keys + pairs[i].key, *v = pairs[i].val;
		bool later = false;
		for (size_t j = i + 1; j < n && !later; j++)
			later = pairs[j].key_len == pairs[i].key_len &&
			        memcmp(keys + pairs[j].key, k, pairs[i].key_len) == 0;
		if (later || *v == 'n')
			continue;
		long vl;
		if (*v == '"') {
			const char *q = v;
			vl = decode_string(&q, val, sizeof val);
		} else if (*v == 't' || *v == 'f') {
			vl = pairs[i].val_end - v;
			memcpy(val, v, (size_t)vl);
		} else {
			vl = normalise_number(v, pairs[i].val_end, val, sizeof val);
		}
		if (vl < 0)
			return -1;
		char key[EVENT_TAGS_MAX + 1];
		memcpy(key, k, pairs[i].key_len);
		key[pairs[i].key_len] = '\0';
		val[vl] = '\0';
		if (fn(key, val, arg) < 0)
			return -1;
		count++;
	}
	return count;
}
