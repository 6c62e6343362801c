# SPDX-License-Identifier: Apache-2.0
libpodcore_la_SOURCES += \
	src/reconcile/reconcile.h \
	src/reconcile/reconcile-graph.c

check_PROGRAMS += tests/unit/test-reconcile
TESTS += tests/unit/test-reconcile
tests_unit_test_reconcile_SOURCES = tests/unit/test-reconcile.c
tests_unit_test_reconcile_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_reconcile_LDADD = $(TEST_LIBS)
