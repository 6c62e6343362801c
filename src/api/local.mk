# SPDX-License-Identifier: Apache-2.0
libpodcore_la_SOURCES += \
	src/api/api.h \
	src/api/api-protocol.c \
	src/api/api-logs.c \
	src/api/api-server.c \
	src/api/api-client.c

check_PROGRAMS += tests/unit/test-api
TESTS += tests/unit/test-api
tests_unit_test_api_SOURCES = tests/unit/test-api.c
tests_unit_test_api_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_api_LDADD = $(TEST_LIBS)

# The request parser's fuzz target, replayed over tests/fuzz/corpus/api/ in make check.
check_PROGRAMS += tests/fuzz/fuzz-api-replay
TESTS += tests/fuzz/fuzz-api-replay
tests_fuzz_fuzz_api_replay_SOURCES = \
	tests/fuzz/fuzz.h \
	tests/fuzz/fuzz-api.c \
	tests/fuzz/fuzz-replay.c
tests_fuzz_fuzz_api_replay_CFLAGS = $(AM_CFLAGS)
tests_fuzz_fuzz_api_replay_LDADD = $(PODCORE_LIBS)

if ENABLE_FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz-api-libfuzzer
tests_fuzz_fuzz_api_libfuzzer_SOURCES = \
	tests/fuzz/fuzz.h \
	tests/fuzz/fuzz-api.c
tests_fuzz_fuzz_api_libfuzzer_CFLAGS = $(AM_CFLAGS)
tests_fuzz_fuzz_api_libfuzzer_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_api_libfuzzer_LDADD = $(PODCORE_LIBS)

# make fuzz-api: like make fuzz, for the API request parser.
fuzz-api: tests/fuzz/fuzz-api-libfuzzer
	@rm -rf $(FUZZ_WORKDIR)/api
	@$(MKDIR_P) $(FUZZ_WORKDIR)/api $(FUZZ_WORKDIR)/artifacts
	@cp $(abs_top_srcdir)/tests/fuzz/corpus/api/* $(FUZZ_WORKDIR)/api/
	@chmod -R u+w $(FUZZ_WORKDIR)/api
	ASAN_OPTIONS=detect_leaks=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	./tests/fuzz/fuzz-api-libfuzzer \
		-max_total_time=$(FUZZ_SECONDS) -max_len=$(FUZZ_MAX_LEN) \
		-artifact_prefix=$(FUZZ_WORKDIR)/artifacts/ -print_final_stats=1 \
		$(FUZZ_FLAGS) \
		$(FUZZ_WORKDIR)/api
else
fuzz-api: fuzz
endif
.PHONY: fuzz-api

# A daemon stand-in serving canned pods, for the protocol and podctl tests.
check_PROGRAMS += tests/api/api-test-server
tests_api_api_test_server_SOURCES = tests/api/api-test-server.c
tests_api_api_test_server_LDADD = $(PODCORE_LIBS)

TESTS += tests/api/test_api.py
EXTRA_DIST += tests/api/test_api.py
