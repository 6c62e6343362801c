# SPDX-License-Identifier: Apache-2.0
libpodcore_la_SOURCES += \
	src/security/security.h \
	src/security/security-caps.c \
	src/security/security-seccomp.c

check_PROGRAMS += tests/unit/test-security
TESTS += tests/unit/test-security
tests_unit_test_security_SOURCES = tests/unit/test-security.c
tests_unit_test_security_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_security_LDADD = $(TEST_LIBS)
