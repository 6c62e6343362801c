/* SPDX-License-Identifier: Apache-2.0 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "image-internal.h"

#define IMPORT_CHUNK (64u * 1024u)

static bool cancelled(const volatile sig_atomic_t *cancel)
{
    return cancel && *cancel;
}

/*
 * Runs argv with stdin_fd (or /dev/null when -1) as standard input. The
 * child inherits lock_fd, so the work directory stays locked while it
 * runs, and it dies with us (PR_SET_PDEATHSIG): a killed import never
 * leaves a tar writing into a directory a cleaner is deleting.
 */
static pid_t spawn(char *const argv[], int stdin_fd, int lock_fd)
{
    pid_t parent = getpid(), pid;

    pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        sigset_t none;

        (void)sigemptyset(&none);
        (void)sigprocmask(SIG_SETMASK, &none, NULL);
        (void)signal(SIGPIPE, SIG_DFL);
        (void)signal(SIGINT, SIG_DFL);
        (void)signal(SIGTERM, SIG_DFL);
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
            _exit(127);
        if (stdin_fd < 0)
            stdin_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (stdin_fd < 0 || dup2(stdin_fd, STDIN_FILENO) < 0)
            _exit(127);
        (void)fcntl(lock_fd, F_SETFD, 0);
        execvp(argv[0], argv);
        fprintf(stderr, "cannot run %s: %m\n", argv[0]);
        _exit(127);
    }
    return pid;
}

/* Waits for pid; on cancel kills it first. Returns its exit status, or -EINTR. */
static int wait_child(pid_t pid, const volatile sig_atomic_t *cancel)
{
    int status;

    for (;;) {
        if (cancelled(cancel))
            (void)kill(pid, SIGKILL);
        if (waitpid(pid, &status, 0) == pid)
            break;
        if (errno != EINTR)
            return -errno;
    }
    if (cancelled(cancel))
        return -EINTR;
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
}

