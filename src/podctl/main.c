/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>

#include "podctl.h"

typedef struct Verb {
    const char *name;
    int (*run)(int argc, char *argv[]);
    const char *summary;
} Verb;

static const Verb verbs[] = {
    {"validate", cmd_validate, "check manifests without running anything"},
    {"graph", cmd_graph, "show the start and stop order of a pod's containers"},
    {"version", NULL, "show the version"},
    {NULL, NULL, NULL},
};

static void usage(FILE *f)
{
    fputs("Usage: podctl [--help] COMMAND [ARGS...]\n"
          "\n"
          "Commands:\n",
          f);
    for (const Verb *v = verbs; v->name; v++)
        fprintf(f, "  %-10s %s\n", v->name, v->summary);
    fputs("\nRun 'podctl COMMAND --help' for the options of a command.\n", f);
}

int main(int argc, char *argv[])
{
    if (argc < 2) {
        usage(stderr);
        return PODCTL_EXIT_USAGE;
    }
    if (streq(argv[1], "--help") || streq(argv[1], "-h") || streq(argv[1], "help")) {
        usage(stdout);
        return PODCTL_EXIT_OK;
    }
    if (streq(argv[1], "version") || streq(argv[1], "--version")) {
        printf("podctl %s\n", PACKAGE_VERSION);
        return PODCTL_EXIT_OK;
    }
    for (const Verb *v = verbs; v->name; v++)
        if (v->run && streq(argv[1], v->name))
            return v->run(argc - 1, argv + 1);
    fprintf(stderr, "podctl: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return PODCTL_EXIT_USAGE;
}
