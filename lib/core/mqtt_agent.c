/*
 * mqtt_agent.c -- the MQTT agent of the process-wide suspend/resume,
 * compatible with the FAST migration framework (DESIGN.md "Suspend,
 * resume, MQTT"). Everything here runs in paho's threads or in the
 * suspend worker; the core's lock is never taken.
 */
#include <config.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <MQTTAsync.h>

#include "mqtt_agent.h"
#include "mqttproto.h"
#include "pscom_priv.h"

#define TOPIC_MAX MQTTPROTO_TOPIC_MAX
#define RETRY_FIRST_S 1
#define RETRY_MAX_S 8
/* Seconds between keep-alive pings: a broker link that died silently (a
 * migrated guest's user-mode network connection dies with the source
 * QEMU) is noticed within about two intervals, and the agent is back
 * well inside the framework's 10 s wait for each answer. */
#define KEEPALIVE_S 3
/* Answers handed to paho and not yet acknowledged (PUBACK or failure).
 * paho refuses a publish when 256 (maxBufferedMessages) wait unsent: a
 * burst of requests answered faster than paho sends (1000 "suspend" in a
 * row) lost a quarter of the answers. Answers wait in our queue instead
 * and go to paho as it gets rid of earlier ones. */
#define ANSWERS_IN_FLIGHT 32
/* A window that stays full this long without an acknowledgement is not
 * trusted (a callback paho never made would stall every later answer):
 * then paho's own limit is the only brake (a refused publish waits in our
 * queue all the same). */
#define IN_FLIGHT_STALE_S 10

/* Answers not yet handed to paho, in order. Equal answers in a row share
 * one entry: a burst of requests costs memory per change of answer, not
 * per request. Only the suspend worker thread touches the queue. */
struct answer {
    char word[16];
    unsigned long count;
    struct answer *next;
};

/* Lock order: paho holds its own mutex while it calls on_connected() and
 * the other callbacks, which take A.lock. So the worker never calls into
 * paho with A.lock held (that deadlocked a fresh process whose first
 * status went out while paho reported the connection). */
static struct {
    MQTTAsync client;
    pthread_mutex_t lock; /* everything below up to "Worker thread only" */
    struct mqttproto_broker broker; /* broker.uri is paho's address */
    char req_topic[TOPIC_MAX];
    char resp_topic[TOPIC_MAX];
    char status_topic[TOPIC_MAX];
    char will[128];
    char *status;   /* last status (re-sent after a reconnect) */
    int connected;  /* 1 while the broker session is up */
    int connecting; /* a connect() is outstanding */
    int warned;     /* "broker unreachable" said once per outage */
    int sub_qos;    /* QoS of our request subscription (see set_qos) */
    unsigned int retry_s;
    time_t retry_at;
    /* Worker thread only: */
    struct answer *q_head, *q_tail;
    char *status_out; /* a status paho does not have yet, or NULL */
    int q_warned;     /* "messages wait" said once per outage */
    /* paho's threads decrement, the worker increments (atomics). */
    unsigned int in_flight;
    long last_ack; /* time() of the last acknowledgement (atomic) */
} A = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* ---- pure helpers ---------------------------------------------------------- */

/* A topic template of this process (its hostname and pid); the name of
 * its variable for the message. */
static int own_topic(char *out, const char *tmpl, const char *var)
{
    char host[256] = "";
    char pid[16];
    int rc;

    if (gethostname(host, sizeof(host) - 1)) {
        snprintf(host, sizeof(host), "localhost");
    }
    snprintf(pid, sizeof(pid), "%d", (int)getpid());
    rc = mqttproto_topic(out, TOPIC_MAX, tmpl, host, pid);
    if (rc) {
        DPRINT(0, "pscom: mqtt: %s='%.64s%s' %s (host name '%s')", var, tmpl,
               strlen(tmpl) > 64 ? "..." : "",
               rc == -ENAMETOOLONG ? "is too long" : "is not a topic template",
               host);
    }
    return rc;
}

/* The request kinds are the worker's commands. */
_Static_assert((int)MQTTPROTO_SUSPEND == (int)PSCOM_SUSP_CMD_SUSPEND &&
                   (int)MQTTPROTO_RESUME == (int)PSCOM_SUSP_CMD_RESUME &&
                   (int)MQTTPROTO_TOGGLE == (int)PSCOM_SUSP_CMD_TOGGLE,
               "enum mqttproto_request is enum pscom_susp_cmd");

