/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>

#include "api/api.h"
#include "podctl.h"

typedef struct Verb {
    const char *name;
    int (*run)(int argc, char *argv[]);
    const char *summary;
} Verb;

static const char *arg_socket = NULL;

static const Verb verbs[] = {
    {"apply", cmd_apply, "run the pods of manifests (-f PATH...), --dry-run, --wait"},
    {"delete", cmd_delete, "stop and remove applied pods (pod NAME... or -f PATH...)"},
    {"restart", cmd_restart, "stop a pod's containers and start the pod again"},
    {"get", cmd_get, "list pods, or show one pod (-o wide|json|yaml|name)"},
    {"describe", cmd_describe, "show a pod's containers, conditions, events and errors"},
    {"validate", cmd_validate, "check manifests without running anything"},
    {"graph", cmd_graph, "show the start and stop order of a pod's containers"},
    {"image", cmd_image, "import, list and remove images (import|ls|rm)"},
    {"logs", cmd_logs, "print a container's output (-f follows it across restarts)"},
    {"events", cmd_events, "show what podd did to pods (-w watches for more)"},
    {"version", NULL, "show the version of podctl and of podd"},
    {NULL, NULL, NULL},
};

void podctl_set_socket_path(const char *path)
{
    arg_socket = path;
}

const char *podctl_socket_path(void)
{
    const char *env = getenv("PODD_SOCKET");

    if (arg_socket)
        return arg_socket;
    if (env && *env)
        return env;
    return API_DEFAULT_SOCKET;
}

static void usage(FILE *f)
{
    fputs("Usage: podctl [--socket PATH] [--help] COMMAND [ARGS...]\n"
          "\n"
          "Commands:\n",
          f);
    for (const Verb *v = verbs; v->name; v++)
        fprintf(f, "  %-10s %s\n", v->name, v->summary);
    fputs("\nGlobal options:\n"
          "  --socket PATH  podd's API socket (default: $PODD_SOCKET, else " API_DEFAULT_SOCKET
          ")\n"
          "\nRun 'podctl COMMAND --help' for the options of a command.\n",
          f);
}

static int run_version(int argc, char *argv[])
{
    _cleanup_json_ json_t *result = NULL;

    if (argc == 2 && (streq(argv[1], "--help") || streq(argv[1], "-h"))) {
        puts("Usage: podctl version\n"
             "\n"
             "Prints podctl's version, then podd's. Exit status: 1 when podd cannot be reached.");
        return PODCTL_EXIT_OK;
    }
    if (argc > 1) {
        fprintf(stderr, "podctl version: unexpected argument '%s'\n", argv[1]);
        return PODCTL_EXIT_USAGE;
    }
    printf("podctl %s\n", PACKAGE_VERSION);
    fflush(stdout);
    /* As kubectl version: the client's version always, a daemon out of reach is a failure. */
    if (podctl_call(json_pack("{s:s}", "op", "version"), &result) < 0)
        return PODCTL_EXIT_FAILURE;
    printf("podd %s\n", json_string_value(json_object_get(result, "version")) ?: "unknown");
    return PODCTL_EXIT_OK;
}

int main(int argc, char *argv[])
{
    int i = 1;

    /* Global options come before the command. */
    while (i < argc && startswith(argv[i], "--socket")) {
        if (streq(argv[i], "--socket")) {
            if (i + 1 >= argc || !argv[i + 1][0]) {
                fprintf(stderr, "podctl: --socket needs a path\n");
                return PODCTL_EXIT_USAGE;
            }
            arg_socket = argv[i + 1];
            i += 2;
        } else if (startswith(argv[i], "--socket=") && argv[i][strlen("--socket=")]) {
            arg_socket = argv[i] + strlen("--socket=");
            i++;
        } else
            break;
    }
    if (i >= argc) {
        usage(stderr);
        return PODCTL_EXIT_USAGE;
    }
    if (streq(argv[i], "--help") || streq(argv[i], "-h") || streq(argv[i], "help")) {
        usage(stdout);
        return PODCTL_EXIT_OK;
    }
    if (streq(argv[i], "version") || streq(argv[i], "--version"))
        return run_version(argc - i, argv + i);
    if (streq(argv[i], "__complete"))
        return cmd_complete(argc - i, argv + i);
    for (const Verb *v = verbs; v->name; v++)
        if (v->run && streq(argv[i], v->name))
            return v->run(argc - i, argv + i);
    fprintf(stderr, "podctl: unknown command '%s'\n\n", argv[i]);
    usage(stderr);
    return PODCTL_EXIT_USAGE;
}
