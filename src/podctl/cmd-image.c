/* SPDX-License-Identifier: Apache-2.0 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>

#include "image/image.h"
#include "podctl.h"

static volatile sig_atomic_t import_cancel = 0;

static void image_usage(FILE *f)
{
    fputs("Usage: podctl image load -i ARCHIVE|LAYOUT-DIR\n"
          "       podctl image import NAME[:TAG] ROOTFS.tar|ROOTFS.tar.gz|DIR|-\n"
          "       podctl image pull [--registries FILE] [--auth FILE] REFERENCE\n"
          "       podctl image ls [-o json]\n"
          "       podctl image inspect NAME[:TAG][@DIGEST]\n"
          "       podctl image rm NAME[:TAG][@DIGEST]...\n"
          "       podctl image prune\n"
          "\n"
          "Manages podd's image store, where a container's 'image:' is found. A reference\n"
          "is [HOST[:PORT]/]PATH[:TAG][@sha256:DIGEST], normalised as Docker does: 'nginx'\n"
          "is docker.io/library/nginx:latest.\n"
          "\n"
          "  load     loads the images of a docker-archive (docker save), an oci-archive or\n"
          "           an OCI image layout directory, under the names the archive gives\n"
          "           (RepoTags, org.opencontainers.image.ref.name); layers are unpacked once\n"
          "           and shared; containers waiting for them start at once (root only)\n"
          "  import   unpacks a tar archive (gzip or not, '-' reads standard input) or copies a\n"
          "           directory into the store as a one-layer image NAME:TAG, replacing that\n"
          "           tag atomically; containers waiting for it start at once (root only)\n"
          "  pull     pulls REFERENCE from its registry into the store, with the settings\n"
          "           of --registries (default /etc/podd/registries.json) and the credentials\n"
          "           of --auth (default /etc/podd/auth.json) (root only)\n"
          "  ls       lists the images with their digest, size and the pods that use them\n"
          "  inspect  shows an image's digest, configuration and layers as JSON (root only)\n"
          "  rm       removes images no pod uses, and their layers no other image shares\n"
          "  prune    removes every image no pod uses, and their unshared layers\n"
          "\n"
          "Options:\n"
          "  -i, --input FILE    load: the archive or layout directory to load\n"
          "  -o, --output json   ls: the images as JSON\n"
          "  -h, --help          show this help\n"
          "\n"
          "Exit status: 0 on success, 1 on failure, 2 on usage errors.\n",
          f);
}

static bool check_ref(const char *ref, ImageReference *ret)
{
    PdError e = {0};

    if (image_reference_parse(ref, ret, &e) == 0)
        return true;
    fprintf(stderr, "podctl: invalid image reference '%s': %s\n", ref, e.message);
    return false;
}

/* The plain rootfs directory an import of ref writes: <store>/FAMILIAR-NAME/TAG. */
static bool import_ref(const char *s, ImageRef *ret)
{
    char familiar[IMAGE_NAME_SIZE], legacy[IMAGE_NAME_SIZE + IMAGE_TAG_MAX + 2];
    ImageReference ref;

    if (!check_ref(s, &ref))
        return false;
    if (ref.digest[0] || image_reference_familiar_name(&ref, familiar, sizeof(familiar)) < 0) {
        fprintf(stderr, "podctl: invalid image reference '%s': import takes a name and a tag\n", s);
        return false;
    }
    (void)snprintf(legacy, sizeof(legacy), "%s:%s", familiar, ref.tag);
    if (image_store_name_is_reserved(familiar) || image_ref_parse(legacy, ret) < 0) {
        fprintf(stderr,
                "podctl: invalid image reference '%s': import cannot name an image '%s' (a "
                "registry port or a name of the store's own directories)\n",
                s, familiar);
        return false;
    }
    return true;
}

int image_store_dir(char **ret)
{
    _cleanup_json_ json_t *result = NULL;
    const char *dir;
    int r;

    r = podctl_call(json_pack("{s:s}", "op", "image_store"), &result);
    if (r < 0)
        return r;
    dir = json_string_value(json_object_get(result, "dir"));
    if (!dir || dir[0] != '/') {
        fprintf(stderr, "podctl: podd sent no image store directory\n");
        return -EBADMSG;
    }
    *ret = strdup(dir);
    return *ret ? 0 : -ENOMEM;
}

