/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The syncs that make saved pod states durable, run on a thread of their
 * own (state_store_sync_in_background()): an fdatasync() or a directory's
 * fsync() waits for the disk, a millisecond on a fast one and far longer on
 * an SD card, and podd's event loop must not wait with it. The loop writes
 * and queues; the thread syncs in order and says so on an eventfd; the loop
 * then takes in what ended (state_store_sync_collect() in state-pod.c).
 */
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "state-internal.h"

struct StateSyncer {
    pthread_mutex_t lock;
    pthread_cond_t wake; /* the thread: work queued, or stop */
    pthread_cond_t idle; /* state_syncer_wait(): the queue ran empty */
    pthread_t thread;
    StateSyncJob *todo, **todo_tail; /* queued, oldest first */
    StateSyncJob *done, **done_tail; /* ended, not taken yet, oldest first */
    bool busy;                       /* the thread runs a job */
    bool waiting;                    /* the thread waits on wake for a job */
    bool stop;
    int event_fd;
};

static void sync_job_free(StateSyncJob *j)
{
    closep(&j->file_fd);
    closep(&j->dir_fd);
    closep(&j->parent_fd);
    free(j);
}

StateSyncJob *state_sync_job_new(const char *pod, uint64_t incarnation)
{
    StateSyncJob *j = calloc(1, sizeof(*j));

    if (!j)
        return NULL;
    *j = (StateSyncJob){
        .incarnation = incarnation, .file_fd = -1, .dir_fd = -1, .parent_fd = -1, .region = -1};
    (void)snprintf(j->pod, sizeof(j->pod), "%s", pod);
    return j;
}

int state_sync_job_fd(int fd, int *error)
{
    int copy;

    if (fd < 0)
        return -1;
    copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (copy < 0 && *error == 0)
        *error = -errno;
    return copy;
}

void state_sync_jobs_free(StateSyncJob *j)
{
    while (j) {
        StateSyncJob *next = j->next;

        sync_job_free(j);
        j = next;
    }
}

/* Syncs j's file (if any), then the directories whose new or removed entries it needs. */
static void sync_job_run(StateSyncJob *j)
{
    if (j->file_fd >= 0 && fdatasync(j->file_fd) < 0)
        j->error = -errno;
    if (j->file_fd >= 0 && j->error == 0)
        j->error = failpoint_error("state-sync", -EIO);
    if (j->error == 0 && j->dir_fd >= 0 && fsync(j->dir_fd) < 0)
        j->error = -errno;
    if (j->error == 0 && j->parent_fd >= 0 && fsync(j->parent_fd) < 0)
        j->error = -errno;
}

/*
 * Takes one job at a time, as its sync begins: until then the loop may
 * make it cover a later write of the same pod (state_syncer_retarget()), as
 * its fdatasync() comes after that write anyway. Each ended job is said on
 * the eventfd.
 */
static void *syncer_run(void *userdata)
{
    StateSyncer *y = userdata;

    (void)pthread_mutex_lock(&y->lock);
    for (;;) {
        StateSyncJob *j;

        while (!y->todo && !y->stop) {
            y->waiting = true;
            (void)pthread_cond_wait(&y->wake, &y->lock);
            y->waiting = false;
        }
        if (!y->todo)
            break;
        j = y->todo;
        y->todo = j->next;
        if (!y->todo)
            y->todo_tail = &y->todo;
        j->next = NULL;
        j->taken = true;
        y->busy = true;
        (void)pthread_mutex_unlock(&y->lock);

        sync_job_run(j);

        (void)pthread_mutex_lock(&y->lock);
        *y->done_tail = j;
        y->done_tail = &j->next;
        y->busy = false;
        if (!y->todo)
            (void)pthread_cond_broadcast(&y->idle);
        (void)eventfd_write(y->event_fd, 1);
    }
    (void)pthread_mutex_unlock(&y->lock);
    return NULL;
}

