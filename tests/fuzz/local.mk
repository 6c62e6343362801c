# SPDX-License-Identifier: Apache-2.0
# Fuzz targets. Every build links each target with fuzz-replay.c into a check
# program that replays tests/fuzz/corpus/<target>/ (seeds and crash
# reproducers); --enable-fuzzing also links it with libFuzzer for `make fuzz`.
FUZZ_SECONDS = 600
FUZZ_MAX_LEN = 65536
# Extra libFuzzer options, e.g. make fuzz FUZZ_FLAGS='-timeout=10 -jobs=4'.
FUZZ_FLAGS =
FUZZ_WORKDIR = $(abs_top_builddir)/tests/fuzz/work

# A reproducer of each bug the fuzzers found stays in corpus/<target>/ once fixed
# (replay one by hand: tests/fuzz/fuzz-manifest-replay FILE).
EXTRA_DIST += tests/fuzz/fuzz.h tests/fuzz/manifest.dict

check_PROGRAMS += tests/fuzz/fuzz-manifest-replay
TESTS += tests/fuzz/fuzz-manifest-replay
tests_fuzz_fuzz_manifest_replay_SOURCES = \
	tests/fuzz/fuzz.h \
	tests/fuzz/fuzz-manifest.c \
	tests/fuzz/fuzz-replay.c
tests_fuzz_fuzz_manifest_replay_CFLAGS = $(AM_CFLAGS)
tests_fuzz_fuzz_manifest_replay_LDADD = $(PODCORE_LIBS)

if ENABLE_FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz-manifest-libfuzzer
tests_fuzz_fuzz_manifest_libfuzzer_SOURCES = \
	tests/fuzz/fuzz.h \
	tests/fuzz/fuzz-manifest.c
tests_fuzz_fuzz_manifest_libfuzzer_CFLAGS = $(AM_CFLAGS)
tests_fuzz_fuzz_manifest_libfuzzer_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_manifest_libfuzzer_LDADD = $(PODCORE_LIBS)

# New inputs land in a writable copy of the corpus; crash-*, leak-*,
# timeout-* and oom-* reproducers in $(FUZZ_WORKDIR)/artifacts/.
fuzz: tests/fuzz/fuzz-manifest-libfuzzer
	@rm -rf $(FUZZ_WORKDIR)/manifest
	@$(MKDIR_P) $(FUZZ_WORKDIR)/manifest $(FUZZ_WORKDIR)/artifacts
	@cp $(abs_top_srcdir)/tests/fuzz/corpus/manifest/* $(FUZZ_WORKDIR)/manifest/
	@chmod -R u+w $(FUZZ_WORKDIR)/manifest
	ASAN_OPTIONS=detect_leaks=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	./tests/fuzz/fuzz-manifest-libfuzzer \
		-max_total_time=$(FUZZ_SECONDS) -max_len=$(FUZZ_MAX_LEN) \
		-dict=$(abs_top_srcdir)/tests/fuzz/manifest.dict \
		-artifact_prefix=$(FUZZ_WORKDIR)/artifacts/ -print_final_stats=1 \
		$(FUZZ_FLAGS) \
		$(FUZZ_WORKDIR)/manifest
else
fuzz:
	@echo "make fuzz needs a build configured for libFuzzer, in a separate build directory:" >&2
	@echo "  mkdir build-fuzz && cd build-fuzz &&" >&2
	@echo "  CC=clang $(abs_top_srcdir)/configure --enable-fuzzing --enable-sanitizers && make fuzz" >&2
	@echo "(make fuzz FUZZ_SECONDS=N sets the run time, default 600)" >&2
	@false
endif

# Not hooked to clean-local (one owner per hook): run by hand to drop the work copy.
clean-fuzz:
	-rm -rf $(FUZZ_WORKDIR)

.PHONY: fuzz clean-fuzz
