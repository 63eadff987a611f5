/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef CVPN_TEST_CHECK_RUN_H
#define CVPN_TEST_CHECK_RUN_H

#include <check.h>
#include <stdlib.h>

/* The runner every unit test's main() ends with: run the suite, exit non-zero if anything failed. */
static inline int check_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
