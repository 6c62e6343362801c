# SPDX-License-Identifier: Apache-2.0
# The registry client: OCI distribution API over libcurl.
libpodcore_la_SOURCES += \
	src/registry/registry.h \
	src/registry/registry-internal.h \
	src/registry/registry-config.c \
	src/registry/registry-pull.c
AM_CFLAGS += $(CURL_CFLAGS)
PODCORE_LIBS += $(CURL_LIBS)

# The registry client against a real registry (docker-registry) the test starts on 127.0.0.1.
check_PROGRAMS += tests/registry/registry-pull-tool
tests_registry_registry_pull_tool_SOURCES = tests/registry/registry-pull-tool.c
tests_registry_registry_pull_tool_LDADD = $(PODCORE_LIBS)
TESTS += tests/registry/test_registry_pull.py
EXTRA_DIST += tests/registry/test_registry_pull.py
