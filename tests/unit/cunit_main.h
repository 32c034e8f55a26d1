/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cunit_main: the shared main() of the CUnit drivers. A driver defines its
 * tests and a table, then expands CUNIT_MAIN(suite_name, table).
 */
#ifndef TELEPOD_TESTS_CUNIT_MAIN_H
#define TELEPOD_TESTS_CUNIT_MAIN_H

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>

struct cunit_test {
	const char *name;
	void (*fn)(void);
};

#define CUNIT_MAIN(suite_name, table)                                          \
	int main(void)                                                         \
	{                                                                      \
		CU_pSuite s;                                                   \
		unsigned failed;                                               \
		if (CU_initialize_registry() != CUE_SUCCESS)                   \
			return 99;                                             \
		s = CU_add_suite(suite_name, NULL, NULL);                      \
		for (size_t i = 0; i < sizeof(table) / sizeof(*table); i++)    \
			CU_add_test(s, table[i].name, table[i].fn);            \
		CU_basic_set_mode(CU_BRM_VERBOSE);                             \
		CU_basic_run_tests();                                          \
		failed = CU_get_number_of_failures() +                         \
		         CU_get_number_of_tests_failed();                      \
		CU_cleanup_registry();                                         \
		return failed ? 1 : 0;                                         \
	}

#endif
