/* test_common.c - exact money, timestamps, UTF-8 and COPY escaping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../common/common.h"

static void test_money_parse(void **state)
{
	static const struct {
		const char *in;
		int scale;
		int64_t want;
		bool rounded;
	} cases[] = {
	    {"0.000183", 12, 183000000, false},
	    {"1.5e-07", 12, 150000, false},
	    {"7.5e-08", 12, 75000, false},
	    {"1e-05", 12, 10000000, false},
	    {"12.50", 12, INT64_C(12500000000000), false},
	    {"-1.25", 2, -125, false},
	    {"0.0000000000005", 12, 1, true}, /* half rounds away from zero */
	    {"0.0000000000004999", 12, 0, true},
	    {"3.5e-13", 12, 0, true},
	    {"2.5", 0, 3, true},
	    {"-2.5", 0, -3, true},
	    {"0.15", 6, 150000, false},
	    {"1.234567891", 6, 1234568, true},
	    {"100", 6, 100000000, false},
	    {"0", 12, 0, false},
	    {"1E+2", 0, 100, false},
	    {"000.100", 3, 100, false},
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int64_t v = -42;
		bool rounded = !cases[i].rounded;
		assert_int_equal(money_parse(cases[i].in, cases[i].scale, &v, &rounded), 0);
		assert_int_equal(v, cases[i].want);
		assert_int_equal(rounded, cases[i].rounded);
	}
}

static void test_money_parse_rejects(void **state)
{
	const char *bad[] = {"", "abc", "1.2.3", "1e", "--1", "1x", "99999999999999999999", "."};
	int64_t v;
	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(money_parse(bad[i], 12, &v, NULL), -1);
	assert_int_equal(money_parse("10000000", 12, &v, NULL), -1); /* 1e19 pico overflows */
}

static void test_money_format(void **state)
{
	char out[64];
	(void)state;
	money_format(183000000, 12, out, sizeof out);
	assert_string_equal(out, "0.000183000000");
	money_format(-125, 2, out, sizeof out);
	assert_string_equal(out, "-1.25");
	money_format(0, 12, out, sizeof out);
	assert_string_equal(out, "0.000000000000");
	assert_int_equal(money_format_digits("598500000000", 12, out, sizeof out), 0);
	assert_string_equal(out, "0.598500000000");
	assert_int_equal(money_format_digits("123456789012345678901234567890", 12, out, sizeof out),
	                 0);
	assert_string_equal(out, "123456789012345678.901234567890");
	assert_int_equal(money_format_digits("-5", 3, out, sizeof out), 0);
	assert_string_equal(out, "-0.005");
	assert_int_equal(money_format_digits("12a", 3, out, sizeof out), -1);
}

