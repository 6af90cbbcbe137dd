/* jread.c - the JSON reader of event messages; see jread.h.
 *
 * Each parse function mirrors cJSON 1.7.15's function of the same name,
 * offset for offset, so that a syntax error is found at the same place; the
 * comments say where cJSON's behaviour is unusual and kept on purpose.
 */
#include "jread.h"

#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NESTING_LIMIT 1000 /* cJSON's CJSON_NESTING_LIMIT */

struct reader {
	const unsigned char *p;
	size_t len, off;
	unsigned depth;
	bool oom;
	struct jread_doc *d;
};

static void note_nul(struct reader *r, size_t at, bool escape)
{
	if (at < r->d->nul_at) {
		r->d->nul_at = at;
		r->d->nul_escape = escape;
	}
}

/* cJSON's buffer_skip_whitespace: every byte up to 0x20 is whitespace, and
 * reaching the end steps back onto the last byte. */
static void skip_ws(struct reader *r)
{
	if (r->off >= r->len)
		return;
	while (r->off < r->len && r->p[r->off] <= 32) {
		if (r->p[r->off] == 0)
			note_nul(r, r->off, false);
		r->off++;
	}
	if (r->off == r->len)
		r->off--;
}

/* A new value at the end of the array; its index, or 0 when out of memory
 * (0 is the root's, never a new one's). */
static uint32_t new_val(struct reader *r)
{
	struct jread_doc *d = r->d;

	if (d->n_vals == d->cap_vals) {
		size_t cap = d->cap_vals * 2;
		struct jread_val *v;
		if (cap > UINT32_MAX)
			return r->oom = true, 0;
		if (d->vals == d->small_vals) {
			if ((v = malloc(cap * sizeof *v)))
				memcpy(v, d->vals, d->n_vals * sizeof *v);
		} else {
			v = realloc(d->vals, cap * sizeof *v);
		}
		if (!v)
			return r->oom = true, 0;
		d->vals = v;
		d->cap_vals = cap;
	}
	memset(&d->vals[d->n_vals], 0, sizeof *d->vals);
	return (uint32_t)d->n_vals++;
}

/* cJSON's parse_hex4: 0 when a digit is not hex. */
static unsigned hex4(const unsigned char *s)
{
	unsigned h = 0;

	for (int i = 0; i < 4; i++) {
		unsigned c = s[i];
		if (c >= '0' && c <= '9')
			h = h << 4 | (c - '0');
		else if (c >= 'A' && c <= 'F')
			h = h << 4 | (c - 'A' + 10);
		else if (c >= 'a' && c <= 'f')
			h = h << 4 | (c - 'a' + 10);
		else
			return 0;
	}
	return h;
}

/* cJSON's utf16_literal_to_utf8: decodes the \u escape at in (end: the
 * closing quote) to out; returns the escape's length, 0 when invalid. */
static unsigned utf16_escape(const unsigned char *in, const unsigned char *end, char **out)
{
	unsigned long cp;
	unsigned first, len;
	unsigned char *o = (unsigned char *)*out;

	if (end - in < 6)
		return 0;
	first = hex4(in + 2);
	if (first >= 0xDC00 && first <= 0xDFFF)
		return 0;
	if (first >= 0xD800 && first <= 0xDBFF) {
		const unsigned char *second = in + 6;
		unsigned low;
		if (end - second < 6 || second[0] != '\\' || second[1] != 'u')
			return 0;
		low = hex4(second + 2);
		if (low < 0xDC00 || low > 0xDFFF)
			return 0;
		cp = 0x10000 + (((first & 0x3FF) << 10) | (low & 0x3FF));
		len = 12;
	} else {
		cp = first;
		len = 6;
	}
	if (cp < 0x80) {
		*o++ = (unsigned char)cp;
	} else if (cp < 0x800) {
		*o++ = (unsigned char)(0xC0 | cp >> 6);
		*o++ = (unsigned char)(0x80 | (cp & 0x3F));
	} else if (cp < 0x10000) {
		*o++ = (unsigned char)(0xE0 | cp >> 12);
		*o++ = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
		*o++ = (unsigned char)(0x80 | (cp & 0x3F));
	} else {
		*o++ = (unsigned char)(0xF0 | cp >> 18);
		*o++ = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
		*o++ = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
		*o++ = (unsigned char)(0x80 | (cp & 0x3F));
	}
	*out = (char *)o;
	return len;
}

