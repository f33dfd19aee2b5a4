/*
 * test_mqttproto.c -- lib/mqttproto: broker addresses, topic templates,
 * answers and requests, well-formed and malformed.
 */
#include <errno.h>
#include <string.h>

#include "mqttproto.h"
#include "tap.h"

static void broker_ok(const char *in, const char *uri, const char *host,
                      const char *port)
{
    struct mqttproto_broker b;
    int rc = mqttproto_broker_parse(in, &b);

    tap_ok(rc == 0 && strcmp(b.uri, uri) == 0 && strcmp(b.host, host) == 0 &&
               strcmp(b.port, port) == 0,
           "broker '%s' -> %s (host %s, port %s)", in, uri, host, port);
}

static void broker_bad(const char *in, int want)
{
    struct mqttproto_broker b;

    tap_ok(mqttproto_broker_parse(in, &b) == want, "broker '%s' refused (%d)",
           in ? in : "(null)", want);
}

static void test_broker(void)
{
    char long_host[600];

    broker_ok("localhost", "tcp://localhost:1883", "localhost", "1883");
    broker_ok("127.0.0.1:4711", "tcp://127.0.0.1:4711", "127.0.0.1", "4711");
    broker_ok("tcp://broker.example:1884", "tcp://broker.example:1884",
              "broker.example", "1884");
    broker_ok("tcp://broker.example", "tcp://broker.example", "broker.example",
              "1883");
    broker_ok("[::1]:1885", "tcp://[::1]:1885", "::1", "1885");
    broker_ok("[::1]", "tcp://[::1]:1883", "::1", "1883");
    broker_ok("tcp://[fe80::1]:1886", "tcp://[fe80::1]:1886", "fe80::1",
              "1886");
    broker_ok(MQTTPROTO_BROKER_DEFAULT, "tcp://localhost:1883", "localhost",
              "1883");

    broker_bad(NULL, -EINVAL);
    broker_bad("", -EINVAL);
    broker_bad("host:", -EINVAL);
    broker_bad(":1883", -EINVAL);
    broker_bad("host:0", -EINVAL);
    broker_bad("host:65536", -EINVAL);
    broker_bad("host:12ab", -EINVAL);
    broker_bad("host:123456", -EINVAL);
    broker_bad("::1", -EINVAL);
    broker_bad("[::1", -EINVAL);
    broker_bad("[]:1883", -EINVAL);
    broker_bad("[::1]x", -EINVAL);
    broker_bad("[::1]:", -EINVAL);
    broker_bad("my host:1883", -EINVAL);
    broker_bad("host:1883\n", -EINVAL);
    broker_bad("://host:1883", -EINVAL);
    broker_bad("tcp://", -EINVAL);
    broker_bad("tcp://host:x", -EINVAL);
    memset(long_host, 'h', sizeof(long_host) - 1);
    long_host[sizeof(long_host) - 1] = '\0';
    broker_bad(long_host, -ENAMETOOLONG);
}

static void topic_is(const char *tmpl, const char *host, const char *pid,
                     const char *want)
{
    char out[MQTTPROTO_TOPIC_MAX];
    int rc = mqttproto_topic(out, sizeof(out), tmpl, host, pid);

    tap_ok(rc == 0 && strcmp(out, want) == 0, "topic '%s' (%s, %s) -> %s", tmpl,
           host, pid, want);
}

static void topic_bad(const char *tmpl, const char *host, const char *pid,
                      size_t size, int want)
{
    char out[MQTTPROTO_TOPIC_MAX];

    tap_ok(mqttproto_topic(out, size, tmpl, host, pid) == want,
           "topic '%s' (%s, %s, %zu bytes) refused (%d)", tmpl ? tmpl : "-",
           host ? host : "-", pid ? pid : "-", size, want);
}