static void test_time(void **state)
{
	int64_t us;
	char out[40];
	(void)state;
	assert_int_equal(time_parse("2026-11-01T12:00:00.123Z", false, &us), 0);
	assert_int_equal(us, INT64_C(1793534400123000));
	time_format(us, out);
	assert_string_equal(out, "2026-11-01T12:00:00.123000Z");
	assert_int_equal(time_parse("2026-11-01T14:00:00+02:00", false, &us), 0);
	assert_int_equal(us, INT64_C(1793534400000000));
	assert_int_equal(time_parse("2024-02-29T00:00:00Z", false, &us), 0);
	assert_int_equal(time_parse("2026-11-01", true, &us), 0);
	assert_int_equal(us, INT64_C(1793491200000000));
	const char *bad[] = {"2026-11-01",
	                     "2026-13-01T00:00:00Z",
	                     "2025-02-29T00:00:00Z",
	                     "2026-11-01T24:00:00Z",
	                     "2026-11-01T12:00:00",
	                     "yesterday",
	                     "2026-11-01T12:00:00.Z",
	                     "2026-11-01T12:00:00Zjunk"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(time_parse(bad[i], false, &us), -1);
	assert_int_equal(time_month_index(INT64_C(1793534400123000)), 2026 * 12 + 10);
	assert_int_equal(time_month_index(-1), 1969 * 12 + 11);
	assert_int_equal(time_month_index(0), 1970 * 12);
	/* a month's first microsecond, the inverse at each month's start */
	assert_int_equal(time_month_start_us(1970 * 12), 0);
	assert_int_equal(time_parse("2026-12-01T00:00:00Z", false, &us), 0);
	assert_int_equal(time_month_start_us(2026 * 12 + 11), us);
	assert_int_equal(time_parse("2027-01-01T00:00:00Z", false, &us), 0);
	assert_int_equal(time_month_start_us(2026 * 12 + 12), us);
	assert_int_equal(time_parse("2024-03-01T00:00:00Z", false, &us), 0);
	assert_int_equal(time_month_start_us(2024 * 12 + 2), us);
	assert_int_equal(time_month_index(us - 1), 2024 * 12 + 1); /* 29 February */
	time_format(-1, out);
	assert_string_equal(out, "1969-12-31T23:59:59.999999Z");
}

static void test_utf8_and_copy(void **state)
{
	struct sbuf b;
	char s[] = "ok\xff\xfe caf\xc3\xa9";
	(void)state;
	assert_true(utf8_valid("caf\xc3\xa9", 5));
	assert_false(utf8_valid("\xc0\xaf", 2));     /* overlong */
	assert_false(utf8_valid("\xed\xa0\x80", 3)); /* surrogate */
	assert_false(utf8_valid("\xc3", 1));         /* cut */
	utf8_sanitize(s);
	assert_string_equal(s, "ok?? caf\xc3\xa9");
	sbuf_init(&b);
	sbuf_copy_text(&b, "a\tb\\c\nd");
	sbuf_copy_text(&b, NULL);
	sbuf_copy_bytea(&b, "\x01\xff", 2);
	assert_string_equal(b.p, "a\\tb\\\\c\\nd\\N\\\\x01ff");
	sbuf_reset(&b);
	sbuf_json_str(&b, "q\"\x01");
	assert_string_equal(b.p, "\"q\\\"\\u0001\"");
	sbuf_cleanup(&b);
}

/* 128-bit sums in decimal, both ends of the range: exact rollup and FOCUS
 * sums of pico-USD outgrow int64 at $9.2 million. */
static void test_i128_text(void **state)
{
	char buf[48];
	struct sbuf b;
	__int128 max = (__int128)(((unsigned __int128)1 << 127) - 1);
	(void)state;
	assert_string_equal(i128_text(0, buf), "0");
	assert_string_equal(i128_text(-1, buf), "-1");
	assert_string_equal(i128_text((__int128)INT64_MAX * 10, buf), "92233720368547758070");
	assert_string_equal(i128_text(max, buf), "170141183460469231731687303715884105727");
	assert_string_equal(i128_text(-max - 1, buf), "-170141183460469231731687303715884105728");
	sbuf_init(&b);
	sbuf_i128(&b, -42);
	sbuf_i128(&b, 7);
	assert_int_equal(b.len, 4);
	assert_memory_equal(b.p, "-427", 4);
	sbuf_cleanup(&b);
}

/* sbuf_i64 (two digits a step) prints what printf does, at every length and
 * both ends; the inline appends grow the buffer and stop at out of memory. */
static void test_sbuf_i64(void **state)
{
	char want[32];
	struct sbuf b;
	int64_t v = 1;
	uint64_t x = UINT64_C(88172645463325252);
	(void)state;
	sbuf_init(&b);
	for (int i = 0; i < 20000; i++) {
		static const int64_t edges[] = {0,         -1,         9,       10,    99,
		                                100,       -10,        -99,     -100,  INT64_MAX,
		                                INT64_MIN, -INT64_MAX, 1000000, 999999};
		if (i < (int)(sizeof edges / sizeof *edges)) {
			v = edges[i];
		} else if (i < 200) { /* each power of ten, either sign, and one below */
			int p = (i - 14) % 19, which = (i - 14) / 19 % 4;
			int64_t t = 1;
			while (p--)
				t *= 10;
			v = which == 0 ? t : which == 1 ? -t : which == 2 ? t - 1 : 1 - t;
		} else { /* xorshift: every length */
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			v = (int64_t)(x >> (x % 64));
			if ((x & 1) && v != INT64_MIN)
				v = -v;
		}
		sbuf_reset(&b);
		sbuf_putc(&b, '[');
		sbuf_i64(&b, v);
		sbuf_puts(&b, "]");
		snprintf(want, sizeof want, "[%lld]", (long long)v);
		assert_string_equal(b.p, want);
		assert_int_equal(b.len, strlen(want));
	}
	sbuf_cleanup(&b);
	/* appends past the first allocation, one byte and many at a time */
	sbuf_init(&b);
	for (int i = 0; i < 1000; i++) {
		sbuf_putc(&b, (char)('a' + i % 26));
		sbuf_append(&b, "0123456789", (size_t)(i % 11));
	}
	assert_int_equal(b.len, 1000 + 90 * 55 + 45); /* 1000 bytes, sum of i % 11 */
	assert_int_equal(b.p[b.len], '\0');
	b.oom = true; /* after a failed append, later appends change nothing */
	sbuf_putc(&b, 'x');
	sbuf_puts(&b, "yz");
	assert_int_equal(b.len, 1000 + 90 * 55 + 45);
	sbuf_cleanup(&b);
}

/* sbuf_copy_text escapes exactly backslash, tab, newline and carriage
 * return, whatever surrounds them: every byte value, alone and in runs. */
static void test_copy_text_bytes(void **state)
{
	char in[64], want[128];
	struct sbuf b;
	(void)state;
	sbuf_init(&b);
	for (int c = 1; c < 256; c++) {
		for (int len = 1; len < 20; len += 6) {
			size_t w = 0;
			for (int i = 0; i < len; i++) {
				in[i] = i % 3 == 1 ? (char)c : (char)('a' + i);
				const char *esc = in[i] == '\\'   ? "\\\\"
				                  : in[i] == '\t' ? "\\t"
				                  : in[i] == '\n' ? "\\n"
				                  : in[i] == '\r' ? "\\r"
				                                  : NULL;
				if (esc) {
					memcpy(want + w, esc, 2);
					w += 2;
				} else {
					want[w++] = in[i];
				}
			}
			in[len] = '\0';
			want[w] = '\0';
			sbuf_reset(&b);
			sbuf_copy_text(&b, in);
			assert_string_equal(b.p, want);
			assert_int_equal(b.len, w);
		}
	}
	sbuf_cleanup(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_money_parse),   cmocka_unit_test(test_money_parse_rejects),
	    cmocka_unit_test(test_money_format),  cmocka_unit_test(test_time),
	    cmocka_unit_test(test_utf8_and_copy), cmocka_unit_test(test_i128_text),
	    cmocka_unit_test(test_sbuf_i64),      cmocka_unit_test(test_copy_text_bytes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