int pscom_mqtt_parse(const char *payload, size_t len, int pid)
{
    int r = mqttproto_request_parse(payload, len, pid);
    size_t shown = len < 64 ? len : 64;

    if (r > 0) {
        return r;
    }
    if (r == 0) {
        return -1;
    }
    if (r == -E2BIG) {
        DPRINT(1,
               "pscom: mqtt: ignoring a request of %zu bytes (at most "
               "%d)",
               len, MQTTPROTO_REQUEST_MAX);
    } else if (r == -EILSEQ) {
        DPRINT(1, "pscom: mqtt: ignoring a request with binary data");
    } else {
        /* Text (checked): it may be shown. */
        DPRINT(1,
               "pscom: mqtt: unknown request '%.*s%s' (suspend, resume, "
               "* or a pid list)",
               (int)shown, len ? payload : "", len > 64 ? "..." : "");
    }
    return -2;
}

/* ---- paho callbacks --------------------------------------------------------- */

/* QoS 1; buffered by paho while the broker is away
 * (sendWhileDisconnected). Returns paho's code. */
static int send_msg(const char *topic, const char *text, int retained,
                    MQTTAsync_responseOptions *ro)
{
    MQTTAsync_message msg = MQTTAsync_message_initializer;

    msg.payload = (void *)text;
    msg.payloadlen = (int)strlen(text);
    msg.qos = 1;
    msg.retained = retained;
    return MQTTAsync_sendMessage(A.client, topic, &msg, ro);
}

static void publish(const char *topic, const char *text, int retained)
{
    int rc = send_msg(topic, text, retained, NULL);

    if (rc != MQTTASYNC_SUCCESS) {
        DPRINT(1, "pscom: mqtt: cannot publish on %s (%d)", topic, rc);
    }
}

/* ---- the answer queue ------------------------------------------------------ */

static void acked(void)
{
    __atomic_store_n(&A.last_ack, (long)time(NULL), __ATOMIC_RELEASE);
    __atomic_sub_fetch(&A.in_flight, 1, __ATOMIC_ACQ_REL);
}

static void on_sent(void *ctx, MQTTAsync_successData *resp)
{
    (void)ctx;
    (void)resp;
    acked();
}

static void on_send_failed(void *ctx, MQTTAsync_failureData *resp)
{
    (void)ctx;
    acked();
    DPRINT(1, "pscom: mqtt: a message was not delivered (%d)",
           resp ? resp->code : 0);
}

/* Hand one message to paho, counted in A.in_flight until paho reports
 * it delivered or failed. 1: handed over, 0: keep it for later (paho is
 * full, or the broker is away and paho buffers no more), -1: paho
 * refuses it for good (the caller drops it; logged). */
static int send_counted(const char *topic, const char *text, int retained)
{
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    int rc;

    ro.onSuccess = on_sent;
    ro.onFailure = on_send_failed;
    __atomic_add_fetch(&A.in_flight, 1, __ATOMIC_ACQ_REL);
    rc = send_msg(topic, text, retained, &ro);
    if (rc == MQTTASYNC_SUCCESS) {
        A.q_warned = 0;
        return 1;
    }
    __atomic_sub_fetch(&A.in_flight, 1, __ATOMIC_ACQ_REL);
    if (rc == MQTTASYNC_MAX_BUFFERED_MESSAGES || rc == MQTTASYNC_DISCONNECTED) {
        if (!A.q_warned) {
            DPRINT(2, "pscom: mqtt: messages wait for the broker (%d)", rc);
            A.q_warned = 1;
        }
        return 0;
    }
    DPRINT(1, "pscom: mqtt: cannot publish on %s (%d): '%s' dropped", topic, rc,
           text);
    return -1;
}

static int room_in_flight(void)
{
    unsigned int n = __atomic_load_n(&A.in_flight, __ATOMIC_ACQUIRE);

    if (n == 0) {
        /* Nothing outstanding: the stale clock starts at the next send. */
        __atomic_store_n(&A.last_ack, (long)time(NULL), __ATOMIC_RELEASE);
    }
    return n < ANSWERS_IN_FLIGHT ||
           (long)time(NULL) - __atomic_load_n(&A.last_ack, __ATOMIC_ACQUIRE) >
               IN_FLIGHT_STALE_S;
}

