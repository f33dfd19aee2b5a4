/*
 * mqttproto.c -- broker addresses, topic templates, requests and answers
 * of the suspend/resume protocol (see mqttproto.h).
 */
#include <config.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqttproto.h"

static const char *const word_names[] = {
    [MQTTPROTO_ALLOWED] = "ALLOWED",
    [MQTTPROTO_COMPLETED] = "COMPLETED",
    [MQTTPROTO_FAILED] = "FAILED",
};
#define WORDS_END ((int)(sizeof(word_names) / sizeof(word_names[0])))

/* Copy n bytes of s and a NUL into out, which must hold all of it. */
static int put(char *out, size_t size, const char *s, size_t n)
{
    if (n >= size) {
        return -ENAMETOOLONG;
    }
    memcpy(out, s, n);
    out[n] = '\0';
    return 0;
}

/* A port: 1..65535 in decimal, nothing else. */
static int port_ok(const char *s)
{
    unsigned long v = 0;

    if (!*s || strlen(s) > 5) {
        return 0;
    }
    for (; *s; s++) {
        if (!isdigit((unsigned char)*s)) {
            return 0;
        }
        v = v * 10 + (unsigned long)(*s - '0');
    }
    return v >= 1 && v <= 65535;
}

/* "host", "host:port", "[v6]" or "[v6]:port" (no scheme) into b->host
 * and b->port. */
static int split_hostport(const char *s, struct mqttproto_broker *b)
{
    const char *host = s, *port = NULL;
    size_t hlen;

    if (*s == '[') {
        const char *close = strchr(s, ']');

        if (!close || close == s + 1 ||
            (close[1] && (close[1] != ':' || !close[2]))) {
            return -EINVAL;
        }
        host = s + 1;
        hlen = (size_t)(close - host);
        port = close[1] ? close + 2 : NULL;
    } else {
        const char *colon = strchr(s, ':');

        if (colon && strchr(colon + 1, ':')) {
            return -EINVAL; /* a v6 address needs its brackets */
        }
        hlen = colon ? (size_t)(colon - s) : strlen(s);
        port = colon ? colon + 1 : NULL;
    }
    if (hlen == 0 || (port && !port_ok(port))) {
        return -EINVAL;
    }
    if (put(b->host, sizeof(b->host), host, hlen) ||
        put(b->port, sizeof(b->port), port ? port : MQTTPROTO_PORT_DEFAULT,
            strlen(port ? port : MQTTPROTO_PORT_DEFAULT))) {
        return -ENAMETOOLONG;
    }
    return 0;
}

int mqttproto_broker_parse(const char *broker, struct mqttproto_broker *b)
{
    const char *scheme_end, *rest;
    int rc;

    if (!broker || !*broker) {
        return -EINVAL;
    }
    for (const char *p = broker; *p; p++) {
        if (!isgraph((unsigned char)*p)) {
            return -EINVAL;
        }
    }
    scheme_end = strstr(broker, "://");
    rest = scheme_end ? scheme_end + 3 : broker;
    if (scheme_end == broker) {
        return -EINVAL;
    }
    rc = split_hostport(rest, b);
    if (rc) {
        return rc;
    }
    /* A URI goes to paho as it is; host[:port] becomes tcp://host:port. */
    if (scheme_end) {
        rc = snprintf(b->uri, sizeof(b->uri), "%s", broker);
    } else if (*broker == '[') {
        rc = snprintf(b->uri, sizeof(b->uri), "tcp://[%s]:%s", b->host,
                      b->port);
    } else {
        rc = snprintf(b->uri, sizeof(b->uri), "tcp://%s:%s", b->host, b->port);
    }
    return rc < 0 || (size_t)rc >= sizeof(b->uri) ? -ENAMETOOLONG : 0;
}

/* A value put into one topic level: it must stay one level and must not
 * become a wildcard by accident ("+" alone is the wildcard on purpose). */
static int level_ok(const char *v)
{
    if (!v || !*v) {
        return 0;
    }
    if (strcmp(v, "+") == 0) {
        return 1;
    }
    return strpbrk(v, "/#+") == NULL;
}

