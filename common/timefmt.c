/* timefmt.c - RFC 3339 timestamps as microseconds since the epoch. */
#include "common.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	const int64_t era = (y >= 0 ? y : y - 399) / 400;
	const unsigned yoe = (unsigned)(y - era * 400);
	const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d)
{
	z += 719468;
	const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	const unsigned doe = (unsigned)(z - era * 146097);
	const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	const unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int)((int64_t)yoe + era * 400 + (*m <= 2));
}

static int digits(const char **p, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if ((*p)[i] < '0' || (*p)[i] > '9')
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

static bool leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int time_parse(const char *s, bool allow_date, int64_t *us_out)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	const char *p = s;
	int y, mo, d, h = 0, mi = 0, sec = 0, off = 0;
	int64_t frac_us = 0;

	if (!s || digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' ||
	    digits(&p, 2, &d))
		return -1;
	/* Year 0 has no date in PostgreSQL (1 BC is followed by AD 1): unreadable. */
	if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && leap(y)))
		return -1;
	if (*p == '\0') {
		if (!allow_date)
			return -1;
		*us_out = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 * INT64_C(1000000);
		return 0;
	}
	if ((*p != 'T' && *p != 't' && *p != ' ') || !++p)
		return -1;
	if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi) || *p++ != ':' ||
	    digits(&p, 2, &sec))
		return -1;
	if (h > 23 || mi > 59 || sec > 60)
		return -1;
	if (*p == '.') {
		int n = 0;
		p++;
		if (*p < '0' || *p > '9')
			return -1;
		while (*p >= '0' && *p <= '9') {
			if (n < 6)
				frac_us = frac_us * 10 + (*p - '0');
			n++;
			p++;
		}
		if (n > 9)
			return -1;
		for (; n < 6; n++)
			frac_us *= 10;
	}
	if (sec == 60) { /* a leap second is held at the last microsecond before it */
		if (h != 23 || mi != 59)
			return -1;
		sec = 59;
		frac_us = 999999;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p++ == '-' ? -1 : 1, oh, om;
		if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om) || oh > 23 || om > 59)
			return -1;
		off = sign * (oh * 3600 + om * 60);
	} else {
		return -1;
	}
	if (*p != '\0')
		return -1;
	int64_t secs =
	    days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + sec - off;
	*us_out = secs * INT64_C(1000000) + frac_us;
	return 0;
}

/* Writes v as n decimal digits with leading zeros. */
static char *put_digits(char *p, unsigned v, int n)
{
	for (int i = n - 1; i >= 0; i--, v /= 10)
		p[i] = (char)('0' + v % 10);
	return p + n;
}

void time_format(int64_t us, char out[40])
{
	int64_t secs = us / 1000000, frac = us % 1000000;
	if (frac < 0)
		frac += 1000000, secs--;
	int64_t days = secs / 86400, rem = secs % 86400;
	if (rem < 0)
		rem += 86400, days--;
	int y;
	unsigned m, d;
	civil_from_days(days, &y, &m, &d);
	if (y < 0 || y > 9999) { /* outside what RFC 3339 can say; never on the hot path */
		snprintf(out, 40, "%04d-%02u-%02uT00:00:00.000000Z", y, m, d);
		return;
	}
	/* By hand: this runs for every row written to the ledger. */
	char *p = put_digits(out, (unsigned)y, 4);
	*p++ = '-';
	p = put_digits(p, m, 2);
	*p++ = '-';
	p = put_digits(p, d, 2);
	*p++ = 'T';
	p = put_digits(p, (unsigned)(rem / 3600), 2);
	*p++ = ':';
	p = put_digits(p, (unsigned)(rem / 60 % 60), 2);
	*p++ = ':';
	p = put_digits(p, (unsigned)(rem % 60), 2);
	*p++ = '.';
	p = put_digits(p, (unsigned)frac, 6);
	*p++ = 'Z';
	*p = '\0';
}

int32_t time_month_index(int64_t us)
{
	const int64_t day_us = INT64_C(86400000000);
	int64_t days = us / day_us - (us % day_us < 0); /* floor */
	int y;
	unsigned m, d;

	civil_from_days(days, &y, &m, &d);
	return (int32_t)y * 12 + (int32_t)m - 1;
}

int64_t time_month_start_us(int32_t month_index)
{
	int32_t y = month_index / 12 - (month_index % 12 < 0), m = month_index - y * 12;
	return days_from_civil(y, (unsigned)m + 1, 1) * 86400 * INT64_C(1000000);
}

int64_t time_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t time_mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
