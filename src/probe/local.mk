# SPDX-License-Identifier: Apache-2.0
libpodcore_la_SOURCES += \
	src/probe/probe.h \
	src/probe/probe-net.c

check_PROGRAMS += tests/unit/test-probe-net
TESTS += tests/unit/test-probe-net
tests_unit_test_probe_net_SOURCES = tests/unit/test-probe-net.c tests/unit/unit-util.h
tests_unit_test_probe_net_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_probe_net_LDADD = $(TEST_LIBS)
