# SPDX-License-Identifier: Apache-2.0
TEST_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
TEST_LIBS = $(PODCORE_LIBS) $(CHECK_LIBS)
EXTRA_DIST += tests/run-pytest.sh tests/junit2tap.py

# Whole-program checks that speak TAP themselves.
TESTS += tests/tools/check-layering.sh tests/tools/check-format.sh tests/tools/valgrind-corpus.sh
EXTRA_DIST += tests/tools/check-layering.sh tests/tools/check-format.sh tests/tools/valgrind-corpus.sh
