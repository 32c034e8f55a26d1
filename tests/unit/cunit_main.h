/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cunit_main: the shared main() of the CUnit drivers. A driver defines its
 * tests and a table, then expands CUNIT_MAIN(suite_name, table); one that
 * needs set-up around the run (a dnsmasq, a scratch directory) calls
 * cunit_run from its own main().
 */
#ifndef TELEPOD_TESTS_CUNIT_MAIN_H
#define TELEPOD_TESTS_CUNIT_MAIN_H

#include <stddef.h>

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>

struct cunit_test {
	const char *name;
	void (*fn)(void);
};

/*
 * Runs the n tests of table as one suite (init and clean may be NULL) and
 * returns the exit status: 0 when all passed, 1 when a test or the suite's
 * init or clean failed, 99 when CUnit could not start.
 */
static inline int
cunit_run(const char *suite_name, CU_InitializeFunc init, CU_CleanupFunc clean,
    const struct cunit_test *table, size_t n)
{
	CU_pSuite s;
	unsigned failed;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 99;
	s = CU_add_suite(suite_name, init, clean);
	for (size_t i = 0; i < n; i++)
		CU_add_test(s, table[i].name, table[i].fn);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed() +
	         CU_get_number_of_suites_failed();
	CU_cleanup_registry();
	return failed ? 1 : 0;
}

#define CUNIT_MAIN(suite_name, table)                                          \
	int main(void)                                                         \
	{                                                                      \
		return cunit_run(suite_name, NULL, NULL, table,                \
		    sizeof(table) / sizeof(*table));                           \
	}

#endif
