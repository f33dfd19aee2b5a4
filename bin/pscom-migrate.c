/*
 * pscom-migrate -- the migration framework's side of the suspend/resume
 * protocol: publish one request for a host and collect the processes'
 * answers, or watch their status topics.
 *
 *   pscom-migrate suspend HOST -n N    publish "suspend", wait for N ALLOWED
 *   pscom-migrate resume HOST -n N     publish "resume", wait for N COMPLETED
 *                                      (FAILED answers count, exit status 1)
 *   pscom-migrate toggle HOST -n N [PID...]  "*" or a pid list
 *   pscom-migrate watch HOST           print status changes
 *
 * It behaves like the FAST framework: one publication on
 * fast/pscom/HOST/any_proc/request, then up to --timeout seconds (10) for
 * each next answer on fast/pscom/HOST/+/response.
 */
#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <MQTTAsync.h>

#include "mqttproto.h"

#define ANSWERS_MAX 4096
#define TOPIC_MAX MQTTPROTO_TOPIC_MAX
#define PAYLOAD_MAX 4096

enum mode { MODE_SUSPEND, MODE_RESUME, MODE_TOGGLE, MODE_WATCH };

struct ctx {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int connected; /* 1 ok, -1 failed */
    int subscribed;
    int published;
    unsigned int received; /* answers counted */
    unsigned int failed;   /* ... of them FAILED */
    unsigned int seen;     /* messages printed (watch) */
    int pids[ANSWERS_MAX];
    unsigned int npids;
    int want; /* enum mqttproto_word, or 0 (any) */
    struct timespec t0;
    enum mode mode;
};

static double elapsed_ms(const struct timespec *t0)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) * 1e3 +
           (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: pscom-migrate suspend|resume HOST -n N [options]\n"
                 "       pscom-migrate toggle HOST -n N [options] [PID...]\n"
                 "       pscom-migrate watch HOST [options]\n"
                 "options:\n"
                 "  -n, --count N      answers (status messages for watch) to "
                 "wait for\n"
                 "  -b, --broker B     host:port or tcp://host:port "
                 "(default localhost:1883)\n"
                 "  -t, --timeout S    seconds to wait for each answer "
                 "(default 10)\n"
                 "  -h, --help\n");
}

/* Answers look like "<pid> : ALLOWED". Returns the pid or -1; *failed
 * is 1 for "<pid> : FAILED" (a resume whose connections did not all come
 * back: an answer, but not the one wanted). */
static int answer_pid(const char *payload, int want, int *failed)
{
    int pid;
    int word = mqttproto_answer_parse(payload, strlen(payload), &pid);

    if (word < 0) {
        return -1;
    }
    *failed = word == MQTTPROTO_FAILED;
    if (want && word != want && !*failed) {
        return -1;
    }
    return pid;
}

static int pid_seen(struct ctx *c, int pid)
{
    for (unsigned int i = 0; i < c->npids; i++) {
        if (c->pids[i] == pid) {
            return 1;
        }
    }
    return 0;
}

static int on_message(void *context, char *topic, int topic_len,
                      MQTTAsync_message *msg)
{
    struct ctx *c = context;
    char payload[PAYLOAD_MAX];
    size_t len = (size_t)msg->payloadlen;
    int pid, failed = 0;

    (void)topic_len;
    if (len >= sizeof(payload)) {
        len = sizeof(payload) - 1;
    }
    memcpy(payload, msg->payload, len);
    payload[len] = '\0';

    pthread_mutex_lock(&c->lock);
    if (c->mode == MODE_WATCH) {
        printf("%9.1f ms  %s  %s\n", elapsed_ms(&c->t0), topic, payload);
        c->seen++;
    } else if (c->published) {
        pid = answer_pid(payload, c->want, &failed);
        if (pid < 0) {
            fprintf(stderr, "pscom-migrate: ignored answer on %s: '%s'\n",
                    topic, payload);
        } else if (!pid_seen(c, pid) && c->npids < ANSWERS_MAX) {
            c->pids[c->npids++] = pid;
            c->received++;
            c->failed += (unsigned int)failed;
            printf("%s  (%.1f ms)\n", payload, elapsed_ms(&c->t0));
        }
    }
    fflush(stdout);
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
    MQTTAsync_freeMessage(&msg);
    MQTTAsync_free(topic);
    return 1;
}

