# SPDX-License-Identifier: Apache-2.0
libpodcore_la_SOURCES += \
	src/image/image.h \
	src/image/image-internal.h \
	src/image/image-store.c \
	src/image/image-import.c \
	src/image/image-reference.c \
	src/image/image-layer.c \
	src/image/image-blob.c \
	src/image/image-doc.c \
	src/image/image-load.c \
	src/image/image-records.c \
	src/image/image-records-add.c
# libarchive unpacks layers (image-layer.c, pulled in by image_store_add() and image_load()):
# podd uses neither and links with --as-needed (podd-image-loader loads for it).
AM_CFLAGS += $(ARCHIVE_CFLAGS)
PODCORE_LIBS += $(ARCHIVE_LIBS)

check_PROGRAMS += tests/unit/test-image
TESTS += tests/unit/test-image
tests_unit_test_image_SOURCES = tests/unit/test-image.c tests/unit/unit-util.h
tests_unit_test_image_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_image_LDADD = $(TEST_LIBS)

TESTS += tests/integration/test_images.py
EXTRA_DIST += tests/integration/test_images.py

# The layer unpacker, against layers the test builds (hostile ones among them); needs root.
check_PROGRAMS += tests/unit/test-image-layer
TESTS += tests/unit/test-image-layer
tests_unit_test_image_layer_SOURCES = tests/unit/test-image-layer.c tests/unit/unit-util.h
tests_unit_test_image_layer_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_image_layer_LDADD = $(TEST_LIBS)

# The layer unpacker's fuzz target, replayed over tests/fuzz/corpus/layer/ in make check.
check_PROGRAMS += tests/fuzz/fuzz-layer-replay
TESTS += tests/fuzz/fuzz-layer-replay
tests_fuzz_fuzz_layer_replay_SOURCES = \
	tests/fuzz/fuzz.h \
	tests/fuzz/fuzz-layer.c \
	tests/fuzz/fuzz-replay.c
tests_fuzz_fuzz_layer_replay_CFLAGS = $(AM_CFLAGS)
tests_fuzz_fuzz_layer_replay_LDADD = $(PODCORE_LIBS)

if ENABLE_FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz-layer-libfuzzer
tests_fuzz_fuzz_layer_libfuzzer_SOURCES = \
	tests/fuzz/fuzz.h \
	tests/fuzz/fuzz-layer.c
tests_fuzz_fuzz_layer_libfuzzer_CFLAGS = $(AM_CFLAGS)
tests_fuzz_fuzz_layer_libfuzzer_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_layer_libfuzzer_LDADD = $(PODCORE_LIBS)

# make fuzz-layer: like make fuzz, for the layer unpacker (run it as root).
fuzz-layer: tests/fuzz/fuzz-layer-libfuzzer
	@rm -rf $(FUZZ_WORKDIR)/layer
	@$(MKDIR_P) $(FUZZ_WORKDIR)/layer $(FUZZ_WORKDIR)/artifacts
	@cp $(abs_top_srcdir)/tests/fuzz/corpus/layer/* $(FUZZ_WORKDIR)/layer/
	@chmod -R u+w $(FUZZ_WORKDIR)/layer
	ASAN_OPTIONS=detect_leaks=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	./tests/fuzz/fuzz-layer-libfuzzer \
		-max_total_time=$(FUZZ_SECONDS) -max_len=$(FUZZ_MAX_LEN) \
		-artifact_prefix=$(FUZZ_WORKDIR)/artifacts/ -print_final_stats=1 \
		$(FUZZ_FLAGS) \
		$(FUZZ_WORKDIR)/layer
else
fuzz-layer: fuzz
endif
.PHONY: fuzz-layer

check_PROGRAMS += tests/unit/test-image-store
TESTS += tests/unit/test-image-store
tests_unit_test_image_store_SOURCES = tests/unit/test-image-store.c tests/unit/unit-util.h
tests_unit_test_image_store_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_image_store_LDADD = $(TEST_LIBS)

# Blob store, image documents and image_load(): OCI layouts, oci-archive, docker-archive.
check_PROGRAMS += tests/image/image-load-tool
tests_image_image_load_tool_SOURCES = tests/image/image-load-tool.c
tests_image_image_load_tool_LDADD = $(PODCORE_LIBS)
TESTS += tests/image/test_image_load.py
EXTRA_DIST += tests/image/test_image_load.py

# The image document parsers' fuzz target, replayed over tests/fuzz/corpus/image/ in make check.
check_PROGRAMS += tests/fuzz/fuzz-image-replay
TESTS += tests/fuzz/fuzz-image-replay
tests_fuzz_fuzz_image_replay_SOURCES = \
	tests/fuzz/fuzz.h \
	tests/fuzz/fuzz-image.c \
	tests/fuzz/fuzz-replay.c
tests_fuzz_fuzz_image_replay_CFLAGS = $(AM_CFLAGS)
tests_fuzz_fuzz_image_replay_LDADD = $(PODCORE_LIBS)

if ENABLE_FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz-image-libfuzzer
tests_fuzz_fuzz_image_libfuzzer_SOURCES = \
	tests/fuzz/fuzz.h \
	tests/fuzz/fuzz-image.c
tests_fuzz_fuzz_image_libfuzzer_CFLAGS = $(AM_CFLAGS)
tests_fuzz_fuzz_image_libfuzzer_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_image_libfuzzer_LDADD = $(PODCORE_LIBS)

# make fuzz-image: like make fuzz, for the image document parsers.
fuzz-image: tests/fuzz/fuzz-image-libfuzzer
	@rm -rf $(FUZZ_WORKDIR)/image
	@$(MKDIR_P) $(FUZZ_WORKDIR)/image $(FUZZ_WORKDIR)/artifacts
	@cp $(abs_top_srcdir)/tests/fuzz/corpus/image/* $(FUZZ_WORKDIR)/image/
	@chmod -R u+w $(FUZZ_WORKDIR)/image
	ASAN_OPTIONS=detect_leaks=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	./tests/fuzz/fuzz-image-libfuzzer \
		-max_total_time=$(FUZZ_SECONDS) -max_len=$(FUZZ_MAX_LEN) \
		-dict=$(abs_top_srcdir)/tests/fuzz/image.dict \
		-artifact_prefix=$(FUZZ_WORKDIR)/artifacts/ -print_final_stats=1 \
		$(FUZZ_FLAGS) \
		$(FUZZ_WORKDIR)/image
else
fuzz-image: fuzz
endif
.PHONY: fuzz-image
EXTRA_DIST += tests/fuzz/image.dict

# Image records (names to manifests), layers unpacked once, and the collection of unused ones.
check_PROGRAMS += tests/unit/test-image-records
TESTS += tests/unit/test-image-records
tests_unit_test_image_records_SOURCES = tests/unit/test-image-records.c tests/unit/unit-util.h
tests_unit_test_image_records_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_image_records_LDADD = $(TEST_LIBS)

# Loaded images run by a real podd: image config applied, ls, inspect, rm, prune.
TESTS += tests/integration/test_image_run.py
EXTRA_DIST += tests/integration/test_image_run.py
