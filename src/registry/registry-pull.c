/* SPDX-License-Identifier: Apache-2.0 */
#include <curl/curl.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "registry-internal.h"

/*
 * A pull over the OCI distribution API: GET /v2/NAME/manifests/REF (with
 * an Accept header naming every manifest type podd reads), then GET
 * /v2/NAME/blobs/DIGEST for the config and each layer, several at once on
 * one curl multi handle. A blob is downloaded into <images>/blobs/.partial/
 * <hex> (kept when the transfer breaks, so that the next pull asks for the
 * rest with a Range header), hashed as it arrives, and once complete and
 * matching its digest and size moved into the store (image_blob_adopt()).
 * The pull holds an exclusive flock on each partial file it writes: another
 * pull that needs the same blob waits for it (partial_open_locked()).
 */

#define ACCEPT_MANIFESTS                                                                           \
    "Accept: " IMAGE_MT_OCI_INDEX ", " IMAGE_MT_DOCKER_LIST ", " IMAGE_MT_OCI_MANIFEST             \
    ", " IMAGE_MT_DOCKER_MANIFEST
#define PARTIAL_DIR IMAGE_PARTIAL_DIR
#define DEFAULT_PARALLEL 3u
#define PROGRESS_INTERVAL_USEC (200u * 1000u)

int registry_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -ENOMEM;
}

static inline void curl_easy_cleanupp(CURL **p)
{
    if (*p)
        curl_easy_cleanup(*p);
}
static inline void curl_slist_free_allp(struct curl_slist **p)
{
    curl_slist_free_all(*p);
}

typedef struct Pull {
    const char *images_dir;
    const ImageReference *ref;
    const RegistryPullOptions *o;
    PdError *err;

    /* The endpoint in use. */
    const char *host;    /* the registry or mirror host */
    char *base;          /* "https://HOST" or "http://HOST" */
    const char *ca_file; /* its caFile, or NULL */
    bool insecure;       /* its insecure setting */
    const RegistryCredential *cred;
    char *auth_header; /* "Authorization: ..." once authenticated; NULL before */
    bool answered;     /* the endpoint answered at least one request (an HTTP status) */

    RegistryProgress progress;
    uint64_t last_progress;
} Pull;

static void pull_done(Pull *p)
{
    free(p->base);
    if (p->auth_header)
        explicit_bzero(p->auth_header, strlen(p->auth_header));
    free(p->auth_header);
}

static bool cancelled(const Pull *p)
{
    return p->o->cancel && *p->o->cancel;
}

static void report(Pull *p, bool force)
{
    uint64_t now = now_monotonic_usec();

    if (!p->o->progress || (!force && now - p->last_progress < PROGRESS_INTERVAL_USEC))
        return;
    p->last_progress = now;
    p->o->progress(&p->progress, p->o->userdata);
}

/* The host requests go to: docker.io's registry is registry-1.docker.io. */
static const char *api_host(const char *host)
{
    return streq(host, "docker.io") ? "registry-1.docker.io" : host;
}

/* ---- one request ---------------------------------------------------------------------------- */

typedef struct Response {
    StrBuf body; /* documents and error bodies, capped */
    size_t max;
    bool too_large;
    char *content_type, *digest, *challenge;
} Response;

static void response_done(Response *r)
{
    strbuf_done(&r->body);
    free(r->content_type);
    free(r->digest);
    free(r->challenge);
    *r = (Response){};
}

/* "Name: value\r\n" into a new string when the header is name (case-insensitive). */
static char *header_value(const char *line, size_t n, const char *name)
{
    size_t k = strlen(name);
    const char *v, *end = line + n;

    if (n <= k || strncasecmp(line, name, k) != 0 || line[k] != ':')
        return NULL;
    v = line + k + 1;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    return strndup(v, (size_t)(end - v));
}

static void set_header(char **slot, char *v)
{
    if (v) {
        free(*slot);
        *slot = v;
    }
}

static size_t on_header(char *data, size_t size, size_t n, void *userdata)
{
    Response *r = userdata;
    size_t len = size * n;

    /* A new response (after a redirect or 100 Continue) starts over. */
    if (len >= 5 && strneq(data, "HTTP/", 5)) {
        free(r->content_type);
        free(r->digest);
        free(r->challenge);
        r->content_type = r->digest = r->challenge = NULL;
    }
    set_header(&r->content_type, header_value(data, len, "Content-Type"));
    set_header(&r->digest, header_value(data, len, "Docker-Content-Digest"));
    set_header(&r->challenge, header_value(data, len, "WWW-Authenticate"));
    return len;
}

static size_t on_body(char *data, size_t size, size_t n, void *userdata)
{
    Response *r = userdata;
    size_t len = size * n;

    if (r->body.len + len > r->max) {
        r->too_large = true;
        return 0; /* aborts the transfer */
    }
    return strbuf_append(&r->body, data, len) < 0 ? 0 : len;
}

