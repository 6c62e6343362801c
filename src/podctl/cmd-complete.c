/* SPDX-License-Identifier: Apache-2.0 */
/*
 * podctl __complete: what the bash completion (completion/podctl.bash)
 * cannot get from a public command. Hidden: listed in no --help.
 *
 *   podctl __complete containers POD   the pod's init containers, then its containers,
 *                                      one name per line
 */
#include <stdio.h>

#include "podctl.h"

static void print_names(const json_t *list)
{
    const json_t *c;
    size_t i;

    json_array_foreach(list, i, c)
    {
        const char *name = json_string_value(json_object_get(c, "name"));

        if (name && *name)
            printf("%s\n", name);
    }
}

int cmd_complete(int argc, char *argv[])
{
    _cleanup_json_ json_t *pod = NULL;
    const json_t *spec;

    if (argc != 3 || !streq(argv[1], "containers")) {
        fprintf(stderr, "podctl __complete: usage: podctl __complete containers POD\n");
        return PODCTL_EXIT_USAGE;
    }
    if (!dns_label_is_valid(argv[2])) {
        fprintf(stderr, "podctl __complete: invalid pod name '%s'\n", argv[2]);
        return PODCTL_EXIT_USAGE;
    }
    if (podctl_call(json_pack("{s:s,s:s}", "op", "get_pod", "name", argv[2]), &pod) < 0)
        return PODCTL_EXIT_FAILURE;
    spec = json_object_get(pod, "spec");
    print_names(json_object_get(spec, "initContainers"));
    print_names(json_object_get(spec, "containers"));
    return fflush(stdout) == 0 ? PODCTL_EXIT_OK : PODCTL_EXIT_FAILURE;
}