/* Hand the latest status (if not yet published) and queued answers to
 * paho while fewer than ANSWERS_IN_FLIGHT wait for acknowledgement. */
static void answers_pump(void)
{
    char text[64];

    if (A.status_out && room_in_flight()) {
        if (send_counted(A.status_topic, A.status_out, 1) == 0) {
            return;
        }
        free(A.status_out);
        A.status_out = NULL;
    }
    while (A.q_head && room_in_flight()) {
        struct answer *a = A.q_head;

        /* The words come from suspend_proc.c: always valid. */
        mqttproto_answer_format(text, sizeof(text), (int)getpid(), a->word);
        if (send_counted(A.resp_topic, text, 0) == 0) {
            return;
        }
        if (--a->count == 0) {
            A.q_head = a->next;
            if (!A.q_head) {
                A.q_tail = NULL;
            }
            free(a);
        }
    }
}

static void answers_free(void)
{
    while (A.q_head) {
        struct answer *a = A.q_head;

        A.q_head = a->next;
        free(a);
    }
    A.q_tail = NULL;
}

/* Queue one answer behind the others. */
static void answer_queue(const char *word)
{
    struct answer *a = A.q_tail;

    if (a && strcmp(a->word, word) == 0) {
        a->count++;
        return;
    }
    a = calloc(1, sizeof(*a));
    if (!a) {
        DPRINT(0, "pscom: mqtt: out of memory: answer '%s' dropped", word);
        return;
    }
    snprintf(a->word, sizeof(a->word), "%s", word);
    a->count = 1;
    if (A.q_tail) {
        A.q_tail->next = a;
    } else {
        A.q_head = a;
    }
    A.q_tail = a;
}

static int on_message(void *ctx, char *topic, int topic_len,
                      MQTTAsync_message *msg)
{
    int cmd;

    (void)ctx;
    (void)topic_len;
    cmd = pscom_mqtt_parse(msg->payload, (size_t)msg->payloadlen,
                           (int)getpid());
    if (cmd > 0) {
        DPRINT(2, "pscom: mqtt: request on %s", topic);
        pscom_susp_proc_post((enum pscom_susp_cmd)cmd, 1);
    }
    MQTTAsync_freeMessage(&msg);
    MQTTAsync_free(topic);
    return 1;
}

static void on_subscribe_failure(void *ctx, MQTTAsync_failureData *resp)
{
    (void)ctx;
    DPRINT(1, "pscom: mqtt: cannot subscribe to %s (%d)", A.req_topic,
           resp ? resp->code : 0);
}

/* 1 if the socket address a is (family, address, port of) b. */
static int same_endpoint(const struct sockaddr *a, const struct sockaddr *b)
{
    if (a->sa_family != b->sa_family) {
        return 0;
    }
    if (a->sa_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
        return x->sin_port == y->sin_port &&
               x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    if (a->sa_family == AF_INET6) {
        const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
        return x->sin6_port == y->sin6_port &&
               !memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr));
    }
    return 0;
}

/* paho has no option for TCP_NODELAY. Without it our answer, written
 * right after the PUBACK of a QoS 1 request (see set_qos), waits for the
 * broker's delayed ACK of that PUBACK: ~40 ms per answer. So find our
 * socket to the broker (its peer is the broker's address) and set it. */
static void broker_nodelay(void)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    DIR *d;
    struct dirent *e;

    if (getaddrinfo(A.broker.host, A.broker.port, &hints, &ai) != 0) {
        return;
    }
    d = opendir("/proc/self/fd");
    while (d && (e = readdir(d))) {
        struct sockaddr_storage peer;
        socklen_t len = sizeof(peer);
        int fd = atoi(e->d_name), one = 1;

        if (!isdigit((unsigned char)e->d_name[0]) ||
            getpeername(fd, (struct sockaddr *)&peer, &len) < 0) {
            continue;
        }
        for (struct addrinfo *a = ai; a; a = a->ai_next) {
            if (same_endpoint((struct sockaddr *)&peer, a->ai_addr)) {
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                break;
            }
        }
    }
    if (d) {
        closedir(d);
    }
    freeaddrinfo(ai);
}