static void on_interrupt(int sig)
{
    (void)sig;
    import_cancel = 1;
}

/* SIGINT and SIGTERM end the import cleanly; without SA_RESTART they interrupt its waits. */
static void catch_interrupts(void)
{
    struct sigaction sa = {.sa_handler = on_interrupt};

    (void)sigemptyset(&sa.sa_mask);
    (void)sigaction(SIGINT, &sa, NULL);
    (void)sigaction(SIGTERM, &sa, NULL);
    (void)signal(SIGPIPE, SIG_IGN);
}

static int image_import_cmd(int argc, char *argv[])
{
    _cleanup_free_ char *store = NULL;
    _cleanup_json_ json_t *result = NULL;
    char canonical[2 * IMAGE_REF_MAX + 2];
    PdError e = {0};
    ImageRef ref;
    int r;

    if (argc != 2) {
        fprintf(stderr, "podctl: image import needs NAME[:TAG] and a source\n");
        image_usage(stderr);
        return PODCTL_EXIT_USAGE;
    }
    if (!import_ref(argv[0], &ref))
        return PODCTL_EXIT_USAGE;
    image_ref_format(&ref, canonical, sizeof(canonical));
    if (image_store_dir(&store) < 0)
        return PODCTL_EXIT_FAILURE;
    catch_interrupts();
    r = image_import(store, &ref, argv[1], &import_cancel, &e);
    if (r < 0) {
        fprintf(stderr, "podctl: cannot import '%s' as %s: %s\n", argv[1], canonical, e.message);
        return PODCTL_EXIT_FAILURE;
    }
    printf("image %s imported\n", canonical);
    fflush(stdout);
    /* The image is in place either way; podd also finds it at its next retry. */
    if (podctl_call(json_pack("{s:s,s:s}", "op", "image_added", "image", canonical), &result) < 0)
        return PODCTL_EXIT_FAILURE;
    return PODCTL_EXIT_OK;
}

static void format_size(uint64_t bytes, char *buf, size_t size)
{
    static const char *const units[] = {"B", "kB", "MB", "GB", "TB"};
    double v = (double)bytes;
    size_t u = 0;

    while (v >= 1000 && u + 1 < ELEMENTSOF(units)) {
        v /= 1000;
        u++;
    }
    (void)snprintf(buf, size, u == 0 ? "%.0f%s" : "%.3g%s", v, units[u]);
}

/* Adds "size" (bytes) to each image; only root can ask podd where the store is. */
static void add_sizes(json_t *images)
{
    _cleanup_free_ char *store = NULL;
    json_t *img;
    size_t i;

    if (geteuid() != 0 || image_store_dir(&store) < 0)
        return;
    json_array_foreach(images, i, img)
    {
        ImageRef ref;
        _cleanup_free_ char *dir = NULL;
        uint64_t bytes;

        if (json_is_integer(json_object_get(img, "size")) ||
            image_ref_parse(json_string_value(json_object_get(img, "image")), &ref) < 0)
            continue;
        dir = image_path(store, &ref);
        if (dir && image_disk_usage(dir, &bytes) == 0)
            (void)json_object_set_new(img, "size", json_integer((json_int_t)bytes));
    }
}

