/*
 * env.c -- the PSP_* table: one row per variable, with type, default and
 * help text, so that pscom_info can print all of them.
 */
#include <config.h>

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "mqttproto.h"
#include "pscom_priv.h"
#include "ring.h"

struct pscom_env pscom_env;

/* The table is laid out by hand, a variable a row: clang-format would
 * break every row's help text differently. */
// clang-format off
#define ROW(n, t, d, h, f) {n, t, d, h, &pscom_env.f}

static const pscom_env_row_t core_rows[] = {
    ROW("PSP_DEBUG", PSCOM_ENV_INT, "1",
        "debug level: 0 errors, 1 warnings, 2 connection set-up and "
        "refusals, 3+ more", debug),
    ROW("PSP_DEBUG_OUT", PSCOM_ENV_STR, "",
        "file for debug output (default: stderr)", debug_out),
    ROW("PSP_RENDEZVOUS", PSCOM_ENV_UINT, "4294967295",
        "message size from which transports with a rendezvous protocol "
        "use it; loop and tcp stream every message and ignore it",
        rendezvous),
    ROW("PSP_NETWORK", PSCOM_ENV_STR, "",
        "network (e.g. 10.0.2.0) whose local address is the node id; "
        "default: the address of the hostname", network),
    ROW("PSP_RETRY", PSCOM_ENV_INT, "5",
        "connect retries after ECONNREFUSED (delays 10 ms doubling up to "
        "200 ms)", retry),
    ROW("PSP_HANDSHAKE_TIMEOUT", PSCOM_ENV_UINT, "10000",
        "milliseconds an accepted connection may take for its hand-shake "
        "(not counting the time it waits parked for the application or a "
        "resume); then it is closed (0: no limit)", handshake_timeout),
    ROW("PSP_HANDSHAKE_MAX", PSCOM_ENV_UINT, "256",
        "accepted connections in hand-shake at once per listening socket; "
        "further ones wait in the kernel's backlog (0: no limit)",
        handshake_max),
    ROW("PSP_GUARD", PSCOM_ENV_INT, "1",
        "watch the TCP control socket of non-tcp connections so that a "
        "dead peer is noticed (0: do not)", guard),
    ROW("PSP_TCP_NODELAY", PSCOM_ENV_INT, "1",
        "set TCP_NODELAY on tcp connections", tcp_nodelay),
    ROW("PSP_SO_SNDBUF", PSCOM_ENV_UINT, "0",
        "SO_SNDBUF of tcp connections in bytes (0: system default)",
        so_sndbuf),
    ROW("PSP_SO_RCVBUF", PSCOM_ENV_UINT, "0",
        "SO_RCVBUF of tcp connections in bytes (0: system default)",
        so_rcvbuf),
    ROW("PSP_UNEXPECTED_RECEIVES", PSCOM_ENV_INT, "1",
        "1: keep messages that arrive before a matching receive (one "
        "buffer each); 0: stop reading a tcp connection while no receive "
        "is posted that could take its messages", unexpected_receives),
    ROW("PSP_SCHED_YIELD", PSCOM_ENV_INT, "0",
        "call sched_yield() in busy-poll loops", sched_yield),
    ROW("PSP_SPIN_US", PSCOM_ENV_UINT, "50",
        "microseconds without progress a blocking wait polls before it "
        "sleeps (20 times as long while its transfer is under way); on a "
        "memory transport it yields the CPU between polls after that "
        "(pscom_wait_any(): counted across calls), or sleeps until a "
        "doorbell rings (PSP_IVSHMEM_DOORBELL)",
        spin_us),
    ROW("PSP_SIGSUSPEND", PSCOM_ENV_INT, "0",
        "signal that toggles the process-wide suspend of connections that "
        "cannot migrate (0: none)", sigsuspend),
    ROW("PSP_SUSPEND_RESUME", PSCOM_ENV_INT, "0",
        "1: run the MQTT suspend/resume agent (and the suspend worker "
        "thread; the library then locks as under PSCOM_THREAD_MULTIPLE)",
        suspend_resume),
    ROW("PSP_POSTPONE_FEEDBACK", PSCOM_ENV_INT, "0",
        "1: answer COMPLETED to an MQTT resume only when the connections "
        "are up again (FAILED if not within PSP_SUSPEND_TIMEOUT)",
        postpone_feedback),
    ROW("PSP_SUSPEND_TIMEOUT", PSCOM_ENV_UINT, "10000",
        "milliseconds a process-wide suspend waits for the connections to "
        "drain (else no ALLOWED), and a postponed resume for them to be up "
        "again (else FAILED)", suspend_timeout),
    ROW("PSP_RESUME_TIMEOUT", PSCOM_ENV_UINT, "120000",
        "milliseconds a resumed connection keeps reconnecting to a peer "
        "that refuses it before the connection fails", resume_timeout),
    ROW("PSP_SUSPEND_TCP", PSCOM_ENV_INT, "0",
        "1: the process-wide suspend also suspends tcp connections (by "
        "default only those whose transport cannot migrate)", suspend_tcp),
    ROW("PSP_MQTT_BROKER", PSCOM_ENV_STR, MQTTPROTO_BROKER_DEFAULT,
        "MQTT broker of the suspend/resume agent: host:port or "
        "tcp://host:port", mqtt_broker),
    ROW("PSP_MQTT_REQUEST_TOPIC", PSCOM_ENV_STR,
        MQTTPROTO_REQUEST_TOPIC,
        "topic the agent subscribes to (<hostname>, <pid> are replaced)",
        mqtt_request_topic),
    ROW("PSP_MQTT_RESPONSE_TOPIC", PSCOM_ENV_STR,
        MQTTPROTO_RESPONSE_TOPIC,
        "topic of the agent's answers (<pid> : ALLOWED / COMPLETED)",
        mqtt_response_topic),
    ROW("PSP_MQTT_STATUS_TOPIC", PSCOM_ENV_STR,
        MQTTPROTO_STATUS_TOPIC,
        "retained JSON status of the process (state, each connection's "
        "transport); the MQTT last will says {\"state\":\"dead\"}",
        mqtt_status_topic),
    ROW("PSP_PLUGINDIR", PSCOM_ENV_DIR, "",
        "directory searched first for libpscom4<name>.so plugins", plugindir),
    ROW("PSP_PLUGINS", PSCOM_ENV_STR, "",
        "extra plugin names to load, comma separated (ivshmem is always "
        "tried)", plugins),
    ROW("PSP_TCP", PSCOM_ENV_UINT, "2",
        "priority of tcp; 0: tcp carries no data (a plugin must agree)",
        prio_tcp),
    ROW("PSP_SHM", PSCOM_ENV_UINT, "90",
        "priority of the shm transport (same OS); 0 disables it", prio_shm),
    ROW("PSP_SHM_STALL_MS", PSCOM_ENV_UINT, "1000",
        "milliseconds a receive ring (shm, ivshmem) may find no chunk "
        "header where its producer announced data before the connection "
        "fails as overwritten; 0: never", shm_stall_ms),
    ROW("PSP_IVSHMEM_CHECKSUM", PSCOM_ENV_INT, "0",
        "1: a CRC32C after every message of the memory transports (shm "
        "and ivshmem), so that memory changed under a connection fails it "
        "instead of delivering wrong data; used when either side asks",
        mem_checksum),
    ROW("PSP_SHM_BULK", PSCOM_ENV_INT, "1",
        "large messages over shm and ivshmem go through a bulk area beside "
        "the ring (0: all through the ring)", shm_bulk),
    ROW("PSP_SHM_BULK_THRESHOLD", PSCOM_ENV_UINT, "0",
        "bytes of data from which a message takes the bulk area; 0: a "
        "quarter of the area (256 KiB with a 1 MiB L2 cache)",
        shm_bulk_threshold),
    ROW("PSP_SHM_BULK_SLOT", PSCOM_ENV_UINT, "0",
        "bytes per slot of a bulk area (rounded up to 4 KiB); 0: 64 KiB",
        shm_bulk_slot),
    ROW("PSP_SHM_BULK_SLOTS", PSCOM_ENV_UINT, "0",
        "slots of a bulk area (4-64); 0: as many as fill the L2 cache",
        shm_bulk_slots),
    ROW("PSP_SHM_BULK_IDLE_MS", PSCOM_ENV_UINT, "100",
        "milliseconds without a large message after which a connection "
        "gives its bulk area back", shm_bulk_idle_ms),
};
// clang-format on
_Static_assert(RING_STALL_DEFAULT_MS == 1000, "PSP_SHM_STALL_MS default");

