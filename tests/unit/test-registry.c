/* SPDX-License-Identifier: Apache-2.0 */
#include <check.h>
#include <stdlib.h>

#include "base/base.h"
#include "registry/registry.h"
#include "unit-util.h"

START_TEST(test_hosts)
{
    ck_assert(registry_host_is_valid("registry.example:5000"));
    ck_assert(registry_host_is_valid("localhost"));
    ck_assert(registry_host_is_valid("127.0.0.1:5000"));
    ck_assert(registry_host_is_valid("[::1]:5000"));
    ck_assert(!registry_host_is_valid(""));
    ck_assert(!registry_host_is_valid("-bad.example"));
    ck_assert(!registry_host_is_valid("a..b"));
    ck_assert(!registry_host_is_valid("a.example:"));
    ck_assert(!registry_host_is_valid("a.example:123456"));
    ck_assert(!registry_host_is_valid("a/b"));
    ck_assert(!registry_host_is_valid("[::1"));

    ck_assert(registry_host_is_loopback("localhost:5000"));
    ck_assert(registry_host_is_loopback("127.0.0.1:5000"));
    ck_assert(registry_host_is_loopback("127.255.3.4"));
    ck_assert(registry_host_is_loopback("[::1]:5000"));
    ck_assert(!registry_host_is_loopback("128.0.0.1:5000"));
    ck_assert(!registry_host_is_loopback("127.0.0.1.example:5000"));
    ck_assert(!registry_host_is_loopback("localhost.example"));
    ck_assert(!registry_host_is_loopback("docker.io"));
}
END_TEST

START_TEST(test_challenge)
{
    RegistryChallenge c = {};
    PdError e = {};

    ck_assert_int_eq(registry_challenge_parse("Bearer realm=\"https://auth.docker.io/token\","
                                              "service=\"registry.docker.io\","
                                              "scope=\"repository:library/nginx:pull\"",
                                              &c, &e),
                     0);
    ck_assert(c.bearer);
    ck_assert_str_eq(c.realm, "https://auth.docker.io/token");
    ck_assert_str_eq(c.service, "registry.docker.io");
    ck_assert_str_eq(c.scope, "repository:library/nginx:pull");
    registry_challenge_done(&c);

    /* Unquoted values, spaces, escapes, unknown parameters, case-insensitive names. */
    ck_assert_int_eq(registry_challenge_parse("bearer  REALM=http://127.0.0.1:1/t , "
                                              "service=\"a\\\"b\",error=\"insufficient_scope\"",
                                              &c, &e),
                     0);
    ck_assert_str_eq(c.realm, "http://127.0.0.1:1/t");
    ck_assert_str_eq(c.service, "a\"b");
    ck_assert_ptr_null(c.scope);
    registry_challenge_done(&c);

    ck_assert_int_eq(registry_challenge_parse("Basic realm=\"podd\"", &c, &e), 0);
    ck_assert(!c.bearer);
    registry_challenge_done(&c);

    ck_assert_int_eq(registry_challenge_parse("Negotiate abc", &c, &e), -EPROTONOSUPPORT);
    ck_assert_str_eq(e.message, "WWW-Authenticate: unsupported scheme 'Negotiate' (Bearer, Basic)");
    ck_assert_int_eq(registry_challenge_parse("Bearer realm=\"file:///etc/passwd\"", &c, &e),
                     -EINVAL);
    ck_assert_str_eq(e.message, "WWW-Authenticate: Bearer challenge without an http(s) realm");
    ck_assert_int_eq(registry_challenge_parse("Bearer realm=\"https://a", &c, &e), -EINVAL);
    ck_assert_int_eq(registry_challenge_parse("Bearer realm", &c, &e), -EINVAL);
    ck_assert_ptr_null(c.realm);
}
END_TEST

START_TEST(test_token)
{
    _cleanup_free_ char *t = NULL, *t2 = NULL;
    PdError e = {};
    char *bad = NULL;

    ck_assert_int_eq(registry_token_parse("{\"token\":\"a.b-c_d\",\"expires_in\":60}",
                                          sizeof("{\"token\":\"a.b-c_d\",\"expires_in\":60}") - 1,
                                          &t, &e),
                     0);
    ck_assert_str_eq(t, "a.b-c_d");
    ck_assert_int_eq(registry_token_parse("{\"access_token\":\"xyz\"}",
                                          sizeof("{\"access_token\":\"xyz\"}") - 1, &t2, &e),
                     0);
    ck_assert_str_eq(t2, "xyz");
    ck_assert_int_eq(registry_token_parse("{\"token\":\"a\\r\\nX: y\"}",
                                          sizeof("{\"token\":\"a\\r\\nX: y\"}") - 1, &bad, &e),
                     -EINVAL);
    ck_assert_ptr_null(bad);
    ck_assert_int_eq(registry_token_parse("{}", sizeof("{}") - 1, &bad, &e), -EINVAL);
    ck_assert_str_eq(e.message, "token server answer: no 'token' or 'access_token'");
}
END_TEST

