/* test_focus.c - the FOCUS rows' unit prices (ledger/focus_rows.c): the C
 * twin of PostgreSQL's round(a / b, 6) gives PostgreSQL's own answers,
 * double rounding included (the division rounds to its own scale first).
 * Expected values: `SELECT round(a::numeric / b, 6) * 1000000` on
 * PostgreSQL 15, 18,290 random pairs checked once when the C twin was
 * written; these are the edge cases and a sample of them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../ledger/ledger.h"

static void test_round6(void **state)
{
	static const struct {
		__int128 a, b, want;
	} cases[] = {
	    {(__int128)INT64_C(2000000499999999999), (__int128)INT64_C(1000000000000000000),
	     (__int128)INT64_C(2000001)},
	    {((__int128)INT64_C(200) * INT64_C(1000000000000000000) + INT64_C(49999999999995)),
	     ((__int128)INT64_C(100) * INT64_C(1000000000000000000) + INT64_C(0)),
	     (__int128)INT64_C(2000001)},
	    {(__int128)INT64_C(-2000000499999999999), (__int128)INT64_C(1000000000000000000),
	     (__int128)INT64_C(-2000001)},
	    {(__int128)INT64_C(1), (__int128)INT64_C(3), (__int128)INT64_C(333333)},
	    {(__int128)INT64_C(2), (__int128)INT64_C(3), (__int128)INT64_C(666667)},
	    {(__int128)INT64_C(-1), (__int128)INT64_C(3), (__int128)INT64_C(-333333)},
	    {(__int128)INT64_C(1), (__int128)INT64_C(1000000000000000000), (__int128)INT64_C(0)},
	    {((__int128)INT64_C(1000000000000) * INT64_C(1000000000000000000) + INT64_C(1)),
	     (__int128)INT64_C(7),
	     ((__int128)INT64_C(142857142857142857) * INT64_C(1000000000000000000) +
	      INT64_C(142857142857000000))},
	    {(__int128)INT64_C(-30804700067), (__int128)INT64_C(20),
	     (__int128)INT64_C(-1540235003350000)},
	    {(__int128)INT64_C(268208804910614425), (__int128)INT64_C(818037046004995018),
	     (__int128)INT64_C(327869)},
	    {(__int128)INT64_C(73668881607), (__int128)INT64_C(495),
	     (__int128)INT64_C(148826023448485)},
	    {(__int128)INT64_C(-80839039229), (__int128)INT64_C(100),
	     (__int128)INT64_C(-808390392290000)},
	    {(__int128)INT64_C(20000005), (__int128)INT64_C(10000000), (__int128)INT64_C(2000001)},
	    {(__int128)INT64_C(-212045), (__int128)INT64_C(475162984), (__int128)INT64_C(-446)},
	    {(__int128)INT64_C(650000000000001), (__int128)INT64_C(100000000000000),
	     (__int128)INT64_C(6500000)},
	    {(__int128)INT64_C(879064), (__int128)INT64_C(46305659), (__int128)INT64_C(18984)},
	    {(__int128)INT64_C(4407850685899928309), (__int128)INT64_C(3647999644237537731),
	     (__int128)INT64_C(1208293)},
	    {(__int128)INT64_C(790247), (__int128)INT64_C(716028923), (__int128)INT64_C(1104)},
	    {(__int128)INT64_C(-2102624418298439083), (__int128)INT64_C(270210458892050830),
	     (__int128)INT64_C(-7781432)},
	    {(__int128)INT64_C(-94952327099), (__int128)INT64_C(173),
	     (__int128)INT64_C(-548857382075145)},
	    {(__int128)INT64_C(-1161963728003029909), (__int128)INT64_C(258184030704489237),
	     (__int128)INT64_C(-4500525)},
	    {(__int128)INT64_C(1613356694276516195), (__int128)INT64_C(1475632452547625653),
	     (__int128)INT64_C(1093332)},
	    {(__int128)INT64_C(863374), (__int128)INT64_C(412460820), (__int128)INT64_C(2093)},
	    {(__int128)INT64_C(2484877085384613265), (__int128)INT64_C(3121425444736653407),
	     (__int128)INT64_C(796071)},
	    {(__int128)INT64_C(-619188489613287634), (__int128)INT64_C(2156245670232111989),
	     (__int128)INT64_C(-287160)},
	    {(__int128)INT64_C(3223216744342220947), (__int128)INT64_C(209289964215939324),
	     (__int128)INT64_C(15400723)},
	    {(__int128)INT64_C(-382720), (__int128)INT64_C(502619496), (__int128)INT64_C(-761)},
	    {(__int128)INT64_C(55458347849), (__int128)INT64_C(925),
	     (__int128)INT64_C(59954970647568)},
	    {(__int128)INT64_C(-904869), (__int128)INT64_C(565755041), (__int128)INT64_C(-1599)},
	    {(__int128)INT64_C(2499), (__int128)INT64_C(1000), (__int128)INT64_C(2499000)},
	    {(__int128)INT64_C(500000050000), (__int128)INT64_C(100000000000),
	     (__int128)INT64_C(5000001)},
	    {(__int128)INT64_C(-62147812816), (__int128)INT64_C(121),
	     (__int128)INT64_C(-513618287735537)},
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		__int128 got = 0;
		assert_int_equal(ledger_focus_round6(cases[i].a, cases[i].b, &got), 0);
		if (got != cases[i].want)
			fail_msg("case %zu: got %lld, want %lld", i, (long long)got,
			         (long long)cases[i].want);
	}
}

/* A divisor too large to take one more digit: refused, not wrapped. */
static void test_round6_overflow(void **state)
{
	__int128 big = (__int128)1 << 125, out = 0;
	(void)state;
	assert_int_equal(ledger_focus_round6(1, big, &out), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round6),
	    cmocka_unit_test(test_round6_overflow),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
