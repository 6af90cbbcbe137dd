/* sbuf.c - growable byte buffer and the escapes tally writes with it. */
#include "common.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sbuf_init(struct sbuf *b)
{
	b->p = NULL;
	b->len = b->cap = 0;
	b->oom = false;
}

void sbuf_cleanup(struct sbuf *b)
{
	if (!b)
		return;
	free(b->p);
	sbuf_init(b);
}

void sbuf_reset(struct sbuf *b)
{
	b->len = 0;
	b->oom = false;
	if (b->p)
		b->p[0] = '\0';
}

static bool sbuf_grow(struct sbuf *b, size_t extra)
{
	if (b->oom)
		return false;
	if (b->len + extra + 1 <= b->cap)
		return true;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->len + extra + 1)
		cap *= 2;
	char *p = realloc(b->p, cap);
	if (!p) {
		b->oom = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

void sbuf_append_grow(struct sbuf *b, const void *data, size_t n)
{
	if (!sbuf_grow(b, n))
		return;
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void sbuf_putc_grow(struct sbuf *b, char c)
{
	if (!sbuf_grow(b, 1))
		return;
	b->p[b->len++] = c;
	b->p[b->len] = '\0';
}

void sbuf_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	char small[256];

	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof small) {
		sbuf_append(b, small, (size_t)n);
		return;
	}
	if (!sbuf_grow(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void sbuf_i64(struct sbuf *b, int64_t v)
{
	static const char pairs[] = "00010203040506070809101112131415161718192021222324"
	                            "25262728293031323334353637383940414243444546474849"
	                            "50515253545556575859606162636465666768697071727374"
	                            "75767778798081828384858687888990919293949596979899";
	uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	size_t n = (size_t)(v < 0) + 1;
	char *q;

	for (uint64_t t = mag; t >= 10; t /= 10)
		n++;
	if (!sbuf_grow(b, n))
		return;
	/* Written in place from the last digit, two a step: a COPY line holds
	 * some twenty integers. */
	q = b->p + b->len + n;
	*q = '\0';
	while (mag >= 100) {
		unsigned d = (unsigned)(mag % 100) * 2;
		mag /= 100;
		*--q = pairs[d + 1];
		*--q = pairs[d];
	}
	if (mag >= 10) {
		*--q = pairs[mag * 2 + 1];
		*--q = pairs[mag * 2];
	} else {
		*--q = (char)('0' + mag);
	}
	if (v < 0)
		*--q = '-';
	b->len += n;
}

const char *i128_text(__int128 v, char buf[48])
{
	char *q = buf + 47;
	unsigned __int128 u = v < 0 ? -(unsigned __int128)v : (unsigned __int128)v;

	*q = '\0';
	do {
		*--q = (char)('0' + (int)(u % 10));
		u /= 10;
	} while (u);
	if (v < 0)
		*--q = '-';
	return q;
}

void sbuf_i128(struct sbuf *b, __int128 v)
{
	char buf[48];
	sbuf_puts(b, i128_text(v, buf));
}

const char *score_text(double v, char buf[32])
{
	int64_t micro = (int64_t)(v * 1000000.0 + 0.5);
	char *p = buf + 31;

	if (micro < 0)
		micro = 0;
	*p = '\0';
	for (int i = 0; i < 6; i++, micro /= 10)
		*--p = (char)('0' + micro % 10);
	*--p = '.';
	do {
		*--p = (char)('0' + micro % 10);
		micro /= 10;
	} while (micro > 0);
	return p;
}

void sbuf_score(struct sbuf *b, double v)
{
	char buf[32];
	sbuf_puts(b, score_text(v, buf));
}

void sbuf_copy_text(struct sbuf *b, const char *s)
{
	if (!s) {
		sbuf_append(b, "\\N", 2);
		return;
	}
	/* Copy runs of plain bytes at once; escape the four that COPY needs. */
	for (;;) {
		size_t n = strcspn(s, "\\\t\n\r");
		sbuf_append(b, s, n);
		s += n;
		if (*s == '\0')
			break;
		char esc[2] = {'\\', *s == '\\' ? '\\' : *s == '\t' ? 't' : *s == '\n' ? 'n' : 'r'};
		sbuf_append(b, esc, 2);
		s++;
	}
}

void hex_encode(const void *data, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *d = data;

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[2 * n] = '\0';
}

void sbuf_copy_bytea(struct sbuf *b, const void *data, size_t n)
{
	if (!sbuf_grow(b, 3 + 2 * n))
		return;
	sbuf_append(b, "\\\\x", 3);
	hex_encode(data, n, b->p + b->len);
	b->len += 2 * n;
}

void sbuf_json_str(struct sbuf *b, const char *s)
{
	sbuf_putc(b, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"': sbuf_puts(b, "\\\""); break;
		case '\\': sbuf_puts(b, "\\\\"); break;
		case '\n': sbuf_puts(b, "\\n"); break;
		case '\r': sbuf_puts(b, "\\r"); break;
		case '\t': sbuf_puts(b, "\\t"); break;
		default:
			if (*p < 0x20)
				sbuf_printf(b, "\\u%04x", *p);
			else
				sbuf_putc(b, (char)*p);
		}
	}
	sbuf_putc(b, '"');
}

int str_copy(char *dst, size_t n, const char *src)
{
	size_t len = strlen(src);

	if (n == 0)
		return -1;
	if (len >= n) {
		memcpy(dst, src, n - 1);
		dst[n - 1] = '\0';
		return -1;
	}
	memcpy(dst, src, len + 1);
	return 0;
}

int parse_i64(const char *s, int64_t *out)
{
	char *end;
	long long v;

	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

/* Length of the well-formed UTF-8 sequence at s (n bytes left), 0 if none. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t len;
	unsigned min, cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2, min = 0x80, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, min = 0x800, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, min = 0x10000, cp = c & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

ptrdiff_t text_control_at(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return (ptrdiff_t)i;
	return -1;
}

bool utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;

	for (size_t i = 0; i < n;) {
		/* ASCII fast path: eight bytes at a time. */
		while (i + 8 <= n) {
			uint64_t w;
			memcpy(&w, p + i, 8);
			if (w & UINT64_C(0x8080808080808080))
				break;
			i += 8;
		}
		if (i >= n)
			break;
		size_t len = utf8_seq(p + i, n - i);
		if (len == 0)
			return false;
		i += len;
	}
	return true;
}

void utf8_sanitize(char *s)
{
	unsigned char *p = (unsigned char *)s;
	size_t n = strlen(s);

	for (size_t i = 0; i < n;) {
		size_t len = utf8_seq(p + i, n - i);
		if (len == 0) {
			p[i++] = '?';
			continue;
		}
		i += len;
	}
}

uint64_t hash_str(uint64_t h, const char *s)
{
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * UINT64_C(1099511628211);
	return (h ^ 0xff) * UINT64_C(1099511628211);
}
