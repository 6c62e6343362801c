/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for what the registry client parses from the network and from
 * its settings files: the same bytes as a WWW-Authenticate header, a token
 * server's answer, a credentials file (Docker's config.json) and a
 * registries file, each checked for the promises registry.h makes. Never
 * prints.
 */
#include <assert.h>

#include "fuzz.h"
#include "registry/registry.h"

static void fuzz_challenge(const char *data, size_t size)
{
    _cleanup_free_ char *s = strndup(data, size);
    RegistryChallenge c = {};
    PdError err = {};
    int r;

    if (!s)
        return;
    r = registry_challenge_parse(s, &c, &err);
    if (r < 0) {
        assert(!c.realm && !c.service && !c.scope && err.code == r && err.message[0]);
        return;
    }
    assert(!c.bearer ||
           (c.realm && (startswith(c.realm, "https://") || startswith(c.realm, "http://"))));
    registry_challenge_done(&c);
}

static void fuzz_token(const char *data, size_t size)
{
    _cleanup_free_ char *t = NULL;
    PdError err = {};
    int r;

    r = registry_token_parse(data, size, &t, &err);
    if (r < 0) {
        assert(!t && err.code == r && err.message[0]);
        return;
    }
    /* Nothing that could end a header line or start another. */
    assert(t[0] && !strpbrk(t, "\r\n :,\"") && strlen(t) <= 16384);
}

static void fuzz_credentials(const char *data, size_t size)
{
    _cleanup_(registry_credentials_freep) RegistryCredentials *c = NULL;
    PdError err = {};
    int r;

    r = registry_credentials_parse(data, size, "auth.json", &c, &err);
    if (r < 0) {
        assert(!c && err.code == r && err.message[0]);
        return;
    }
    for (size_t i = 0; i < c->n_entries; i++) {
        const RegistryCredential *e = &c->entries[i];

        assert(registry_host_is_valid(e->host) && e->username && e->password);
        assert(registry_credentials_find(c, e->host));
    }
}

static void fuzz_config(const char *data, size_t size)
{
    _cleanup_(registry_config_freep) RegistryConfig *c = NULL;
    PdError err = {};
    int r;

    r = registry_config_parse(data, size, "registries.json", &c, &err);
    if (r < 0) {
        assert(!c && err.code == r && err.message[0]);
        return;
    }
    for (size_t i = 0; i < c->n_hosts; i++) {
        const RegistryHost *h = &c->hosts[i];

        assert(registry_host_is_valid(h->host) && registry_config_find(c, h->host));
        assert(!h->ca_file || h->ca_file[0] == '/');
        for (size_t j = 0; h->mirrors && h->mirrors[j]; j++)
            assert(registry_host_is_valid(h->mirrors[j]));
        (void)registry_host_is_loopback(h->host);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;

    fuzz_challenge(s, size);
    fuzz_token(s, size);
    fuzz_credentials(s, size);
    fuzz_config(s, size);
    return 0;
}
