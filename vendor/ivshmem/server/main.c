/* main.c -- ivshmem-server: options, daemon, pidfile, signals. The
 * server itself is the library in ivsrv.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "ivsrv.h"

struct opts {
    struct ivsrv_config cfg;
    bool daemon;
    const char *pidfile;
    const char *logfile;
    int ready_fd;
};

static void usage(FILE *f)
{
    fputs(
        "Usage: ivshmem-server [options]\n"
        "Serve a shared memory segment to QEMU ivshmem-doorbell devices.\n"
        "  -s, --shm NAME          POSIX shm object (default ivshmem)\n"
        "  -f, --file PATH         regular file as persistent backing instead\n"
        "  -m, --size SIZE         size in MB, or with suffix M, G, T; a power "
        "of\n"
        "                          two (default 1; an existing object keeps "
        "its\n"
        "                          size)\n"
        "  -t, --truncate          resize an existing object to -m and\n"
        "                          re-initialise its layout\n"
        "  -p, --socket PATH       unix socket (default /tmp/ivshmem_socket)\n"
        "  -n, --vectors N         eventfds per peer, 1..64 (default 1)\n"
        "  -c, --layout KIND       pscom | migration-framework: lay out the "
        "pscom\n"
        "                          segment (default: plain shared memory)\n"
        "  -F, --frame-size BYTES  frame size of the layout (default 4096)\n"
        "  -d, --daemon            run in the background\n"
        "  -P, --pidfile PATH      write the pid here once serving\n"
        "  -l, --log PATH          append messages to PATH (default stderr;\n"
        "                          syslog with -d)\n"
        "  -g, --group GROUP       create object and socket 0660 for GROUP\n"
        "                          (default 0600)\n"
        "  -u, --unlink            remove the shm object at shutdown\n"
        "  -r, --reclaim-period MS reclaim pass period (default 500)\n"
        "  -T, --owner-timeout MS  heartbeat timeout of owners (default "
        "10000)\n"
        "  -R, --ready-fd FD       write \"ready\" to FD once serving, close "
        "it\n"
        "  -v, --verbose           log every protocol message\n"
        "  -h, --help              this help\n",
        f);
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
    char *end;

    errno = 0;
    *out = strtoul(s, &end, 10);
    return errno || !*s || *end || *s == '-' || *out > max ? -1 : 0;
}

static int bad(const char *opt, const char *val, const char *why)
{
    fprintf(stderr, "ivshmem-server: bad %s '%s': %s\n", opt, val, why);
    return -1;
}

static int parse(int argc, char **argv, struct opts *o)
{
    static const struct option lo[] = {{"shm", 1, 0, 's'},
                                       {"file", 1, 0, 'f'},
                                       {"size", 1, 0, 'm'},
                                       {"truncate", 0, 0, 't'},
                                       {"socket", 1, 0, 'p'},
                                       {"vectors", 1, 0, 'n'},
                                       {"layout", 1, 0, 'c'},
                                       {"frame-size", 1, 0, 'F'},
                                       {"daemon", 0, 0, 'd'},
                                       {"pidfile", 1, 0, 'P'},
                                       {"log", 1, 0, 'l'},
                                       {"group", 1, 0, 'g'},
                                       {"unlink", 0, 0, 'u'},
                                       {"reclaim-period", 1, 0, 'r'},
                                       {"owner-timeout", 1, 0, 'T'},
                                       {"ready-fd", 1, 0, 'R'},
                                       {"verbose", 0, 0, 'v'},
                                       {"help", 0, 0, 'h'},
                                       {0, 0, 0, 0}};
    unsigned long v;
    struct group *gr;
    int c;

    while ((c = getopt_long(argc, argv, "s:f:m:tp:n:c:F:dP:l:g:ur:T:R:vh", lo,
                            NULL)) != -1) {
        switch (c) {
        case 's':
            o->cfg.shm_name = optarg;
            break;
        case 'f':
            o->cfg.file = optarg;
            break;
        case 't':
            o->cfg.truncate = true;
            break;
        case 'p':
            o->cfg.socket_path = optarg;
            break;
        case 'd':
            o->daemon = true;
            break;
        case 'P':
            o->pidfile = optarg;
            break;
        case 'l':
            o->logfile = optarg;
            break;
        case 'u':
            o->cfg.unlink_shm = true;
            break;
        case 'v':
            o->cfg.verbose = 1;
            break;
        case 'm':
            if (ivsrv_parse_size(optarg, &o->cfg.size) < 0) {
                return bad("size", optarg, "want N (MB) or N with M, G, T");
            }
            break;
        case 'n':
            if (parse_uint(optarg, IVSRV_MAX_VECTORS, &v) < 0 || v == 0) {
                return bad("vectors", optarg, "want 1..64");
            }
            o->cfg.vectors = (unsigned)v;
            break;
        case 'c':
            if (strcmp(optarg, "pscom") &&
                strcmp(optarg, "migration-framework")) {
                return bad("layout", optarg,
                           "want pscom or migration-framework");
            }
            o->cfg.layout = IVSRV_LAYOUT_PSCOM;
            break;
        case 'F':
            if (parse_uint(optarg, 1ul << 30, &v) < 0 || v < 64 ||
                (v & (v - 1))) {
                return bad("frame size", optarg, "want a power of two, 64..1G");
            }
            o->cfg.frame_size = (uint32_t)v;
            break;
        case 'g':
            gr = getgrnam(optarg);
            if (!gr) {
                if (parse_uint(optarg, 0x7fffffff, &v) < 0) {
                    return bad("group", optarg, "no such group");
                }
                o->cfg.gid = (gid_t)v;
            } else {
                o->cfg.gid = gr->gr_gid;
            }
            o->cfg.group_access = true;
            break;
        case 'r':
        case 'T':
            if (parse_uint(optarg, 3600000, &v) < 0 || v == 0) {
                return bad(c == 'r' ? "reclaim period" : "owner timeout",
                           optarg, "want 1..3600000 ms");
            }
            *(c == 'r' ? &o->cfg.period_ms : &o->cfg.timeout_ms) = (unsigned)v;
            break;
        case 'R':
            if (parse_uint(optarg, 1 << 20, &v) < 0 || v < 3) {
                return bad("ready fd", optarg, "want a descriptor >= 3");
            }
            o->ready_fd = (int)v;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
    }
    if (optind < argc) {
        return bad("argument", argv[optind], "no arguments expected");
    }
    if (o->cfg.file && !o->cfg.file[0]) {
        return bad("file", "", "empty path");
    }
    return 0;
}

static int write_pidfile(const char *path)
{
    char buf[32];
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
                  0644);
    int n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());

    if (fd < 0 || write(fd, buf, (size_t)n) != n) {
        fprintf(stderr, "ivshmem-server: pidfile %s: %s\n", path,
                strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    if (fd != STDERR_FILENO) {
        close(fd);
    }
    return 0;
}

/* Append stderr to the log. Created 0640 & ~umask, never more: fopen's
 * 0666 made it world-writable under umask 000. An existing log keeps the
 * mode its owner gave it. */