/* Paho calls back from its own thread: hand the result to main(). */
static void set_flag(void *context, int *field, int value)
{
    struct ctx *c = context;

    pthread_mutex_lock(&c->lock);
    *field = value;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

static void on_connect(void *context, MQTTAsync_successData *resp)
{
    (void)resp;
    set_flag(context, &((struct ctx *)context)->connected, 1);
}

static void on_connect_failure(void *context, MQTTAsync_failureData *resp)
{
    fprintf(stderr, "pscom-migrate: cannot connect to the broker (%d%s%s)\n",
            resp ? resp->code : 0, resp && resp->message ? ": " : "",
            resp && resp->message ? resp->message : "");
    set_flag(context, &((struct ctx *)context)->connected, -1);
}

static void on_subscribe(void *context, MQTTAsync_successData *resp)
{
    (void)resp;
    set_flag(context, &((struct ctx *)context)->subscribed, 1);
}

static void on_subscribe_failure(void *context, MQTTAsync_failureData *resp)
{
    (void)resp;
    set_flag(context, &((struct ctx *)context)->subscribed, -1);
}

static void on_lost(void *context, char *cause)
{
    (void)context;
    fprintf(stderr, "pscom-migrate: connection to the broker lost%s%s\n",
            cause ? ": " : "", cause ? cause : "");
}

/* Wait until *field != 0 or the deadline; the lock is held. */
static int wait_flag(struct ctx *c, int *field, int seconds)
{
    struct timespec dl;

    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += seconds;
    while (*field == 0) {
        if (pthread_cond_timedwait(&c->cond, &c->lock, &dl) == ETIMEDOUT) {
            break;
        }
    }
    return *field;
}

/* Wait for N counted events, each within timeout seconds of the one
 * before; the lock is held. Returns how many arrived. */
static unsigned int wait_count(struct ctx *c, unsigned int *counter,
                               unsigned int n, int timeout)
{
    while (*counter < n) {
        unsigned int before = *counter;
        struct timespec dl;

        clock_gettime(CLOCK_REALTIME, &dl);
        dl.tv_sec += timeout;
        while (*counter == before) {
            if (pthread_cond_timedwait(&c->cond, &c->lock, &dl) == ETIMEDOUT) {
                return *counter;
            }
        }
    }
    return *counter;
}

static int build_payload(char *out, size_t size, enum mode mode, int argc,
                         char **argv)
{
    size_t used = 0;

    if (mode == MODE_SUSPEND) {
        snprintf(out, size, "suspend");
        return 0;
    }
    if (mode == MODE_RESUME) {
        snprintf(out, size, "resume");
        return 0;
    }
    if (argc == 0) {
        snprintf(out, size, "*");
        return 0;
    }
    out[0] = '\0';
    for (int i = 0; i < argc; i++) {
        char *end;
        long pid = strtol(argv[i], &end, 10);
        int n;

        if (*end || pid <= 0) {
            fprintf(stderr, "pscom-migrate: not a pid: '%s'\n", argv[i]);
            return -1;
        }
        n = snprintf(out + used, size - used, "%s%ld", i ? " " : "", pid);
        if (n < 0 || (size_t)n >= size - used) {
            fprintf(stderr, "pscom-migrate: too many pids\n");
            return -1;
        }
        used += (size_t)n;
    }
    return 0;
}

static int parse_mode(const char *s, enum mode *mode)
{
    static const char *const names[] = {"suspend", "resume", "toggle", "watch"};

    for (int i = 0; i < 4; i++) {
        if (strcmp(s, names[i]) == 0) {
            *mode = (enum mode)i;
            return 0;
        }
    }
    return -1;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"count", required_argument, NULL, 'n'},
        {"broker", required_argument, NULL, 'b'},
        {"timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct ctx c = {.lock = PTHREAD_MUTEX_INITIALIZER,
                    .cond = PTHREAD_COND_INITIALIZER};
    const char *broker = MQTTPROTO_BROKER_DEFAULT;
    const char *host;
    long count = -1;
    int timeout = 10;
    struct mqttproto_broker addr;
    char topic[TOPIC_MAX], req_topic[TOPIC_MAX];
    char payload[PAYLOAD_MAX], client_id[64];
    MQTTAsync client;
    MQTTAsync_connectOptions copts = MQTTAsync_connectOptions_initializer;
    MQTTAsync_responseOptions ropts = MQTTAsync_responseOptions_initializer;
    MQTTAsync_message msg = MQTTAsync_message_initializer;
    int rc = 2, opt;
    unsigned int got;

    if (argc < 2 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "--help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (parse_mode(argv[1], &c.mode)) {
        fprintf(stderr, "pscom-migrate: unknown command '%s'\n", argv[1]);
        usage(stderr);
        return 2;
    }
    optind = 2;
    while ((opt = getopt_long(argc, argv, "n:b:t:h", longopts, NULL)) != -1) {
        char *end;
        switch (opt) {
        case 'n':
            count = strtol(optarg, &end, 10);
            if (*end || count < 1 || count > ANSWERS_MAX) {
                fprintf(stderr, "pscom-migrate: bad count '%s'\n", optarg);
                return 2;
            }
            break;
        case 'b':
            broker = optarg;
            break;
        case 't':
            timeout = (int)strtol(optarg, &end, 10);
            if (*end || timeout < 1) {
                fprintf(stderr, "pscom-migrate: bad timeout '%s'\n", optarg);
                return 2;
            }
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "pscom-migrate: HOST is missing\n");
        return 2;
    }
    host = argv[optind++];
    if (c.mode != MODE_WATCH && count < 0) {
        fprintf(stderr, "pscom-migrate: -n N is required\n");
        return 2;
    }
    if (c.mode != MODE_TOGGLE && optind < argc) {
        fprintf(stderr, "pscom-migrate: unexpected argument '%s'\n",
                argv[optind]);
        return 2;
    }
    if (build_payload(payload, sizeof(payload), c.mode, argc - optind,
                      argv + optind)) {
        return 2;
    }
    c.want = c.mode == MODE_SUSPEND  ? MQTTPROTO_ALLOWED
             : c.mode == MODE_RESUME ? MQTTPROTO_COMPLETED
                                     : 0;
    /* The processes' response (status) topics: any pid of the host. */
    if (mqttproto_topic(topic, sizeof(topic),
                        c.mode == MODE_WATCH ? MQTTPROTO_STATUS_TOPIC
                                             : MQTTPROTO_RESPONSE_TOPIC,
                        host, "+") ||
        mqttproto_topic(req_topic, sizeof(req_topic), MQTTPROTO_REQUEST_TO_ALL,
                        host, "+")) {
        fprintf(stderr, "pscom-migrate: bad host name '%s'\n", host);
        return 2;
    }

    if (mqttproto_broker_parse(broker, &addr)) {
        fprintf(stderr, "pscom-migrate: bad broker address '%s'\n", broker);
        return 2;
    }
    snprintf(client_id, sizeof(client_id), "pscom-migrate-%ld", (long)getpid());
    if (MQTTAsync_create(&client, addr.uri, client_id,
                         MQTTCLIENT_PERSISTENCE_NONE,
                         NULL) != MQTTASYNC_SUCCESS) {
        fprintf(stderr, "pscom-migrate: bad broker address '%s'\n", broker);
        return 2;
    }
    MQTTAsync_setCallbacks(client, &c, on_lost, on_message, NULL);
    copts.keepAliveInterval = 20;
    copts.cleansession = 1;
    copts.connectTimeout = timeout;
    copts.onSuccess = on_connect;
    copts.onFailure = on_connect_failure;
    copts.context = &c;

    pthread_mutex_lock(&c.lock);
    if (MQTTAsync_connect(client, &copts) != MQTTASYNC_SUCCESS ||
        wait_flag(&c, &c.connected, timeout + 1) != 1) {
        if (c.connected == 0) {
            fprintf(stderr, "pscom-migrate: no answer from the broker %s\n",
                    addr.uri);
        }
        goto out_destroy;
    }

    ropts.onSuccess = on_subscribe;
    ropts.onFailure = on_subscribe_failure;
    ropts.context = &c;
    if (MQTTAsync_subscribe(client, topic, 1, &ropts) != MQTTASYNC_SUCCESS ||
        wait_flag(&c, &c.subscribed, timeout) != 1) {
        fprintf(stderr, "pscom-migrate: cannot subscribe to %s\n", topic);
        goto out_disconnect;
    }
    clock_gettime(CLOCK_MONOTONIC, &c.t0);

    if (c.mode == MODE_WATCH) {
        /* Without -n: until killed. */
        got = wait_count(&c, &c.seen, count < 0 ? ~0u : (unsigned)count,
                         count < 0 ? 1 << 30 : timeout);
        rc = count < 0 || got >= (unsigned)count ? 0 : 1;
        goto out_disconnect;
    }

    msg.payload = payload;
    msg.payloadlen = (int)strlen(payload);
    msg.qos = 1;
    msg.retained = 0;
    c.published = 1;
    clock_gettime(CLOCK_MONOTONIC, &c.t0);
    if (MQTTAsync_sendMessage(client, req_topic, &msg, NULL) !=
        MQTTASYNC_SUCCESS) {
        fprintf(stderr, "pscom-migrate: cannot publish on %s\n", req_topic);
        goto out_disconnect;
    }
    got = wait_count(&c, &c.received, (unsigned)count, timeout);
    printf("%u of %ld answered '%s' in %.1f ms\n", got, count,
           c.want ? mqttproto_word_name((enum mqttproto_word)c.want) : "any",
           elapsed_ms(&c.t0));
    if (c.failed) {
        printf("%u answered FAILED\n", c.failed);
    }
    rc = got >= (unsigned)count && !c.failed ? 0 : 1;

out_disconnect:
    pthread_mutex_unlock(&c.lock);
    MQTTAsync_disconnect(client, NULL);
    pthread_mutex_lock(&c.lock);
out_destroy:
    pthread_mutex_unlock(&c.lock);
    MQTTAsync_destroy(&client);
    return rc;
}
