/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the API request parser: bytes -> api_request_parse(),
 * then the error or success response podd would send, formatted and parsed
 * back by the client's api_response_parse(). Never prints.
 */
#include <assert.h>

#include "api/api.h"
#include "fuzz.h"

static void fuzz_roundtrip(json_t *resp_take)
{
    _cleanup_json_ json_t *resp = resp_take, *result = NULL;
    _cleanup_free_ char *line = NULL;
    PdError err = {0};
    size_t len;

    if (!resp)
        return;
    line = api_response_format(resp, &len);
    if (!line)
        return;
    assert(len > 0 && line[len - 1] == '\n');
    assert(!memchr(line, '\n', len - 1));
    (void)api_response_parse(line, len - 1, &result, &err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    _cleanup_(api_request_freep) ApiRequest *req = NULL;
    PdError err = {0};
    int r;

    r = api_request_parse((const char *)data, size, &req, &err);
    if (r < 0) {
        assert(!req);
        assert(err.message[0]);
        fuzz_roundtrip(api_response_error(api_reason_from_errno(r), err.message));
        return 0;
    }
    assert(req && req->json);
    assert(api_op_to_string(req->op));
    /* Every name that gets through is a DNS label: never a path. */
    if (req->name)
        assert(!strchr(req->name, '/') && !strstr(req->name, ".."));
    fuzz_roundtrip(api_response_ok_take(json_incref(req->json)));
    return 0;
}
