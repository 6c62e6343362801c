/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the layer unpacker: bytes -> a memfd -> image_layer_unpack()
 * into <tmp>/layer, devices skipped. Whatever the input, nothing may appear
 * in <tmp> but layer/ (the check that no entry lands outside its layer),
 * and every warning is freed. Never prints: libFuzzer owns stdout and
 * stderr. Run as root to reach owners, whiteouts and trusted.* attributes.
 */
#include <assert.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "base/base.h"
#include "fuzz.h"
#include "image/image-internal.h"
#include "image/image.h"

static int write_all(int fd, const uint8_t *data, size_t size)
{
    while (size > 0) {
        ssize_t n = write(fd, data, size);

        if (n < 0)
            return -errno;
        data += n;
        size -= (size_t)n;
    }
    return 0;
}

/* Only "layer" in dir. */
static void assert_alone(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;

    assert(d);
    while ((de = readdir(d)))
        assert(streq(de->d_name, ".") || streq(de->d_name, "..") || streq(de->d_name, "layer"));
    (void)closedir(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    _cleanup_(strv_freep) char **warnings = NULL;
    _cleanup_close_ int fd = -1, top_fd = -1, layer_fd = -1;
    char top[] = "/tmp/fuzz-layer-XXXXXX";
    PdError err = {0};
    int r;

    fd = memfd_create("layer", MFD_CLOEXEC);
    assert(fd >= 0);
    if (write_all(fd, data, size) < 0 || lseek(fd, 0, SEEK_SET) < 0)
        return 0;
    if (!mkdtemp(top))
        return 0;
    top_fd = open(top, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert(top_fd >= 0);
    assert(mkdirat(top_fd, "layer", 0755) == 0);
    layer_fd = openat(top_fd, "layer", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert(layer_fd >= 0);

    r = image_layer_unpack(fd, layer_fd, "fuzz", IMAGE_LAYER_SKIP_DEVICES, &warnings, &err);
    /* Every failure but running out of memory names the layer. */
    if (r < 0 && r != -ENOMEM)
        assert(startswith(err.message, "layer 'fuzz': "));
    for (char **w = warnings; w && *w; w++)
        assert(startswith(*w, "layer 'fuzz': "));

    assert_alone(top);
    (void)image_rm_rf_at(top_fd, "layer");
    (void)rmdir(top);
    return 0;
}
