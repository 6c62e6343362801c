# SPDX-License-Identifier: Apache-2.0
libpodcore_la_SOURCES += \
	src/base/base.h \
	src/base/base-error.c \
	src/base/base-file.c \
	src/base/base-log.c \
	src/base/base-string.c
