/* money.c - exact decimal money as integers of a small unit. */
#include "common.h"

#include <stdio.h>
#include <string.h>

int money_parse(const char *s, int scale, int64_t *out, bool *rounded)
{
	char mant[64];
	int nm = 0, frac = 0, exp = 0;
	bool neg = false, any = false, in_frac = false;
	const char *p = s;

	if (rounded)
		*rounded = false;
	if (!s || scale < 0 || scale > 18)
		return -1;
	if (*p == '-' || *p == '+')
		neg = *p++ == '-';
	for (; *p; p++) {
		if (*p >= '0' && *p <= '9') {
			any = true;
			if (in_frac)
				frac++;
			if (nm == 0 && *p == '0')
				continue; /* leading zeros carry no value */
			if (nm >= (int)sizeof mant - 1)
				return -1;
			mant[nm++] = *p;
		} else if (*p == '.' && !in_frac) {
			in_frac = true;
		} else {
			break;
		}
	}
	if (!any)
		return -1;
	if (*p == 'e' || *p == 'E') {
		int e = 0;
		bool eneg = false;
		p++;
		if (*p == '-' || *p == '+')
			eneg = *p++ == '-';
		if (*p < '0' || *p > '9')
			return -1;
		for (; *p >= '0' && *p <= '9'; p++) {
			e = e * 10 + (*p - '0');
			if (e > 1000)
				return -1;
		}
		exp = eneg ? -e : e;
	}
	if (*p != '\0')
		return -1;
	/* value in units = mant * 10^shift */
	int shift = exp - frac + scale;
	int keep = shift < 0 ? nm + shift : nm;
	uint64_t v = 0;
	for (int i = 0; i < keep; i++) {
		if (v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(mant[i] - '0');
	}
	if (keep < 0)
		keep = 0;
	if (shift > 0) {
		for (int i = 0; i < shift; i++) {
			if (v > UINT64_MAX / 10)
				return -1;
			v *= 10;
		}
	} else if (keep < nm) {
		/* Dropped digits: round half away from zero. */
		bool dropped = false;
		for (int i = keep; i < nm; i++)
			dropped |= mant[i] != '0';
		if (rounded && dropped)
			*rounded = true;
		if (shift + nm >= 0 && mant[keep] >= '5')
			v++;
	}
	if (v > (uint64_t)INT64_MAX)
		return -1;
	*out = neg ? -(int64_t)v : (int64_t)v;
	return 0;
}

void money_format(int64_t units, int scale, char *out, size_t n)
{
	char digits[32];
	uint64_t mag = units < 0 ? (uint64_t)0 - (uint64_t)units : (uint64_t)units;

	snprintf(digits, sizeof digits, "%s%llu", units < 0 ? "-" : "", (unsigned long long)mag);
	if (money_format_digits(digits, scale, out, n) < 0 && n)
		out[0] = '\0';
}

int money_format_digits(const char *digits, int scale, char *out, size_t n)
{
	bool neg = false;
	size_t len, o = 0;

	if (*digits == '-')
		neg = true, digits++;
	while (*digits == '0' && digits[1] >= '0' && digits[1] <= '9')
		digits++;
	len = strlen(digits);
	if (len == 0)
		return -1;
	for (size_t i = 0; i < len; i++)
		if (digits[i] < '0' || digits[i] > '9')
			return -1;
	size_t intlen = len > (size_t)scale ? len - (size_t)scale : 0;
	size_t need = 1 + (intlen ? intlen : 1) + 1 + (size_t)scale + 1;
	if (need > n)
		return -1;
	bool zero = strspn(digits, "0") == len;
	if (neg && !zero)
		out[o++] = '-';
	if (intlen) {
		memcpy(out + o, digits, intlen);
		o += intlen;
	} else {
		out[o++] = '0';
	}
	if (scale > 0) {
		out[o++] = '.';
		for (size_t i = 0; i < (size_t)scale; i++) {
			/* position of this fraction digit in `digits` */
			size_t from_end = (size_t)scale - i;
			out[o++] = from_end <= len ? digits[len - from_end] : '0';
		}
	}
	out[o] = '\0';
	return 0;
}
