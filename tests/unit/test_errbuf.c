/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of common/errbuf: formatting, truncation, NULL and 0. */
#include <string.h>

#include "common/errbuf.h"
#include "tests/unit/cunit_main.h"

static void
test_set(void)
{
	char err[64];

	errbuf_set(err, sizeof(err), "cannot open %s: %s", "/x", "gone");
	CU_ASSERT_STRING_EQUAL(err, "cannot open /x: gone");
	errbuf_set(err, sizeof(err), "%d", -5);
	CU_ASSERT_STRING_EQUAL(err, "-5");
}

static void
test_truncates(void)
{
	char err[8];

	memset(err, 'x', sizeof(err));
	errbuf_set(err, 5, "%s", "abcdefgh");
	CU_ASSERT_STRING_EQUAL(err, "abcd");
	/* Nothing written past len. */
	CU_ASSERT_EQUAL(err[5], 'x');
	errbuf_set(err, 1, "%s", "abc");
	CU_ASSERT_STRING_EQUAL(err, "");
}

static void
test_no_buffer(void)
{
	char err[4] = "old";

	/* Both are allowed and leave everything alone. */
	errbuf_set(NULL, 0, "%s", "ignored");
	errbuf_set(NULL, 16, "%s", "ignored");
	errbuf_set(err, 0, "%s", "ignored");
	CU_ASSERT_STRING_EQUAL(err, "old");
}

static const struct cunit_test tests[] = {
    {"set", test_set},
    {"truncates", test_truncates},
    {"no_buffer", test_no_buffer},
};

CUNIT_MAIN("errbuf", tests)
