# SPDX-License-Identifier: Apache-2.0
libpodcore_la_SOURCES += \
	src/state/state.h \
	src/state/state-internal.h \
	src/state/state-pod.c \
	src/state/state-store.c

check_PROGRAMS += tests/unit/test-state
TESTS += tests/unit/test-state
tests_unit_test_state_SOURCES = tests/unit/test-state.c tests/unit/unit-util.h
tests_unit_test_state_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_state_LDADD = $(TEST_LIBS)