/* What every request of the pull shares: TLS settings, timeouts, protocols, credentials. */
static int easy_setup(Pull *p, CURL *c, const char *url, struct curl_slist *headers)
{
    CURLcode e = CURLE_OK;

#define SET(opt, v)                                                                                \
    do {                                                                                           \
        if (e == CURLE_OK)                                                                         \
            e = curl_easy_setopt(c, opt, v);                                                       \
    } while (0)
    SET(CURLOPT_URL, url);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_FOLLOWLOCATION, 1L); /* blobs may be served from elsewhere */
    SET(CURLOPT_MAXREDIRS, 5L);
    SET(CURLOPT_CONNECTTIMEOUT, 30L);
    SET(CURLOPT_LOW_SPEED_LIMIT, 1L); /* a transfer stalled for a minute fails */
    SET(CURLOPT_LOW_SPEED_TIME, 60L);
    SET(CURLOPT_USERAGENT, "podd/" PACKAGE_VERSION);
    SET(CURLOPT_HTTPHEADER, headers);
    if (p->ca_file) {
        /* The system's CAs (CAPATH) and the registry's own. */
        SET(CURLOPT_CAINFO, p->ca_file);
        SET(CURLOPT_CAPATH, "/etc/ssl/certs");
    }
    if (p->insecure) {
        SET(CURLOPT_SSL_VERIFYPEER, 0L);
        SET(CURLOPT_SSL_VERIFYHOST, 0L);
    }
#undef SET
    return e == CURLE_OK ? 0 : -EINVAL;
}

static int headers_build(Pull *p, const char *extra, struct curl_slist **ret)
{
    struct curl_slist *l = NULL, *n;

    if (extra && !(l = curl_slist_append(l, extra)))
        return -ENOMEM;
    if (p->auth_header) {
        n = curl_slist_append(l, p->auth_header);
        if (!n) {
            curl_slist_free_all(l);
            return -ENOMEM;
        }
        l = n;
    }
    *ret = l;
    return 0;
}

/* The transfer error of a request, as the user reads it. */
static int transfer_error(Pull *p, CURLcode e, const char *errbuf, const char *what)
{
    int r;

    switch (e) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
        r = -EHOSTUNREACH;
        break;
    case CURLE_PEER_FAILED_VERIFICATION:
        p->answered = true; /* a TLS server, if an untrusted one: no plain HTTP fallback */
        r = -EPROTO;
        break;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CACERT_BADFILE:
        r = -EPROTO;
        break;
    case CURLE_ABORTED_BY_CALLBACK:
        r = -EINTR;
        break;
    default:
        r = -EIO;
    }
    return pd_error_set(p->err, r, "%s %s: %s", p->host, what,
                        errbuf && *errbuf ? errbuf : curl_easy_strerror(e));
}

/* GETs url (at most max bytes of body) into *resp; returns the HTTP status or -errno. */
static int request(Pull *p, const char *url, const char *extra_header, size_t max, const char *what,
                   Response *resp)
{
    _cleanup_(curl_easy_cleanupp) CURL *c = NULL;
    _cleanup_(curl_slist_free_allp) struct curl_slist *headers = NULL;
    char errbuf[CURL_ERROR_SIZE] = "";
    long status = 0;
    CURLcode e;
    int r;

    *resp = (Response){.max = max};
    c = curl_easy_init();
    if (!c)
        return -ENOMEM;
    r = headers_build(p, extra_header, &headers);
    if (r < 0)
        return r;
    r = easy_setup(p, c, url, headers);
    if (r < 0)
        return pd_error_set(p->err, r, "cannot set up a request to %s", url);
    (void)curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    (void)curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    (void)curl_easy_setopt(c, CURLOPT_HEADERDATA, resp);
    (void)curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    (void)curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
    e = curl_easy_perform(c);
    if (e == CURLE_WRITE_ERROR && resp->too_large)
        return pd_error_set(p->err, -EFBIG, "%s %s: larger than %zu bytes", p->host, what, max);
    if (e != CURLE_OK)
        return transfer_error(p, e, errbuf, what);
    (void)curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    p->answered = true;
    return (int)status;
}

/* ---- authentication ---------------------------------------------------------------------- */

/* %-escapes s for a query string into a new string. */
static char *query_escape(CURL *c, const char *s)
{
    char *e = curl_easy_escape(c, s, 0), *r;

    if (!e)
        return NULL;
    r = strdup(e);
    curl_free(e);
    return r;
}

static int basic_header(const RegistryCredential *cred, char **ret)
{
    _cleanup_free_ char *plain = NULL, *b64 = NULL;
    int r;

    plain = strdup_printf("%s:%s", cred->username, cred->password);
    if (!plain)
        return -ENOMEM;
    r = registry_base64_encode(plain, &b64);
    explicit_bzero(plain, strlen(plain));
    if (r < 0)
        return r;
    *ret = strdup_printf("Authorization: Basic %s", b64);
    explicit_bzero(b64, strlen(b64));
    return *ret ? 0 : -ENOMEM;
}

