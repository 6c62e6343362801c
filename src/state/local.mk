# SPDX-License-Identifier: Apache-2.0
libpodcore_la_SOURCES += \
	src/state/state.h \
	src/state/state-internal.h \
	src/state/state-events.c \
	src/state/state-pod.c \
	src/state/state-store.c \
	src/state/state-sync.c

check_PROGRAMS += tests/unit/test-state
TESTS += tests/unit/test-state
tests_unit_test_state_SOURCES = tests/unit/test-state.c tests/unit/unit-util.h
tests_unit_test_state_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_state_LDADD = $(TEST_LIBS)

# The fuzz target for the files read back after a restart (state.json, once.json,
# exit.json), replayed over tests/fuzz/corpus/state/ in make check.
check_PROGRAMS += tests/fuzz/fuzz-state-replay
TESTS += tests/fuzz/fuzz-state-replay
tests_fuzz_fuzz_state_replay_SOURCES = \
	tests/fuzz/fuzz.h \
	tests/fuzz/fuzz-state.c \
	tests/fuzz/fuzz-replay.c
tests_fuzz_fuzz_state_replay_CFLAGS = $(AM_CFLAGS)
tests_fuzz_fuzz_state_replay_LDADD = $(PODCORE_LIBS)

if ENABLE_FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz-state-libfuzzer
tests_fuzz_fuzz_state_libfuzzer_SOURCES = \
	tests/fuzz/fuzz.h \
	tests/fuzz/fuzz-state.c
tests_fuzz_fuzz_state_libfuzzer_CFLAGS = $(AM_CFLAGS)
tests_fuzz_fuzz_state_libfuzzer_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_state_libfuzzer_LDADD = $(PODCORE_LIBS)

# make fuzz-state: like make fuzz, for the state files.
fuzz-state: tests/fuzz/fuzz-state-libfuzzer
	@rm -rf $(FUZZ_WORKDIR)/state
	@$(MKDIR_P) $(FUZZ_WORKDIR)/state $(FUZZ_WORKDIR)/artifacts
	@cp $(abs_top_srcdir)/tests/fuzz/corpus/state/* $(FUZZ_WORKDIR)/state/
	@chmod -R u+w $(FUZZ_WORKDIR)/state
	ASAN_OPTIONS=detect_leaks=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	./tests/fuzz/fuzz-state-libfuzzer \
		-max_total_time=$(FUZZ_SECONDS) -max_len=$(FUZZ_MAX_LEN) \
		-dict=$(abs_top_srcdir)/tests/fuzz/state.dict \
		-artifact_prefix=$(FUZZ_WORKDIR)/artifacts/ -print_final_stats=1 \
		$(FUZZ_FLAGS) \
		$(FUZZ_WORKDIR)/state
else
fuzz-state: fuzz
endif
.PHONY: fuzz-state
EXTRA_DIST += tests/fuzz/state.dict
