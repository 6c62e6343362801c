# SPDX-License-Identifier: Apache-2.0
libpodcore_la_SOURCES += \
	src/base/base.h \
	src/base/base-error.c \
	src/base/base-file.c \
	src/base/base-hash.c \
	src/base/base-log.c \
	src/base/base-string.c \
	src/base/base-time.c

check_PROGRAMS += tests/unit/test-base
TESTS += tests/unit/test-base
tests_unit_test_base_SOURCES = tests/unit/test-base.c
tests_unit_test_base_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_base_LDADD = $(TEST_LIBS)
