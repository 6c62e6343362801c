/* SPDX-License-Identifier: Apache-2.0 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "podctl.h"

int podctl_load_manifest(const char *path, ManifestFile **ret, PdError *reterr)
{
    _cleanup_free_ char *buf = NULL;
    size_t size;
    int r;

    if (!streq(path, "-"))
        return manifest_load_at(AT_FDCWD, path, ret, reterr);
    r = read_fd_full(STDIN_FILENO, MANIFEST_MAX_BYTES, &buf, &size);
    if (r == -EFBIG)
        r = pd_error_set(reterr, r, "the input is larger than %u bytes (1 MiB)",
                         MANIFEST_MAX_BYTES);
    else if (r < 0)
        r = pd_error_set(reterr, r, "cannot read: %s", strerror(-r));
    else
        r = manifest_parse_buffer("<stdin>", buf, size, MANIFEST_FORMAT_YAML, ret, reterr);
    if (r < 0)
        pd_error_set_file(reterr, "<stdin>");
    return r;
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int expand_directory(const char *dir, char ***l)
{
    _cleanup_(strv_freep) char **names = NULL;
    DIR *d = opendir(dir);
    struct dirent *de;
    int r = 0;

    if (!d) {
        r = -errno;
        fprintf(stderr, "podctl: %s: cannot open directory: %s\n", dir, strerror(errno));
        return r;
    }
    while ((de = readdir(d))) {
        if (!manifest_name_is_candidate(de->d_name))
            continue;
        if (strv_extend(&names, de->d_name) < 0) {
            r = -ENOMEM;
            break;
        }
    }
    (void)closedir(d);
    if (r < 0)
        return r;
    if (names)
        qsort(names, strv_length(names), sizeof(char *), compare_strings);
    for (size_t i = 0; names && names[i]; i++) {
        char *p = strdup_printf("%s%s%s", dir, endswith(dir, "/") ? "" : "/", names[i]);

        if (strv_push_take(l, p) < 0)
            return -ENOMEM;
    }
    return 0;
}

int podctl_expand_paths(char *const *args, char ***ret)
{
    _cleanup_(strv_freep) char **l = calloc(1, sizeof(char *));
    int r;

    if (!l)
        return -ENOMEM;
    for (size_t i = 0; args && args[i]; i++) {
        struct stat st;

        if (!streq(args[i], "-") && stat(args[i], &st) == 0 && S_ISDIR(st.st_mode))
            r = expand_directory(args[i], &l);
        else
            r = strv_extend(&l, args[i]);
        if (r < 0)
            return r;
    }
    *ret = move_ptr(l);
    return 0;
}

/* Ordered by position, and by discovery where positions tie, so output reads top to bottom. */
static int compare_diags(const void *a, const void *b)
{
    const Diag *x = *(const Diag *const *)a, *y = *(const Diag *const *)b;

    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    if (x->column != y->column)
        return x->column < y->column ? -1 : 1;
    return x < y ? -1 : x > y;
}

void podctl_print_diags(const ManifestFile *f)
{
    _cleanup_free_ const Diag **all = NULL;
    size_t n = 0;

    for (size_t i = 0; i < f->n_docs; i++)
        n += f->docs[i].diags.n;
    all = calloc(n ? n : 1, sizeof(Diag *));
    if (!all)
        return;
    n = 0;
    for (size_t i = 0; i < f->n_docs; i++)
        for (size_t j = 0; j < f->docs[i].diags.n; j++)
            all[n++] = &f->docs[i].diags.items[j];
    qsort(all, n, sizeof(Diag *), compare_diags);
    for (size_t i = 0; i < n; i++) {
        _cleanup_free_ char *s = diag_format(all[i], f->name);

        if (s)
            fprintf(stderr, "%s\n", s);
    }
}

void podctl_print_error(const PdError *e)
{
    char buf[PD_ERROR_MESSAGE_MAX + PD_ERROR_FILE_MAX + 64];

    pd_error_format(e, buf, sizeof(buf));
    fprintf(stderr, "%s\n", buf);
}

bool podctl_use_color(int fd)
{
    const char *nc = getenv("NO_COLOR");

    if (nc && *nc)
        return false;
    return isatty(fd) == 1;
}

int podctl_parse_seconds(const char *s, uint64_t *ret)
{
    uint64_t usec;
    int64_t n;

    /* A bare number is seconds, as kubectl's --timeout takes it too. */
    if (parse_int64(s, &n) >= 0) {
        if (n <= 0)
            return -EINVAL;
        *ret = (uint64_t)n;
        return 0;
    }
    if (duration_parse_usec(s, &usec) < 0 || usec == 0)
        return -EINVAL;
    *ret = (usec + 999999) / 1000000;
    return 0;
}
