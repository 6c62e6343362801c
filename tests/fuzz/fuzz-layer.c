/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the layer unpacker: bytes -> a memfd -> image_layer_unpack()
 * into <tmp>/layer, devices skipped. Whatever the input, nothing may appear
 * in <tmp> but layer/ (the check that no entry lands outside its layer),
 * and every warning is freed. Never prints: libFuzzer owns stdout and
 * stderr. Run as root to reach owners, whiteouts and trusted.* attributes.
 *
 * Random bytes rarely make a tar header with a valid checksum, so an input
 * starting with "#layer\n" is a script instead, one entry a line, which
 * libarchive's writer turns into a tar: "TYPE NAME [DATA]", TYPE being
 * f (file, DATA its content), d, l (symlink to DATA), h (hard link to
 * DATA), c (device 1:3), p (fifo) or x (file with the xattr DATA=1). That
 * steers the fuzzer at the unpacker's own paths: names, links, whiteouts.
 */
#include <archive.h>
#include <archive_entry.h>
#include <assert.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

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

#define SCRIPT_MAGIC "#layer\n"

static void script_entry(struct archive *w, char type, const char *name, const char *data)
{
    struct archive_entry *e = archive_entry_new();
    size_t len = type == 'f' ? strlen(data) : 0;

    assert(e);
    archive_entry_set_pathname(e, name);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_filetype(e, AE_IFREG);
    switch (type) {
    case 'd':
        archive_entry_set_filetype(e, AE_IFDIR);
        break;
    case 'l':
        archive_entry_set_filetype(e, AE_IFLNK);
        archive_entry_set_symlink(e, data);
        break;
    case 'h':
        archive_entry_set_hardlink(e, data);
        break;
    case 'c':
        archive_entry_set_filetype(e, AE_IFCHR);
        archive_entry_set_rdev(e, makedev(1, 3));
        break;
    case 'p':
        archive_entry_set_filetype(e, AE_IFIFO);
        break;
    case 'x':
        archive_entry_xattr_add_entry(e, data, "1", 1);
        break;
    default:
        break;
    }
    archive_entry_set_size(e, (la_int64_t)len);
    if (archive_write_header(w, e) == ARCHIVE_OK && len > 0)
        (void)archive_write_data(w, data, len);
    archive_entry_free(e);
}

/* Writes the tar a script describes to fd. */
static void write_script(int fd, const char *text)
{
    _cleanup_free_ char *copy = strdup(text);
    struct archive *w = archive_write_new();
    char *save = NULL;

    assert(copy && w);
    assert(archive_write_set_format_pax_restricted(w) == ARCHIVE_OK);
    assert(archive_write_open_fd(w, fd) == ARCHIVE_OK);
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *name, *data;

        if (line[0] == 0 || line[1] != ' ')
            continue;
        name = line + 2;
        data = strchr(name, ' ');
        if (data)
            *data++ = 0;
        if (*name)
            script_entry(w, line[0], name, data ? data : "");
    }
    (void)archive_write_close(w);
    (void)archive_write_free(w);
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
    if (size >= strlen(SCRIPT_MAGIC) && memcmp(data, SCRIPT_MAGIC, strlen(SCRIPT_MAGIC)) == 0) {
        _cleanup_free_ char *text = strndup((const char *)data, size);

        if (!text)
            return 0;
        write_script(fd, text);
    } else if (write_all(fd, data, size) < 0)
        return 0;
    if (lseek(fd, 0, SEEK_SET) < 0)
        return 0;
    if (!mkdtemp(top))
        return 0;
    top_fd = open(top, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert(top_fd >= 0);
    assert(mkdirat(top_fd, "layer", 0755) == 0);
    layer_fd = openat(top_fd, "layer", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert(layer_fd >= 0);

    r = image_layer_unpack(fd, layer_fd, "fuzz", IMAGE_LAYER_SKIP_DEVICES, NULL, &warnings, &err);
    /* Every failure but running out of memory names the layer. */
    if (r < 0 && r != -ENOMEM)
        assert(startswith(err.message, "layer 'fuzz': "));
    for (char **w = warnings; w && *w; w++)
        assert(startswith(*w, "layer 'fuzz': "));

    assert_alone(top);
    (void)rm_rf_at(top_fd, "layer");
    (void)rmdir(top);
    return 0;
}
