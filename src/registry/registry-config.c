/* SPDX-License-Identifier: Apache-2.0 */
#include <ctype.h>
#include <fcntl.h>

#include "registry-internal.h"

/*
 * The parsers of what podd reads about registries: the registries file, the
 * credentials file, and what registries and token servers answer. None of
 * them trusts its input (they are fuzzed).
 */

/* ---- hosts ------------------------------------------------------------------------------ */

static bool port_is_valid(const char *p)
{
    size_t n = strspn(p, "0123456789");

    return n >= 1 && n <= 5 && p[n] == 0;
}

bool registry_host_is_valid(const char *host)
{
    const char *p = host, *colon;

    if (!host || !*host || strlen(host) > 253)
        return false;
    if (*p == '[') {
        const char *end = strchr(p, ']');

        if (!end || end == p + 1 ||
            strspn(p + 1, "0123456789abcdefABCDEF:.") != (size_t)(end - p - 1))
            return false;
        return end[1] == 0 || (end[1] == ':' && port_is_valid(end + 2));
    }
    colon = strchr(p, ':');
    if (colon && !port_is_valid(colon + 1))
        return false;
    /* Labels of [a-zA-Z0-9-], not starting or ending with '-', joined by '.'. */
    for (const char *l = p; l < (colon ? colon : p + strlen(p));) {
        size_t n = strspn(l, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-");

        if (n == 0 || n > 63 || l[0] == '-' || l[n - 1] == '-')
            return false;
        l += n;
        if (*l == '.')
            l++;
        else if (*l && *l != ':')
            return false;
        else if (l[-1] == '.')
            return false;
    }
    return true;
}

bool registry_host_is_loopback(const char *host)
{
    size_t n = strcspn(host, ":");
    unsigned a, b, c, d;
    char end;

    if (n == strlen("localhost") && strncasecmp(host, "localhost", n) == 0)
        return true;
    if (strneq(host, "[::1]", 5) && (host[5] == 0 || host[5] == ':'))
        return true;
    if (n >= 16)
        return false;
    char ip[16];
    memcpy(ip, host, n);
    ip[n] = 0;
    if (sscanf(ip, "%3u.%3u.%3u.%3u%c", &a, &b, &c, &d, &end) != 4)
        return false;
    return a == 127 && b < 256 && c < 256 && d < 256;
}

/* "https://index.docker.io/v1/" -> "index.docker.io" -> "docker.io"; NULL when not a host. */
static char *normalise_host(const char *key)
{
    _cleanup_free_ char *h = NULL;
    const char *p = key;

    if (startswith(p, "https://"))
        p += 8;
    else if (startswith(p, "http://"))
        p += 7;
    h = strndup(p, strcspn(p, "/"));
    if (!h)
        return NULL;
    for (char *c = h; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    if (streq(h, "index.docker.io") || streq(h, "registry-1.docker.io"))
        return strdup("docker.io");
    if (!registry_host_is_valid(h))
        return NULL;
    return move_ptr(h);
}

/* ---- files ------------------------------------------------------------------------------- */

static int read_settings_file(const char *path, char **ret, size_t *ret_size, PdError *reterr)
{
    _cleanup_close_ int fd = -1;
    int r;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -errno; /* the callers tell a missing file from others */
    r = read_fd_full(fd, REGISTRY_FILE_MAX, ret, ret_size);
    if (r < 0)
        return pd_error_set(reterr, r, "%s: %s", path,
                            r == -EFBIG ? "larger than 1 MiB" : strerror(-r));
    return 0;
}

static int load_object(const char *data, size_t size, const char *what, json_t **ret,
                       PdError *reterr)
{
    json_error_t jerr;
    json_t *root;

    root = json_loadb(data, size, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return pd_error_set_at(reterr, -EINVAL, (unsigned)jerr.line, (unsigned)jerr.column,
                               "%s: invalid JSON: %s", what, jerr.text);
    if (!json_is_object(root)) {
        json_decref(root);
        return pd_error_set(reterr, -EINVAL, "%s: not a JSON object", what);
    }
    *ret = root;
    return 0;
}

/* Parses one entry of a map (the value v of key) into the zeroed entry. */
typedef int (*MapEntryParseFn)(const char *what, const char *key, json_t *v, void *entry,
                               PdError *reterr);
/* Frees what an entry holds (one parsed in part too). */
typedef void (*MapEntryDoneFn)(void *entry);

/*
 * The object root.field, {KEY: ENTRY, ...} of at most 1024 entries (noun names them in the
 * error): a new array of entry_size-byte entries into *ret, one per key, each parsed by parse,
 * and their number into *ret_n. A missing field is an empty map (NULL, 0). On failure nothing
 * is returned: the entries parsed so far are freed with done.
 */
static int parse_map(json_t *root, const char *what, const char *field, const char *noun,
                     size_t entry_size, MapEntryParseFn parse, MapEntryDoneFn done, void **ret,
                     size_t *ret_n, PdError *reterr)
{
    json_t *map = json_object_get(root, field), *v;
    const char *key;
    char *items;
    size_t n = 0;
    int r = 0;

    *ret = NULL;
    *ret_n = 0;
    if (!map)
        return 0;
    if (!json_is_object(map) || json_object_size(map) > 1024)
        return pd_error_set(reterr, -EINVAL, "%s: %s: not an object of at most 1024 %s", what,
                            field, noun);
    items = calloc(json_object_size(map) + 1, entry_size);
    if (!items)
        return -ENOMEM;
    json_object_foreach(map, key, v)
    {
        r = parse(what, key, v, items + entry_size * n++, reterr);
        if (r < 0)
            break;
    }
    if (r < 0) {
        for (size_t i = 0; i < n; i++)
            done(items + entry_size * i);
        free(items);
        return r;
    }
    *ret = items;
    *ret_n = n;
    return 0;
}

/* Parses a settings file's data into *ret (a new object); what names the file. */
typedef int (*SettingsParseFn)(const char *data, size_t size, const char *what, void **ret,
                               PdError *reterr);

/*
 * Reads path and parses it with parse; a missing file is an empty object of empty_size bytes.
 * The data read is wiped once parsed (it may hold passwords). Errors name the file.
 */
static int settings_load(const char *path, SettingsParseFn parse, size_t empty_size, void **ret,
                         PdError *reterr)
{
    _cleanup_free_ char *data = NULL;
    size_t size = 0;
    int r;

    r = read_settings_file(path, &data, &size, reterr);
    if (r == -ENOENT) {
        *ret = calloc(1, empty_size);
        return *ret ? 0 : -ENOMEM;
    }
    if (r < 0)
        return pd_error_set(reterr, r, "%s: %s", path, strerror(-r));
    r = parse(data, size, path, ret, reterr);
    explicit_bzero(data, size);
    if (r < 0)
        pd_error_set_file(reterr, path);
    return r;
}

/* ---- the registries file ------------------------------------------------------------------ */

static void host_done(void *entry)
{
    RegistryHost *h = entry;

    free(h->host);
    free(h->ca_file);
    strv_free(h->mirrors);
}

RegistryConfig *registry_config_free(RegistryConfig *c)
{
    if (!c)
        return NULL;
    for (size_t i = 0; i < c->n_hosts; i++)
        host_done(&c->hosts[i]);
    free(c->hosts);
    free(c);
    return NULL;
}

/* One host of the registries file into entry (a RegistryHost); a MapEntryParseFn. */
static int parse_host_entry(const char *what, const char *key, json_t *v, void *entry,
                            PdError *reterr)
{
    RegistryHost *h = entry;
    const char *field;
    json_t *f;

    if (!registry_host_is_valid(key))
        return pd_error_set(reterr, -EINVAL,
                            "%s: registries: '%.100s': not a registry host (HOST[:PORT])", what,
                            key);
    if (!json_is_object(v))
        return pd_error_set(reterr, -EINVAL, "%s: registries.%s: not an object", what, key);
    h->host = strdup(key);
    if (!h->host)
        return -ENOMEM;
    json_object_foreach(v, field, f)
    {
        if (streq(field, "insecure")) {
            if (!json_is_boolean(f))
                return pd_error_set(reterr, -EINVAL, "%s: registries.%s.insecure: not a boolean",
                                    what, key);
            h->insecure = json_is_true(f);
        } else if (streq(field, "caFile")) {
            const char *s = json_string_value(f);

            if (!s || s[0] != '/' || strlen(s) > 4096)
                return pd_error_set(reterr, -EINVAL,
                                    "%s: registries.%s.caFile: not an absolute path", what, key);
            h->ca_file = strdup(s);
            if (!h->ca_file)
                return -ENOMEM;
        } else if (streq(field, "mirrors")) {
            size_t i;
            json_t *m;

            if (!json_is_array(f) || json_array_size(f) > 16)
                return pd_error_set(reterr, -EINVAL,
                                    "%s: registries.%s.mirrors: not an array of at most 16 hosts",
                                    what, key);
            json_array_foreach(f, i, m)
            {
                const char *s = json_string_value(m);

                if (!s || !registry_host_is_valid(s))
                    return pd_error_set(reterr, -EINVAL,
                                        "%s: registries.%s.mirrors[%zu]: not a registry host "
                                        "(HOST[:PORT])",
                                        what, key, i);
                if (strv_extend(&h->mirrors, s) < 0)
                    return -ENOMEM;
            }
        } else
            return pd_error_set(reterr, -EINVAL,
                                "%s: registries.%s: unknown field '%.50s' (insecure, caFile, "
                                "mirrors)",
                                what, key, field);
    }
    return 0;
}

int registry_config_parse(const char *data, size_t size, const char *what, RegistryConfig **ret,
                          PdError *reterr)
{
    _cleanup_(registry_config_freep) RegistryConfig *c = NULL;
    _cleanup_json_ json_t *root = NULL;
    const char *key;
    void *items;
    json_t *v;
    int r;

    r = load_object(data, size, what, &root, reterr);
    if (r < 0)
        return r;
    json_object_foreach(root, key, v)
    {
        if (!streq(key, "registries"))
            return pd_error_set(reterr, -EINVAL, "%s: unknown field '%.50s' (registries)", what,
                                key);
    }
    c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    r = parse_map(root, what, "registries", "hosts", sizeof(*c->hosts), parse_host_entry, host_done,
                  &items, &c->n_hosts, reterr);
    if (r < 0)
        return r;
    c->hosts = items;
    *ret = move_ptr(c);
    return 0;
}

static int config_parse_any(const char *data, size_t size, const char *what, void **ret,
                            PdError *reterr)
{
    RegistryConfig *c = NULL;
    int r = registry_config_parse(data, size, what, &c, reterr);

    *ret = c;
    return r;
}

int registry_config_load(const char *path, RegistryConfig **ret, PdError *reterr)
{
    void *c = NULL;
    int r = settings_load(path, config_parse_any, sizeof(RegistryConfig), &c, reterr);

    *ret = c;
    return r;
}

const RegistryHost *registry_config_find(const RegistryConfig *c, const char *host)
{
    if (!c)
        return NULL;
    for (size_t i = 0; i < c->n_hosts; i++)
        if ((strcasecmp(c->hosts[i].host, host) == 0))
            return &c->hosts[i];
    return NULL;
}

/* ---- the credentials file ------------------------------------------------------------------ */

static void credential_done(void *entry)
{
    RegistryCredential *c = entry;

    free(c->host);
    free(c->username);
    if (c->password)
        explicit_bzero(c->password, strlen(c->password));
    free(c->password);
}

RegistryCredentials *registry_credentials_free(RegistryCredentials *c)
{
    if (!c)
        return NULL;
    for (size_t i = 0; i < c->n_entries; i++)
        credential_done(&c->entries[i]);
    free(c->entries);
    free(c);
    return NULL;
}

static int b64_value(int ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '+')
        return 62;
    if (ch == '/')
        return 63;
    return -1;
}

int registry_base64_decode(const char *s, char **ret)
{
    size_t n = strlen(s), o = 0;
    _cleanup_free_ char *out = malloc(n / 4 * 3 + 4);
    uint32_t acc = 0;
    unsigned bits = 0;

    if (!out)
        return -ENOMEM;
    while (n > 0 && s[n - 1] == '=')
        n--;
    for (size_t i = 0; i < n; i++) {
        int v = b64_value((unsigned char)s[i]);

        if (v < 0)
            return -EINVAL;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    if (bits >= 6)
        return -EINVAL;
    out[o] = 0;
    if (strlen(out) != o)
        return -EINVAL; /* a NUL inside */
    *ret = move_ptr(out);
    return 0;
}

int registry_base64_encode(const char *s, char **ret)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(s), o = 0;
    char *out = malloc((n + 2) / 3 * 4 + 1);

    if (!out)
        return -ENOMEM;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)(unsigned char)s[i] << 16;

        if (i + 1 < n)
            v |= (uint32_t)(unsigned char)s[i + 1] << 8;
        if (i + 2 < n)
            v |= (uint32_t)(unsigned char)s[i + 2];
        out[o++] = tbl[(v >> 18) & 63];
        out[o++] = tbl[(v >> 12) & 63];
        out[o++] = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? tbl[v & 63] : '=';
    }
    out[o] = 0;
    *ret = out;
    return 0;
}