#define ONES  UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)
/* The bytes of w that are zero have their high bit set, the first (lowest)
 * exactly: a false one can only follow a true one. */
#define ZERO_BYTES(w) (((w)-ONES) & ~(w)&HIGHS)

/* The offset of the first '"', '\\' or NUL at or after i, or len: eight
 * bytes at a time where it can. */
static size_t scan_plain(const unsigned char *p, size_t i, size_t len)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	for (; i + 8 <= len; i += 8) {
		uint64_t w, hit;
		memcpy(&w, p + i, 8);
		hit = ZERO_BYTES(w ^ (ONES * '"')) | ZERO_BYTES(w ^ (ONES * '\\')) | ZERO_BYTES(w);
		if (hit)
			return i + (size_t)(__builtin_ctzll(hit) >> 3);
	}
#endif
	while (i < len && p[i] != '"' && p[i] != '\\' && p[i] != 0)
		i++;
	return i;
}

/* cJSON's parse_string: the string at r->off into the doc's text. On
 * failure the offset is where cJSON leaves it: just past the opening quote,
 * or at the escape it could not decode. */
static bool parse_string(struct reader *r, const char **str, uint32_t *str_len)
{
	const unsigned char *p = r->p;
	size_t start = r->off, e = start + 1, nul = SIZE_MAX;
	bool escapes = false;

	if (start >= r->len || p[start] != '"') {
		r->off = start + 1;
		return false;
	}
	/* Where it ends (an escape's second byte is skipped, whatever it is); a
	 * NUL byte or \u0000 here is noted for check_no_nul. */
	for (;;) {
		e = scan_plain(p, e, r->len);
		if (e >= r->len) {
			r->off = start + 1;
			return false;
		}
		if (p[e] == '"')
			break;
		if (p[e] == 0) {
			if (nul == SIZE_MAX)
				nul = e;
			note_nul(r, e++, false);
			continue;
		}
		if (e + 1 >= r->len) {
			r->off = start + 1;
			return false;
		}
		if (p[e + 1] == 'u' && r->len - e >= 6 && memcmp(p + e + 2, "0000", 4) == 0)
			note_nul(r, e, true);
		escapes = true;
		e += 2;
	}

	char *out = r->d->text + r->d->text_used, *o = out;
	if (!escapes) {
		memcpy(o, p + start + 1, e - start - 1);
		o += e - start - 1;
	} else {
		for (size_t i = start + 1; i < e;) {
			if (p[i] != '\\') {
				*o++ = (char)p[i++];
				continue;
			}
			unsigned seq = 2;
			switch (p[i + 1]) {
			case 'b': *o++ = '\b'; break;
			case 'f': *o++ = '\f'; break;
			case 'n': *o++ = '\n'; break;
			case 'r': *o++ = '\r'; break;
			case 't': *o++ = '\t'; break;
			case '"':
			case '\\':
			case '/': *o++ = (char)p[i + 1]; break;
			case 'u':
				if ((seq = utf16_escape(p + i, p + e, &o)) == 0) {
					r->off = i;
					return false;
				}
				break;
			default: r->off = i; return false;
			}
			i += seq;
		}
	}
	*o = '\0';
	*str = out;
	/* A C string ends at its first NUL, whether a byte or a decoded escape. */
	*str_len = (uint32_t)(escapes || nul != SIZE_MAX ? strlen(out) : (size_t)(o - out));
	r->d->text_used += (size_t)(o - out) + 1;
	r->off = e + 1;
	return true;
}

