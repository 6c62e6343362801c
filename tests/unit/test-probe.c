/* SPDX-License-Identifier: Apache-2.0 */
#include <check.h>
#include <stdio.h>

#include "reconcile/reconcile.h"

/*
 * Probe bookkeeping, table-driven: a container with the probes of a
 * manifest starts, and a script of runs (the probe due next, its result,
 * how long it took) must give exactly the expected deadlines and effects.
 */

#define SEC 1000000ull
/* Where the container started: far from 0, so no deadline is 0 by accident. */
#define T0 (1000 * SEC)

#define POD(probes)                                                                                \
    "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n"                      \
    "  - name: c\n    image: busybox:1\n    command: [sleep, '9']\n" probes
#define EXEC "{exec: {command: [\"true\"]}"
#define LIVENESS(extra) "    livenessProbe: " EXEC extra "}\n"
#define READINESS(extra) "    readinessProbe: " EXEC extra "}\n"
#define STARTUP(extra) "    startupProbe: " EXEC extra "}\n"

#define S PROBE_RESULT_SUCCESS
#define F PROBE_RESULT_FAILURE
#define TO PROBE_RESULT_TIMEOUT
enum {
    UNH = PROBE_EFFECT_UNHEALTHY,
    STARTED = PROBE_EFFECT_STARTED,
    READY = PROBE_EFFECT_READY,
    UNREADY = PROBE_EFFECT_UNREADY,
    KILL = PROBE_EFFECT_KILL,
};

typedef struct Step {
    const char *due; /* the run due next: "kind@seconds after start" */
    ProbeResult result;
    unsigned took_ms; /* how long the run took */
    unsigned fx;      /* what reconcile_probe_result() returns */
} Step;

#define MAX_STEPS 12

typedef struct ProbeCase {
    const char *name;
    const char *yaml;
    unsigned init_fx; /* what reconcile_probes_init() returns */
    Step steps[MAX_STEPS];
    const char *then; /* what is due after the last step: "kind@s" or "none" */
} ProbeCase;

static const ProbeCase probe_cases[] = {
    {
        .name = "no probes: started and ready at once, nothing to run",
        .yaml = POD(""),
        .init_fx = STARTED | READY,
        .then = "none",
    },
    {
        .name = "liveness defaults: every 10 s, the third failure in a row kills",
        .yaml = POD(LIVENESS("")),
        .init_fx = STARTED | READY,
        .steps = {{"liveness@0", S, 5, 0},
                  {"liveness@10", F, 5, UNH},
                  {"liveness@20", TO, 1000, UNH},
                  {"liveness@30", F, 5, UNH | KILL | UNREADY}},
        .then = "none",
    },
    {
        .name = "liveness: a success resets the failures",
        .yaml = POD(LIVENESS(", periodSeconds: 2, failureThreshold: 2")),
        .init_fx = STARTED | READY,
        .steps = {{"liveness@0", F, 0, UNH},
                  {"liveness@2", S, 0, 0},
                  {"liveness@4", F, 0, UNH},
                  {"liveness@6", F, 0, UNH | KILL | UNREADY}},
        .then = "none",
    },
    {
        .name = "initialDelaySeconds, then periodSeconds from the start of each run",
        .yaml = POD(LIVENESS(", initialDelaySeconds: 15, periodSeconds: 5")),
        .init_fx = STARTED | READY,
        .steps = {{"liveness@15", S, 700, 0}, {"liveness@20", S, 0, 0}},
        .then = "liveness@25",
    },
    {
        .name = "a run that outlasts its period is followed at once",
        .yaml = POD(LIVENESS(", periodSeconds: 1, timeoutSeconds: 3, failureThreshold: 5")),
        .init_fx = STARTED | READY,
        .steps = {{"liveness@0", TO, 3000, UNH}, {"liveness@3", S, 200, 0}},
        .then = "liveness@4",
    },
    {
        .name = "readiness: starts unready, thresholds count in a row",
        .yaml = POD(READINESS(", periodSeconds: 1, successThreshold: 2, failureThreshold: 2")),
        .init_fx = STARTED,
        .steps = {{"readiness@0", S, 0, 0},
                  {"readiness@1", S, 0, READY},
                  {"readiness@2", S, 0, 0},
                  {"readiness@3", F, 0, UNH},
                  {"readiness@4", S, 0, 0},
                  {"readiness@5", F, 0, UNH},
                  {"readiness@6", TO, 0, UNH | UNREADY},
                  {"readiness@7", F, 0, UNH},
                  {"readiness@8", S, 0, 0},
                  {"readiness@9", S, 0, READY}},
        .then = "readiness@10",
    },
    {
        .name = "startup holds liveness and readiness back until it succeeds",
        .yaml = POD(STARTUP(", periodSeconds: 2, failureThreshold: 5")
                        LIVENESS(", periodSeconds: 10") READINESS(", periodSeconds: 3")),
        .init_fx = 0,
        .steps = {{"startup@0", F, 0, UNH},
                  {"startup@2", F, 0, UNH},
                  {"startup@4", S, 500, STARTED},
                  {"liveness@4.5", S, 0, 0},
                  {"readiness@4.5", S, 0, READY},
                  {"readiness@7.5", S, 0, 0},
                  {"readiness@10.5", S, 0, 0},
                  {"readiness@13.5", S, 0, 0},
                  {"liveness@14.5", S, 0, 0}},
        .then = "readiness@16.5",
    },
    {
        .name = "startup without readiness: ready with the startup success",
        .yaml = POD(STARTUP(", periodSeconds: 2") LIVENESS(", initialDelaySeconds: 30")),
        .init_fx = 0,
        .steps = {{"startup@0", S, 0, STARTED | READY}},
        /* The liveness delay still counts from the container's start. */
        .then = "liveness@30",
    },
    {
        .name = "startup fails for good: killed, nothing else ever ran",
        .yaml = POD(STARTUP(", periodSeconds: 2, failureThreshold: 3") LIVENESS("")),
        .init_fx = 0,
        .steps = {{"startup@0", F, 0, UNH},
                  {"startup@2", TO, 0, UNH},
                  {"startup@4", F, 0, UNH | KILL}},
        .then = "none",
    },
    {
        .name = "startup with an initial delay",
        .yaml = POD(STARTUP(", initialDelaySeconds: 7")),
        .init_fx = 0,
        .steps = {{"startup@7", F, 0, UNH}},
        .then = "startup@17",
    },
};

