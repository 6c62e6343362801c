/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Replays corpora through LLVMFuzzerTestOneInput() without libFuzzer, so
 * that every seed and every crash reproducer runs in make check (and under
 * ASan/UBSan in the sanitizer build).
 *
 *   fuzz-<target>-replay [DIR|FILE]...
 *
 * Without arguments it reads $PODD_SRCDIR/tests/fuzz/corpus/<target>/, the
 * target being the program name between "fuzz-" and "-replay". Hidden
 * files are skipped; files run in name order. Prints TAP, one test per
 * file. A bug shows up as a sanitizer report and a non-zero exit in the
 * middle of the plan: the file after the last "ok" line is the culprit,
 * and "# running" lines on stderr name it too.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "base/base.h"
#include "fuzz.h"

/* Past this the parsers reject the input anyway; replay stays fast. */
#define REPLAY_MAX_BYTES (4u * 1024u * 1024u)

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Adds path, or the regular non-hidden files directly inside it, to *files. */
static int collect(const char *path, char ***files)
{
    _cleanup_(strv_freep) char **found = NULL;
    struct stat st;
    DIR *d;
    struct dirent *de;
    size_t n = 0;

    if (stat(path, &st) < 0)
        return -errno;
    if (!S_ISDIR(st.st_mode))
        return strv_extend(files, path);

    d = opendir(path);
    if (!d)
        return -errno;
    while ((de = readdir(d))) {
        _cleanup_free_ char *p = NULL;

        if (de->d_name[0] == '.')
            continue;
        p = strdup_printf("%s/%s", path, de->d_name);
        if (!p) {
            closedir(d);
            return -ENOMEM;
        }
        if (stat(p, &st) < 0 || !S_ISREG(st.st_mode))
            continue;
        if (strv_push_take(&found, move_ptr(p)) < 0) {
            closedir(d);
            return -ENOMEM;
        }
    }
    closedir(d);

    for (char **s = found; s && *s; s++)
        n++;
    if (n > 0)
        qsort(found, n, sizeof(char *), compare_strings);
    for (char **s = found; s && *s; s++)
        if (strv_extend(files, *s) < 0)
            return -ENOMEM;
    return 0;
}

/*
 * Reads path into a buffer of exactly its size, so that ASan catches a
 * parser reading one byte past the input (read_fd_full() adds a NUL).
 */
static int read_exact(const char *path, uint8_t **ret, size_t *ret_size)
{
    _cleanup_free_ char *text = NULL;
    _cleanup_close_ int fd = -1;
    uint8_t *buf;
    size_t size;
    int r;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -errno;
    r = read_fd_full(fd, REPLAY_MAX_BYTES, &text, &size);
    if (r < 0)
        return r;
    buf = malloc(size > 0 ? size : 1);
    if (!buf)
        return -ENOMEM;
    memcpy(buf, text, size);
    *ret = buf;
    *ret_size = size;
    return 0;
}

static char *default_corpus(const char *argv0)
{
    _cleanup_free_ char *target = NULL;
    const char *base = strrchr(argv0, '/'), *srcdir = getenv("PODD_SRCDIR");
    size_t len;

    base = base ? base + 1 : argv0;
    /* libtool wrappers run the real binary as lt-<name>. */
    if (startswith(base, "lt-"))
        base += 3;
    if (!startswith(base, "fuzz-"))
        return NULL;
    base += strlen("fuzz-");
    len = strcspn(base, "-");
    target = strndup(base, len);
    if (!target)
        return NULL;
    return strdup_printf("%s/tests/fuzz/corpus/%s", srcdir ? srcdir : ".", target);
}

int main(int argc, char *argv[])
{
    _cleanup_(strv_freep) char **files = NULL;
    _cleanup_free_ char *fallback = NULL;
    size_t n = 0, i = 0;
    int r;

    if (argc > 1) {
        for (int a = 1; a < argc; a++) {
            r = collect(argv[a], &files);
            if (r < 0) {
                printf("Bail out! cannot read '%s': %s\n", argv[a], strerror(-r));
                return 1;
            }
        }
    } else {
        fallback = default_corpus(argv[0]);
        if (!fallback) {
            printf("Bail out! cannot tell the corpus from the program name '%s'\n", argv[0]);
            return 1;
        }
        r = collect(fallback, &files);
        if (r < 0) {
            printf("Bail out! cannot read '%s': %s\n", fallback, strerror(-r));
            return 1;
        }
    }

    for (char **s = files; s && *s; s++)
        n++;
    if (n == 0) {
        printf("1..0 # SKIP empty corpus\n");
        return 0;
    }
    printf("1..%zu\n", n);
    fflush(stdout);
    for (char **s = files; *s; s++) {
        _cleanup_free_ uint8_t *data = NULL;
        const char *name = strrchr(*s, '/');
        size_t size = 0;

        i++;
        name = name ? name + 1 : *s;
        r = read_exact(*s, &data, &size);
        if (r < 0) {
            printf("not ok %zu - %s # cannot read: %s\n", i, name, strerror(-r));
            continue;
        }
        fprintf(stderr, "# running %s (%zu bytes)\n", *s, size);
        (void)LLVMFuzzerTestOneInput(data, size);
        printf("ok %zu - %s\n", i, name);
        fflush(stdout);
    }
    return 0;
}
