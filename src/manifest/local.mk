# SPDX-License-Identifier: Apache-2.0
libpodcore_la_SOURCES += \
	src/manifest/manifest.h \
	src/manifest/manifest-internal.h \
	src/manifest/manifest-tree.c \
	src/manifest/manifest-model.c \
	src/manifest/manifest-quantity.c \
	src/manifest/manifest-validate.c \
	src/manifest/manifest-validate-container.c \
	src/manifest/manifest-validate-pod.c \
	src/manifest/manifest-load.c

check_PROGRAMS += tests/unit/test-manifest-corpus
TESTS += tests/unit/test-manifest-corpus
tests_unit_test_manifest_corpus_SOURCES = tests/unit/test-manifest-corpus.c
tests_unit_test_manifest_corpus_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_manifest_corpus_LDADD = $(TEST_LIBS)

check_PROGRAMS += tests/unit/test-manifest
TESTS += tests/unit/test-manifest
tests_unit_test_manifest_SOURCES = tests/unit/test-manifest.c
tests_unit_test_manifest_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_manifest_LDADD = $(TEST_LIBS)
