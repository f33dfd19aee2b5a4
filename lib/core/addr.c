/*
 * addr.c -- the 0x0200 address helpers: service and host names to port
 * numbers and IPv4 addresses (getaddrinfo, so /etc/hosts, DNS, ...).
 */
#include <config.h>

#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>

#include "pscom_priv.h"

int pscom_atoport(const char *service, const char *proto)
{
    struct servent *se;
    char *end;
    long port;

    if (!service || !*service) {
        return -1;
    }
    se = getservbyname(service, proto);
    if (se) {
        return se->s_port; /* already in network byte order */
    }
    errno = 0;
    port = strtol(service, &end, 10);
    if (errno || *end || port < 0 || port > 65535 || service[0] == '-' ||
        service[0] == '+' || service[0] == ' ') {
        return -1;
    }
    return (int)htons((uint16_t)port);
}

int pscom_atoaddr(const char *address, struct in_addr *addr)
{
    struct addrinfo hints, *res;
    int rc;

    if (!address || !*address || !addr) {
        return -1;
    }
    if (inet_pton(AF_INET, address, addr) == 1) {
        return 0;
    }
    if (strspn(address, "0123456789.") == strlen(address)) {
        /* Not a dotted quad: refuse the inet_aton() forms ("1.2.3")
         * that getaddrinfo() would take. */
        return -1;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_INET; /* node ids are IPv4 addresses */
    hints.ai_socktype = SOCK_STREAM;
    rc = getaddrinfo(address, NULL, &hints, &res);
    if (rc) {
        DPRINT(2, "pscom: cannot resolve '%s': %s", address, gai_strerror(rc));
        return -1;
    }
    *addr = ((const struct sockaddr_in *)(const void *)res->ai_addr)->sin_addr;
    freeaddrinfo(res);
    return 0;
}

int pscom_ascii_to_sockaddr_in(const char *host, const char *port,
                               const char *protocol, struct sockaddr_in *addr)
{
    struct in_addr in;
    int p;

    if (!addr) {
        return -1;
    }
    p = pscom_atoport(port, protocol);
    if (p < 0) {
        return -1;
    }
    if (!host) {
        in.s_addr = htonl(INADDR_ANY);
    } else if (pscom_atoaddr(host, &in)) {
        return -1;
    }
    memset(addr, 0, sizeof(*addr));
    addr->sin_family = AF_INET;
    addr->sin_port = (in_port_t)p;
    addr->sin_addr = in;
    return 0;
}
