/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of common/log: levels, categories and escaping. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "tests/unit/cunit_main.h"

static void
test_parse_level(void)
{
	enum log_level l;

	CU_ASSERT_EQUAL(log_parse_level("debug", &l), 0);
	CU_ASSERT_EQUAL(l, LOG_LEVEL_DEBUG);
	CU_ASSERT_EQUAL(log_parse_level("WARN", &l), 0);
	CU_ASSERT_EQUAL(l, LOG_LEVEL_WARN);
	CU_ASSERT_EQUAL(log_parse_level("loud", &l), -EINVAL);
}

static void
test_categories(void)
{
	unsigned cats = 0;

	CU_ASSERT_EQUAL(log_parse_debug("mux,dns", &cats), 0);
	CU_ASSERT_EQUAL(cats, LOG_CAT_MUX | LOG_CAT_DNS);
	CU_ASSERT_EQUAL(log_parse_debug("mux,bogus", &cats), -EINVAL);
	log_set_level(LOG_LEVEL_INFO);
	log_set_debug(0);
	CU_ASSERT_FALSE(log_enabled(LOG_LEVEL_DEBUG, LOG_CAT_MUX));
	log_set_debug(LOG_CAT_MUX);
	CU_ASSERT_TRUE(log_enabled(LOG_LEVEL_DEBUG, LOG_CAT_MUX));
	CU_ASSERT_FALSE(log_enabled(LOG_LEVEL_DEBUG, LOG_CAT_DNS));
	log_set_debug(0);
	log_set_level(LOG_LEVEL_INFO);
}

static void
test_escape(void)
{
	char out[64];

	CU_ASSERT_STRING_EQUAL(
	    log_escape(out, sizeof(out), "a\nb", 3), "a\\x0ab");
	CU_ASSERT_STRING_EQUAL(log_escape(out, 8, "abcdefghij", 10), "abc");
}

static void
test_write_line(void)
{
	char buf[256] = {0};
	FILE *f = fmemopen(buf, sizeof(buf) - 1, "w");

	log_init("t", LOG_LEVEL_INFO);
	log_set_file(f);
	log_info("session %d: hello", 3);
	log_debug(LOG_CAT_MUX, "hidden");
	log_set_file(NULL);
	fclose(f);
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "t info: session 3: hello\n"));
	CU_ASSERT_PTR_NULL(strstr(buf, "hidden"));
}

static const struct cunit_test tests[] = {
    {"parse_level", test_parse_level},
    {"categories", test_categories},
    {"escape", test_escape},
    {"write_line", test_write_line},
};

CUNIT_MAIN("log", tests)
