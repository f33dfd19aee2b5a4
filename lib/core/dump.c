/*
 * dump.c -- pscom_dump_info, pscom_dump_connection, pscom_dump_reqstat.
 */
#include <config.h>

#include "pscom_priv.h"

void pscom_dump_info(FILE *out)
{
    char ip[16];

    pscom_ensure_init();
    pscom_lock();
    fprintf(out, "pscom-ivshmem %s, interface %s, plugin contract 0x%04x\n",
            PACKAGE_VERSION, PSCOM_IMPL_VERSION_STR, PSCOM_PLUGIN_VERSION);
    pscom_inet_str(ip, sizeof(ip), pscom_g.nodeid);
    fprintf(out, "node id: %s (PSP_NETWORK or the hostname's address)\n", ip);
    fprintf(out, "\nenvironment:\n");
    pscom_env_dump(out);
    fprintf(out, "\ntransports:\n");
    pscom_plugins_dump(out);
    pscom_unlock();
}

void pscom_dump_connection(FILE *out, pscom_connection_t *connection)
{
    struct pscom_con *con = pscom_con_of(connection);

    pscom_lock();
    fprintf(out, "connection %p: %s state %s, sent %llu, received %llu\n",
            (void *)connection, pscom_con_str(connection),
            pscom_con_state_str(connection->state),
            (unsigned long long)con->msgs_sent,
            (unsigned long long)con->msgs_recvd);
    pscom_unlock();
}

void pscom_dump_reqstat(FILE *out)
{
    pscom_lock();
    fprintf(out,
            "requests allocated: %llu, unexpected messages: %llu, "
            "progress steps: %llu\n",
            (unsigned long long)pscom_g.stat_reqs,
            (unsigned long long)pscom_g.stat_unexp,
            (unsigned long long)pscom_g.stat_progress);
    pscom_unlock();
}