static void print_images(const json_t *images)
{
    size_t i, w_name = strlen("IMAGE"), w_tag = strlen("TAG"), w_size = strlen("SIZE");
    const json_t *img;

    json_array_foreach(images, i, img)
    {
        const char *name = json_string_value(json_object_get(img, "name")) ?: "";
        const char *tag = json_string_value(json_object_get(img, "tag")) ?: "";

        w_name = strlen(name) > w_name ? strlen(name) : w_name;
        w_tag = strlen(tag) > w_tag ? strlen(tag) : w_tag;
    }
    w_size = 8;
    printf("%-*s   %-*s   %-12s   %-*s   %s\n", (int)w_name, "IMAGE", (int)w_tag, "TAG", "DIGEST",
           (int)w_size, "SIZE", "USED BY");
    json_array_foreach(images, i, img)
    {
        const json_t *size = json_object_get(img, "size"), *users = json_object_get(img, "usedBy"),
                     *u;
        const char *digest = json_string_value(json_object_get(img, "digest"));
        char sz[32] = "<unknown>", used[1024] = "", short_digest[16] = "<none>";
        size_t k, len = 0;

        if (json_is_integer(size))
            format_size((uint64_t)json_integer_value(size), sz, sizeof(sz));
        json_array_foreach(users, k, u) if (len < sizeof(used)) len += (size_t)snprintf(
            used + len, sizeof(used) - len, "%s%s", k ? "," : "", json_string_value(u) ?: "");
        if (digest && strlen(digest) > 19)
            (void)snprintf(short_digest, sizeof(short_digest), "%.12s", digest + 7);
        printf("%-*s   %-*s   %-12s   %-*s   %s\n", (int)w_name,
               json_string_value(json_object_get(img, "name")) ?: "", (int)w_tag,
               json_string_value(json_object_get(img, "tag")) ?: "", short_digest, (int)w_size, sz,
               used[0] ? used : "<none>");
    }
}

static int image_ls_cmd(int argc, char *argv[], bool json)
{
    _cleanup_json_ json_t *images = NULL;
    _cleanup_free_ char *s = NULL;

    (void)argv;
    if (argc != 0) {
        fprintf(stderr, "podctl: image ls takes no arguments\n");
        return PODCTL_EXIT_USAGE;
    }
    if (podctl_call(json_pack("{s:s}", "op", "images"), &images) < 0)
        return PODCTL_EXIT_FAILURE;
    if (!json_is_array(images)) {
        fprintf(stderr, "podctl: podd sent an image list that is not an array\n");
        return PODCTL_EXIT_FAILURE;
    }
    add_sizes(images);
    if (!json) {
        print_images(images);
        return PODCTL_EXIT_OK;
    }
    s = json_dumps(images, JSON_INDENT(4));
    if (!s)
        return PODCTL_EXIT_FAILURE;
    printf("%s\n", s);
    return PODCTL_EXIT_OK;
}

/* Deletes the layers and blobs no image needs any more (after rm and prune, as root). */
static int collect_garbage(void)
{
    _cleanup_free_ char *store = NULL;
    PdError e = {0};
    uint64_t freed = 0;
    char size[32];
    int r;

    if (image_store_dir(&store) < 0)
        return -1;
    r = image_store_gc(store, &freed, &e);
    if (r < 0) {
        fprintf(stderr, "podctl: cannot delete unused layers: %s\n", e.message);
        return r;
    }
    if (r > 0) {
        format_size(freed, size, sizeof(size));
        printf("%d unused layers and blobs deleted, %s freed\n", r, size);
    }
    return 0;
}

static int image_rm_cmd(int argc, char *argv[])
{
    bool failed = false;
    ImageReference ref;

    if (argc == 0) {
        fprintf(stderr, "podctl: image rm needs at least one NAME[:TAG]\n");
        return PODCTL_EXIT_USAGE;
    }
    for (int i = 0; i < argc; i++)
        if (!check_ref(argv[i], &ref))
            return PODCTL_EXIT_USAGE;
    for (int i = 0; i < argc; i++) {
        _cleanup_json_ json_t *result = NULL;
        if (podctl_call(json_pack("{s:s,s:s}", "op", "image_remove", "image", argv[i]), &result) <
            0) {
            failed = true;
            continue;
        }
        printf("image %s removed\n", argv[i]);
    }
    if (collect_garbage() < 0)
        failed = true;
    return failed ? PODCTL_EXIT_FAILURE : PODCTL_EXIT_OK;
}

