/*
 * env.h -- the table of PSP_* environment variables (private to lib/core).
 *
 * Every variable the library reads is one row in env.c (or a row a plugin
 * registers through pscom_plugin_t.env_rows). Adding a setting means adding
 * one row and one field in struct pscom_env.
 */
#ifndef PSCOM_ENV_H_
#define PSCOM_ENV_H_

#include <stdio.h>

#include "plugin.h"

/** Values of the core's variables after pscom_env_load(). */
struct pscom_env {
    int debug;
    char *debug_out;
    unsigned int rendezvous;
    char *network;
    int retry;
    int guard;
    int tcp_nodelay;
    unsigned int so_sndbuf;
    unsigned int so_rcvbuf;
    int unexpected_receives;
    int sched_yield;
    int sigsuspend;
    int suspend_resume;
    int postpone_feedback;
    int suspend_tcp;
    unsigned int suspend_timeout;
    unsigned int resume_timeout;
    char *mqtt_broker;
    char *mqtt_request_topic;
    char *mqtt_response_topic;
    char *mqtt_status_topic;
    char *plugindir;
    char *plugins;
    unsigned int prio_tcp;
    unsigned int prio_shm;
    unsigned int shm_stall_ms;
    int shm_bulk;
    unsigned int shm_bulk_threshold;
    unsigned int shm_bulk_slot;
    unsigned int shm_bulk_slots;
    unsigned int shm_bulk_idle_ms;
    unsigned int spin_us;
    unsigned int handshake_timeout;
    unsigned int handshake_max;
    int mem_checksum;
};

extern struct pscom_env pscom_env;

/** Where a value came from. */
enum pscom_env_origin {
    PSCOM_ENV_DEFAULT,
    PSCOM_ENV_FROM_ENV,
    PSCOM_ENV_BAD, /* set but rejected: default kept */
};

/** Parse text as a value of type into *value. Returns 0, or -1 (value
 * untouched) if text is not a valid value of that type. */
int pscom_env_parse(pscom_env_type_t type, const char *text, void *value);

/** Apply defaults, then the environment, to every row (once; later calls
 * re-read the environment). Bad values are rejected with a warning. */
void pscom_env_load(void);

/** Add rows (a plugin's); their values are set from default/environment
 * at once. rows must stay valid. Returns 0 or -1 if the table is full. */
int pscom_env_register(const pscom_env_row_t *rows, unsigned int count);

/** Print every row: name, value, origin, help. */
void pscom_env_dump(FILE *out);

/** Look up the origin of a variable (for tests and dumps). */
enum pscom_env_origin pscom_env_origin_of(const char *name);

#endif /* PSCOM_ENV_H_ */
