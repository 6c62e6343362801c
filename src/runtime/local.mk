# SPDX-License-Identifier: Apache-2.0
libpodcore_la_SOURCES += \
	src/runtime/runtime.h \
	src/runtime/runtime-internal.h \
	src/runtime/runtime-cgroup.c \
	src/runtime/runtime-config.c \
	src/runtime/runtime-fake.c \
	src/runtime/runtime-log.c \
	src/runtime/runtime-native.c \
	src/runtime/runtime-ops.c \
	src/runtime/runtime-proc.c \
	src/runtime/runtime-sandbox.c \
	src/runtime/runtime-util.c

check_PROGRAMS += tests/unit/test-runtime
TESTS += tests/unit/test-runtime
tests_unit_test_runtime_SOURCES = tests/unit/test-runtime.c
tests_unit_test_runtime_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_runtime_LDADD = $(TEST_LIBS)

TESTS += tests/integration/test_runtime.py
EXTRA_DIST += tests/integration/test_runtime.py tests/integration/conftest.py

check_PROGRAMS += tests/unit/test-runtime-fake
TESTS += tests/unit/test-runtime-fake
tests_unit_test_runtime_fake_SOURCES = tests/unit/test-runtime-fake.c
tests_unit_test_runtime_fake_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_runtime_fake_LDADD = $(TEST_LIBS)

# Root only (exit 77 otherwise): the asynchronous start with real containers.
check_PROGRAMS += tests/unit/test-runtime-start
TESTS += tests/unit/test-runtime-start
tests_unit_test_runtime_start_SOURCES = tests/unit/test-runtime-start.c
tests_unit_test_runtime_start_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_runtime_start_LDADD = $(TEST_LIBS)