/* Initial connect and every automatic reconnect. */
static void on_connected(void *ctx, char *cause)
{
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;

    (void)ctx;
    (void)cause;
    broker_nodelay();
    pthread_mutex_lock(&A.lock);
    A.connected = 1;
    A.connecting = 0;
    A.retry_s = 0;
    if (A.warned) {
        DPRINT(1, "pscom: mqtt: connected to %s again", A.broker.uri);
    }
    A.warned = 0;
    ro.onFailure = on_subscribe_failure;
    MQTTAsync_subscribe(A.client, A.req_topic, A.sub_qos, &ro);
    if (A.status) {
        publish(A.status_topic, A.status, 1);
    }
    pthread_mutex_unlock(&A.lock);
    DPRINT(2, "pscom: mqtt: connected to %s, listening on %s", A.broker.uri,
           A.req_topic);
}

static void schedule_retry(void)
{
    A.retry_s = A.retry_s ? A.retry_s * 2 : RETRY_FIRST_S;
    if (A.retry_s > RETRY_MAX_S) {
        A.retry_s = RETRY_MAX_S;
    }
    A.retry_at = time(NULL) + (time_t)A.retry_s;
}

static void on_connect_failure(void *ctx, MQTTAsync_failureData *resp)
{
    (void)ctx;
    pthread_mutex_lock(&A.lock);
    A.connecting = 0;
    if (!A.warned) {
        DPRINT(1,
               "pscom: mqtt: broker %s unreachable (%d); retrying in "
               "the background, communication continues",
               A.broker.uri, resp ? resp->code : 0);
        A.warned = 1;
    }
    schedule_retry();
    pthread_mutex_unlock(&A.lock);
}

static void on_lost(void *ctx, char *cause)
{
    (void)ctx;
    pthread_mutex_lock(&A.lock);
    A.connected = 0;
    A.warned = 1;
    pthread_mutex_unlock(&A.lock);
    /* paho reconnects by itself (automaticReconnect). */
    DPRINT(1, "pscom: mqtt: lost the broker %s%s%s; reconnecting", A.broker.uri,
           cause ? ": " : "", cause ? cause : "");
}

/* Without A.lock (it calls paho); the caller set A.connecting. */
static void start_connect(void)
{
    MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer;
    MQTTAsync_willOptions will = MQTTAsync_willOptions_initializer;
    int rc;

    will.topicName = A.status_topic;
    will.message = A.will;
    will.retained = 1;
    will.qos = 1;
    co.keepAliveInterval = KEEPALIVE_S;
    /* A persistent session: while we are away the broker keeps our
     * subscription and queues QoS 1 requests (the framework's "resume"
     * during a migration) for us. */
    co.cleansession = 0;
    co.connectTimeout = 5;
    co.automaticReconnect = 1;
    co.minRetryInterval = RETRY_FIRST_S;
    co.maxRetryInterval = RETRY_MAX_S;
    co.onFailure = on_connect_failure;
    co.will = &will;
    rc = MQTTAsync_connect(A.client, &co);
    if (rc != MQTTASYNC_SUCCESS) {
        pthread_mutex_lock(&A.lock);
        A.connecting = 0;
        schedule_retry();
        pthread_mutex_unlock(&A.lock);
    }
}

void pscom_mqtt_tick(void)
{
    int go;

    answers_pump();
    pthread_mutex_lock(&A.lock);
    go = A.client && !A.connected && !A.connecting && A.retry_at &&
         time(NULL) >= A.retry_at;
    if (go) {
        A.retry_at = 0;
        A.connecting = 1;
    }
    pthread_mutex_unlock(&A.lock);
    if (go) {
        start_connect();
    }
}

/* ---- life cycle ------------------------------------------------------------- */