/* One entry of the credentials file into entry (a RegistryCredential); a MapEntryParseFn. */
static int parse_credential(const char *what, const char *key, json_t *v, void *entry,
                            PdError *reterr)
{
    RegistryCredential *c = entry;
    const char *auth = json_string_value(json_object_get(v, "auth"));
    const char *user = json_string_value(json_object_get(v, "username"));
    const char *pass = json_string_value(json_object_get(v, "password"));
    int r;

    if (!json_is_object(v))
        return pd_error_set(reterr, -EINVAL, "%s: auths.%.100s: not an object", what, key);
    c->host = normalise_host(key);
    if (!c->host)
        return pd_error_set(reterr, -EINVAL, "%s: auths: '%.100s': not a registry host or URL",
                            what, key);
    if (auth && *auth) {
        _cleanup_free_ char *plain = NULL;
        char *colon;

        r = registry_base64_decode(auth, &plain);
        if (r == -ENOMEM)
            return r;
        if (r < 0 || !(colon = strchr(plain, ':')))
            return pd_error_set(reterr, -EINVAL,
                                "%s: auths.%.100s.auth: not base64 of USERNAME:PASSWORD", what,
                                key);
        *colon = 0;
        c->username = strdup(plain);
        c->password = strdup(colon + 1);
        explicit_bzero(colon + 1, strlen(colon + 1));
    } else if (user && pass) {
        c->username = strdup(user);
        c->password = strdup(pass);
    } else
        return pd_error_set(reterr, -EINVAL,
                            "%s: auths.%.100s: neither 'auth' nor 'username' and 'password'", what,
                            key);
    if (!c->username || !c->password)
        return -ENOMEM;
    return 0;
}

