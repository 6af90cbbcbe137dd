/* test_cli.c - what the CLI shows people: money rounded for reading from
 * exact pico-USD digits, grouped counts, and --last ranges. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../cmd/cmd.h"
#include "../../common/common.h"

static void test_usd_text(void **state)
{
	static const char *const cases[][2] = {
	    {"0", "$0.00"},
	    {"1000000000000", "$1.00"},
	    {"1234567890000000", "$1,234.57"}, /* to the cent, half away from zero */
	    {"1234565000000000", "$1,234.57"},
	    {"1234564999999999", "$1,234.56"},
	    {"3743000000", "$0.003743"}, /* under $1: four significant digits */
	    {"3743499999", "$0.003743"},
	    {"3743500000", "$0.003744"},
	    {"20000000000", "$0.02"}, /* at least two decimals */
	    {"186000000000", "$0.186"},
	    {"999960000000", "$1.00"}, /* rounds up to a dollar */
	    {"12", "$0.000000000012"},
	    {"1000000000000000000", "$1,000,000.00"},
	};
	char out[64];

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		cmd_usd_text(cases[i][0], out, sizeof out);
		assert_string_equal(out, cases[i][1]);
	}
}

static void test_count_text(void **state)
{
	char out[32];

	(void)state;
	cmd_count_text(0, out, sizeof out);
	assert_string_equal(out, "0");
	cmd_count_text(999, out, sizeof out);
	assert_string_equal(out, "999");
	cmd_count_text(1000, out, sizeof out);
	assert_string_equal(out, "1,000");
	cmd_count_text(1234567, out, sizeof out);
	assert_string_equal(out, "1,234,567");
}

static void test_last(void **state)
{
	int64_t from, to, now = INT64_C(1764633600000000); /* 2025-12-02T00:00:00Z */

	(void)state;
	assert_int_equal(cmd_last("7d", now, &from, &to), 0);
	assert_true(to == now && from == now - INT64_C(7) * 86400000000);
	assert_int_equal(cmd_last("24h", now, &from, &to), 0);
	assert_true(from == now - INT64_C(86400000000));
	assert_int_equal(cmd_last("4w", now, &from, &to), 0);
	assert_true(from == now - INT64_C(28) * 86400000000);
	assert_int_equal(cmd_last("7", now, &from, &to), -1);
	assert_int_equal(cmd_last("0d", now, &from, &to), -1);
	assert_int_equal(cmd_last("-3d", now, &from, &to), -1);
	assert_int_equal(cmd_last("7days", now, &from, &to), -1);
	assert_int_equal(cmd_last(NULL, now, &from, &to), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_usd_text),
	    cmocka_unit_test(test_count_text),
	    cmocka_unit_test(test_last),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