int pscom_mqtt_start(void)
{
    MQTTAsync_createOptions cro = MQTTAsync_createOptions_initializer;
    const char *b = pscom_env.mqtt_broker;
    char id[64];

    if (mqttproto_broker_parse(b, &A.broker)) {
        DPRINT(0,
               "pscom: mqtt: bad broker address '%s' (PSP_MQTT_BROKER: "
               "host:port or tcp://host:port)",
               b);
        return -1;
    }
    if (own_topic(A.req_topic, pscom_env.mqtt_request_topic,
                  "PSP_MQTT_REQUEST_TOPIC") ||
        own_topic(A.resp_topic, pscom_env.mqtt_response_topic,
                  "PSP_MQTT_RESPONSE_TOPIC") ||
        own_topic(A.status_topic, pscom_env.mqtt_status_topic,
                  "PSP_MQTT_STATUS_TOPIC")) {
        return -1;
    }
    snprintf(A.will, sizeof(A.will), "{\"pid\":%d,\"state\":\"dead\"}",
             (int)getpid());
    snprintf(id, sizeof(id), "pscom-%d-%lx", (int)getpid(),
             (unsigned long)time(NULL));
    cro.sendWhileDisconnected = 1;
    cro.maxBufferedMessages = 256;
    if (MQTTAsync_createWithOptions(&A.client, A.broker.uri, id,
                                    MQTTCLIENT_PERSISTENCE_NONE, NULL,
                                    &cro) != MQTTASYNC_SUCCESS) {
        DPRINT(0,
               "pscom: mqtt: bad broker address '%s' (PSP_MQTT_BROKER: "
               "host:port or tcp://host:port)",
               b);
        A.client = NULL;
        return -1;
    }
    MQTTAsync_setCallbacks(A.client, NULL, on_lost, on_message, NULL);
    MQTTAsync_setConnected(A.client, NULL, on_connected);
    pthread_mutex_lock(&A.lock);
    A.connecting = 1;
    pthread_mutex_unlock(&A.lock);
    start_connect();
    return 0;
}

void pscom_mqtt_stop(void)
{
    MQTTAsync_disconnectOptions dopt = MQTTAsync_disconnectOptions_initializer;
    char gone[128];
    int connected;

    if (!A.client) {
        return;
    }
    pthread_mutex_lock(&A.lock);
    connected = A.connected;
    pthread_mutex_unlock(&A.lock);
    if (connected) {
        /* The worker is gone: publish the answers it queued (bounded);
         * the status is replaced by "exited" below. */
        free(A.status_out);
        A.status_out = NULL;
        for (int i = 0; i < 100 && A.q_head; i++) {
            answers_pump();
            usleep(10000);
        }
        /* A clean exit sends no last will: say it ourselves. */
        snprintf(gone, sizeof(gone), "{\"pid\":%d,\"state\":\"exited\"}",
                 (int)getpid());
        publish(A.status_topic, gone, 1);
        dopt.timeout = 1000;
        MQTTAsync_disconnect(A.client, &dopt);
        for (int i = 0; i < 100 && MQTTAsync_isConnected(A.client); i++) {
            usleep(10000);
        }
    }
    if (A.q_head) {
        DPRINT(1, "pscom: mqtt: exiting with answers not yet published");
    }
    MQTTAsync_destroy(&A.client);
    A.client = NULL;
    answers_free();
    free(A.status_out);
    A.status_out = NULL;
    free(A.status);
    A.status = NULL;
}

/* Subscribe to requests with QoS 0 while running and QoS 1 while
 * suspended. Suspended, the process is about to migrate: the broker must
 * queue the "resume" it cannot deliver while our link is down (QoS 1
 * requests are queued for a persistent session, QoS 0 ones dropped).
 * Running, QoS 0 is enough and spares the PUBACKs. */
static void set_qos(int qos)
{
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;

    int now;

    pthread_mutex_lock(&A.lock);
    now = A.sub_qos != qos && A.connected;
    A.sub_qos = qos; /* a (re)connect subscribes with it */
    pthread_mutex_unlock(&A.lock);
    if (now) {
        ro.onFailure = on_subscribe_failure;
        MQTTAsync_subscribe(A.client, A.req_topic, qos, &ro);
    }
}

void pscom_mqtt_answer(const char *word)
{
    answer_queue(word);
    answers_pump();
    /* After the answer: unless answers queue up, it goes out first. */
    set_qos(strcmp(word, "ALLOWED") == 0 ? 1 : 0);
}

void pscom_mqtt_status(const char *json)
{
    char *copy = strdup(json);
    char *out = strdup(json);

    pthread_mutex_lock(&A.lock);
    if (copy) {
        free(A.status);
        A.status = copy;
    }
    pthread_mutex_unlock(&A.lock);
    /* Only the latest status matters: one waiting is replaced. */
    if (out) {
        free(A.status_out);
        A.status_out = out;
    }
    answers_pump();
}