static void test_topic(void)
{
    topic_is(MQTTPROTO_REQUEST_TOPIC, "n1", "42", "fast/pscom/n1/+/request");
    topic_is(MQTTPROTO_RESPONSE_TOPIC, "n1", "42", "fast/pscom/n1/42/response");
    topic_is(MQTTPROTO_STATUS_TOPIC, "n1", "+", "fast/pscom/n1/+/status");
    topic_is(MQTTPROTO_REQUEST_TO_ALL, "n1", "+",
             "fast/pscom/n1/any_proc/request");
    topic_is("t/<hostname>/<pid>/<pid>/<hostname>", "h", "7", "t/h/7/7/h");
    topic_is("no/placeholders", "h", "7", "no/placeholders");
    /* Not placeholders: left as they are. */
    topic_is("<host>/<pid/<<pid>>/<HOSTNAME>", "h", "7",
             "<host>/<pid/<7>/<HOSTNAME>");
    topic_is("<pid>", "h", "7", "7");
    /* Exactly fitting: 3 characters and the NUL. */
    topic_bad("a/<pid>", "h", "7", 3, -ENAMETOOLONG);
    {
        char out[4];

        tap_ok(mqttproto_topic(out, sizeof(out), "a/<pid>", "h", "7") == 0 &&
                   strcmp(out, "a/7") == 0,
               "a topic that just fits");
    }
    topic_bad("x/<hostname>", "h", "7", 1, -ENAMETOOLONG);
    topic_bad("x", "h", "7", 0, -ENAMETOOLONG);
    topic_bad(NULL, "h", "7", MQTTPROTO_TOPIC_MAX, -EINVAL);
    topic_bad("", "h", "7", MQTTPROTO_TOPIC_MAX, -EINVAL);
    topic_bad("a/<hostname>", "", "7", MQTTPROTO_TOPIC_MAX, -EINVAL);
    topic_bad("a/<hostname>", NULL, "7", MQTTPROTO_TOPIC_MAX, -EINVAL);
    topic_bad("a/<hostname>", "a/b", "7", MQTTPROTO_TOPIC_MAX, -EINVAL);
    topic_bad("a/<hostname>", "a#", "7", MQTTPROTO_TOPIC_MAX, -EINVAL);
    topic_bad("a/<hostname>", "a+", "7", MQTTPROTO_TOPIC_MAX, -EINVAL);
    topic_bad("a/<pid>", "h", "", MQTTPROTO_TOPIC_MAX, -EINVAL);
    topic_bad("a/<pid>", "h", "++", MQTTPROTO_TOPIC_MAX, -EINVAL);
}

static void answer_is(const char *payload, int word, int pid)
{
    int got = -1;
    int rc = mqttproto_answer_parse(payload, strlen(payload), &got);

    tap_ok(rc == word && got == pid, "answer '%s' -> %s of %d", payload,
           mqttproto_word_name((enum mqttproto_word)word), pid);
}

static void answer_bad(const char *payload, size_t len)
{
    int pid = -7;

    tap_ok(mqttproto_answer_parse(payload, len, &pid) == -EINVAL && pid == -7,
           "answer '%.*s' (%zu bytes) refused", (int)len,
           payload ? payload : "", len);
}

