# SPDX-License-Identifier: Apache-2.0
# The daemon's library part: the manifest watcher (the daemon's main.c comes later).
libpodcore_la_SOURCES += \
	src/podd/watch.h \
	src/podd/watch-internal.h \
	src/podd/watch.c \
	src/podd/watch-read.c \
	src/podd/watch-desired.c

check_PROGRAMS += tests/unit/test-watch
TESTS += tests/unit/test-watch
tests_unit_test_watch_SOURCES = tests/unit/test-watch.c tests/unit/unit-util.h
tests_unit_test_watch_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_watch_LDADD = $(TEST_LIBS)