static int write_all(int fd, const char *p, size_t n, const volatile sig_atomic_t *cancel)
{
    while (n > 0) {
        ssize_t w;

        if (cancelled(cancel))
            return -EINTR;
        w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/*
 * Feeds src to tar through a pipe, so that the first bytes can tell gzip
 * from plain tar whatever src is (a file, a fifo, standard input).
 */
static int unpack_tar(int src, const char *dir, int lock_fd, const volatile sig_atomic_t *cancel,
                      PdError *reterr)
{
    _cleanup_free_ char *buf = malloc(IMPORT_CHUNK);
    _cleanup_close_ int rd = -1, wr = -1;
    char *argv[] = {
        "tar", "-x", "-C", (char *)dir, "-f", "-", "--numeric-owner", "--same-permissions",
        NULL,  NULL};
    ssize_t n = 0;
    size_t have = 0;
    int fds[2], r = 0, status;
    pid_t pid;

    if (!buf)
        return pd_error_set(reterr, -ENOMEM, "out of memory");
    /* Up to two bytes for the gzip magic, then hand everything over. */
    while (have < 2) {
        if (cancelled(cancel))
            return pd_error_set(reterr, -EINTR, "interrupted");
        n = read(src, buf + have, IMPORT_CHUNK - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return pd_error_set(reterr, -errno, "cannot read the archive: %m");
        if (n == 0)
            break;
        have += (size_t)n;
    }
    if (have >= 2 && (unsigned char)buf[0] == 0x1f && (unsigned char)buf[1] == 0x8b)
        argv[8] = "-z";
    if (pipe2(fds, O_CLOEXEC) < 0)
        return pd_error_set(reterr, -errno, "cannot create a pipe: %m");
    rd = fds[0];
    wr = fds[1];
    pid = spawn(argv, rd, lock_fd);
    if (pid < 0)
        return pd_error_set(reterr, pid, "cannot run tar: %s", strerror(-pid));
    (void)close(move_fd(rd));
    for (;;) {
        r = write_all(wr, buf, have, cancel);
        /* EPIPE: tar stopped reading (a corrupt archive); its status says why. */
        if (r < 0 || cancelled(cancel))
            break;
        do
            n = read(src, buf, IMPORT_CHUNK);
        while (n < 0 && errno == EINTR && !cancelled(cancel));
        if (n <= 0) {
            r = n < 0 && !cancelled(cancel) ? -errno : 0;
            break;
        }
        have = (size_t)n;
    }
    (void)close(move_fd(wr));
    status = wait_child(pid, cancel);
    if (status == -EINTR || cancelled(cancel))
        return pd_error_set(reterr, -EINTR, "interrupted");
    if (status < 0)
        return pd_error_set(reterr, status, "cannot wait for tar: %s", strerror(-status));
    if (status != 0)
        return pd_error_set(reterr, -EBADMSG, "tar failed with exit status %d", status);
    if (r < 0 && r != -EPIPE)
        return pd_error_set(reterr, r, "cannot read the archive: %s", strerror(-r));
    return 0;
}

static int copy_dir(const char *src, const char *dir, int lock_fd,
                    const volatile sig_atomic_t *cancel, PdError *reterr)
{
    _cleanup_free_ char *from = strdup_printf("%s/.", src), *to = strdup_printf("%s/", dir);
    char *argv[] = {"cp", "-a", "--", from, to, NULL};
    pid_t pid;
    int status;

    if (!from || !to)
        return pd_error_set(reterr, -ENOMEM, "out of memory");
    pid = spawn(argv, -1, lock_fd);
    if (pid < 0)
        return pd_error_set(reterr, pid, "cannot run cp: %s", strerror(-pid));
    status = wait_child(pid, cancel);
    if (status == -EINTR)
        return pd_error_set(reterr, -EINTR, "interrupted");
    if (status < 0)
        return pd_error_set(reterr, status, "cannot wait for cp: %s", strerror(-status));
    if (status != 0)
        return pd_error_set(reterr, -EIO, "cp failed with exit status %d", status);
    return 0;
}

/*
 * Moves the unpacked work directory to NAME/TAG: a new tag appears whole;
 * an existing one is exchanged with it in one step, and the old rootfs,
 * now under the work directory's name, is deleted afterwards.
 */
static int commit(int store_fd, const char *work, const ImageRef *ref, PdError *reterr)
{
    _cleanup_free_ char *rel = strdup_printf("%s/%s", ref->name, ref->tag);
    int r;

    if (!rel)
        return pd_error_set(reterr, -ENOMEM, "out of memory");
    for (unsigned attempt = 0; attempt < 10; attempt++) {
        r = image_make_name_dirs(store_fd, ref->name);
        if (r < 0)
            return pd_error_set(reterr, r, "cannot create the directory of '%s': %s", ref->name,
                                strerror(-r));
        if (renameat2(store_fd, work, store_fd, rel, RENAME_NOREPLACE) == 0)
            return 0;
        /* ENOENT: a removal took the NAME directory away meanwhile; try again. */
        if (errno == ENOENT)
            continue;
        if (errno != EEXIST)
            return pd_error_set(reterr, -errno, "cannot rename into %s: %m", rel);
        if (renameat2(store_fd, work, store_fd, rel, RENAME_EXCHANGE) == 0) {
            (void)rm_rf_at(store_fd, work);
            return 0;
        }
        if (errno != ENOENT)
            return pd_error_set(reterr, -errno, "cannot replace %s: %m", rel);
    }
    return pd_error_set(reterr, -EAGAIN, "cannot rename into %s: it keeps changing", rel);
}

static int open_source(const char *source, bool *ret_is_dir, PdError *reterr)
{
    struct stat st;
    int fd;

    if (streq(source, "-")) {
        fd = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
            return pd_error_set(reterr, -errno, "cannot use standard input: %m");
        *ret_is_dir = false;
        return fd;
    }
    fd = open(source, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return pd_error_set(reterr, -errno, "cannot open '%s': %m", source);
    if (fstat(fd, &st) < 0) {
        int r = -errno;

        (void)close(fd);
        return pd_error_set(reterr, r, "cannot stat '%s': %s", source, strerror(-r));
    }
    *ret_is_dir = S_ISDIR(st.st_mode);
    return fd;
}

int image_import(const char *store, const ImageRef *ref, const char *source,
                 const volatile sig_atomic_t *cancel, PdError *reterr)
{
    _cleanup_close_ int store_fd = -1, lock_fd = -1, src = -1;
    _cleanup_free_ char *work = NULL, *work_path = NULL;
    bool is_dir = false;
    int r;

    src = open_source(source, &is_dir, reterr);
    if (src < 0)
        return src;
    store_fd = open(store, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (store_fd < 0)
        return pd_error_set(reterr, -errno, "cannot open the image store %s: %m", store);
    (void)image_store_clean(store);
    lock_fd = image_make_work_dir(store_fd, IMAGE_IMPORT_PREFIX, &work);
    if (lock_fd < 0)
        return pd_error_set(reterr, lock_fd, "cannot create a directory in %s: %s", store,
                            strerror(-lock_fd));
    work_path = strdup_printf("%s/%s", store, work);
    if (!work_path)
        r = pd_error_set(reterr, -ENOMEM, "out of memory");
    else if (fchmodat(store_fd, work, 0755, 0) < 0)
        r = pd_error_set(reterr, -errno, "cannot chmod %s: %m", work_path);
    else if (is_dir)
        r = copy_dir(source, work_path, lock_fd, cancel, reterr);
    else
        r = unpack_tar(src, work_path, lock_fd, cancel, reterr);
    if (r >= 0)
        r = commit(store_fd, work, ref, reterr);
    if (r < 0)
        (void)rm_rf_at(store_fd, work);
    return r < 0 ? r : 0;
}