static int image_load_cmd(const char *input, int argc)
{
    _cleanup_(image_load_result_freep) ImageLoadResult *res = NULL;
    _cleanup_free_ char *store = NULL;
    PdError e = {0};
    bool failed = false;
    int r;

    if (!input || argc != 0) {
        fprintf(stderr, "podctl: image load needs -i ARCHIVE and nothing else\n");
        return PODCTL_EXIT_USAGE;
    }
    if (image_store_dir(&store) < 0)
        return PODCTL_EXIT_FAILURE;
    r = image_load(store, input, &res, &e);
    if (r < 0) {
        fprintf(stderr, "podctl: cannot load '%s': %s\n", input, e.message);
        return PODCTL_EXIT_FAILURE;
    }
    for (size_t i = 0; i < res->n_images; i++) {
        _cleanup_(strv_freep) char **warnings = NULL;
        _cleanup_json_ json_t *result = NULL;
        ImageRecord rec;

        r = image_store_add(store, &res->images[i], NULL, 0, &rec, &warnings, &e);
        for (char **w = warnings; w && *w; w++)
            fprintf(stderr, "podctl: warning: %s\n", *w);
        if (r < 0) {
            fprintf(stderr, "podctl: cannot load an image of '%s': %s\n", input, e.message);
            failed = true;
            continue;
        }
        printf("Loaded image: %s (%s)\n", rec.name, rec.digest);
        fflush(stdout);
        if (podctl_call(json_pack("{s:s,s:s}", "op", "image_added", "image", rec.name), &result) <
            0)
            failed = true;
    }
    if (res->n_images == 0) {
        fprintf(stderr, "podctl: '%s' holds no image for this platform\n", input);
        return PODCTL_EXIT_FAILURE;
    }
    return failed ? PODCTL_EXIT_FAILURE : PODCTL_EXIT_OK;
}

static json_t *strv_to_json(char *const *l)
{
    json_t *a;

    if (!l)
        return json_null();
    a = json_array();
    for (size_t i = 0; a && l[i]; i++)
        if (json_array_append_new(a, json_string(l[i])) < 0)
            json_decref(move_ptr(a));
    return a;
}

static int image_inspect_cmd(int argc, char *argv[])
{
    _cleanup_(image_resolved_done) ImageResolved img = {};
    _cleanup_(image_manifest_freep) ImageManifest *m = NULL;
    _cleanup_free_ char *store = NULL, *s = NULL;
    _cleanup_json_ json_t *out = NULL, *layers = json_array();
    ImageReference ref;
    PdError e = {0};
    uint64_t total = 0;

    if (argc != 1) {
        fprintf(stderr, "podctl: image inspect needs one image\n");
        return PODCTL_EXIT_USAGE;
    }
    if (!check_ref(argv[0], &ref))
        return PODCTL_EXIT_USAGE;
    if (!layers || image_store_dir(&store) < 0)
        return PODCTL_EXIT_FAILURE;
    if (image_store_resolve(store, argv[0], &img, &e) < 0 ||
        (img.digest[0] && image_store_open_image(store, img.digest, &m, NULL, &e) < 0)) {
        fprintf(stderr, "podctl: %s\n", e.message);
        return PODCTL_EXIT_FAILURE;
    }
    for (size_t i = 0; img.layers[i]; i++) {
        uint64_t bytes = 0;

        (void)image_disk_usage(img.layers[i], &bytes);
        total += bytes;
        if (json_array_append_new(
                layers, json_pack("{s:s?,s:I,s:s,s:I}", "digest", m ? m->layers[i].digest : NULL,
                                  "size", (json_int_t)(m ? m->layers[i].size : 0), "dir",
                                  img.layers[i], "diskUsage", (json_int_t)bytes)) < 0)
            return PODCTL_EXIT_FAILURE;
    }
    out = json_pack("{s:s,s:s?,s:s?,s:I,s:O,s:{s:o,s:o,s:o,s:s?,s:s?}}", "name", img.name, "digest",
                    img.digest[0] ? img.digest : NULL, "config", m ? m->config.digest : NULL,
                    "size", (json_int_t)total, "layers", layers, "imageConfig", "Entrypoint",
                    strv_to_json(img.config ? img.config->entrypoint : NULL), "Cmd",
                    strv_to_json(img.config ? img.config->cmd : NULL), "Env",
                    strv_to_json(img.config ? img.config->env : NULL), "WorkingDir",
                    img.config ? img.config->working_dir : NULL, "User",
                    img.config ? img.config->user : NULL);
    s = out ? json_dumps(out, JSON_INDENT(4)) : NULL;
    if (!s)
        return PODCTL_EXIT_FAILURE;
    printf("%s\n", s);
    return PODCTL_EXIT_OK;
}

