# SPDX-License-Identifier: Apache-2.0
# The registry client: OCI distribution API over libcurl.
libpodcore_la_SOURCES += \
	src/registry/registry.h \
	src/registry/registry-internal.h \
	src/registry/registry-config.c \
	src/registry/registry-pull.c \
	src/registry/registry-job.c \
	src/registry/registry-child.c
AM_CFLAGS += $(CURL_CFLAGS)
PODCORE_LIBS += $(CURL_LIBS)

# The registry client against a real registry (docker-registry) the test starts on 127.0.0.1.
check_PROGRAMS += tests/registry/registry-pull-tool
tests_registry_registry_pull_tool_SOURCES = tests/registry/registry-pull-tool.c
tests_registry_registry_pull_tool_LDADD = $(PODCORE_LIBS)
TESTS += tests/registry/test_registry_pull.py
EXTRA_DIST += tests/registry/test_registry_pull.py

check_PROGRAMS += tests/unit/test-registry
TESTS += tests/unit/test-registry
tests_unit_test_registry_SOURCES = tests/unit/test-registry.c tests/unit/unit-util.h
tests_unit_test_registry_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_registry_LDADD = $(TEST_LIBS)

# The parsers of what comes from registries and settings files, replayed over
# tests/fuzz/corpus/registry/ in make check.
check_PROGRAMS += tests/fuzz/fuzz-registry-replay
TESTS += tests/fuzz/fuzz-registry-replay
tests_fuzz_fuzz_registry_replay_SOURCES = \
	tests/fuzz/fuzz.h \
	tests/fuzz/fuzz-registry.c \
	tests/fuzz/fuzz-replay.c
tests_fuzz_fuzz_registry_replay_CFLAGS = $(AM_CFLAGS)
tests_fuzz_fuzz_registry_replay_LDADD = $(PODCORE_LIBS)

if ENABLE_FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz-registry-libfuzzer
tests_fuzz_fuzz_registry_libfuzzer_SOURCES = \
	tests/fuzz/fuzz.h \
	tests/fuzz/fuzz-registry.c
tests_fuzz_fuzz_registry_libfuzzer_CFLAGS = $(AM_CFLAGS)
tests_fuzz_fuzz_registry_libfuzzer_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_registry_libfuzzer_LDADD = $(PODCORE_LIBS)

# make fuzz-registry: like make fuzz, for the registry client's parsers.
fuzz-registry: tests/fuzz/fuzz-registry-libfuzzer
	@rm -rf $(FUZZ_WORKDIR)/registry
	@$(MKDIR_P) $(FUZZ_WORKDIR)/registry $(FUZZ_WORKDIR)/artifacts
	@cp $(abs_top_srcdir)/tests/fuzz/corpus/registry/* $(FUZZ_WORKDIR)/registry/
	@chmod -R u+w $(FUZZ_WORKDIR)/registry
	ASAN_OPTIONS=detect_leaks=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	./tests/fuzz/fuzz-registry-libfuzzer \
		-max_total_time=$(FUZZ_SECONDS) -max_len=$(FUZZ_MAX_LEN) \
		-artifact_prefix=$(FUZZ_WORKDIR)/artifacts/ -print_final_stats=1 \
		$(FUZZ_FLAGS) \
		$(FUZZ_WORKDIR)/registry
else
fuzz-registry: fuzz
endif
.PHONY: fuzz-registry

# podctl image pull against a real podd and registry.
TESTS += tests/integration/test_image_pull.py
EXTRA_DIST += tests/integration/test_image_pull.py
