/* table.c - reports as a readable table on a terminal: aligned columns,
 * grouped thousands, money rounded for reading (exact figures stay in the
 * CSV and JSON formats). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/common.h"
#include "cmd.h"

#define PICO INT64_C(1000000000000)

/* Inserts thousands separators into a run of digits. */
static void group_digits(const char *digits, char *out, size_t n)
{
	size_t len = strlen(digits), o = 0;

	for (size_t i = 0; i < len && o + 2 < n; i++) {
		if (i > 0 && (len - i) % 3 == 0)
			out[o++] = ',';
		out[o++] = digits[i];
	}
	out[o] = '\0';
}

void cmd_count_text(int64_t v, char *out, size_t n)
{
	char d[32], g[48];

	snprintf(d, sizeof d, "%lld", (long long)(v < 0 ? -v : v));
	group_digits(d, g, sizeof g);
	snprintf(out, n, "%s%s", v < 0 ? "-" : "", g);
}

void cmd_usd_text(const char *pusd, char *out, size_t n)
{
	__int128 v = 0;
	bool neg = false;
	const char *s = pusd;

	if (*s == '-') {
		neg = true;
		s++;
	}
	for (; *s >= '0' && *s <= '9'; s++)
		v = v * 10 + (*s - '0');
	if (v == 0) {
		snprintf(out, n, "$0.00");
		return;
	}
	/* Under $1: four significant digits, half away from zero. */
	if (v < PICO) {
		__int128 scale = 1;
		for (__int128 t = v; t >= 10000; t /= 10)
			scale *= 10;
		__int128 r = (v + scale / 2) / scale * scale;
		if (r < PICO) {
			char frac[16];
			int sig = 0, last = 0;
			snprintf(frac, sizeof frac, "%012lld", (long long)r);
			for (int i = 0; i < 12; i++) {
				if (sig == 0 && frac[i] == '0')
					continue;
				if (++sig == 4) {
					last = i;
					break;
				}
				last = i;
			}
			/* trailing zeros dropped ($0.02, not $0.02000), as the dashboard
			 * does, but at least two decimals, like cents */
			while (last > 1 && frac[last] == '0')
				last--;
			if (last < 1)
				last = 1;
			frac[last + 1] = '\0';
			snprintf(out, n, "%s$0.%s", neg ? "-" : "", frac);
			return;
		}
		v = r;
	}
	/* $1 and more: to the cent, half away from zero. */
	__int128 cents = (v + PICO / 200) / (PICO / 100);
	char d[48], g[64];
	snprintf(d, sizeof d, "%lld", (long long)(cents / 100));
	group_digits(d, g, sizeof g);
	snprintf(out, n, "%s$%s.%02lld", neg ? "-" : "", g, (long long)(cents % 100));
}

/* ---- the table ------------------------------------------------------------ */

void cmd_table_init(struct cmd_table *t, int cols, const char *const *heads, const bool *num)
{
	memset(t, 0, sizeof *t);
	t->cols = cols;
	for (int c = 0; c < cols; c++) {
		t->heads[c] = heads[c];
		t->num[c] = num[c];
		t->width[c] = (int)strlen(heads[c]);
	}
}

int cmd_table_row(struct cmd_table *t, const char *const *cells)
{
	if (t->rows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 32;
		char **p = realloc(t->cells, cap * (size_t)t->cols * sizeof *p);
		if (!p)
			return -1;
		t->cells = p;
		t->cap = cap;
	}
	for (int c = 0; c < t->cols; c++) {
		char *v = strdup(cells[c] ? cells[c] : "");
		if (!v)
			return -1;
		t->cells[t->rows * (size_t)t->cols + (size_t)c] = v;
		int w = (int)strlen(v);
		if (w > t->width[c])
			t->width[c] = w;
	}
	t->rows++;
	return 0;
}

static void print_row(const struct cmd_table *t, FILE *fp, const char *const *cells)
{
	for (int c = 0; c < t->cols; c++)
		fprintf(fp, "%s%*s%s", c ? "  " : "", t->num[c] ? t->width[c] : -t->width[c],
		        cells[c], c == t->cols - 1 ? "\n" : "");
}

static void print_rule(const struct cmd_table *t, FILE *fp)
{
	for (int c = 0; c < t->cols; c++) {
		fputs(c ? "  " : "", fp);
		for (int i = 0; i < t->width[c]; i++)
			fputc('-', fp);
	}
	fputc('\n', fp);
}

void cmd_table_print(const struct cmd_table *t, FILE *fp, size_t total_rows)
{
	print_row(t, fp, t->heads);
	print_rule(t, fp);
	for (size_t r = 0; r < t->rows; r++) {
		if (total_rows && r == t->rows - total_rows)
			print_rule(t, fp);
		print_row(t, fp, (const char *const *)&t->cells[r * (size_t)t->cols]);
	}
}

void cmd_table_cleanup(struct cmd_table *t)
{
	for (size_t i = 0; i < t->rows * (size_t)t->cols; i++)
		free(t->cells[i]);
	free(t->cells);
	memset(t, 0, sizeof *t);
}

/* ---- relative ranges ------------------------------------------------------- */

int cmd_last(const char *s, int64_t now_us, int64_t *from_us, int64_t *to_us)
{
	char *end;
	long n = s ? strtol(s, &end, 10) : 0;
	int64_t unit;

	if (!s || end == s || n <= 0 || n > 100000)
		goto bad;
	if (strcmp(end, "h") == 0)
		unit = HOUR_US;
	else if (strcmp(end, "d") == 0)
		unit = INT64_C(86400000000);
	else if (strcmp(end, "w") == 0)
		unit = INT64_C(7) * 86400000000;
	else
		goto bad;
	*to_us = now_us;
	*from_us = now_us - (int64_t)n * unit;
	return 0;
bad:
	fprintf(stderr, "tally: --last %s: use a number of hours, days or weeks: 24h, 7d, 4w\n",
	        s ? s : "");
	return -1;
}
