# SPDX-License-Identifier: Apache-2.0
libpodcore_la_SOURCES += \
	src/image/image.h \
	src/image/image-internal.h \
	src/image/image-store.c \
	src/image/image-import.c \
	src/image/image-blob.c \
	src/image/image-doc.c \
	src/image/image-load.c

check_PROGRAMS += tests/unit/test-image
TESTS += tests/unit/test-image
tests_unit_test_image_SOURCES = tests/unit/test-image.c tests/unit/unit-util.h
tests_unit_test_image_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_image_LDADD = $(TEST_LIBS)

TESTS += tests/integration/test_images.py
EXTRA_DIST += tests/integration/test_images.py

# Blob store, image documents and image_load(): OCI layouts, oci-archive, docker-archive.
check_PROGRAMS += tests/image/image-load-tool
tests_image_image_load_tool_SOURCES = tests/image/image-load-tool.c
tests_image_image_load_tool_LDADD = $(PODCORE_LIBS)
TESTS += tests/image/test_image_load.py
EXTRA_DIST += tests/image/test_image_load.py