int registry_credentials_parse(const char *data, size_t size, const char *what,
                               RegistryCredentials **ret, PdError *reterr)
{
    _cleanup_(registry_credentials_freep) RegistryCredentials *c = NULL;
    _cleanup_json_ json_t *root = NULL;
    void *items;
    int r;

    r = load_object(data, size, what, &root, reterr);
    if (r < 0)
        return r;
    c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    r = parse_map(root, what, "auths", "entries", sizeof(*c->entries), parse_credential,
                  credential_done, &items, &c->n_entries, reterr);
    if (r < 0)
        return r;
    c->entries = items;
    *ret = move_ptr(c);
    return 0;
}

static int credentials_parse_any(const char *data, size_t size, const char *what, void **ret,
                                 PdError *reterr)
{
    RegistryCredentials *c = NULL;
    int r = registry_credentials_parse(data, size, what, &c, reterr);

    *ret = c;
    return r;
}

int registry_credentials_load(const char *path, RegistryCredentials **ret, PdError *reterr)
{
    void *c = NULL;
    int r = settings_load(path, credentials_parse_any, sizeof(RegistryCredentials), &c, reterr);

    *ret = c;
    return r;
}

const RegistryCredential *registry_credentials_find(const RegistryCredentials *c, const char *host)
{
    if (!c)
        return NULL;
    for (size_t i = 0; i < c->n_entries; i++)
        if ((strcasecmp(c->entries[i].host, host) == 0))
            return &c->entries[i];
    return NULL;
}

