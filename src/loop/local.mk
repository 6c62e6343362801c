# SPDX-License-Identifier: Apache-2.0
libpodcore_la_SOURCES += \
	src/loop/loop.h \
	src/loop/loop-internal.h \
	src/loop/loop-core.c \
	src/loop/loop-source.c \
	src/loop/loop-timer.c

check_PROGRAMS += tests/unit/test-loop
TESTS += tests/unit/test-loop
tests_unit_test_loop_SOURCES = tests/unit/test-loop.c tests/unit/unit-util.h
tests_unit_test_loop_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_loop_LDADD = $(TEST_LIBS)