/* Answers a 401's challenge: a bearer token from its realm, or basic auth. */
static int authenticate(Pull *p, const char *challenge)
{
    _cleanup_(registry_challenge_done) RegistryChallenge ch = {};
    _cleanup_(curl_easy_cleanupp) CURL *c = NULL;
    _cleanup_free_ char *url = NULL, *scope = NULL, *service = NULL, *token = NULL;
    _cleanup_free_ char *default_scope = NULL;
    Response resp = {};
    int r, status;

    if (!challenge)
        return pd_error_set(p->err, -EACCES, "%s: 401 Unauthorized without a challenge", p->host);
    r = registry_challenge_parse(challenge, &ch, p->err);
    if (r < 0)
        return pd_error_prefix(p->err, r, "%s", p->host);
    free(p->auth_header);
    p->auth_header = NULL;
    if (!ch.bearer) {
        if (!p->cred)
            return pd_error_set(p->err, -EACCES,
                                "%s asks for a username and password and the credentials file "
                                "has none for it",
                                p->host);
        return basic_header(p->cred, &p->auth_header);
    }
    c = curl_easy_init();
    if (!c)
        return -ENOMEM;
    default_scope = strdup_printf("repository:%s:pull", p->ref->path);
    if (!default_scope)
        return -ENOMEM;
    scope = query_escape(c, ch.scope ? ch.scope : default_scope);
    service = ch.service ? query_escape(c, ch.service) : NULL;
    if (!scope || (ch.service && !service))
        return -ENOMEM;
    url = strdup_printf("%s%sscope=%s%s%s", ch.realm, strchr(ch.realm, '?') ? "&" : "?", scope,
                        service ? "&service=" : "", service ? service : "");
    if (!url)
        return -ENOMEM;
    /* The token server gets the credential (if any) as basic auth, nothing else. */
    if (p->cred) {
        r = basic_header(p->cred, &p->auth_header);
        if (r < 0)
            return r;
    }
    status = request(p, url, NULL, 64 * 1024, "token server", &resp);
    free(p->auth_header);
    p->auth_header = NULL;
    if (status < 0) {
        response_done(&resp);
        return status;
    }
    if (status == 401 || status == 403) {
        response_done(&resp);
        return pd_error_set(p->err, -EACCES, "%s: token server %s refused %s (HTTP %d)", p->host,
                            ch.realm, p->cred ? "the credentials" : "an anonymous pull", status);
    }
    if (status != 200) {
        response_done(&resp);
        return pd_error_set(p->err, -EIO, "%s: token server %s answered HTTP %d", p->host, ch.realm,
                            status);
    }
    r = registry_token_parse(resp.body.data ? resp.body.data : "", resp.body.len, &token, p->err);
    response_done(&resp);
    if (r < 0)
        return pd_error_prefix(p->err, r, "%s: %s", p->host, ch.realm);
    p->auth_header = strdup_printf("Authorization: Bearer %s", token);
    explicit_bzero(token, strlen(token));
    return p->auth_header ? 0 : -ENOMEM;
}

/* request(), answering one 401 with authenticate() and asking again. */
static int request_auth(Pull *p, const char *url, const char *extra_header, size_t max,
                        const char *what, Response *resp)
{
    int status, r;

    status = request(p, url, extra_header, max, what, resp);
    if (status != 401)
        return status;
    r = authenticate(p, resp->challenge);
    response_done(resp);
    if (r < 0)
        return r;
    status = request(p, url, extra_header, max, what, resp);
    if (status == 401) {
        response_done(resp);
        return pd_error_set(p->err, -EACCES, "%s: %s: 401 Unauthorized (credentials refused)",
                            p->host, what);
    }
    return status;
}

/* ---- documents ------------------------------------------------------------------------------- */

static int status_error(Pull *p, int status, const char *what)
{
    if (status == 404)
        return pd_error_set(p->err, -ENOENT, "%s: %s: not found (HTTP 404)", p->host, what);
    if (status == 401 || status == 403)
        return pd_error_set(p->err, -EACCES, "%s: %s: access denied (HTTP %d)", p->host, what,
                            status);
    return pd_error_set(p->err, -EIO, "%s: %s: HTTP %d", p->host, what, status);
}

/* The media type of a Content-Type header: up to ';', trimmed. New string or NULL. */
static char *media_type_of(const char *content_type)
{
    size_t n;

    if (!content_type)
        return NULL;
    n = strcspn(content_type, "; \t");
    return n ? strndup(content_type, n) : NULL;
}

/*
 * GETs a manifest or index by tag or digest, stores it as a blob (by the
 * digest of its bytes, which must be digest when one is given) and returns
 * its bytes, media type and digest.
 */
