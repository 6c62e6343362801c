# SPDX-License-Identifier: Apache-2.0
bin_PROGRAMS += podctl
podctl_SOURCES = \
	src/podctl/podctl.h \
	src/podctl/main.c \
	src/podctl/podctl-util.c \
	src/podctl/cmd-validate.c \
	src/podctl/podctl-api.c \
	src/podctl/cmd-get.c \
	src/podctl/cmd-describe.c \
	src/podctl/cmd-apply.c \
	src/podctl/cmd-image.c \
	src/podctl/cmd-image-pull.c \
	src/podctl/cmd-logs.c \
	src/podctl/cmd-events.c \
	src/podctl/cmd-complete.c
podctl_LDADD = $(PODCORE_LIBS)
include src/podctl/graph.mk