/* ---- WWW-Authenticate ---------------------------------------------------------------------- */

void registry_challenge_done(RegistryChallenge *c)
{
    free(c->realm);
    free(c->service);
    free(c->scope);
    *c = (RegistryChallenge){};
}

#define TOKEN_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-.^_`|~"

/* One auth-param value, quoted (with \-escapes) or a token, into a new string. */
static int parse_param_value(const char **pp, char **ret)
{
    const char *p = *pp;
    _cleanup_free_ char *v = NULL;
    size_t n = 0;

    v = malloc(strlen(p) + 1);
    if (!v)
        return -ENOMEM;
    if (*p == '"') {
        for (p++; *p != '"'; p++) {
            if (*p == 0)
                return -EINVAL;
            if (*p == '\\' && p[1])
                p++;
            v[n++] = *p;
        }
        p++;
    } else {
        size_t k = strspn(p, TOKEN_CHARS "/:=");

        if (k == 0)
            return -EINVAL;
        memcpy(v, p, k);
        n = k;
        p += k;
    }
    v[n] = 0;
    *pp = p;
    *ret = move_ptr(v);
    return 0;
}

int registry_challenge_parse(const char *header, RegistryChallenge *ret, PdError *reterr)
{
    _cleanup_(registry_challenge_done) RegistryChallenge c = {};
    const char *p = header;
    size_t n;

    if (strlen(header) > 8192)
        return pd_error_set(reterr, -EINVAL, "WWW-Authenticate: longer than 8 KiB");
    p += strspn(p, " \t");
    n = strspn(p, TOKEN_CHARS);
    if (n == 6 && strncasecmp(p, "Bearer", 6) == 0)
        c.bearer = true;
    else if (!(n == 5 && strncasecmp(p, "Basic", 5) == 0))
        return pd_error_set(reterr, -EPROTONOSUPPORT,
                            "WWW-Authenticate: unsupported scheme '%.*s' (Bearer, Basic)",
                            (int)(n > 32 ? 32 : n), p);
    p += n;
    for (;;) {
        _cleanup_free_ char *value = NULL;
        const char *name;
        int r;

        p += strspn(p, " \t,");
        if (*p == 0)
            break;
        name = p;
        n = strspn(p, TOKEN_CHARS);
        if (n == 0)
            return pd_error_set(reterr, -EINVAL, "WWW-Authenticate: malformed parameter at '%.32s'",
                                p);
        p += n;
        p += strspn(p, " \t");
        if (*p != '=')
            return pd_error_set(reterr, -EINVAL,
                                "WWW-Authenticate: parameter '%.*s' without a value",
                                (int)(n > 32 ? 32 : n), name);
        p++;
        p += strspn(p, " \t");
        r = parse_param_value(&p, &value);
        if (r == -ENOMEM)
            return r;
        if (r < 0)
            return pd_error_set(reterr, -EINVAL,
                                "WWW-Authenticate: parameter '%.*s': malformed value",
                                (int)(n > 32 ? 32 : n), name);
        char **slot = NULL;
        if (n == 5 && strncasecmp(name, "realm", 5) == 0)
            slot = &c.realm;
        else if (n == 7 && strncasecmp(name, "service", 7) == 0)
            slot = &c.service;
        else if (n == 5 && strncasecmp(name, "scope", 5) == 0)
            slot = &c.scope;
        if (slot) {
            free(*slot);
            *slot = move_ptr(value);
        }
        p += strspn(p, " \t");
        if (*p && *p != ',')
            return pd_error_set(reterr, -EINVAL, "WWW-Authenticate: expected ',' at '%.32s'", p);
    }
    if (c.bearer &&
        (!c.realm || !(startswith(c.realm, "https://") || startswith(c.realm, "http://"))))
        return pd_error_set(reterr, -EINVAL,
                            "WWW-Authenticate: Bearer challenge without an http(s) realm");
    *ret = c;
    c = (RegistryChallenge){};
    return 0;
}

int registry_token_parse(const char *data, size_t size, char **ret, PdError *reterr)
{
    _cleanup_json_ json_t *root = NULL;
    const char *t;
    int r;

    r = load_object(data, size, "token server answer", &root, reterr);
    if (r < 0)
        return r;
    t = json_string_value(json_object_get(root, "token"));
    if (!t || !*t)
        t = json_string_value(json_object_get(root, "access_token"));
    if (!t || !*t)
        return pd_error_set(reterr, -EINVAL, "token server answer: no 'token' or 'access_token'");
    if (strlen(t) > 16384 || strspn(t, TOKEN_CHARS "/=") != strlen(t))
        return pd_error_set(reterr, -EINVAL,
                            "token server answer: token: not a bearer token (RFC 6750 characters)");
    *ret = strdup(t);
    return *ret ? 0 : -ENOMEM;
}
