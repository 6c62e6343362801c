# SPDX-License-Identifier: Apache-2.0
libpodcore_la_SOURCES += \
	src/manifest/manifest.h \
	src/manifest/manifest-internal.h \
	src/manifest/manifest-tree.c \
	src/manifest/manifest-model.c \
	src/manifest/manifest-quantity.c \
	src/manifest/manifest-validate.c \
	src/manifest/manifest-load.c