static bool number_char(unsigned char c)
{
	return (c >= '0' && c <= '9') || c == '+' || c == '-' || c == 'e' || c == 'E' || c == '.';
}

static const double pow10_exact[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* cJSON's parse_number: strtod over the run of [0-9+-eE.] at r->off (with
 * '.' as the locale's decimal point); the number is what strtod reads of it.
 * The value is strtod's own, computed exactly without it for the common
 * case: up to 15 significant digits times a power of ten up to 10^22, both
 * exact doubles, so one correctly rounded multiplication or division gives
 * the correctly rounded result strtod gives. */
static bool parse_number(struct reader *r, double *out)
{
	const unsigned char *p = r->p;
	size_t start = r->off, run = start, i = start;
	bool neg = false;

	while (run < r->len && number_char(p[run]))
		run++;
	/* What strtod reads: [+-]? (digits [. digits?] | . digits) ([eE][+-]?digits)? */
	if (i < run && (p[i] == '-' || p[i] == '+'))
		neg = p[i++] == '-';
	uint64_t m = 0;
	int sig = 0, dropped = 0, frac = 0, digits = 0;
	for (; i < run && p[i] >= '0' && p[i] <= '9'; i++, digits++) {
		if (sig < 19) {
			m = m * 10 + (uint64_t)(p[i] - '0');
			sig += m != 0;
		} else {
			dropped++;
		}
	}
	if (i < run && p[i] == '.') {
		size_t dot = i++;
		int fd = 0;
		for (; i < run && p[i] >= '0' && p[i] <= '9'; i++, fd++) {
			if (sig < 19) {
				m = m * 10 + (uint64_t)(p[i] - '0');
				sig += m != 0;
				frac++;
			}
		}
		digits += fd;
		if (digits == 0)
			i = dot; /* "-." is no number */
	}
	if (digits == 0)
		return false; /* strtod read nothing: cJSON leaves the offset */
	long exp = 0;
	bool exp_big = false;
	if (i < run && (p[i] == 'e' || p[i] == 'E')) {
		size_t j = i + 1;
		bool eneg = false;
		if (j < run && (p[j] == '+' || p[j] == '-'))
			eneg = p[j++] == '-';
		if (j < run && p[j] >= '0' && p[j] <= '9') {
			for (; j < run && p[j] >= '0' && p[j] <= '9'; j++) {
				if (exp < 100000)
					exp = exp * 10 + (p[j] - '0');
				else
					exp_big = true;
			}
			if (eneg)
				exp = -exp;
			i = j;
		}
	}
	long e10 = exp + dropped - frac;
	if (m == 0) {
		*out = neg ? -0.0 : 0.0;
	} else if (!exp_big && sig <= 15 && e10 >= -22 && e10 <= 22) {
		double v = (double)m;
		v = e10 < 0 ? v / pow10_exact[-e10] : v * pow10_exact[e10];
		*out = neg ? -v : v;
	} else {
		char small[64], *text = small;
		size_t n = i - start;
		char point = localeconv()->decimal_point[0];
		if (n >= sizeof small && !(text = malloc(n + 1))) {
			r->oom = true;
			return false;
		}
		for (size_t k = 0; k < n; k++)
			text[k] = p[start + k] == '.' ? point : (char)p[start + k];
		text[n] = '\0';
		*out = strtod(text, NULL);
		if (text != small)
			free(text);
	}
	r->off = i;
	return true;
}

static bool parse_value(struct reader *r, uint32_t idx);

/* cJSON's parse_array and parse_object: the offsets stepped back and forth
 * as cJSON steps them. */
static bool parse_container(struct reader *r, uint32_t idx, bool object)
{
	const unsigned char close = object ? '}' : ']';
	uint32_t prev = 0, n = 0;

	if (r->depth >= NESTING_LIMIT)
		return false;
	r->depth++;
	r->off++;
	skip_ws(r);
	if (r->off < r->len && r->p[r->off] == close)
		goto success;
	if (r->off >= r->len) {
		r->off--;
		return false;
	}
	r->off--;
	do {
		uint32_t c = new_val(r);
		if (!c)
			return false;
		if (prev)
			r->d->vals[prev].next = c - prev;
		prev = c;
		n++;
		r->off++;
		skip_ws(r);
		if (object) {
			const char *key;
			uint32_t key_len;
			if (!parse_string(r, &key, &key_len))
				return false;
			r->d->vals[c].key = key;
			r->d->vals[c].key_len = key_len;
			struct jread_val *m = &r->d->vals[c];
			uint64_t *mask = &r->d->vals[idx].keymask;
			m->key2 = jread_key2(key);
			uint64_t bit = jread_keybit(m->key2, key_len);
			if (*mask & bit)
				m->key_seen = r->d->key_seen = true;
			*mask |= bit;
			skip_ws(r);
			if (r->off >= r->len || r->p[r->off] != ':')
				return false;
			r->off++;
			skip_ws(r);
		}
		if (!parse_value(r, c))
			return false;
		skip_ws(r);
	} while (r->off < r->len && r->p[r->off] == ',');
	if (r->off >= r->len || r->p[r->off] != close)
		return false;
success:
	r->depth--;
	r->d->vals[idx].type = object ? JREAD_OBJECT : JREAD_ARRAY;
	r->d->vals[idx].n = n;
	r->off++;
	return true;
}

/* cJSON's parse_value. */
static bool parse_value(struct reader *r, uint32_t idx)
{
	const unsigned char *s = r->p + r->off;
	size_t left = r->off < r->len ? r->len - r->off : 0;

	if (left == 0)
		return false;
	/* cJSON tries null, false and true first: their first bytes tell. */
	if (s[0] == 'n' && left >= 4 && memcmp(s, "null", 4) == 0) {
		r->d->vals[idx].type = JREAD_NULL;
		r->off += 4;
		return true;
	}
	if (s[0] == 'f' && left >= 5 && memcmp(s, "false", 5) == 0) {
		r->d->vals[idx].type = JREAD_FALSE;
		r->off += 5;
		return true;
	}
	if (s[0] == 't' && left >= 4 && memcmp(s, "true", 4) == 0) {
		r->d->vals[idx].type = JREAD_TRUE;
		r->off += 4;
		return true;
	}
	if (s[0] == '"') {
		const char *str;
		uint32_t len;
		if (!parse_string(r, &str, &len))
			return false;
		r->d->vals[idx].type = JREAD_STRING;
		r->d->vals[idx].str = str;
		r->d->vals[idx].str_len = len;
		return true;
	}
	if (s[0] == '-' || (s[0] >= '0' && s[0] <= '9')) {
		double v;
		if (!parse_number(r, &v))
			return false;
		r->d->vals[idx].type = JREAD_NUMBER;
		r->d->vals[idx].num = v;
		return true;
	}
	if (s[0] == '[' || s[0] == '{')
		return parse_container(r, idx, s[0] == '{');
	return false;
}

int jread_parse(struct jread_doc *d, const char *buf, size_t len)
{
	struct reader r = {(const unsigned char *)buf, len, 0, 0, false, d};

	d->vals = d->small_vals;
	d->cap_vals = JREAD_SMALL_VALS;
	d->n_vals = 1;
	memset(&d->vals[0], 0, sizeof d->vals[0]);
	/* Decoded, a string and its NUL take no more than its quoted text. */
	d->text = len + 1 <= sizeof d->small_text ? d->small_text : malloc(len + 1);
	d->text_used = 0;
	d->end = d->error_at = 0;
	d->nul_at = SIZE_MAX;
	d->nul_escape = false;
	d->key_seen = false;
	if (!d->text)
		return -2;
	if (!buf || len == 0)
		return -1;
	/* cJSON's skip_utf8_bom: only with at least five bytes */
	if (len > 4 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
		r.off = 3;
	skip_ws(&r);
	if (!parse_value(&r, 0)) {
		if (r.oom)
			return -2;
		d->error_at = r.off < len ? r.off : len - 1;
		return -1;
	}
	d->end = r.off;
	return 0;
}

const struct jread_val *jread_member(const struct jread_val *obj, const char *key)
{
	uint16_t k2 = jread_key2(key);
	size_t len = strlen(key);
	const struct jread_val *start, *c;

	if (!obj || obj->type != JREAD_OBJECT || !(obj->keymask & jread_keybit(k2, len)))
		return NULL;
	start = obj + (obj->hint ? obj->hint : 1);
	for (c = start; c; c = jread_next(c))
		if (c->key2 == k2 && c->key_len == len && memcmp(c->key, key, len) == 0)
			goto found;
	for (c = obj + 1; c != start; c = jread_next(c))
		if (c->key2 == k2 && c->key_len == len && memcmp(c->key, key, len) == 0)
			goto found;
	return NULL;
found:
	((struct jread_val *)obj)->hint = c->next ? (uint32_t)(c + c->next - obj) : 0;
	return c;
}

void jread_cleanup(struct jread_doc *d)
{
	if (!d)
		return;
	if (d->vals != d->small_vals)
		free(d->vals);
	if (d->text != d->small_text)
		free(d->text);
	d->vals = NULL;
	d->text = NULL;
	d->n_vals = d->cap_vals = 0;
}

/* ---- printing, as cJSON_PrintUnformatted ------------------------------- */

struct out {
	char *p;
	size_t n, len;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->len < o->n) {
		size_t room = o->n - o->len;
		memcpy(o->p + o->len, s, n < room ? n : room);
	}
	o->len += n;
}

/* cJSON's print_string_ptr */
static void put_string(struct out *o, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t run = 0;

	put(o, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[6] = {'\\', 0, 0, 0, 0, 0};
		size_t k = 2;
		if (c > 31 && c != '"' && c != '\\')
			continue;
		put(o, s + run, i - run);
		run = i + 1;
		switch (c) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		default:
			memcpy(esc + 1, "u00", 3);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			k = 6;
		}
		put(o, esc, k);
	}
	put(o, s + run, n - run);
	put(o, "\"", 1);
}