/* ---- the driver ----------------------------------------------------------------------- */

static ManifestFile *parse(const char *text)
{
    ManifestFile *f = NULL;
    PdError e = {0};

    ck_assert_msg(
        manifest_parse_buffer("p.yaml", text, strlen(text), MANIFEST_FORMAT_AUTO, &f, &e) == 0,
        "%s", e.message);
    ck_assert_msg(f->docs[0].pod, "not a valid Pod: %s",
                  f->docs[0].diags.n ? f->docs[0].diags.items[0].message : "?");
    return f;
}

static const Container *the_container(const ManifestFile *f)
{
    const Container *c = pod_find_container(f->docs[0].pod, "c");

    ck_assert_ptr_nonnull(c);
    return c;
}

/* "kind@seconds" for a deadline, "none" when there is none. */
static void due_text(const CtrProbes *p, char *buf, size_t size, ProbeKind *ret_kind)
{
    uint64_t due = reconcile_probes_next_due(p, ret_kind);

    if (due == UINT64_MAX)
        (void)snprintf(buf, size, "none");
    else
        (void)snprintf(buf, size, "%s@%g", reconcile_probe_kind_to_string(*ret_kind),
                       (double)(due - T0) / SEC);
}

START_TEST(test_probe_case)
{
    const ProbeCase *c = &probe_cases[_i];
    _cleanup_(manifest_file_freep) ManifestFile *f = parse(c->yaml);
    CtrProbes p;
    char due[64];

    ck_assert_msg(reconcile_probes_init(&p, the_container(f), T0) == c->init_fx, "%s: init",
                  c->name);
    for (size_t i = 0; i < MAX_STEPS && c->steps[i].due; i++) {
        const Step *s = &c->steps[i];
        ProbeKind k = _PROBE_KIND_INVALID;
        uint64_t at;
        int fx;

        due_text(&p, due, sizeof(due), &k);
        ck_assert_msg(streq(due, s->due), "%s: step %zu: due %s, expected %s", c->name, i, due,
                      s->due);
        at = reconcile_probe_due(&p, k);
        ck_assert_int_eq(reconcile_probe_begin(&p, k, at), 0);
        /* Never two runs of one probe at once. */
        ck_assert_uint_eq(reconcile_probe_due(&p, k), UINT64_MAX);
        ck_assert_int_eq(reconcile_probe_begin(&p, k, at), -EBUSY);
        fx = reconcile_probe_result(&p, k, s->result, "out", at + s->took_ms * 1000ull);
        ck_assert_msg(fx == (int)s->fx, "%s: step %zu (%s): effects %d, expected %u", c->name, i,
                      s->due, fx, s->fx);
    }
    due_text(&p, due, sizeof(due), &(ProbeKind){0});
    ck_assert_msg(streq(due, c->then), "%s: then due %s, expected %s", c->name, due, c->then);
}
END_TEST