/* Removes, through podd (which refuses what a pod uses), every image no pod uses. */
static int image_prune_cmd(int argc)
{
    _cleanup_json_ json_t *images = NULL;
    json_t *img;
    bool failed = false;
    size_t i, n = 0;

    if (argc != 0) {
        fprintf(stderr, "podctl: image prune takes no arguments\n");
        return PODCTL_EXIT_USAGE;
    }
    if (podctl_call(json_pack("{s:s}", "op", "images"), &images) < 0 || !json_is_array(images))
        return PODCTL_EXIT_FAILURE;
    json_array_foreach(images, i, img)
    {
        _cleanup_json_ json_t *result = NULL;
        const char *ref = json_string_value(json_object_get(img, "reference"));

        if (!ref || json_array_size(json_object_get(img, "usedBy")) > 0)
            continue;
        if (podctl_call(json_pack("{s:s,s:s}", "op", "image_remove", "image", ref), &result) < 0) {
            failed = true;
            continue;
        }
        printf("image %s removed\n", json_string_value(json_object_get(img, "image")) ?: ref);
        n++;
    }
    printf("%zu image%s removed\n", n, n == 1 ? "" : "s");
    if (collect_garbage() < 0)
        failed = true;
    return failed ? PODCTL_EXIT_FAILURE : PODCTL_EXIT_OK;
}

int cmd_image(int argc, char *argv[])
{
    static const struct option options[] = {
        {"output", required_argument, NULL, 'o'},
        {"input", required_argument, NULL, 'i'},
        {"help", no_argument, NULL, 'h'},
        {"socket", required_argument, NULL, 'S'},
        {},
    };
    bool json = false;
    const char *sub;
    int c;

    /* "+": stop at the first operand, so a source named "-" is not an option. */
    optind = 1;
    while ((c = getopt_long(argc, argv, "+o:h", options, NULL)) >= 0)
        switch (c) {
        case 'o':
            if (!streq(optarg, "json")) {
                fprintf(stderr, "podctl: unknown output format '%s' (json)\n", optarg);
                return PODCTL_EXIT_USAGE;
            }
            json = true;
            break;
        case 'S':
            podctl_set_socket_path(optarg);
            break;
        case 'h':
            image_usage(stdout);
            return PODCTL_EXIT_OK;
        default:
            image_usage(stderr);
            return PODCTL_EXIT_USAGE;
        }
    if (optind >= argc) {
        fprintf(stderr, "podctl: image needs a command: load, import, ls, inspect, rm or prune\n");
        image_usage(stderr);
        return PODCTL_EXIT_USAGE;
    }
    sub = argv[optind++];
    if (streq(sub, "ls") || streq(sub, "list")) {
        /* Options may also follow the subcommand: podctl image ls -o json. */
        while ((c = getopt_long(argc, argv, "+o:h", options, NULL)) >= 0)
            if (c == 'o' && streq(optarg, "json"))
                json = true;
            else if (c == 'S')
                podctl_set_socket_path(optarg);
            else {
                image_usage(c == 'h' ? stdout : stderr);
                return c == 'h' ? PODCTL_EXIT_OK : PODCTL_EXIT_USAGE;
            }
        return image_ls_cmd(argc - optind, argv + optind, json);
    }
    if (streq(sub, "import"))
        return image_import_cmd(argc - optind, argv + optind);
    if (streq(sub, "load")) {
        const char *input = NULL;

        while ((c = getopt_long(argc, argv, "+i:h", options, NULL)) >= 0)
            if (c == 'i')
                input = optarg;
            else if (c == 'S')
                podctl_set_socket_path(optarg);
            else {
                image_usage(c == 'h' ? stdout : stderr);
                return c == 'h' ? PODCTL_EXIT_OK : PODCTL_EXIT_USAGE;
            }
        return image_load_cmd(input, argc - optind);
    }
    if (streq(sub, "inspect"))
        return image_inspect_cmd(argc - optind, argv + optind);
    if (streq(sub, "prune"))
        return image_prune_cmd(argc - optind);
    if (streq(sub, "pull"))
        return image_pull_cmd(argc - optind, argv + optind);
    if (streq(sub, "rm") || streq(sub, "remove"))
        return image_rm_cmd(argc - optind, argv + optind);
    fprintf(stderr,
            "podctl: unknown image command '%s' (load, import, pull, ls, inspect, rm, prune)\n",
            sub);
    return PODCTL_EXIT_USAGE;
}
