# SPDX-License-Identifier: Apache-2.0
podctl_SOURCES += src/podctl/cmd-graph.c
