/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Image references as the distribution/reference grammar and Docker's
 * normalisation define them:
 *
 *   reference := name [":" tag] ["@" digest]
 *   name      := [domain "/"] path
 *   domain    := host [":" port]; host is dot-separated components of
 *                [A-Za-z0-9-] (no '-' at either end) or "[" IPv6 "]"
 *   path      := components of [a-z0-9]+ joined by ".", "_", "__" or "-"+
 *   tag       := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
 *   digest    := "sha256:" 64 lowercase hex digits
 *
 * Hand-written rather than regex-driven so that each refusal can say which
 * part is wrong.
 */
#include <ctype.h>
#include <stdio.h>

#include "image.h"

#define DOCKER_DOMAIN "docker.io"
#define DOCKER_LEGACY_DOMAIN "index.docker.io"
#define DOCKER_OFFICIAL_PREFIX "library/"

static bool is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_hex_lower(char c)
{
    return (c >= 'a' && c <= 'f') || (c >= '0' && c <= '9');
}

static bool all_hex_lower(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_hex_lower(s[i]))
            return false;
    return true;
}

/* One path component: [a-z0-9]+ ((\.|_|__|-+)[a-z0-9]+)*. */
static bool path_component_is_valid(const char *s, size_t n)
{
    size_t i = 0;

    for (;;) {
        size_t start = i, seps;

        while (i < n && is_lower_alnum(s[i]))
            i++;
        if (i == start)
            return false;
        if (i == n)
            return true;
        seps = i;
        if (s[i] == '.')
            i++;
        else if (s[i] == '_')
            i += (i + 1 < n && s[i + 1] == '_') ? 2 : 1;
        else
            while (i < n && s[i] == '-')
                i++;
        if (i == seps || i == n)
            return false;
    }
}

/* A host name component: [A-Za-z0-9] or [A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9]. */
static bool domain_component_is_valid(const char *s, size_t n)
{
    if (n == 0 || s[0] == '-' || s[n - 1] == '-')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-')
            return false;
    return true;
}

/* host[:port], host being dot-separated components or a bracketed IPv6 address. */
static bool domain_is_valid(const char *s, size_t n)
{
    size_t host_end;

    if (n > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', n);

        if (!close || close == s + 1)
            return false;
        for (const char *p = s + 1; p < close; p++)
            if (!isxdigit((unsigned char)*p) && *p != ':')
                return false;
        host_end = (size_t)(close - s) + 1;
    } else {
        size_t start = 0;

        host_end = 0;
        while (host_end < n && s[host_end] != ':')
            host_end++;
        for (size_t i = 0; i <= host_end; i++)
            if (i == host_end || s[i] == '.') {
                if (!domain_component_is_valid(s + start, i - start))
                    return false;
                start = i + 1;
            }
    }
    if (host_end == n)
        return true;
    if (s[host_end] != ':' || host_end + 1 == n)
        return false;
    for (size_t i = host_end + 1; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return true;
}

static bool tag_is_valid(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > IMAGE_TAG_MAX || s[0] == '.' || s[0] == '-')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr("_.-", s[i]))
            return false;
    return true;
}

static int check_digest(const char *input, const char *d, PdError *reterr)
{
    const char *colon = strchr(d, ':');
    size_t alg_len = colon ? (size_t)(colon - d) : 0;

    if (!colon || alg_len == 0 || !colon[1])
        return pd_error_set(reterr, -EINVAL, "'%s': invalid digest '%s' (want sha256:HEX)", input,
                            d);
    if (!(alg_len == 6 && strneq(d, "sha256", 6)))
        return pd_error_set(reterr, -EINVAL, "'%s': unsupported digest algorithm '%.*s'", input,
                            (int)alg_len, d);
    if (strlen(colon + 1) != 64)
        return pd_error_set(reterr, -EINVAL,
                            "'%s': invalid digest length (%zu hex digits, want 64)", input,
                            strlen(colon + 1));
    if (!all_hex_lower(colon + 1, 64))
        return pd_error_set(reterr, -EINVAL, "'%s': digest is not lowercase hexadecimal", input);
    return 0;
}

/* Whether the first of several components names a registry, as Docker decides it. */
static bool looks_like_domain(const char *s, size_t n)
{
    if (n == 9 && strneq(s, "localhost", 9))
        return true;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '.' || s[i] == ':' || (s[i] >= 'A' && s[i] <= 'Z'))
            return true;
    return false;
}

static int check_path(const char *input, const char *path, PdError *reterr)
{
    const char *p = path;

    for (;;) {
        size_t n = strcspn(p, "/");

        for (size_t i = 0; i < n; i++)
            if (p[i] >= 'A' && p[i] <= 'Z')
                return pd_error_set(reterr, -EINVAL, "'%s': repository name must be lowercase",
                                    input);
        if (n == 0)
            return pd_error_set(reterr, -EINVAL,
                                "'%s': invalid reference format: empty path component", input);
        if (!path_component_is_valid(p, n))
            return pd_error_set(reterr, -EINVAL,
                                "'%s': invalid reference format: path component '%.*s' (want "
                                "[a-z0-9] separated by '.', '_', '__' or '-')",
                                input, (int)n, p);
        if (!p[n])
            return 0;
        p += n + 1;
    }
}

