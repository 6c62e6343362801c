# SPDX-License-Identifier: Apache-2.0
# The daemon: manager (records, lifecycle) in the library, main.c in the program.
libpodcore_la_SOURCES += \
	src/podd/manager.h \
	src/podd/manager-internal.h \
	src/podd/manager.c \
	src/podd/manager-pod.c \
	src/podd/manager-probe.c \
	src/podd/manager-apply.c \
	src/podd/manager-image.c \
	src/podd/manager-incoming.c \
	src/podd/manager-logs.c

bin_PROGRAMS += podd
podd_SOURCES = src/podd/main.c
podd_CPPFLAGS = $(AM_CPPFLAGS) -DLIBEXECDIR='"$(libexecdir)"'
podd_LDADD = $(PODCORE_LIBS)
# Only the libraries podd calls: libarchive (and the 3 MiB it maps) is podd-image-loader's.
podd_LDFLAGS = -Wl,--as-needed
# Loads the drop-in directory's archives for podd: libarchive stays out of podd's memory.
libexec_PROGRAMS += podd-image-loader
podd_image_loader_SOURCES = src/podd/image-loader.c
podd_image_loader_LDADD = $(PODCORE_LIBS)

TESTS += tests/integration/test_daemon.py tests/integration/test_logs.py
EXTRA_DIST += tests/integration/test_daemon.py tests/integration/test_logs.py
TESTS += tests/integration/test_apply.py tests/integration/test_safe_update.py tests/integration/test_podd_options.py tests/integration/test_security.py tests/integration/test_manifest_warnings.py tests/integration/test_pod_outcomes.py
EXTRA_DIST += tests/integration/test_apply.py tests/integration/test_safe_update.py tests/integration/test_podd_options.py tests/integration/test_security.py tests/integration/test_manifest_warnings.py tests/integration/test_pod_outcomes.py
TESTS += tests/integration/test_walkthrough.py tests/integration/test_crash_state.py
EXTRA_DIST += tests/integration/test_walkthrough.py tests/integration/test_crash_state.py
TESTS += tests/integration/test_probes.py tests/integration/test_spawner.py
EXTRA_DIST += tests/integration/test_probes.py tests/integration/test_spawner.py

check_PROGRAMS += tests/unit/test-manager-runtimes
TESTS += tests/unit/test-manager-runtimes
tests_unit_test_manager_runtimes_SOURCES = tests/unit/test-manager-runtimes.c tests/unit/unit-util.h
tests_unit_test_manager_runtimes_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_manager_runtimes_LDADD = $(TEST_LIBS)