static void test_answer(void)
{
    char out[64];
    int n;

    answer_is("123 : ALLOWED", MQTTPROTO_ALLOWED, 123);
    answer_is("4 : COMPLETED", MQTTPROTO_COMPLETED, 4);
    answer_is("4 : FAILED", MQTTPROTO_FAILED, 4);
    answer_is("4:ALLOWED", MQTTPROTO_ALLOWED, 4);
    answer_is("4 :\tALLOWED \n", MQTTPROTO_ALLOWED, 4);
    answer_is("2147483647 : ALLOWED", MQTTPROTO_ALLOWED, 2147483647);
    /* Not NUL-terminated: only len bytes count. */
    tap_ok(mqttproto_answer_parse("9 : FAILEDxyz", 10, &n) ==
                   MQTTPROTO_FAILED &&
               n == 9,
           "an answer is len bytes, not up to a NUL");

    answer_bad(NULL, 0);
    answer_bad("", 0);
    answer_bad("ALLOWED", 7);
    answer_bad("0 : ALLOWED", 11);
    answer_bad("-4 : ALLOWED", 12);
    answer_bad(" 4 : ALLOWED", 12);
    answer_bad("4 ALLOWED", 9);
    answer_bad("4 : ", 4);
    answer_bad("4 : allowed", 11);
    answer_bad("4 : ALLOWEDX", 12);
    answer_bad("4 : ALLOWED x", 13);
    answer_bad("4 : REFUSED", 11);
    answer_bad("4x : ALLOWED", 12);
    answer_bad("2147483648 : ALLOWED", 20);
    answer_bad("99999999999999999999 : ALLOWED", 30);
    answer_bad("4 : ALL\0WED", 11);

    n = mqttproto_answer_format(out, sizeof(out), 321, "COMPLETED");
    tap_ok(n == 15 && strcmp(out, "321 : COMPLETED") == 0,
           "format 321 COMPLETED");
    tap_ok(mqttproto_answer_parse(out, (size_t)n, &n) == MQTTPROTO_COMPLETED &&
               n == 321,
           "a formatted answer parses back");
    tap_ok(mqttproto_answer_format(out, sizeof(out), 1, "DONE") == -EINVAL,
           "format refuses an unknown word");
    tap_ok(mqttproto_answer_format(out, sizeof(out), 0, "ALLOWED") == -EINVAL,
           "format refuses pid 0");
    tap_ok(mqttproto_answer_format(out, 5, 1234, "ALLOWED") == -ENAMETOOLONG,
           "format refuses a buffer too small");
    tap_ok(mqttproto_word_name((enum mqttproto_word)0) == NULL &&
               mqttproto_word_name((enum mqttproto_word)99) == NULL &&
               strcmp(mqttproto_word_name(MQTTPROTO_FAILED), "FAILED") == 0,
           "word names, and none outside the enum");
}

static void request_is(const char *payload, int pid, int want)
{
    tap_ok(mqttproto_request_parse(payload, strlen(payload), pid) == want,
           "request '%s' for pid %d -> %d", payload, pid, want);
}

static void test_request(void)
{
    char big[MQTTPROTO_REQUEST_MAX + 2];

    request_is("suspend", 5, MQTTPROTO_SUSPEND);
    request_is("resume", 5, MQTTPROTO_RESUME);
    request_is("*", 5, MQTTPROTO_TOGGLE);
    request_is(" \tsuspend\r\n", 5, MQTTPROTO_SUSPEND);
    request_is("5", 5, MQTTPROTO_TOGGLE);
    request_is("1 5 9", 5, MQTTPROTO_TOGGLE);
    request_is("1\t9  55", 5, 0);
    request_is("55", 5, 0);
    /* Malformed. */
    request_is("", 5, -EINVAL);
    request_is("   ", 5, -EINVAL);
    request_is("Suspend", 5, -EINVAL);
    request_is("suspendx", 5, -EINVAL);
    request_is("suspend resume", 5, -EINVAL);
    request_is("12abc", 5, -EINVAL);
    request_is("5 -3", 5, -EINVAL);
    request_is("5,6", 5, -EINVAL);
    request_is("12345678901", 5, -EINVAL);
    request_is("sus\001pend", 5, -EILSEQ);
    tap_ok(mqttproto_request_parse("sus\0pend", 8, 5) == -EILSEQ,
           "a request with a NUL is binary");
    tap_ok(mqttproto_request_parse(NULL, 0, 5) == -EINVAL,
           "an empty payload as a NULL pointer");
    /* Only len bytes count. */
    tap_ok(mqttproto_request_parse("resumeXYZ", 6, 5) == MQTTPROTO_RESUME,
           "a request is len bytes, not up to a NUL");
    memset(big, ' ', sizeof(big));
    memcpy(big, "suspend", 7);
    tap_ok(mqttproto_request_parse(big, MQTTPROTO_REQUEST_MAX, 5) ==
               MQTTPROTO_SUSPEND,
           "a request of MQTTPROTO_REQUEST_MAX bytes is read");
    tap_ok(mqttproto_request_parse(big, MQTTPROTO_REQUEST_MAX + 1, 5) == -E2BIG,
           "a longer one is refused");
}

int main(void)
{
    test_broker();
    test_topic();
    test_answer();
    test_request();
    tap_plan(tap_count());
    return tap_exit_status();
}