START_TEST(test_credentials)
{
    static const char good[] =
        "{\"auths\": {\"https://index.docker.io/v1/\": {\"auth\": \"dXNlcjpwYTpzcw==\"},"
        " \"Registry.Example:5000\": {\"username\": \"u\", \"password\": \"p\"}},"
        " \"credHelpers\": {\"gcr.io\": \"gcloud\"}}";
    _cleanup_(registry_credentials_freep) RegistryCredentials *c = NULL;
    RegistryCredentials *bad = NULL;
    const RegistryCredential *cr;
    PdError e = {};

    ck_assert_int_eq(registry_credentials_parse(good, strlen(good), "auth.json", &c, &e), 0);
    cr = registry_credentials_find(c, "docker.io");
    ck_assert_ptr_nonnull(cr);
    ck_assert_str_eq(cr->username, "user");
    ck_assert_str_eq(cr->password, "pa:ss");
    cr = registry_credentials_find(c, "registry.example:5000");
    ck_assert_ptr_nonnull(cr);
    ck_assert_str_eq(cr->password, "p");
    ck_assert_ptr_null(registry_credentials_find(c, "other.example"));

    ck_assert_int_eq(registry_credentials_parse(
                         "{\"auths\":{\"r.example\":{\"auth\":\"bm9jb2xvbg==\"}}}",
                         sizeof("{\"auths\":{\"r.example\":{\"auth\":\"bm9jb2xvbg==\"}}}") - 1,
                         "auth.json", &bad, &e),
                     -EINVAL);
    ck_assert_str_eq(e.message, "auth.json: auths.r.example.auth: not base64 of USERNAME:PASSWORD");
    ck_assert_int_eq(registry_credentials_parse("{\"auths\":{\"r.example\":{}}}",
                                                sizeof("{\"auths\":{\"r.example\":{}}}") - 1,
                                                "auth.json", &bad, &e),
                     -EINVAL);
    ck_assert_str_eq(e.message,
                     "auth.json: auths.r.example: neither 'auth' nor 'username' and 'password'");
    ck_assert_int_eq(
        registry_credentials_parse("{\"auths\":", sizeof("{\"auths\":") - 1, "auth.json", &bad, &e),
        -EINVAL);
    ck_assert_uint_eq(e.line, 1);
    ck_assert_ptr_null(bad);
}
END_TEST

START_TEST(test_config)
{
    static const char good[] =
        "{\"registries\": {\"registry.example:5000\": {\"insecure\": true, \"caFile\": "
        "\"/etc/podd/ca.pem\", \"mirrors\": [\"mirror.local:5000\"]}, \"docker.io\": {}}}";
    _cleanup_(registry_config_freep) RegistryConfig *c = NULL;
    RegistryConfig *bad = NULL;
    const RegistryHost *h;
    PdError e = {};

    ck_assert_int_eq(registry_config_parse(good, strlen(good), "registries.json", &c, &e), 0);
    h = registry_config_find(c, "registry.example:5000");
    ck_assert_ptr_nonnull(h);
    ck_assert(h->insecure);
    ck_assert_str_eq(h->ca_file, "/etc/podd/ca.pem");
    ck_assert_str_eq(h->mirrors[0], "mirror.local:5000");
    ck_assert_ptr_null(h->mirrors[1]);
    h = registry_config_find(c, "docker.io");
    ck_assert(h && !h->insecure && !h->ca_file && !h->mirrors);
    ck_assert_ptr_null(registry_config_find(c, "other.example"));

#define BAD(json, msg)                                                                             \
    do {                                                                                           \
        ck_assert_int_eq(registry_config_parse(json, strlen(json), "r.json", &bad, &e), -EINVAL);  \
        ck_assert_str_eq(e.message, msg);                                                          \
        ck_assert_ptr_null(bad);                                                                   \
    } while (0)
    BAD("{\"registries\":{\"r.example\":{\"insecure\":1}}}",
        "r.json: registries.r.example.insecure: not a boolean");
    BAD("{\"registries\":{\"r.example\":{\"caFile\":\"ca.pem\"}}}",
        "r.json: registries.r.example.caFile: not an absolute path");
    BAD("{\"registries\":{\"r.example\":{\"mirrors\":[\"ok.example\",\"a b\"]}}}",
        "r.json: registries.r.example.mirrors[1]: not a registry host (HOST[:PORT])");
    BAD("{\"registries\":{\"r.example\":{\"mirror\":[]}}}",
        "r.json: registries.r.example: unknown field 'mirror' (insecure, caFile, mirrors)");
    BAD("{\"registries\":{\"http://r.example\":{}}}",
        "r.json: registries: 'http://r.example': not a registry host (HOST[:PORT])");
    BAD("{\"registry\":{}}", "r.json: unknown field 'registry' (registries)");
#undef BAD
}
END_TEST

START_TEST(test_missing_files_are_empty)
{
    _cleanup_(registry_config_freep) RegistryConfig *c = NULL;
    _cleanup_(registry_credentials_freep) RegistryCredentials *cr = NULL;
    PdError e = {};

    ck_assert_int_eq(registry_config_load("/nonexistent/registries.json", &c, &e), 0);
    ck_assert_uint_eq(c->n_hosts, 0);
    ck_assert_int_eq(registry_credentials_load("/nonexistent/auth.json", &cr, &e), 0);
    ck_assert_uint_eq(cr->n_entries, 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("registry");
    TCase *tc = tcase_create("registry");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, test_hosts);
    tcase_add_test(tc, test_challenge);
    tcase_add_test(tc, test_token);
    tcase_add_test(tc, test_credentials);
    tcase_add_test(tc, test_config);
    tcase_add_test(tc, test_missing_files_are_empty);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
