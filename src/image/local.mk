# SPDX-License-Identifier: Apache-2.0
libpodcore_la_SOURCES += \
	src/image/image.h \
	src/image/image-internal.h \
	src/image/image-store.c \
	src/image/image-import.c \
	src/image/image-reference.c
# libarchive unpacks layers; every program linking libpodcore needs it.
AM_CFLAGS += $(ARCHIVE_CFLAGS)
PODCORE_LIBS += $(ARCHIVE_LIBS)

check_PROGRAMS += tests/unit/test-image
TESTS += tests/unit/test-image
tests_unit_test_image_SOURCES = tests/unit/test-image.c tests/unit/unit-util.h
tests_unit_test_image_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_image_LDADD = $(TEST_LIBS)

TESTS += tests/integration/test_images.py
EXTRA_DIST += tests/integration/test_images.py
