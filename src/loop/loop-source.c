/* SPDX-License-Identifier: Apache-2.0 */
#include <fcntl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>

#include "loop-internal.h"

DEFINE_STRING_TABLE(
    loop_source_type, LoopSourceType, _LOOP_SOURCE_TYPE_MAX, [LOOP_SOURCE_CHILD] = "child",
    [LOOP_SOURCE_SIGNAL] = "signal", [LOOP_SOURCE_INOTIFY] = "inotify", [LOOP_SOURCE_IO] = "io",
    [LOOP_SOURCE_TIMER] = "timer", [LOOP_SOURCE_DEFERRED] = "deferred")
DEFINE_STRING_TABLE_FROM(loop_source_type, LoopSourceType, _LOOP_SOURCE_TYPE_MAX,
                         _LOOP_SOURCE_TYPE_INVALID)

static int source_fd(const LoopSource *s)
{
    switch (s->type) {
    case LOOP_SOURCE_IO:
        return s->io.fd;
    case LOOP_SOURCE_SIGNAL:
        return s->signal.fd;
    case LOOP_SOURCE_CHILD:
        return s->child.fd;
    case LOOP_SOURCE_INOTIFY:
        return s->inotify.fd;
    default:
        return -1;
    }
}

LoopSource *loop_source_new(Loop *l, LoopSourceType type, void *userdata)
{
    LoopSource *s = calloc(1, sizeof(*s));

    if (!s)
        return NULL;
    s->loop = loop_ref(l);
    s->type = type;
    s->n_ref = 1;
    s->userdata = userdata;
    switch (type) {
    case LOOP_SOURCE_IO:
        s->io.fd = -1;
        break;
    case LOOP_SOURCE_SIGNAL:
        s->signal.fd = -1;
        break;
    case LOOP_SOURCE_CHILD:
        s->child.fd = -1;
        break;
    case LOOP_SOURCE_INOTIFY:
        s->inotify.fd = -1;
        break;
    case LOOP_SOURCE_TIMER:
        s->timer.deadline = LOOP_TIME_INFINITY;
        s->timer.heap_idx = SIZE_MAX;
        break;
    default:
        break;
    }
    return s;
}

/* Brings the epoll registration of an fd source in line with its enabled state. */
int loop_source_epoll_update(LoopSource *s)
{
    int fd = source_fd(s);
    bool want = s->enabled != LOOP_SOURCE_OFF && !s->dead && fd >= 0;
    struct epoll_event ev = {.data.ptr = s};

    switch (s->type) {
    case LOOP_SOURCE_IO:
        ev.events = s->io.events;
        break;
    case LOOP_SOURCE_SIGNAL:
    case LOOP_SOURCE_CHILD:
    case LOOP_SOURCE_INOTIFY:
        ev.events = EPOLLIN;
        break;
    default:
        return 0;
    }
    if (want) {
        if (epoll_ctl(s->loop->epoll_fd, s->in_epoll ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) < 0)
            return -errno;
        s->in_epoll = true;
    } else if (s->in_epoll) {
        /* Only fails when the fd was closed under us; it is out of the set either way. */
        (void)epoll_ctl(s->loop->epoll_fd, EPOLL_CTL_DEL, fd, NULL);
        s->in_epoll = false;
    }
    return 0;
}

int loop_source_set_enabled(LoopSource *s, LoopSourceEnabled enabled)
{
    LoopSourceEnabled old;
    int r;

    if (!s || s->dead || enabled < 0 || enabled >= _LOOP_SOURCE_ENABLED_MAX)
        return -EINVAL;
    old = s->enabled;
    switch (s->type) {
    case LOOP_SOURCE_TIMER:
        if (enabled == LOOP_SOURCE_OFF) {
            loop_heap_remove(s->loop, s);
            s->enabled = LOOP_SOURCE_OFF;
            return 0;
        }
        return loop_timer_set(s, s->timer.deadline);
    case LOOP_SOURCE_DEFERRED:
        if ((old == LOOP_SOURCE_OFF) != (enabled == LOOP_SOURCE_OFF)) {
            if (enabled == LOOP_SOURCE_OFF)
                s->loop->n_deferred_enabled--;
            else
                s->loop->n_deferred_enabled++;
        }
        s->enabled = enabled;
        return 0;
    default:
        s->enabled = enabled;
        r = loop_source_epoll_update(s);
        if (r < 0) {
            s->enabled = old;
            return r;
        }
        return 0;
    }
}

LoopSourceEnabled loop_source_get_enabled(const LoopSource *s)
{
    return s ? s->enabled : _LOOP_SOURCE_ENABLED_INVALID;
}

