# SPDX-License-Identifier: Apache-2.0
libexec_PROGRAMS += podd-monitor podd-monitor-watch
podd_monitor_SOURCES = \
	src/monitor/main.c \
	src/monitor/monitor.h \
	src/monitor/monitor-watch.c
podd_monitor_LDADD = $(PODCORE_LIBS)
# Every symbol bound at exec: the spawner's children would each run the lazy resolver anew.
# MONITOR_LDFLAGS: a static PIE where possible (configure.ac).
podd_monitor_LDFLAGS = $(AM_LDFLAGS) -Wl,-z,now $(MONITOR_LDFLAGS)
# The process that stays for the container's lifetime: libc only, so it stays small.
podd_monitor_watch_SOURCES = \
	src/monitor/watch.c \
	src/monitor/monitor.h \
	src/monitor/monitor-watch.c
podd_monitor_watch_LDADD = libpodcore.la

EXTRA_DIST += tests/bench/bench_runtime.py
EXTRA_DIST += tests/bench/bench_daemon.py
EXTRA_DIST += tests/bench/bench_image.py

# podd end to end, each figure as a ratio to the floor against its target; then start-to-exit
# latency against the floor and runc, monitor memory; then image pulls against skopeo + umoci
# and starts from a 3-layer image against a plain directory (root; not part of make check).
# bench_daemon.py first: the others' removals on the disk would slow its cold starts (see it).
bench: podd-monitor podd-monitor-watch podd podd-image-loader podctl
	$(PYTHON3) $(top_srcdir)/tests/bench/bench_daemon.py --builddir $(abs_top_builddir)
	$(PYTHON3) $(top_srcdir)/tests/bench/bench_runtime.py --monitor $(abs_top_builddir)/podd-monitor
	$(PYTHON3) $(top_srcdir)/tests/bench/bench_image.py --builddir $(abs_top_builddir)
.PHONY: bench
