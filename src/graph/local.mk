# SPDX-License-Identifier: Apache-2.0
libpodcore_la_SOURCES += \
	src/graph/graph.h \
	src/graph/graph.c

check_PROGRAMS += tests/unit/test-graph
TESTS += tests/unit/test-graph
tests_unit_test_graph_SOURCES = tests/unit/test-graph.c
tests_unit_test_graph_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_graph_LDADD = $(TEST_LIBS)