LoopSourceType loop_source_get_type(const LoopSource *s)
{
    return s ? s->type : _LOOP_SOURCE_TYPE_INVALID;
}

Loop *loop_source_get_loop(const LoopSource *s)
{
    return s ? s->loop : NULL;
}

void *loop_source_get_userdata(const LoopSource *s)
{
    return s ? s->userdata : NULL;
}

void *loop_source_set_userdata(LoopSource *s, void *userdata)
{
    void *old = s->userdata;

    s->userdata = userdata;
    return old;
}

int loop_source_set_description(LoopSource *s, const char *description)
{
    char *d = NULL;

    if (description) {
        d = strdup(description);
        if (!d)
            return -ENOMEM;
    }
    free(s->description);
    s->description = d;
    return 0;
}

const char *loop_source_get_description(const LoopSource *s)
{
    return s ? s->description : NULL;
}

LoopSource *loop_source_ref(LoopSource *s)
{
    if (s)
        s->n_ref++;
    return s;
}

static void source_free_memory(LoopSource *s)
{
    if (s->type == LOOP_SOURCE_INOTIFY) {
        free(s->inotify.buffer);
        free(s->inotify.events);
    }
    free(s->description);
    (void)loop_unref(s->loop);
    free(s);
}

/* Takes the source out of everything the loop watches and closes what it owns. */
static void source_disconnect(LoopSource *s)
{
    Loop *l = s->loop;

    (void)loop_source_set_enabled(s, LOOP_SOURCE_OFF);
    s->dead = true;
    (void)loop_source_epoll_update(s);
    switch (s->type) {
    case LOOP_SOURCE_SIGNAL:
        closep(&s->signal.fd);
        s->signal.fd = -1;
        break;
    case LOOP_SOURCE_CHILD:
        closep(&s->child.fd);
        s->child.fd = -1;
        break;
    case LOOP_SOURCE_INOTIFY:
        closep(&s->inotify.fd);
        s->inotify.fd = -1;
        break;
    case LOOP_SOURCE_DEFERRED:
        if (s->deferred.prev)
            s->deferred.prev->deferred.next = s->deferred.next;
        else if (l->deferred_head == s)
            l->deferred_head = s->deferred.next;
        if (s->deferred.next)
            s->deferred.next->deferred.prev = s->deferred.prev;
        s->deferred.prev = s->deferred.next = NULL;
        break;
    default:
        break;
    }
}

LoopSource *loop_source_unref(LoopSource *s)
{
    if (!s)
        return NULL;
    if (--s->n_ref > 0)
        return NULL;
    source_disconnect(s);
    if (s->n_pin == 0)
        source_free_memory(s);
    return NULL;
}

void loop_source_pin(LoopSource *s)
{
    s->n_pin++;
}

void loop_source_unpin(LoopSource *s)
{
    if (--s->n_pin == 0 && s->dead)
        source_free_memory(s);
}

/* ---- constructors ------------------------------------------------------------------- */

/* Finishes a constructor: registers the fd, hands the reference out. */
static int source_finish(LoopSource *s, LoopSourceEnabled enabled, LoopSource **ret)
{
    int r;

    r = loop_source_set_enabled(s, enabled);
    if (r < 0) {
        (void)loop_source_unref(s);
        return r;
    }
    *ret = s;
    return 0;
}

int loop_add_io(Loop *l, LoopSource **ret, int fd, uint32_t events, LoopIoHandler cb,
                void *userdata)
{
    LoopSource *s;

    if (!l || !ret || fd < 0 || !cb)
        return -EINVAL;
    s = loop_source_new(l, LOOP_SOURCE_IO, userdata);
    if (!s)
        return -ENOMEM;
    s->io.fd = fd;
    s->io.events = events;
    s->io.cb = cb;
    return source_finish(s, LOOP_SOURCE_ON, ret);
}

int loop_io_set_events(LoopSource *s, uint32_t events)
{
    uint32_t old;
    int r;

    if (!s || s->dead || s->type != LOOP_SOURCE_IO)
        return -EINVAL;
    old = s->io.events;
    s->io.events = events;
    r = loop_source_epoll_update(s);
    if (r < 0)
        s->io.events = old;
    return r;
}