static int fetch_manifest(Pull *p, const char *reference, const char *digest, char **ret_data,
                          size_t *ret_size, char **ret_media_type,
                          char ret_digest[static IMAGE_DIGEST_SIZE])
{
    _cleanup_free_ char *url = NULL;
    char what[IMAGE_REFERENCE_NAME_MAX + IMAGE_DIGEST_SIZE + 64], got[IMAGE_DIGEST_SIZE];
    _cleanup_(response_done) Response resp = {};
    int status, r;

    url = strdup_printf("%s/v2/%s/manifests/%s", p->base, p->ref->path, reference);
    if (!url)
        return -ENOMEM;
    (void)snprintf(what, sizeof(what), "manifest %s:%s", p->ref->path, reference);
    status = request_auth(p, url, ACCEPT_MANIFESTS, IMAGE_DOCUMENT_MAX, what, &resp);
    if (status < 0)
        return status;
    if (status != 200) {
        return status_error(p, status, what);
    }
    r = image_blob_write_data(p->images_dir, resp.body.data ? resp.body.data : "", resp.body.len,
                              got, p->err);
    if (r < 0) {
        return r;
    }
    if (digest && !streq(got, digest)) {
        return pd_error_set(p->err, -EBADMSG, "%s: %s has digest %s (corrupt or wrong)", p->host,
                            what, got);
    }
    if (!digest && resp.digest && image_digest_is_valid(resp.digest) && !streq(resp.digest, got)) {
        return pd_error_set(p->err, -EBADMSG,
                            "%s: %s has digest %s, the registry says %s (corrupt)", p->host, what,
                            got, resp.digest);
    }
    *ret_media_type = media_type_of(resp.content_type);
    if (!resp.body.data && !(resp.body.data = strdup("")))
        return -ENOMEM;
    *ret_size = resp.body.len;
    *ret_data = move_ptr(resp.body.data);
    strcpy(ret_digest, got);
    return 0;
}

/* ---- blobs, concurrently and resumable ------------------------------------------------------ */

typedef struct Blob {
    const ImageDescriptor *d;
    int fd;          /* the partial file, appended to */
    Sha256 sha;      /* of the partial file's bytes so far */
    uint64_t offset; /* bytes present when the request started */
    uint64_t got;    /* bytes received in this request */
    long status;
    bool started, retried_auth, finished;
    bool busy; /* another pull writes its partial file: tried again later */
    CURL *easy;
    struct curl_slist *headers;
    char errbuf[CURL_ERROR_SIZE];
    Response resp; /* headers, and the body of an error answer */
    Pull *pull;
} Blob;

/* Ends the blob's transfer; its partial file, and the lock on it, stay. */
static void blob_transfer_done(Blob *b)
{
    if (b->easy)
        curl_easy_cleanup(b->easy);
    b->easy = NULL;
    curl_slist_free_all(b->headers);
    b->headers = NULL;
    response_done(&b->resp);
}

static void blob_done(Blob *b)
{
    if (b->fd >= 0)
        (void)close(b->fd); /* and with it the lock */
    b->fd = -1;
    blob_transfer_done(b);
}

static size_t on_blob_data(char *data, size_t size, size_t n, void *userdata)
{
    Blob *b = userdata;
    size_t len = size * n;

    if (!b->started) {
        b->started = true;
        (void)curl_easy_getinfo(b->easy, CURLINFO_RESPONSE_CODE, &b->status);
        /* A registry that ignores Range sends the whole blob: start the file over. */
        if (b->status == 200 && b->offset > 0) {
            if (ftruncate(b->fd, 0) < 0)
                return 0;
            b->offset = 0;
            sha256_init(&b->sha);
        }
    }
    if (b->status != 200 && b->status != 206) {
        b->resp.max = 4096;
        return on_body(data, size, n, &b->resp) == len || b->resp.too_large ? len : 0;
    }
    if (b->offset + b->got + len > b->d->size)
        return 0; /* longer than the descriptor says: refused */
    for (size_t done = 0; done < len;) {
        ssize_t w = write(b->fd, data + done, len - done);

        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return 0;
        done += (size_t)w;
    }
    sha256_update(&b->sha, data, len);
    b->got += len;
    b->pull->progress.done += len;
    return len;
}

