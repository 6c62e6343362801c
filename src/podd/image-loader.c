/* SPDX-License-Identifier: Apache-2.0 */
/*
 * podd-image-loader IMAGES-DIR ARCHIVE: loads one archive of podd's drop-in
 * directory into the image store and reports on standard output, one line
 * each: "loaded NAME DIGEST", "warning TEXT", "error TEXT". Exits 0 when
 * every image was stored. podd runs it for each archive (manager-incoming.c)
 * so that podd itself does not carry libarchive and what it loads (some
 * 3 MiB of resident libraries).
 */
#include <signal.h>
#include <stdio.h>

#include "base/base.h"
#include "image/image.h"

static void report(const char *kind, const char *text)
{
    printf("%s %s\n", kind, text);
}

int main(int argc, char **argv)
{
    _cleanup_(image_load_result_freep) ImageLoadResult *res = NULL;
    PdError e = {0};
    bool failed = false;

    if (argc != 3) {
        fprintf(stderr, "usage: podd-image-loader IMAGES-DIR ARCHIVE (run by podd)\n");
        return 2;
    }
    (void)signal(SIGPIPE, SIG_IGN);
    if (image_load(argv[1], argv[2], &res, &e) < 0) {
        report("error", e.message);
        return 1;
    }
    if (res->n_images == 0) {
        report("error", "no image for this platform");
        return 1;
    }
    for (size_t i = 0; i < res->n_images; i++) {
        _cleanup_(strv_freep) char **warnings = NULL;
        ImageRecord rec;
        char buf[IMAGE_NAME_SIZE + IMAGE_DIGEST_SIZE + 2];

        e = (PdError){0};
        if (image_store_add(argv[1], &res->images[i], NULL, 0, &rec, &warnings, &e) < 0) {
            report("error", e.message);
            failed = true;
            continue;
        }
        for (char **w = warnings; w && *w; w++)
            report("warning", *w);
        (void)snprintf(buf, sizeof(buf), "%s %s", rec.name, rec.digest);
        report("loaded", buf);
    }
    return fflush(stdout) == 0 && !failed ? 0 : 1;
}