int loop_add_signal(Loop *l, LoopSource **ret, const sigset_t *mask, LoopSignalHandler cb,
                    void *userdata)
{
    LoopSource *s;
    sigset_t blocked;
    bool any = false;

    if (!l || !ret || !mask || !cb)
        return -EINVAL;
    /* A signal that is not blocked is delivered the classic way and never reaches the fd. */
    if (sigprocmask(SIG_BLOCK, NULL, &blocked) < 0)
        return -errno;
    for (int sig = 1; sig < NSIG; sig++) {
        if (sigismember(mask, sig) != 1)
            continue;
        if (sigismember(&blocked, sig) != 1)
            return -EINVAL;
        any = true;
    }
    if (!any)
        return -EINVAL;
    s = loop_source_new(l, LOOP_SOURCE_SIGNAL, userdata);
    if (!s)
        return -ENOMEM;
    s->signal.cb = cb;
    s->signal.fd = signalfd(-1, mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (s->signal.fd < 0) {
        int r = -errno;

        (void)loop_source_unref(s);
        return r;
    }
    return source_finish(s, LOOP_SOURCE_ON, ret);
}

int loop_add_timer(Loop *l, LoopSource **ret, uint64_t deadline, LoopTimerHandler cb,
                   void *userdata)
{
    LoopSource *s;
    int r;

    if (!l || !ret || !cb)
        return -EINVAL;
    s = loop_source_new(l, LOOP_SOURCE_TIMER, userdata);
    if (!s)
        return -ENOMEM;
    s->timer.cb = cb;
    r = loop_timer_set(s, deadline);
    if (r < 0) {
        (void)loop_source_unref(s);
        return r;
    }
    *ret = s;
    return 0;
}

int loop_timer_set(LoopSource *s, uint64_t deadline)
{
    Loop *l;
    int r;

    if (!s || s->dead || s->type != LOOP_SOURCE_TIMER)
        return -EINVAL;
    l = s->loop;
    loop_heap_remove(l, s);
    s->timer.deadline = deadline;
    if (deadline == LOOP_TIME_INFINITY) {
        s->enabled = LOOP_SOURCE_OFF;
        return 0;
    }
    s->timer.seq = ++l->timer_seq;
    r = loop_heap_insert(l, s);
    if (r < 0) {
        s->enabled = LOOP_SOURCE_OFF;
        return r;
    }
    s->enabled = LOOP_SOURCE_ONESHOT;
    return 0;
}

uint64_t loop_timer_get(const LoopSource *s)
{
    if (!s || s->type != LOOP_SOURCE_TIMER)
        return LOOP_TIME_INFINITY;
    return s->timer.deadline;
}

/* A child source on fd, which it owns once this succeeds. */
static int child_pidfd_add(Loop *l, LoopSource **ret, int fd, pid_t pid, LoopChildHandler cb,
                           void *userdata)
{
    LoopSource *s;
    int r;

    if (!l || !ret || fd < 0 || !cb)
        return -EINVAL;
    s = loop_source_new(l, LOOP_SOURCE_CHILD, userdata);
    if (!s)
        return -ENOMEM;
    s->child.cb = cb;
    s->child.pid = pid;
    s->child.fd = fd;
    r = loop_source_set_enabled(s, LOOP_SOURCE_ONESHOT);
    if (r < 0) {
        s->child.fd = -1; /* still the caller's */
        (void)loop_source_unref(s);
        return r;
    }
    *ret = s;
    return 0;
}

int loop_add_child_pidfd(Loop *l, LoopSource **ret, int pidfd, pid_t pid, LoopChildHandler cb,
                         void *userdata)
{
    int fd, r;

    if (pidfd < 0)
        return -EINVAL;
    fd = fcntl(pidfd, F_DUPFD_CLOEXEC, 3);
    if (fd < 0)
        return -errno;
    r = child_pidfd_add(l, ret, fd, pid, cb, userdata);
    if (r < 0)
        close(fd);
    return r;
}

int loop_take_child_pidfd(Loop *l, LoopSource **ret, int pidfd, pid_t pid, LoopChildHandler cb,
                          void *userdata)
{
    return child_pidfd_add(l, ret, pidfd, pid, cb, userdata);
}

int loop_add_child(Loop *l, LoopSource **ret, pid_t pid, LoopChildHandler cb, void *userdata)
{
    LoopSource *s;

    if (!l || !ret || pid <= 0 || !cb)
        return -EINVAL;
    s = loop_source_new(l, LOOP_SOURCE_CHILD, userdata);
    if (!s)
        return -ENOMEM;
    s->child.cb = cb;
    s->child.pid = pid;
    /* pidfds are always close-on-exec. */
    s->child.fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (s->child.fd < 0) {
        int r = -errno;

        (void)loop_source_unref(s);
        return r;
    }
    return source_finish(s, LOOP_SOURCE_ONESHOT, ret);
}

int loop_child_get_pidfd(const LoopSource *s)
{
    if (!s || s->type != LOOP_SOURCE_CHILD || s->child.fd < 0)
        return -EINVAL;
    return s->child.fd;
}

int loop_add_inotify(Loop *l, LoopSource **ret, LoopInotifyHandler cb, void *userdata)
{
    LoopSource *s;

    if (!l || !ret || !cb)
        return -EINVAL;
    s = loop_source_new(l, LOOP_SOURCE_INOTIFY, userdata);
    if (!s)
        return -ENOMEM;
    s->inotify.cb = cb;
    s->inotify.buffer = malloc(LOOP_INOTIFY_BUFFER_SIZE);
    s->inotify.events = calloc(LOOP_INOTIFY_EVENTS_MAX, sizeof(*s->inotify.events));
    if (!s->inotify.buffer || !s->inotify.events) {
        (void)loop_source_unref(s);
        return -ENOMEM;
    }
    s->inotify.fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (s->inotify.fd < 0) {
        int r = -errno;

        (void)loop_source_unref(s);
        return r;
    }
    return source_finish(s, LOOP_SOURCE_ON, ret);
}

int loop_inotify_add_watch(LoopSource *s, const char *path, uint32_t mask)
{
    int wd;

    if (!s || s->dead || s->type != LOOP_SOURCE_INOTIFY || !path)
        return -EINVAL;
    wd = inotify_add_watch(s->inotify.fd, path, mask);
    if (wd < 0)
        return -errno;
    return wd;
}

int loop_inotify_rm_watch(LoopSource *s, int wd)
{
    if (!s || s->dead || s->type != LOOP_SOURCE_INOTIFY)
        return -EINVAL;
    if (inotify_rm_watch(s->inotify.fd, wd) < 0)
        return -errno;
    return 0;
}

int loop_add_deferred(Loop *l, LoopSource **ret, LoopDeferredHandler cb, void *userdata)
{
    LoopSource *s;

    if (!l || !ret || !cb)
        return -EINVAL;
    s = loop_source_new(l, LOOP_SOURCE_DEFERRED, userdata);
    if (!s)
        return -ENOMEM;
    s->deferred.cb = cb;
    s->deferred.next = l->deferred_head;
    if (l->deferred_head)
        l->deferred_head->deferred.prev = s;
    l->deferred_head = s;
    return source_finish(s, LOOP_SOURCE_ON, ret);
}

/* ---- dispatch ----------------------------------------------------------------------- */

static int dispatch_signal(LoopSource *s)
{
    for (unsigned i = 0; i < LOOP_SIGNALS_PER_DISPATCH; i++) {
        struct signalfd_siginfo si;
        ssize_t n;
        int r;

        n = read(s->signal.fd, &si, sizeof(si));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                return 0;
            return -errno;
        }
        if ((size_t)n != sizeof(si))
            return -EIO;
        r = s->signal.cb(s, &si, s->userdata);
        if (r < 0)
            return r;
        /* The callback may have switched us off, dropped us or ended the loop. */
        if (s->dead || s->enabled == LOOP_SOURCE_OFF || s->loop->exit_requested)
            return 0;
    }
    return 0;
}