static int partial_dir_open(const char *images_dir, PdError *reterr)
{
    _cleanup_close_ int images_fd = -1;
    int fd;

    if (mkdir(images_dir, 0700) < 0 && errno != EEXIST)
        return pd_error_set(reterr, -errno, "cannot create %s: %m", images_dir);
    images_fd = open(images_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (images_fd < 0)
        return pd_error_set(reterr, -errno, "cannot open %s: %m", images_dir);
    if (mkdirat(images_fd, "blobs", 0700) < 0 && errno != EEXIST)
        return pd_error_set(reterr, -errno, "cannot create %s/blobs: %m", images_dir);
    if (mkdirat(images_fd, PARTIAL_DIR, 0700) < 0 && errno != EEXIST)
        return pd_error_set(reterr, -errno, "cannot create %s/" PARTIAL_DIR ": %m", images_dir);
    fd = openat(images_fd, PARTIAL_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return pd_error_set(reterr, -errno, "cannot open %s/" PARTIAL_DIR ": %m", images_dir);
    return fd;
}

/* Hashes the b->offset bytes an earlier pull left in the partial file: the rest is hashed as it
 * arrives. */
static int partial_hash(Blob *b)
{
    uint8_t buf[64 * 1024];
    uint64_t at = 0;

    sha256_init(&b->sha);
    while (at < b->offset) {
        ssize_t n = pread(b->fd, buf, sizeof(buf), (off_t)at);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EIO;
        sha256_update(&b->sha, buf, (size_t)n);
        at += (uint64_t)n;
    }
    return 0;
}

/*
 * Opens the blob's partial file and locks it for this pull alone: another
 * pull of an image with the same layer (podd's and podctl's, or two of
 * podd's) appending too would mix their bytes, and image_partials_clean()
 * leaves a locked file alone. 1 when another pull holds it: b->busy, tried
 * again later (that pull may well have stored the blob by then).
 */
static int partial_open_locked(Pull *p, int partial_fd, Blob *b)
{
    const char *hex = registry_digest_hex(b->d->digest);
    struct stat st, now;
    int fd;

    fd = openat(partial_fd, hex, O_RDWR | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return pd_error_set(p->err, -errno, "cannot create a partial blob in %s: %m",
                            p->images_dir);
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int r = errno == EWOULDBLOCK ? 1 : -errno;

        (void)close(fd);
        b->busy = r > 0;
        return r < 0
                   ? pd_error_set(p->err, r, "cannot lock a partial blob in %s: %m", p->images_dir)
                   : 1;
    }
    /* The name may have moved on while it was locked: into the store, or deleted. */
    if (fstat(fd, &st) < 0 || fstatat(partial_fd, hex, &now, AT_SYMLINK_NOFOLLOW) < 0 ||
        st.st_ino != now.st_ino || st.st_dev != now.st_dev) {
        (void)close(fd);
        b->busy = true;
        return 1;
    }
    b->busy = false;
    b->fd = fd;
    return 0;
}

static int blob_start(Pull *p, CURLM *multi, int partial_fd, Blob *b)
{
    _cleanup_free_ char *url = NULL;
    char range[64];
    struct stat st;
    int r;

    if (b->fd < 0) {
        r = partial_open_locked(p, partial_fd, b);
        if (r != 0)
            return r;
    }
    if (fstat(b->fd, &st) < 0)
        return -errno;
    b->offset = (uint64_t)st.st_size;
    if (b->offset > b->d->size || partial_hash(b) < 0) {
        if (ftruncate(b->fd, 0) < 0)
            return -errno;
        b->offset = 0;
        sha256_init(&b->sha);
    }
    b->got = 0;
    b->started = false;
    b->status = 0;
    p->progress.done += b->offset;
    if (b->offset == b->d->size) {
        b->finished = true; /* complete already: only its check remains */
        return 0;
    }
    url = strdup_printf("%s/v2/%s/blobs/%s", p->base, p->ref->path, b->d->digest);
    if (!url)
        return -ENOMEM;
    b->easy = curl_easy_init();
    if (!b->easy)
        return -ENOMEM;
    r = headers_build(p, NULL, &b->headers);
    if (r < 0)
        return r;
    r = easy_setup(p, b->easy, url, b->headers);
    if (r < 0)
        return pd_error_set(p->err, r, "cannot set up a request to %s", url);
    if (b->offset > 0) {
        (void)snprintf(range, sizeof(range), "%" PRIu64 "-", b->offset);
        (void)curl_easy_setopt(b->easy, CURLOPT_RANGE, range);
    }
    b->errbuf[0] = 0;
    (void)curl_easy_setopt(b->easy, CURLOPT_ERRORBUFFER, b->errbuf);
    (void)curl_easy_setopt(b->easy, CURLOPT_HEADERFUNCTION, on_header);
    (void)curl_easy_setopt(b->easy, CURLOPT_HEADERDATA, &b->resp);
    (void)curl_easy_setopt(b->easy, CURLOPT_WRITEFUNCTION, on_blob_data);
    (void)curl_easy_setopt(b->easy, CURLOPT_WRITEDATA, b);
    (void)curl_easy_setopt(b->easy, CURLOPT_PRIVATE, b);
    if (curl_multi_add_handle(multi, b->easy) != CURLM_OK)
        return -ENOMEM;
    return 0;
}

/* Moves a complete partial blob into the store (checked there) and deletes it. */
static int blob_commit(Pull *p, int partial_fd, Blob *b)
{
    _cleanup_close_ int fd = -1;
    const char *hex = registry_digest_hex(b->d->digest);
    char got[IMAGE_DIGEST_SIZE];
    struct stat st;
    int r;

    fd = openat(partial_fd, hex, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return pd_error_set(p->err, -errno, "cannot open the downloaded blob %s: %m", b->d->digest);
    memcpy(got, "sha256:", 7);
    sha256_final_hex(&b->sha, got + 7);
    if (fstat(fd, &st) < 0)
        r = pd_error_set(p->err, -errno, "blob %s: %m", b->d->digest);
    else if ((uint64_t)st.st_size != b->d->size)
        r = pd_error_set(p->err, -EBADMSG, "blob %s: size is %" PRIu64 " bytes, expected %" PRIu64,
                         b->d->digest, (uint64_t)st.st_size, b->d->size);
    else if (!streq(got, b->d->digest))
        r = pd_error_set(p->err, -EBADMSG, "blob %s: content has digest %s (corrupt or wrong blob)",
                         b->d->digest, got);
    else if (fsync(fd) < 0)
        r = pd_error_set(p->err, -errno, "cannot write blob %s: %m", b->d->digest);
    else
        /* Hashed as it arrived: moved into the store, not copied. */
        r = image_blob_adopt(p->images_dir, partial_fd, hex, b->d->digest, p->err);
    /* Wrong content is never resumed: the next pull starts it over. */
    if (r < 0)
        (void)unlinkat(partial_fd, hex, 0);
    if (r < 0)
        return pd_error_prefix(p->err, r, "%s", p->host);
    p->progress.blobs_done++;
    report(p, true);
    return 0;
}

/* One finished transfer: 0 when the blob is complete, 1 when it was started again, or -errno. */
static int blob_finish(Pull *p, CURLM *multi, int partial_fd, Blob *b, CURLcode e)
{
    char what[IMAGE_DIGEST_SIZE + 8];
    int r;

    (void)snprintf(what, sizeof(what), "blob %s", b->d->digest);
    (void)curl_multi_remove_handle(multi, b->easy);
    if (e == CURLE_OK && !b->started)
        (void)curl_easy_getinfo(b->easy, CURLINFO_RESPONSE_CODE, &b->status);
    if (e == CURLE_OK && b->status == 401 && !b->retried_auth) {
        b->retried_auth = true;
        r = authenticate(p, b->resp.challenge);
        if (r < 0)
            return r;
        p->progress.done -= b->offset + b->got;
        blob_transfer_done(b); /* the partial file stays locked */
        r = blob_start(p, multi, partial_fd, b);
        return r < 0 ? r : 1;
    }
    if (e == CURLE_WRITE_ERROR && (b->status == 200 || b->status == 206))
        return pd_error_set(p->err, -EBADMSG, "%s: %s: more than its %" PRIu64 " bytes", p->host,
                            what, b->d->size);
    if (e != CURLE_OK)
        return transfer_error(p, e, b->errbuf, what);
    if (b->status != 200 && b->status != 206)
        return status_error(p, (int)b->status, what);
    /* Still locked while it moves into the store. */
    blob_transfer_done(b);
    r = blob_commit(p, partial_fd, b);
    blob_done(b);
    return r;
}

/* True when the store has b already (verified when it was written): b is finished, and counted. */
static bool blob_in_store(Pull *p, Blob *b)
{
    int fd = image_blob_open(p->images_dir, b->d->digest, NULL);

    if (fd < 0)
        return false;
    (void)close(fd);
    b->busy = false;
    b->finished = true;
    p->progress.done += b->d->size;
    p->progress.blobs_done++;
    return true;
}

/*
 * A blob another pull was writing, looked at again: 2 when that pull stored
 * it (or it was complete and is stored now), 0 when it runs from where that
 * pull left it, 1 when it is still busy, or -errno.
 */
static int blob_retry_busy(Pull *p, CURLM *multi, int partial_fd, Blob *b)
{
    int r;

    if (blob_in_store(p, b))
        return 2;
    r = blob_start(p, multi, partial_fd, b);
    if (r != 0)
        return r;
    if (!b->finished)
        return 0;
    r = blob_commit(p, partial_fd, b);
    blob_done(b);
    return r < 0 ? r : 2;
}

/* Every blob of descriptors ds not in the store yet, at most max_parallel at once. */
static int fetch_blobs(Pull *p, const ImageDescriptor *const *ds, size_t n)
{
    _cleanup_close_ int partial_fd = -1;
    _cleanup_free_ Blob *blobs = NULL;
    unsigned parallel = p->o->max_parallel ? p->o->max_parallel : DEFAULT_PARALLEL;
    size_t next = 0, running = 0, left = 0;
    CURLM *multi = NULL;
    int r = 0;

    blobs = calloc(n, sizeof(*blobs));
    if (!blobs)
        return -ENOMEM;
    partial_fd = partial_dir_open(p->images_dir, p->err);
    if (partial_fd < 0)
        return partial_fd;
    for (size_t i = 0; i < n; i++) {
        blobs[i] = (Blob){.d = ds[i], .fd = -1, .pull = p};
        if (!blob_in_store(p, &blobs[i]))
            left++;
    }
    report(p, true);
    multi = curl_multi_init();
    if (!multi)
        return -ENOMEM;
    (void)curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)parallel);
    while (left > 0) {
        CURLMsg *msg;
        int still, queued;

        if (cancelled(p)) {
            r = pd_error_set(p->err, -EINTR, "pull cancelled");
            break;
        }
        /* Start blobs up to the limit. */
        while (running < parallel && next < n) {
            Blob *b = &blobs[next++];

            if (b->finished)
                continue;
            r = blob_start(p, multi, partial_fd, b);
            if (r < 0)
                goto out;
            if (r > 0) { /* busy: another pull writes it */
                r = 0;
                continue;
            }
            if (b->finished) { /* already complete from an earlier pull */
                r = blob_commit(p, partial_fd, b);
                blob_done(b);
                if (r < 0)
                    goto out;
                left--;
                continue;
            }
            running++;
        }
        /* Blobs other pulls were writing: stored by them meanwhile, or free to resume. */
        for (size_t i = 0; i < next && running < parallel; i++) {
            Blob *b = &blobs[i];

            if (!b->busy)
                continue;
            r = blob_retry_busy(p, multi, partial_fd, b);
            if (r < 0)
                goto out;
            if (r == 2)
                left--;
            else if (r == 0)
                running++;
            r = 0;
        }
        if (curl_multi_perform(multi, &still) != CURLM_OK) {
            r = pd_error_set(p->err, -EIO, "%s: transfer failed", p->host);
            break;
        }
        while ((msg = curl_multi_info_read(multi, &queued))) {
            Blob *b = NULL;

            if (msg->msg != CURLMSG_DONE)
                continue;
            (void)curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&b);
            r = blob_finish(p, multi, partial_fd, b, msg->data.result);
            if (r < 0)
                goto out;
            if (r == 0) {
                b->finished = true;
                running--;
                left--;
            }
            r = 0;
        }
        report(p, false);
        if (left > 0 && curl_multi_poll(multi, NULL, 0, 200, NULL) != CURLM_OK) {
            r = pd_error_set(p->err, -EIO, "%s: transfer failed", p->host);
            break;
        }
    }
out:
    for (size_t i = 0; i < n; i++) {
        if (blobs[i].easy)
            (void)curl_multi_remove_handle(multi, blobs[i].easy);
        blob_done(&blobs[i]);
    }
    curl_multi_cleanup(multi);
    return r;
}