int image_reference_parse(const char *s, ImageReference *ret, PdError *reterr)
{
    ImageReference ref = {};
    char name[IMAGE_REFERENCE_STRING_MAX + 1];
    const char *at, *slash, *colon, *path;
    size_t name_len, total;

    if (!s || !*s)
        return pd_error_set(reterr, -EINVAL,
                            "empty image reference: repository name must have at least one "
                            "component");
    if (strlen(s) > IMAGE_REFERENCE_STRING_MAX)
        return pd_error_set(reterr, -EINVAL, "image reference too long (%zu bytes, at most %d)",
                            strlen(s), IMAGE_REFERENCE_STRING_MAX);
    /* A bare image ID is ambiguous with a name; Docker refuses it as one too. */
    if (strlen(s) == 64 && all_hex_lower(s, 64))
        return pd_error_set(reterr, -EINVAL,
                            "'%s': invalid repository name, cannot specify 64-byte hexadecimal "
                            "strings",
                            s);

    at = strchr(s, '@');
    if (at) {
        int r = check_digest(s, at + 1, reterr);

        if (r < 0)
            return r;
        (void)snprintf(ref.digest, sizeof(ref.digest), "%s", at + 1);
    }
    name_len = at ? (size_t)(at - s) : strlen(s);
    memcpy(name, s, name_len);
    name[name_len] = 0;

    /* A tag follows the last ':' after the last '/' ("host:5000/app:1" has tag "1"). */
    slash = strrchr(name, '/');
    colon = strrchr(slash ? slash : name, ':');
    if (colon) {
        if (!tag_is_valid(colon + 1))
            return pd_error_set(reterr, -EINVAL,
                                "'%s': invalid tag '%s' (want [A-Za-z0-9_][A-Za-z0-9_.-], at "
                                "most %d characters)",
                                s, colon + 1, IMAGE_TAG_MAX);
        (void)snprintf(ref.tag, sizeof(ref.tag), "%s", colon + 1);
        name[colon - name] = 0;
    }
    if (!name[0])
        return pd_error_set(reterr, -EINVAL, "'%s': invalid reference format: no repository name",
                            s);

    slash = strchr(name, '/');
    if (slash && looks_like_domain(name, (size_t)(slash - name))) {
        size_t n = (size_t)(slash - name);

        if (!domain_is_valid(name, n))
            return pd_error_set(reterr, -EINVAL,
                                "'%s': invalid reference format: registry '%.*s' (want "
                                "HOST[:PORT])",
                                s, (int)n, name);
        if (n == strlen(DOCKER_LEGACY_DOMAIN) && strneq(name, DOCKER_LEGACY_DOMAIN, n))
            strcpy(ref.domain, DOCKER_DOMAIN);
        else
            (void)snprintf(ref.domain, sizeof(ref.domain), "%.*s", (int)n, name);
        path = slash + 1;
    } else {
        strcpy(ref.domain, DOCKER_DOMAIN);
        path = name;
    }
    {
        int r = check_path(s, path, reterr);

        if (r < 0)
            return r;
    }

    /* Docker Hub's official images live under library/. */
    total = strlen(ref.domain) + 1 + strlen(path);
    if (streq(ref.domain, DOCKER_DOMAIN) && !strchr(path, '/'))
        total += strlen(DOCKER_OFFICIAL_PREFIX);
    if (total > IMAGE_REFERENCE_NAME_MAX)
        return pd_error_set(reterr, -EINVAL,
                            "'%s': repository name must not be more than %d characters", s,
                            IMAGE_REFERENCE_NAME_MAX);
    /* Fits: checked just above. */
    if (streq(ref.domain, DOCKER_DOMAIN) && !strchr(path, '/'))
        strcpy(ref.path, DOCKER_OFFICIAL_PREFIX);
    strcat(ref.path, path);

    if (!ref.tag[0] && !ref.digest[0])
        strcpy(ref.tag, IMAGE_DEFAULT_TAG);
    *ret = ref;
    return 0;
}

int image_reference_format(const ImageReference *ref, char *buf, size_t size)
{
    int n;

    n = snprintf(buf, size, "%s/%s%s%s%s%s", ref->domain, ref->path, ref->tag[0] ? ":" : "",
                 ref->tag, ref->digest[0] ? "@" : "", ref->digest);
    if (n < 0)
        return -EINVAL;
    return (size_t)n < size ? n : -ENOBUFS;
}

int image_reference_familiar_name(const ImageReference *ref, char *buf, size_t size)
{
    const char *path = ref->path;
    int n;

    if (streq(ref->domain, DOCKER_DOMAIN) && startswith(path, DOCKER_OFFICIAL_PREFIX) &&
        !strchr(path + strlen(DOCKER_OFFICIAL_PREFIX), '/'))
        n = snprintf(buf, size, "%s", path + strlen(DOCKER_OFFICIAL_PREFIX));
    else if (streq(ref->domain, DOCKER_DOMAIN))
        n = snprintf(buf, size, "%s", path);
    else
        n = snprintf(buf, size, "%s/%s", ref->domain, path);
    return n < 0 || (size_t)n >= size ? -ENOBUFS : n;
}

bool image_reference_equal(const char *a, const char *b)
{
    ImageReference ra, rb;

    if (!a || !b || image_reference_parse(a, &ra, NULL) < 0 ||
        image_reference_parse(b, &rb, NULL) < 0)
        return false;
    return streq(ra.domain, rb.domain) && streq(ra.path, rb.path) && streq(ra.tag, rb.tag) &&
           streq(ra.digest, rb.digest);
}