static int dispatch_inotify(LoopSource *s)
{
    size_t n_events = 0;
    ssize_t n;

    do
        n = read(s->inotify.fd, s->inotify.buffer, LOOP_INOTIFY_BUFFER_SIZE);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return errno == EAGAIN ? 0 : -errno;
    for (size_t off = 0; off + sizeof(struct inotify_event) <= (size_t)n;) {
        const struct inotify_event *e = (const void *)(s->inotify.buffer + off);

        if (off + sizeof(*e) + e->len > (size_t)n || n_events == LOOP_INOTIFY_EVENTS_MAX)
            break;
        s->inotify.events[n_events++] = e;
        off += sizeof(*e) + e->len;
    }
    if (n_events == 0)
        return 0;
    return s->inotify.cb(s, s->inotify.events, n_events, s->userdata);
}

/* Calls a source back for the event recorded in s->revents; timers go elsewhere. */
int loop_source_dispatch(LoopSource *s)
{
    if (s->enabled == LOOP_SOURCE_ONESHOT)
        (void)loop_source_set_enabled(s, LOOP_SOURCE_OFF);
    switch (s->type) {
    case LOOP_SOURCE_IO:
        return s->io.cb(s, s->io.fd, s->revents, s->userdata);
    case LOOP_SOURCE_SIGNAL:
        return dispatch_signal(s);
    case LOOP_SOURCE_CHILD:
        return s->child.cb(s, s->child.fd, s->child.pid, s->userdata);
    case LOOP_SOURCE_INOTIFY:
        return dispatch_inotify(s);
    case LOOP_SOURCE_TIMER:
        return s->timer.cb(s, s->timer.deadline, s->userdata);
    case LOOP_SOURCE_DEFERRED:
        return s->deferred.cb(s, s->userdata);
    default:
        return -EINVAL;
    }
}
