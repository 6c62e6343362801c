# SPDX-License-Identifier: Apache-2.0
libpodcore_la_SOURCES += \
	src/reconcile/reconcile.h \
	src/reconcile/reconcile-graph.c \
	src/reconcile/reconcile-plan.c \
	src/reconcile/reconcile-probe.c \
	src/reconcile/reconcile-lifecycle.c \
	src/reconcile/reconcile-phase.c \
	src/reconcile/reconcile-pod.c

check_PROGRAMS += tests/unit/test-reconcile tests/unit/test-plan
TESTS += tests/unit/test-reconcile tests/unit/test-plan
tests_unit_test_reconcile_SOURCES = tests/unit/test-reconcile.c
tests_unit_test_reconcile_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_reconcile_LDADD = $(TEST_LIBS)
tests_unit_test_plan_SOURCES = tests/unit/test-plan.c
tests_unit_test_plan_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_plan_LDADD = $(TEST_LIBS)

check_PROGRAMS += tests/unit/test-probe
TESTS += tests/unit/test-probe
tests_unit_test_probe_SOURCES = tests/unit/test-probe.c
tests_unit_test_probe_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_probe_LDADD = $(TEST_LIBS)

check_PROGRAMS += tests/unit/test-lifecycle
TESTS += tests/unit/test-lifecycle
tests_unit_test_lifecycle_SOURCES = tests/unit/test-lifecycle.c
tests_unit_test_lifecycle_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_lifecycle_LDADD = $(TEST_LIBS)

check_PROGRAMS += tests/unit/test-pod-lifecycle
TESTS += tests/unit/test-pod-lifecycle
tests_unit_test_pod_lifecycle_SOURCES = tests/unit/test-pod-lifecycle.c
tests_unit_test_pod_lifecycle_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_pod_lifecycle_LDADD = $(TEST_LIBS)
