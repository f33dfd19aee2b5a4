/*
 * mqttproto.h -- the text formats of the suspend/resume protocol over
 * MQTT (doc/suspend.md), in one place for both of its sides: the agent in
 * libpscom (lib/core/mqtt_agent.c) and the framework's tool
 * bin/pscom-migrate.
 *
 * Pure string functions: no paho, no globals, no logging (the caller
 * says what went wrong, in its own words). Errors are negative errno
 * codes.
 */
#ifndef MQTTPROTO_H_
#define MQTTPROTO_H_

#include <stddef.h>

/** The broker when none is given (PSP_MQTT_BROKER, pscom-migrate -b). */
#define MQTTPROTO_BROKER_DEFAULT "localhost:1883"
/** Port of a broker address without one. */
#define MQTTPROTO_PORT_DEFAULT "1883"

/* Topic templates of the FAST framework; <hostname> and <pid> are
 * replaced (mqttproto_topic()). The agent's defaults of
 * PSP_MQTT_{REQUEST,RESPONSE,STATUS}_TOPIC: */
#define MQTTPROTO_REQUEST_TOPIC "fast/pscom/<hostname>/+/request"
#define MQTTPROTO_RESPONSE_TOPIC "fast/pscom/<hostname>/<pid>/response"
#define MQTTPROTO_STATUS_TOPIC "fast/pscom/<hostname>/<pid>/status"
/** Where the framework publishes a request for every process of a host
 * (it matches MQTTPROTO_REQUEST_TOPIC's "+"). */
#define MQTTPROTO_REQUEST_TO_ALL "fast/pscom/<hostname>/any_proc/request"

/** Room for an expanded topic or a broker URI. */
#define MQTTPROTO_TOPIC_MAX 512

/** A broker address taken apart. */
struct mqttproto_broker {
    char uri[MQTTPROTO_TOPIC_MAX]; /* for paho: scheme://host:port */
    char host[256];                /* without the brackets of [v6] */
    char port[8];
};

/** Parse a broker address: "host", "host:port", "[v6addr]:port" or a URI
 * "scheme://host[:port]" (taken as it is for paho). A missing port is
 * MQTTPROTO_PORT_DEFAULT. Returns 0, -EINVAL when it is malformed (empty,
 * blanks, a port that is not 1..65535, an unbracketed address with
 * several colons) or -ENAMETOOLONG. */
int mqttproto_broker_parse(const char *broker, struct mqttproto_broker *b);

/** Expand a topic template into out (size bytes): "<hostname>" becomes
 * host and "<pid>" becomes pid (digits, or the wildcard "+"). Returns 0,
 * -EINVAL when the template is empty or a value could change the topic's
 * levels (empty, or has '/', '#', or a '+' that is not the whole value),
 * -ENAMETOOLONG when the result does not fit. */
int mqttproto_topic(char *out, size_t size, const char *tmpl, const char *host,
                    const char *pid);

/** The requests the framework publishes. */
enum mqttproto_request {
    MQTTPROTO_SUSPEND = 1, /* "suspend" */
    MQTTPROTO_RESUME,      /* "resume" */
    MQTTPROTO_TOGGLE,      /* "*", or a list of pids with this one */
};

/** Largest request payload accepted; longer ones are refused. */
#define MQTTPROTO_REQUEST_MAX 4096

/** Parse a request payload (len bytes, not NUL-terminated; blanks around
 * it do not count) for process pid: "suspend", "resume", "*" or decimal
 * pids separated by blanks. Returns the request (enum mqttproto_request),
 * 0 for a pid list without pid, -E2BIG when it is longer than
 * MQTTPROTO_REQUEST_MAX, -EILSEQ for binary data (a NUL, control
 * characters), -EINVAL for other text (an unknown word, empty). */
int mqttproto_request_parse(const char *payload, size_t len, int pid);

/** The answers a process publishes on its response topic. */
enum mqttproto_word {
    MQTTPROTO_ALLOWED = 1, /* suspended: it may migrate */
    MQTTPROTO_COMPLETED,   /* resumed */
    MQTTPROTO_FAILED,      /* resumed, but connections did not come back */
};

/** "ALLOWED", ... or NULL for a value outside the enum. */
const char *mqttproto_word_name(enum mqttproto_word w);

/** The answer "<pid> : <word>" for word ("ALLOWED", "COMPLETED" or
 * "FAILED"). Returns its length, -EINVAL for another word or pid <= 0,
 * -ENAMETOOLONG when it does not fit. */
int mqttproto_answer_format(char *out, size_t size, int pid, const char *word);

/** Parse an answer payload (len bytes, not NUL-terminated):
 * "<pid> : <word>", blanks around the colon optional, trailing blanks
 * allowed. Returns the word (enum mqttproto_word) and sets *pid, or
 * -EINVAL when it is not such an answer. */
int mqttproto_answer_parse(const char *payload, size_t len, int *pid);

#endif /* MQTTPROTO_H_ */