int mqttproto_topic(char *out, size_t size, const char *tmpl, const char *host,
                    const char *pid)
{
    size_t used = 0;

    if (!tmpl || !*tmpl || !level_ok(host) || !level_ok(pid)) {
        return -EINVAL;
    }
    while (*tmpl) {
        const char *add = tmpl;
        size_t n = 1, skip = 1;

        if (strncmp(tmpl, "<hostname>", 10) == 0) {
            add = host;
            n = strlen(host);
            skip = 10;
        } else if (strncmp(tmpl, "<pid>", 5) == 0) {
            add = pid;
            n = strlen(pid);
            skip = 5;
        }
        if (used + n + 1 > size) {
            return -ENAMETOOLONG;
        }
        memcpy(out + used, add, n);
        used += n;
        tmpl += skip;
    }
    out[used] = '\0';
    return 0;
}

/* A pid list: decimal numbers separated by blanks. 1 if pid is in it,
 * 0 if not, -EINVAL if s is not such a list. */
static int pid_list_has(const char *s, int pid)
{
    int found = 0, any = 0;

    while (*s) {
        char *end;
        long v;

        if (*s == ' ' || *s == '\t') {
            s++;
            continue;
        }
        if (!isdigit((unsigned char)*s)) {
            return -EINVAL;
        }
        v = strtol(s, &end, 10);
        if (end - s > 10 || (*end && *end != ' ' && *end != '\t')) {
            return -EINVAL;
        }
        found |= v == pid;
        any = 1;
        s = end;
    }
    return any ? found : -EINVAL;
}

int mqttproto_request_parse(const char *payload, size_t len, int pid)
{
    char buf[MQTTPROTO_REQUEST_MAX + 1];
    char *s, *e;

    if (len > MQTTPROTO_REQUEST_MAX) {
        return -E2BIG;
    }
    if (len) {
        /* An empty payload may come as a NULL pointer. */
        memcpy(buf, payload, len);
    }
    buf[len] = '\0';
    for (size_t i = 0; i < len; i++) {
        if (buf[i] == '\0' || (!isprint((unsigned char)buf[i]) &&
                               !isspace((unsigned char)buf[i]))) {
            return -EILSEQ;
        }
    }
    s = buf;
    while (isspace((unsigned char)*s)) {
        s++;
    }
    e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) {
        *--e = '\0';
    }
    if (strcmp(s, "suspend") == 0) {
        return MQTTPROTO_SUSPEND;
    }
    if (strcmp(s, "resume") == 0) {
        return MQTTPROTO_RESUME;
    }
    if (strcmp(s, "*") == 0) {
        return MQTTPROTO_TOGGLE;
    }
    switch (pid_list_has(s, pid)) {
    case 1:
        return MQTTPROTO_TOGGLE;
    case 0:
        return 0;
    default:
        return -EINVAL;
    }
}

const char *mqttproto_word_name(enum mqttproto_word w)
{
    return (int)w > 0 && (int)w < WORDS_END ? word_names[w] : NULL;
}

static int word_of(const char *s, size_t len)
{
    for (int w = 1; w < WORDS_END; w++) {
        if (strlen(word_names[w]) == len &&
            strncmp(word_names[w], s, len) == 0) {
            return w;
        }
    }
    return -EINVAL;
}

int mqttproto_answer_format(char *out, size_t size, int pid, const char *word)
{
    int n;

    if (pid <= 0 || !word || word_of(word, strlen(word)) < 0) {
        return -EINVAL;
    }
    n = snprintf(out, size, "%d : %s", pid, word);
    return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : n;
}

int mqttproto_answer_parse(const char *payload, size_t len, int *pid)
{
    const char *p = payload, *end = payload + len, *w;
    long v = 0;

    if (!payload || len == 0) {
        return -EINVAL;
    }
    while (end > p && isspace((unsigned char)end[-1])) {
        end--;
    }
    if (p == end || !isdigit((unsigned char)*p)) {
        return -EINVAL;
    }
    for (; p < end && isdigit((unsigned char)*p); p++) {
        v = v * 10 + (*p - '0');
        if (v > 0x7fffffff) {
            return -EINVAL;
        }
    }
    while (p < end && (*p == ' ' || *p == '\t')) {
        p++;
    }
    if (p == end || *p++ != ':') {
        return -EINVAL;
    }
    while (p < end && (*p == ' ' || *p == '\t')) {
        p++;
    }
    w = p;
    if (v == 0 || word_of(w, (size_t)(end - w)) < 0) {
        return -EINVAL;
    }
    *pid = (int)v;
    return word_of(w, (size_t)(end - w));
}