/* ---- the pull ------------------------------------------------------------------------------- */

/* The image's manifest (through an index if the reference names one), config and layers. */
static int pull_from(Pull *p, ImageLoaded *ret)
{
    _cleanup_(image_manifest_freep) ImageManifest *m = NULL;
    _cleanup_(image_config_freep) ImageConfig *c = NULL;
    _cleanup_free_ char *data = NULL, *media_type = NULL, *cdata = NULL;
    _cleanup_free_ const ImageDescriptor **ds = NULL;
    const char *reference = p->ref->digest[0] ? p->ref->digest : p->ref->tag;
    char digest[IMAGE_DIGEST_SIZE], what[IMAGE_DIGEST_SIZE + 16], p1[64];
    ImagePlatform host;
    size_t size;
    int r;

    r = fetch_manifest(p, reference, p->ref->digest[0] ? p->ref->digest : NULL, &data, &size,
                       &media_type, digest);
    if (r < 0)
        return r;
    image_host_platform(&host);
    if (image_media_type_is_index(media_type)) {
        _cleanup_(image_index_freep) ImageIndex *idx = NULL;
        _cleanup_free_ char *mdigest = NULL;
        int i;

        (void)snprintf(what, sizeof(what), "index %s", digest);
        r = image_index_parse(data, size, what, media_type, &idx, p->err);
        if (r < 0)
            return pd_error_prefix(p->err, r, "%s", p->host);
        i = image_index_select(idx, &host);
        if (i < 0)
            return pd_error_set(p->err, -ENOEXEC, "%s: %s: no manifest for %s", p->host, what,
                                image_platform_format(&host, p1, sizeof(p1)));
        if (image_media_type_is_index(idx->manifests[i].media_type))
            return pd_error_set(p->err, -EINVAL, "%s: %s: manifests[%d]: an index nested too deep",
                                p->host, what, i);
        mdigest = strdup(idx->manifests[i].digest);
        if (!mdigest)
            return -ENOMEM;
        free(data);
        free(media_type);
        data = media_type = NULL;
        r = fetch_manifest(p, mdigest, mdigest, &data, &size, &media_type, digest);
        if (r < 0)
            return r;
        /* The index's descriptor names the type; the answer's Content-Type must agree. */
        if (!media_type && !(media_type = strdup(idx->manifests[i].media_type)))
            return -ENOMEM;
    }
    (void)snprintf(what, sizeof(what), "manifest %s", digest);
    r = image_manifest_parse(data, size, what, media_type, &m, p->err);
    if (r < 0)
        return pd_error_prefix(p->err, r, "%s", p->host);

    ds = calloc(m->n_layers + 1, sizeof(*ds));
    if (!ds)
        return -ENOMEM;
    ds[0] = &m->config;
    p->progress.n_blobs = (unsigned)m->n_layers + 1;
    p->progress.total = m->config.size;
    for (size_t i = 0; i < m->n_layers; i++) {
        ds[i + 1] = &m->layers[i];
        p->progress.total += m->layers[i].size;
    }
    if (m->config.size > IMAGE_DOCUMENT_MAX)
        return pd_error_set(p->err, -EFBIG, "%s: config %s: size %" PRIu64 " is over %u bytes",
                            p->host, m->config.digest, m->config.size, IMAGE_DOCUMENT_MAX);
    r = fetch_blobs(p, ds, m->n_layers + 1);
    if (r < 0)
        return r;
    r = image_blob_read(p->images_dir, m->config.digest, &cdata, &size, p->err);
    if (r < 0)
        return r;
    (void)snprintf(what, sizeof(what), "config %s", m->config.digest);
    r = image_config_parse_for_host(cdata, size, what, m->n_layers, &c, p->err);
    if (r < 0)
        return pd_error_prefix(p->err, r, "%s", p->host);
    *ret = (ImageLoaded){.manifest = move_ptr(m), .config = move_ptr(c)};
    strcpy(ret->manifest_digest, digest);
    return 0;
}