static int open_log(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);

    if (fd < 0 || dup2(fd, STDERR_FILENO) < 0) {
        fprintf(stdout, "ivshmem-server: log %s: %s\n", path, strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    if (fd != STDERR_FILENO) {
        close(fd);
    }
    return 0;
}

/* Fork; the parent waits until the child serves (or fails), so that a
 * caller of "ivshmem-server -d" can connect as soon as it returns. */
static int daemonise(void)
{
    int p[2];
    char ok = 0;
    pid_t pid;

    if (pipe2(p, O_CLOEXEC) < 0 || (pid = fork()) < 0) {
        fprintf(stderr, "ivshmem-server: daemonise: %s\n", strerror(errno));
        return -1;
    }
    if (pid > 0) {
        close(p[1]);
        _exit(read(p[0], &ok, 1) == 1 && ok == 'y' ? 0 : 1);
    }
    close(p[0]);
    setsid();
    return p[1];
}

int main(int argc, char **argv)
{
    struct opts o = {.ready_fd = -1};
    struct ivsrv *srv;
    sigset_t mask;
    int sfd, dpipe = -1, rc = 1, nul;

    o.cfg.shm_name = "ivshmem";
    o.cfg.socket_path = "/tmp/ivshmem_socket";
    o.cfg.vectors = 1;
    if (parse(argc, argv, &o) < 0) {
        return 2;
    }
    if (o.logfile && open_log(o.logfile) < 0) {
        return 1;
    }
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    sfd = signalfd(-1, &mask, SFD_CLOEXEC);
    if (sfd < 0) {
        ivsrv_log("signalfd: %s", strerror(errno));
        return 1;
    }
    /* Everything that can fail for the user fails here, in the
     * foreground, with a message and a non-zero exit. */
    if (ivsrv_open(&srv, &o.cfg) < 0) {
        return 1;
    }
    if (o.daemon && (dpipe = daemonise()) < 0) {
        goto out_close;
    }
    if (o.pidfile && write_pidfile(o.pidfile) < 0) {
        goto out_close;
    }
    ivsrv_log("ready: %s", ivsrv_describe(srv));
    if (o.ready_fd >= 0) {
        if (write(o.ready_fd, "ready\n", 6) != 6) {
            ivsrv_log("ready fd %d: %s", o.ready_fd, strerror(errno));
        }
        close(o.ready_fd);
    }
    if (dpipe >= 0) {
        nul = open("/dev/null", O_RDWR);
        dup2(nul, STDIN_FILENO);
        dup2(nul, STDOUT_FILENO);
        if (!o.logfile) {
            dup2(nul, STDERR_FILENO);
            ivsrv_log_to_syslog();
        }
        close(nul);
        if (write(dpipe, "y", 1) != 1) {
            goto out_close;
        }
        close(dpipe);
    }
    rc = ivsrv_run(srv, sfd) < 0 ? 1 : 0;
    ivsrv_log("shutting down");
out_close:
    ivsrv_close(srv);
    if (o.pidfile && rc == 0) {
        unlink(o.pidfile);
    }
    close(sfd);
    return rc;
}