int state_syncer_new(StateSyncer **ret)
{
    StateSyncer *y = calloc(1, sizeof(*y));
    sigset_t all, old;
    int r;

    if (!y)
        return -ENOMEM;
    y->todo_tail = &y->todo;
    y->done_tail = &y->done;
    y->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (y->event_fd < 0) {
        r = -errno;
        free(y);
        return r;
    }
    (void)pthread_mutex_init(&y->lock, NULL);
    (void)pthread_cond_init(&y->wake, NULL);
    (void)pthread_cond_init(&y->idle, NULL);
    /* Every signal is the loop's to read (signalfd): the thread blocks them all. */
    (void)sigfillset(&all);
    r = -pthread_sigmask(SIG_BLOCK, &all, &old);
    if (r == 0) {
        r = -pthread_create(&y->thread, NULL, syncer_run, y);
        (void)pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    /*
     * A batch thread: woken, a thread that slept preempts the one that woke
     * it, here the loop, whose API answers and restarts would wait while
     * this thread only starts a sync. Batch threads do not preempt on
     * wakeup; they get their fair share of the CPU all the same. (Not by
     * its attributes: glibc takes no SCHED_BATCH there.) Refused, it stays
     * an ordinary thread.
     */
    if (r == 0)
        (void)pthread_setschedparam(y->thread, SCHED_BATCH, &(struct sched_param){0});
    if (r < 0) {
        close(y->event_fd);
        (void)pthread_cond_destroy(&y->idle);
        (void)pthread_cond_destroy(&y->wake);
        (void)pthread_mutex_destroy(&y->lock);
        free(y);
        return r;
    }
    *ret = y;
    return 0;
}

/* Runs what is queued, ends the thread and frees y with what it did not hand over. */
void state_syncer_free(StateSyncer *y)
{
    if (!y)
        return;
    (void)pthread_mutex_lock(&y->lock);
    y->stop = true;
    (void)pthread_cond_signal(&y->wake);
    (void)pthread_mutex_unlock(&y->lock);
    (void)pthread_join(y->thread, NULL);
    state_sync_jobs_free(y->todo);
    state_sync_jobs_free(y->done);
    close(y->event_fd);
    (void)pthread_cond_destroy(&y->idle);
    (void)pthread_cond_destroy(&y->wake);
    (void)pthread_mutex_destroy(&y->lock);
    free(y);
}

int state_syncer_fd(const StateSyncer *y)
{
    return y->event_fd;
}

void state_syncer_queue(StateSyncer *y, StateSyncJob *j)
{
    bool wake;

    j->next = NULL;
    (void)pthread_mutex_lock(&y->lock);
    *y->todo_tail = j;
    y->todo_tail = &j->next;
    /* A busy thread looks at the queue before it waits again: only a waiting one needs a word. */
    wake = y->waiting;
    (void)pthread_mutex_unlock(&y->lock);
    /* After the unlock: woken under it, the thread would only block on the lock again. */
    if (wake)
        (void)pthread_cond_signal(&y->wake);
}

bool state_syncer_retarget(StateSyncer *y, StateSyncJob *j, int region, uint64_t gen)
{
    bool done;

    (void)pthread_mutex_lock(&y->lock);
    done = !j->taken;
    if (done) {
        j->region = region;
        j->gen = gen;
    }
    (void)pthread_mutex_unlock(&y->lock);
    return done;
}

StateSyncJob *state_syncer_take(StateSyncer *y)
{
    StateSyncJob *done;
    eventfd_t n;

    (void)eventfd_read(y->event_fd, &n);
    (void)pthread_mutex_lock(&y->lock);
    done = y->done;
    y->done = NULL;
    y->done_tail = &y->done;
    (void)pthread_mutex_unlock(&y->lock);
    return done;
}

void state_syncer_wait(StateSyncer *y)
{
    (void)pthread_mutex_lock(&y->lock);
    while (y->todo || y->busy)
        (void)pthread_cond_wait(&y->idle, &y->lock);
    (void)pthread_mutex_unlock(&y->lock);
}