/* Points p at endpoint host; plain selects http://. */
static int pull_endpoint(Pull *p, const char *host, bool plain)
{
    const RegistryHost *s = registry_config_find(p->o->config, host);

    free(p->base);
    free(p->auth_header);
    p->auth_header = NULL;
    p->host = host;
    p->base = strdup_printf("%s://%s", plain ? "http" : "https", api_host(host));
    p->ca_file = s ? s->ca_file : NULL;
    p->insecure = s && s->insecure;
    p->cred = registry_credentials_find(p->o->credentials, host);
    p->progress = (RegistryProgress){.what = "manifest"};
    p->answered = false;
    return p->base ? 0 : -ENOMEM;
}

/*
 * Tries host over HTTPS and, when it is insecure or on loopback and never answered over HTTPS
 * (a plain HTTP server fails the TLS handshake), then over HTTP.
 */
static int pull_host(Pull *p, const char *host, ImageLoaded *ret)
{
    const RegistryHost *s = registry_config_find(p->o->config, host);
    bool may_be_plain = (s && s->insecure) || registry_host_is_loopback(host);
    int r;

    r = pull_endpoint(p, host, false);
    if (r < 0)
        return r;
    r = pull_from(p, ret);
    if (r >= 0 || !may_be_plain || p->answered || r == -EINTR)
        return r;
    r = pull_endpoint(p, host, true);
    if (r < 0)
        return r;
    return pull_from(p, ret);
}