#define ROWS_MAX 64

struct env_entry {
    const pscom_env_row_t *row;
    enum pscom_env_origin origin;
    char *owned; /* malloc'd value of a DIR row */
};

static struct env_entry table[ROWS_MAX];
static unsigned int table_len;

static int parse_long(const char *text, long long min, long long max,
                      long long *out)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(text, &end, 0);
    if (errno || end == text) {
        return -1;
    }
    switch (*end) {
    case 'k':
    case 'K':
        v *= 1024;
        end++;
        break;
    case 'm':
    case 'M':
        v *= 1024 * 1024;
        end++;
        break;
    case 'g':
    case 'G':
        v *= 1024LL * 1024 * 1024;
        end++;
        break;
    default:
        break;
    }
    if (*end != '\0' || v < min || v > max) {
        return -1;
    }
    *out = v;
    return 0;
}

int pscom_env_parse(pscom_env_type_t type, const char *text, void *value)
{
    long long v;
    size_t len;
    char *s;

    switch (type) {
    case PSCOM_ENV_INT:
        if (parse_long(text, INT_MIN, INT_MAX, &v)) {
            return -1;
        }
        *(int *)value = (int)v;
        return 0;
    case PSCOM_ENV_UINT:
        if (parse_long(text, 0, UINT_MAX, &v)) {
            return -1;
        }
        *(unsigned int *)value = (unsigned int)v;
        return 0;
    case PSCOM_ENV_STR:
        *(const char **)value = text;
        return 0;
    case PSCOM_ENV_DIR:
        len = strlen(text);
        s = malloc(len + 2);
        if (!s) {
            return -1;
        }
        memcpy(s, text, len + 1);
        if (len == 0 || text[len - 1] != '/') {
            if (len) {
                s[len] = '/';
                s[len + 1] = '\0';
            }
        }
        *(char **)value = s;
        return 0;
    }
    return -1;
}