/* cJSON 1.7.15's print_number: 15 significant digits, 17 when 15 do not
 * read back (within DBL_EPSILON); infinity as null. */
static void put_number(struct out *o, double d)
{
	char buf[32];
	char point = localeconv()->decimal_point[0];
	double test = 0.0;
	int len;

	if (isnan(d) || isinf(d)) {
		put(o, "null", 4);
		return;
	}
	len = snprintf(buf, sizeof buf, "%1.15g", d);
	if (sscanf(buf, "%lg", &test) != 1 ||
	    !(fabs(test - d) <= fmax(fabs(test), fabs(d)) * DBL_EPSILON))
		len = snprintf(buf, sizeof buf, "%1.17g", d);
	if (len < 0 || len >= (int)sizeof buf)
		return;
	for (int i = 0; i < len; i++)
		if (buf[i] == point)
			buf[i] = '.';
	put(o, buf, (size_t)len);
}

size_t jread_print_scalars(const struct jread_val *obj, char *out, size_t n)
{
	struct out o = {out, n ? n - 1 : 0, 0};

	put(&o, "{", 1);
	for (const struct jread_val *m = jread_first(obj); m; m = jread_next(m)) {
		put_string(&o, m->key ? m->key : "", m->key_len);
		put(&o, ":", 1);
		switch (m->type) {
		case JREAD_STRING: put_string(&o, m->str, m->str_len); break;
		case JREAD_NUMBER: put_number(&o, m->num); break;
		case JREAD_TRUE: put(&o, "true", 4); break;
		case JREAD_FALSE: put(&o, "false", 5); break;
		default: put(&o, "null", 4); break;
		}
		if (m->next)
			put(&o, ",", 1);
	}
	put(&o, "}", 1);
	if (n)
		out[o.len < n ? o.len : n - 1] = '\0';
	return o.len;
}