int registry_pull(const char *images_dir, const ImageReference *ref,
                  const RegistryPullOptions *opts, ImageLoadResult **ret, PdError *reterr)
{
    _cleanup_(image_load_result_freep) ImageLoadResult *res = NULL;
    const RegistryHost *s;
    PdError local = {};
    Pull p = {
        .images_dir = images_dir,
        .ref = ref,
        .o = opts,
        .err = reterr ? reterr : &local,
    };
    ImageLoaded img = {};
    char name[IMAGE_REFERENCE_STRING_MAX + 1];
    int r = -ENOENT;

    s = registry_config_find(opts->config, ref->domain);
    for (size_t i = 0; s && s->mirrors && s->mirrors[i]; i++) {
        r = pull_host(&p, s->mirrors[i], &img);
        if (r >= 0 || r == -EINTR)
            break;
    }
    if (r < 0 && r != -EINTR)
        r = pull_host(&p, ref->domain, &img);
    pull_done(&p);
    if (r < 0)
        return r;
    res = calloc(1, sizeof(*res));
    if (!res)
        goto oom;
    res->images = calloc(1, sizeof(*res->images));
    if (!res->images)
        goto oom;
    (void)image_reference_format(ref, name, sizeof(name));
    img.name = strdup(name);
    if (!img.name)
        goto oom;
    res->images[0] = img;
    res->n_images = 1;
    *ret = move_ptr(res);
    return 0;
oom:
    free(img.name);
    image_manifest_free(img.manifest);
    image_config_free(img.config);
    return -ENOMEM;
}
