/* SPDX-License-Identifier: Apache-2.0 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>

#include "image/image.h"
#include "podctl.h"

static volatile sig_atomic_t import_cancel = 0;

static void image_usage(FILE *f)
{
    fputs("Usage: podctl image import NAME[:TAG] ROOTFS.tar|ROOTFS.tar.gz|DIR|-\n"
          "       podctl image pull [--registries FILE] [--auth FILE] REFERENCE\n"
          "       podctl image ls [-o json]\n"
          "       podctl image rm NAME[:TAG]...\n"
          "\n"
          "Manages podd's image store, where a container's 'image: NAME[:TAG]' is found\n"
          "(TAG defaults to 'latest'). NAME is '/'-separated components of lower case\n"
          "letters, digits, '.', '_' and '-'.\n"
          "\n"
          "  import  unpacks a tar archive (gzip or not, '-' reads standard input) or copies a\n"
          "          directory into the store as NAME:TAG, replacing that tag atomically;\n"
          "          containers waiting for the image start at once (root only)\n"
          "  pull    pulls REFERENCE ([HOST[:PORT]/]PATH[:TAG][@sha256:DIGEST]) from its\n"
          "          registry into the store, with the settings of --registries (default\n"
          "          /etc/podd/registries.json) and the credentials of --auth (default\n"
          "          /etc/podd/auth.json) (root only)\n"
          "  ls      lists the images with their size and the pods that use them\n"
          "  rm      removes images no pod uses (root only)\n"
          "\n"
          "Options:\n"
          "  -o, --output json   ls: the images as JSON\n"
          "  -h, --help          show this help\n"
          "\n"
          "Exit status: 0 on success, 1 on failure, 2 on usage errors.\n",
          f);
}

static bool check_ref(const char *ref, ImageRef *ret)
{
    if (image_ref_parse(ref, ret) == 0)
        return true;
    fprintf(stderr,
            "podctl: invalid image reference '%s': NAME[:TAG] where NAME is '/'-separated "
            "components and TAG one component of lower case letters, digits, '.', '_' and '-', "
            "none starting with '.'\n",
            ref);
    return false;
}

/* The store's directory, from podd (root only: podctl writes into it itself). */
static int image_store_dir(char **ret)
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
    if (!check_ref(argv[0], &ref))
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

        if (image_ref_parse(json_string_value(json_object_get(img, "image")), &ref) < 0)
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
    printf("%-*s   %-*s   %-*s   %s\n", (int)w_name, "IMAGE", (int)w_tag, "TAG", (int)w_size,
           "SIZE", "USED BY");
    json_array_foreach(images, i, img)
    {
        const json_t *size = json_object_get(img, "size"), *users = json_object_get(img, "usedBy"),
                     *u;
        char sz[32] = "<unknown>", used[1024] = "";
        size_t k, len = 0;

        if (json_is_integer(size))
            format_size((uint64_t)json_integer_value(size), sz, sizeof(sz));
        json_array_foreach(users, k, u) if (len < sizeof(used)) len += (size_t)snprintf(
            used + len, sizeof(used) - len, "%s%s", k ? "," : "", json_string_value(u) ?: "");
        printf("%-*s   %-*s   %-*s   %s\n", (int)w_name,
               json_string_value(json_object_get(img, "name")) ?: "", (int)w_tag,
               json_string_value(json_object_get(img, "tag")) ?: "", (int)w_size, sz,
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

static int image_rm_cmd(int argc, char *argv[])
{
    bool failed = false;
    ImageRef ref;

    if (argc == 0) {
        fprintf(stderr, "podctl: image rm needs at least one NAME[:TAG]\n");
        return PODCTL_EXIT_USAGE;
    }
    for (int i = 0; i < argc; i++)
        if (!check_ref(argv[i], &ref))
            return PODCTL_EXIT_USAGE;
    for (int i = 0; i < argc; i++) {
        _cleanup_json_ json_t *result = NULL;
        char canonical[2 * IMAGE_REF_MAX + 2];

        (void)image_ref_parse(argv[i], &ref);
        image_ref_format(&ref, canonical, sizeof(canonical));
        if (podctl_call(json_pack("{s:s,s:s}", "op", "image_remove", "image", canonical), &result) <
            0) {
            failed = true;
            continue;
        }
        printf("image %s removed\n", canonical);
    }
    return failed ? PODCTL_EXIT_FAILURE : PODCTL_EXIT_OK;
}

int cmd_image(int argc, char *argv[])
{
    static const struct option options[] = {
        {"output", required_argument, NULL, 'o'},
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
        fprintf(stderr, "podctl: image needs a command: import, ls or rm\n");
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
    if (streq(sub, "pull"))
        return image_pull_cmd(argc - optind, argv + optind);
    if (streq(sub, "rm") || streq(sub, "remove"))
        return image_rm_cmd(argc - optind, argv + optind);
    fprintf(stderr, "podctl: unknown image command '%s' (import, ls, rm)\n", sub);
    return PODCTL_EXIT_USAGE;
}