/* What the kubelet-style events say. */
START_TEST(test_probe_events)
{
    _cleanup_(manifest_file_freep) ManifestFile *f = parse(POD(LIVENESS("") READINESS("")));
    CtrProbes p;
    char text[256], long_excerpt[400];

    (void)reconcile_probes_init(&p, the_container(f), T0);
    ck_assert_int_eq(reconcile_probe_begin(&p, PROBE_KIND_LIVENESS, T0), 0);
    ck_assert_int_eq(reconcile_probe_result(&p, PROBE_KIND_LIVENESS, F,
                                            "HTTP/1.1 500 Internal Server Error", T0 + 1),
                     UNH);
    (void)reconcile_probe_event_text(&p, PROBE_KIND_LIVENESS, text, sizeof(text));
    ck_assert_str_eq(text, "Liveness probe failed (1/3): HTTP/1.1 500 Internal Server Error");

    /* Output is one line of printable text, cut short. */
    ck_assert_int_eq(reconcile_probe_begin(&p, PROBE_KIND_READINESS, T0), 0);
    ck_assert_int_eq(reconcile_probe_result(&p, PROBE_KIND_READINESS, F, "no\nsuch\tfile\n\n", T0),
                     UNH);
    (void)reconcile_probe_event_text(&p, PROBE_KIND_READINESS, text, sizeof(text));
    ck_assert_str_eq(text, "Readiness probe failed (1/3): no such file");
    memset(long_excerpt, 'x', sizeof(long_excerpt) - 1);
    long_excerpt[sizeof(long_excerpt) - 1] = '\0';
    ck_assert_int_eq(reconcile_probe_begin(&p, PROBE_KIND_READINESS, T0 + 10 * SEC), 0);
    (void)reconcile_probe_result(&p, PROBE_KIND_READINESS, TO, long_excerpt, T0 + 11 * SEC);
    ck_assert_uint_eq(strlen(p.track[PROBE_KIND_READINESS].excerpt), PROBE_EXCERPT_MAX - 1);
    ck_assert_int_eq(p.track[PROBE_KIND_READINESS].failures, 2);
    ck_assert_int_eq(p.track[PROBE_KIND_READINESS].last, PROBE_RESULT_TIMEOUT);

    /* A timeout without words says so. */
    ck_assert_int_eq(reconcile_probe_begin(&p, PROBE_KIND_LIVENESS, T0 + 10 * SEC), 0);
    (void)reconcile_probe_result(&p, PROBE_KIND_LIVENESS, TO, NULL, T0 + 11 * SEC);
    (void)reconcile_probe_event_text(&p, PROBE_KIND_LIVENESS, text, sizeof(text));
    ck_assert_str_eq(text, "Liveness probe failed (2/3): timeout");

    ck_assert_str_eq(reconcile_probe_kill_text(PROBE_KIND_LIVENESS),
                     "failed liveness probe, will be restarted");
    ck_assert_str_eq(reconcile_probe_kill_text(PROBE_KIND_STARTUP),
                     "failed startup probe, will be restarted");
    ck_assert_ptr_null(reconcile_probe_kill_text(PROBE_KIND_READINESS));
}
END_TEST

/* Results that belong to no run, and runs that may not begin, change nothing. */
START_TEST(test_probe_misuse)
{
    _cleanup_(manifest_file_freep) ManifestFile *f =
        parse(POD(STARTUP(", failureThreshold: 1") LIVENESS("")));
    CtrProbes p;

    (void)reconcile_probes_init(&p, the_container(f), T0);
    /* Held back by the startup probe; and there is no readiness probe at all. */
    ck_assert_int_eq(reconcile_probe_begin(&p, PROBE_KIND_LIVENESS, T0), -EBUSY);
    ck_assert_int_eq(reconcile_probe_begin(&p, PROBE_KIND_READINESS, T0), -EBUSY);
    ck_assert_int_eq(reconcile_probe_result(&p, PROBE_KIND_STARTUP, F, "x", T0), -EINVAL);
    ck_assert_int_eq(p.track[PROBE_KIND_STARTUP].failures, 0);
    ck_assert_int_eq(reconcile_probe_begin(&p, PROBE_KIND_STARTUP, T0), 0);
    ck_assert_int_eq(reconcile_probe_result(&p, PROBE_KIND_STARTUP, F, "x", T0), UNH | KILL);
    /* Killed: a late result or a new run is refused until the next start. */
    ck_assert_int_eq(reconcile_probe_result(&p, PROBE_KIND_STARTUP, S, "x", T0), -EINVAL);
    ck_assert_int_eq(reconcile_probe_begin(&p, PROBE_KIND_STARTUP, T0 + SEC), -EBUSY);
    ck_assert_uint_eq(reconcile_probes_next_due(&p, NULL), UINT64_MAX);
    ck_assert_int_eq(reconcile_probes_init(&p, the_container(f), T0 + 60 * SEC), 0);
    ck_assert_uint_eq(reconcile_probe_due(&p, PROBE_KIND_STARTUP), T0 + 60 * SEC);

    ck_assert_str_eq(reconcile_probe_kind_to_string(PROBE_KIND_READINESS), "readiness");
    ck_assert_int_eq(reconcile_probe_kind_from_string("startup"), PROBE_KIND_STARTUP);
    ck_assert_int_eq(reconcile_probe_kind_from_string("Startup"), _PROBE_KIND_INVALID);
    ck_assert_ptr_null(reconcile_probe_kind_to_string(_PROBE_KIND_MAX));
}
END_TEST

