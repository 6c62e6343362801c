/* SPDX-License-Identifier: Apache-2.0 */
/*
 * podd-image-loader IMAGES-DIR ARCHIVE: loads one archive of podd's drop-in
 * directory into the image store and reports on standard output, one line
 * each: "loaded NAME DIGEST", "warning TEXT", "error TEXT". Exits 0 when
 * every image was stored.
 *
 * podd-image-loader --pull IMAGES-DIR REF CONFIG AUTH FLAGS: the child's side
 * of a pull podd started (registry_pull_start_exec()): reports on fd 3 as
 * registry_pull_child_run() does. CONFIG and AUTH may be "" (none).
 *
 * podd runs it (manager-incoming.c, manager-image.c) so that podd itself
 * does not carry libarchive, libcurl and what they load (some 7 MiB of
 * resident libraries).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/base.h"
#include "image/image.h"
#include "registry/registry.h"

static void report(const char *kind, const char *text)
{
    printf("%s %s\n", kind, text);
}

int main(int argc, char **argv)
{
    _cleanup_(image_load_result_freep) ImageLoadResult *res = NULL;
    PdError e = {0};
    bool failed = false;

    if (argc == 7 && streq(argv[1], "--pull")) {
        ImageReference ref;
        char *end;
        unsigned long flags = strtoul(argv[6], &end, 10);

        if (*end || image_reference_parse(argv[3], &ref, &e) < 0) {
            (void)dprintf(3, "error %d bad pull arguments\n", EINVAL);
            return 2;
        }
        registry_pull_child_run(3, argv[2], &ref, argv[4][0] ? argv[4] : NULL,
                                argv[5][0] ? argv[5] : NULL, (unsigned)flags);
    }
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