static void load_row(struct env_entry *e)
{
    const pscom_env_row_t *row = e->row;
    const char *text = pscom_env_get(row->name);
    const char *src = row->defval;
    union {
        int i;
        unsigned int u;
    } probe;

    e->origin = PSCOM_ENV_DEFAULT;
    if (text) {
        if (row->type == PSCOM_ENV_DIR || row->type == PSCOM_ENV_STR ||
            pscom_env_parse(row->type, text, &probe) == 0) {
            src = text;
            e->origin = PSCOM_ENV_FROM_ENV;
        } else {
            e->origin = PSCOM_ENV_BAD;
            DPRINT(0, "pscom: ignoring bad value %s='%s' (using default %s)",
                   row->name, text, row->defval);
        }
    }
    if (row->type == PSCOM_ENV_DIR) {
        /* The table owns directory strings: free the previous one. */
        free(e->owned);
        e->owned = NULL;
        pscom_env_parse(PSCOM_ENV_DIR, src, &e->owned);
        *(char **)row->value = e->owned;
        return;
    }
    if (pscom_env_parse(row->type, src, row->value)) {
        /* A bad default is a bug in the table. */
        DPRINT(0, "pscom: internal: bad default '%s' for %s", src, row->name);
    }
}

static void add_rows(const pscom_env_row_t *rows, unsigned int count)
{
    for (unsigned int i = 0; i < count && table_len < ROWS_MAX; i++) {
        table[table_len].row = &rows[i];
        load_row(&table[table_len]);
        table_len++;
    }
}

void pscom_env_load(void)
{
    if (table_len == 0) {
        add_rows(core_rows, sizeof(core_rows) / sizeof(core_rows[0]));
        return;
    }
    for (unsigned int i = 0; i < table_len; i++) {
        load_row(&table[i]);
    }
}

int pscom_env_register(const pscom_env_row_t *rows, unsigned int count)
{
    if (table_len + count > ROWS_MAX) {
        DPRINT(1, "pscom: too many environment rows (max %d)", ROWS_MAX);
        return -1;
    }
    add_rows(rows, count);
    return 0;
}

static const char *origin_str(enum pscom_env_origin o)
{
    switch (o) {
    case PSCOM_ENV_FROM_ENV:
        return "environment";
    case PSCOM_ENV_BAD:
        return "default (bad value in environment ignored)";
    default:
        return "default";
    }
}

enum pscom_env_origin pscom_env_origin_of(const char *name)
{
    for (unsigned int i = 0; i < table_len; i++) {
        if (strcmp(table[i].row->name, name) == 0) {
            return table[i].origin;
        }
    }
    return PSCOM_ENV_DEFAULT;
}

void pscom_env_dump(FILE *out)
{
    for (unsigned int i = 0; i < table_len; i++) {
        const pscom_env_row_t *row = table[i].row;
        char val[64];

        switch (row->type) {
        case PSCOM_ENV_INT:
            snprintf(val, sizeof(val), "%d", *(int *)row->value);
            break;
        case PSCOM_ENV_UINT:
            snprintf(val, sizeof(val), "%u", *(unsigned int *)row->value);
            break;
        default:
            snprintf(val, sizeof(val), "\"%s\"",
                     *(char **)row->value ? *(char **)row->value : "");
            break;
        }
        fprintf(out, "  %-24s = %-12s [%s]\n      %s\n", row->name, val,
                origin_str(table[i].origin), row->help);
    }
}

/* ---- public getters ------------------------------------------------------ */

/* 0x0200: replaceable hooks; the table and the getters read through them. */
char *(*pscom_env_get)(const char *name) = getenv;
int (*pscom_env_set)(const char *name, const char *value,
                     int overwrite) = setenv;

void pscom_env_get_int(int *val, const char *name)
{
    const char *text = pscom_env_get(name);

    if (text && pscom_env_parse(PSCOM_ENV_INT, text, val)) {
        DPRINT(1, "pscom: ignoring bad integer %s='%s'", name, text);
    }
}

void pscom_env_get_uint(unsigned int *val, const char *name)
{
    const char *text = pscom_env_get(name);

    if (text && pscom_env_parse(PSCOM_ENV_UINT, text, val)) {
        DPRINT(1, "pscom: ignoring bad unsigned %s='%s'", name, text);
    }
}

void pscom_env_get_str(char **val, const char *name)
{
    const char *text = pscom_env_get(name);

    if (text) {
        *val = (char *)text;
    }
}

void pscom_env_get_dir(char **val, const char *name)
{
    const char *text = pscom_env_get(name);

    if (text) {
        pscom_env_parse(PSCOM_ENV_DIR, text, val);
    }
}