/* ---- adoption after a restart of podd -------------------------------------------------- */

START_TEST(test_probe_adopt)
{
    _cleanup_(manifest_file_freep) ManifestFile *f =
        parse(POD(LIVENESS(", periodSeconds: 5, failureThreshold: 3")
                      READINESS(", periodSeconds: 2, initialDelaySeconds: 600")));
    const Container *c = the_container(f);
    uint64_t now = T0 + 40 * SEC;
    ProbeCounts saved;
    CtrProbes p, q;

    (void)reconcile_probes_init(&p, c, T0);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(reconcile_probe_begin(&p, PROBE_KIND_LIVENESS, T0 + i * 5 * SEC), 0);
        ck_assert_int_eq(
            reconcile_probe_result(&p, PROBE_KIND_LIVENESS, F, "down", T0 + i * 5 * SEC), UNH);
    }
    reconcile_probes_save(&p, &saved);
    ck_assert_int_eq(saved.failures[PROBE_KIND_LIVENESS], 2);

    /* podd was down 30 s, far past the liveness deadline: nothing is due in the past. */
    ck_assert_int_eq(reconcile_probes_adopt(&q, c, T0, &saved, now), STARTED);
    ck_assert_uint_eq(reconcile_probe_due(&q, PROBE_KIND_LIVENESS), now + 5 * SEC);
    /* The readiness delay has not ended yet: its end is later than one period. */
    ck_assert_uint_eq(reconcile_probe_due(&q, PROBE_KIND_READINESS), T0 + 600 * SEC);
    /* The counts resume: the next failure is the third in a row. */
    ck_assert_int_eq(reconcile_probe_begin(&q, PROBE_KIND_LIVENESS, now + 5 * SEC), 0);
    ck_assert_int_eq(reconcile_probe_result(&q, PROBE_KIND_LIVENESS, F, "down", now + 5 * SEC),
                     UNH | KILL);
}
END_TEST

START_TEST(test_probe_adopt_ready_and_startup)
{
    _cleanup_(manifest_file_freep) ManifestFile *f =
        parse(POD(STARTUP(", periodSeconds: 3") READINESS(", periodSeconds: 4")));
    const Container *c = the_container(f);
    uint64_t now = T0 + 100 * SEC;
    ProbeCounts saved = {0};
    CtrProbes p;

    /* Saved before the startup probe succeeded: still held back, startup goes on. */
    saved.failures[PROBE_KIND_STARTUP] = 1;
    ck_assert_int_eq(reconcile_probes_adopt(&p, c, T0, &saved, now), 0);
    ck_assert_uint_eq(reconcile_probe_due(&p, PROBE_KIND_STARTUP), now + 3 * SEC);
    ck_assert_uint_eq(reconcile_probe_due(&p, PROBE_KIND_READINESS), UINT64_MAX);
    ck_assert_int_eq(p.track[PROBE_KIND_STARTUP].failures, 1);

    /* Saved started and ready: stays ready, readiness resumes, startup never runs again. */
    saved = (ProbeCounts){.started = true, .ready = true};
    saved.successes[PROBE_KIND_READINESS] = 7;
    ck_assert_int_eq(reconcile_probes_adopt(&p, c, T0, &saved, now), STARTED | READY);
    ck_assert_uint_eq(reconcile_probe_due(&p, PROBE_KIND_STARTUP), UINT64_MAX);
    ck_assert_uint_eq(reconcile_probe_due(&p, PROBE_KIND_READINESS), now + 4 * SEC);
    ck_assert_int_eq(p.track[PROBE_KIND_READINESS].successes, 7);

    /* Nothing saved (a container podd never probed): as a fresh start, but never in the past. */
    ck_assert_int_eq(reconcile_probes_adopt(&p, c, T0, NULL, now), 0);
    ck_assert_uint_eq(reconcile_probes_next_due(&p, NULL), now + 3 * SEC);
}
END_TEST

static Suite *probe_suite(void)
{
    Suite *s = suite_create("probe");
    TCase *tc = tcase_create("bookkeeping");

    tcase_add_loop_test(tc, test_probe_case, 0, (int)ELEMENTSOF(probe_cases));
    tcase_add_test(tc, test_probe_events);
    tcase_add_test(tc, test_probe_misuse);
    tcase_add_test(tc, test_probe_adopt);
    tcase_add_test(tc, test_probe_adopt_ready_and_startup);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(probe_suite());
    int failed;

    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
