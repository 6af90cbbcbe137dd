/* util.c - small helpers shared by the finance reports. */
#include <stdio.h>
#include <string.h>

#include "report.h"

void report_usd(const char *pusd, char *out, size_t n)
{
	if (!pusd || money_format_digits(pusd, 12, out, n) < 0)
		str_copy(out, n, "0.000000000000");
}

/* Whether a spreadsheet would read the cell as a formula (= + - @, and TAB or
 * CR, which some strip before looking), or it starts with the mark itself (so
 * that removing one leading mark always gives the value back). */
static bool csv_needs_mark(const char *s)
{
	return *s && strchr("=+-@\t\r'", *s);
}

void report_csv_field(struct sbuf *sb, const char *s)
{
	bool mark;

	if (!s)
		return;
	mark = csv_needs_mark(s);
	if (!strpbrk(s, ",\"\r\n")) {
		if (mark)
			sbuf_putc(sb, '\'');
		sbuf_puts(sb, s);
		return;
	}
	sbuf_putc(sb, '"');
	if (mark)
		sbuf_putc(sb, '\'');
	for (const char *p = s; *p; p++) {
		if (*p == '"')
			sbuf_putc(sb, '"');
		sbuf_putc(sb, *p);
	}
	sbuf_putc(sb, '"');
}

void report_csv_unmark(char *s)
{
	if (s && s[0] == '\'' && (csv_needs_mark(s + 1)))
		memmove(s, s + 1, strlen(s));
}

int report_month(const char *s, int64_t *from_us, int64_t *to_us)
{
	char a[40], b[40];
	int y, m;

	if (!s || strlen(s) != 7 || s[4] != '-' || sscanf(s, "%4d-%2d", &y, &m) != 2 || m < 1 ||
	    m > 12 || y < 1970 || y > 9998)
		return -1;
	snprintf(a, sizeof a, "%04d-%02d-01", y, m);
	snprintf(b, sizeof b, "%04d-%02d-01", m == 12 ? y + 1 : y, m == 12 ? 1 : m + 1);
	if (time_parse(a, true, from_us) < 0 || time_parse(b, true, to_us) < 0)
		return -1;
	return 0;
}

int report_usd_parse(const char *usd, char *out, size_t n)
{
	int64_t v;
	bool rounded = false;

	if (!usd || money_parse(usd, 12, &v, &rounded) < 0 || rounded || v <= 0)
		return -1;
	return snprintf(out, n, "%lld", (long long)v) < (int)n ? 0 : -1;
}
