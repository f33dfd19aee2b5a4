/*
 * plugins.c -- the plugin loader: finds libpscom4<name>.so in PSP_PLUGINDIR
 * and then in the install directory, checks the contract version, adds the
 * plugin's PSP_<NAME> priority (and its own rows) to the env table, and
 * orders the usable plugins for the hand-shake.
 */
#include <config.h>

#include <ctype.h>
#include <dirent.h>
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include "pscom_priv.h"

#ifndef PSCOM_PLUGINDIR
#define PSCOM_PLUGINDIR "/usr/local/lib/pscom"
#endif

/* The built-in shm transport (shm.c) negotiates like a plugin. */
extern const pscom_plugin_t pscom_plugin_shm_builtin;

/* Plugins always looked for, even when no directory lists them. */
static const char *const known_plugins[] = {"ivshmem"};

struct plugin_entry {
    char name[PSCOM_PLUGIN_NAME_MAX + 1];
    char path[512];
    void *dl;
    const pscom_plugin_t *p;
    int usable;
    char reason[PSCOM_PLUGIN_REASON_MAX];
    unsigned int prio;
    char prio_name[PSCOM_PLUGIN_NAME_MAX + 5];
    char prio_def[16];
    pscom_env_row_t prio_row;
};

static struct plugin_entry plugins[PSCOM_PLUGINS_MAX];
static unsigned int nplugins;
static int plugins_loaded;

static struct plugin_entry *entry_find(const char *name)
{
    for (unsigned int i = 0; i < nplugins; i++) {
        if (strcmp(plugins[i].name, name) == 0) {
            return &plugins[i];
        }
    }
    return NULL;
}

static int name_ok(const char *name, size_t len)
{
    if (len == 0 || len > PSCOM_PLUGIN_NAME_MAX) {
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        if (!islower((unsigned char)name[i]) &&
            !isdigit((unsigned char)name[i])) {
            return 0;
        }
    }
    return 1;
}

static void entry_add(const char *name, size_t len)
{
    char n[PSCOM_PLUGIN_NAME_MAX + 1];

    if (!name_ok(name, len)) {
        if (len) {
            DPRINT(1, "pscom: ignoring bad plugin name '%.*s'", (int)len, name);
        }
        return;
    }
    memcpy(n, name, len);
    n[len] = '\0';
    if (entry_find(n) || strcmp(n, "tcp") == 0 || strcmp(n, "loop") == 0 ||
        nplugins >= PSCOM_PLUGINS_MAX) {
        return;
    }
    strcpy(plugins[nplugins++].name, n);
}

/* Every libpscom4<name>.so in dir names a plugin. */
static void scan_dir(const char *dir)
{
    DIR *d;
    struct dirent *de;

    if (!dir || !dir[0] || !(d = opendir(dir))) {
        return;
    }
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l > 12 && strncmp(de->d_name, "libpscom4", 9) == 0 &&
            strcmp(de->d_name + l - 3, ".so") == 0) {
            entry_add(de->d_name + 9, l - 12);
        }
    }
    closedir(d);
}

static void entry_load(struct plugin_entry *e)
{
    const char *dirs[2] = {pscom_env.plugindir, PSCOM_PLUGINDIR "/"};
    char sym[64];
    char name[PSCOM_PLUGIN_NAME_MAX + 1];
    char upper[PSCOM_PLUGIN_NAME_MAX + 1];
    const pscom_plugin_t *p;

    /* A copy: name and the buffers written below share one object. */
    memcpy(name, e->name, sizeof(name));

    for (int i = 0; i < 2 && !e->dl; i++) {
        if (!dirs[i] || !dirs[i][0]) {
            continue;
        }
        snprintf(e->path, sizeof(e->path), "%slibpscom4%s.so", dirs[i], name);
        e->dl = dlopen(e->path, RTLD_NOW | RTLD_LOCAL);
        if (!e->dl) {
            snprintf(e->reason, sizeof(e->reason), "%s", dlerror());
        }
    }
    if (!e->dl) {
        if (!strstr(e->reason, "No such file")) {
            return; /* reason: the dlopen error */
        }
        snprintf(e->reason, sizeof(e->reason),
                 "libpscom4%s.so not found in PSP_PLUGINDIR or %s", name,
                 PSCOM_PLUGINDIR);
        e->path[0] = '\0';
        return;
    }
    snprintf(sym, sizeof(sym), "pscom_plugin_%s", name);
    p = dlsym(e->dl, sym);
    if (!p) {
        snprintf(e->reason, sizeof(e->reason), "symbol %s missing", sym);
        goto err_close;
    }
    if (p->version != PSCOM_PLUGIN_VERSION) {
        snprintf(e->reason, sizeof(e->reason),
                 "contract version 0x%04x, this library speaks 0x%04x",
                 p->version, PSCOM_PLUGIN_VERSION);
        goto err_close;
    }
    if (!p->name || strcmp(p->name, name) || !p->write_start) {
        snprintf(e->reason, sizeof(e->reason),
                 "malformed plugin (name or write_start)");
        goto err_close;
    }
    e->p = p;
    /* PSP_<NAME> priority, then the plugin's own rows. */
    for (size_t i = 0; i < sizeof(upper); i++) {
        upper[i] = (char)toupper((unsigned char)name[i]);
    }
    snprintf(e->prio_name, sizeof(e->prio_name), "PSP_%s", upper);
    snprintf(e->prio_def, sizeof(e->prio_def), "%u", p->default_priority);
    e->prio_row.name = e->prio_name;
    e->prio_row.type = PSCOM_ENV_UINT;
    e->prio_row.defval = e->prio_def;
    e->prio_row.help = "priority of this plugin; 0 disables it";
    e->prio_row.value = &e->prio;
    pscom_env_register(&e->prio_row, 1);
    if (p->env_rows && p->env_rows_count) {
        pscom_env_register(p->env_rows, p->env_rows_count);
    }
    if (e->prio == 0) {
        snprintf(e->reason, sizeof(e->reason), "disabled (PSP_%s=0)", upper);
        return;
    }
    e->reason[0] = '\0';
    if (p->init && p->init(e->reason)) {
        if (!e->reason[0]) {
            snprintf(e->reason, sizeof(e->reason), "init failed");
        }
        e->reason[sizeof(e->reason) - 1] = '\0';
        return;
    }
    e->usable = 1;
    snprintf(e->reason, sizeof(e->reason), "usable, priority %u", e->prio);
    return;

err_close:
    dlclose(e->dl);
    e->dl = NULL;
}

/* A built-in transport that takes part in the hand-shake: no dlopen, its
 * priority variable is already in the core's table. */
static void builtin_add(const pscom_plugin_t *p, unsigned int prio)
{
    struct plugin_entry *e = &plugins[nplugins++];

    snprintf(e->name, sizeof(e->name), "%s", p->name);
    e->p = p;
    e->prio = prio;
    if (prio == 0) {
        snprintf(e->reason, sizeof(e->reason), "disabled (PSP_%s=0)", "SHM");
        return;
    }
    if (p->init && p->init(e->reason)) {
        return;
    }
    e->usable = 1;
    snprintf(e->reason, sizeof(e->reason), "built-in, usable, priority %u",
             prio);
}

void pscom_plugins_init(void)
{
    const char *list = pscom_env.plugins;

    if (plugins_loaded) {
        return;
    }
    plugins_loaded = 1;
    builtin_add(&pscom_plugin_shm_builtin, pscom_env.prio_shm);
    for (unsigned int i = 0; i < sizeof(known_plugins) / sizeof(*known_plugins);
         i++) {
        entry_add(known_plugins[i], strlen(known_plugins[i]));
    }
    while (list && *list) {
        size_t l = strcspn(list, ", ");
        entry_add(list, l);
        list += l;
        list += strspn(list, ", ");
    }
    scan_dir(pscom_env.plugindir);
    scan_dir(PSCOM_PLUGINDIR);
    for (unsigned int i = 0; i < nplugins; i++) {
        if (!plugins[i].p) { /* built-ins are set up already */
            entry_load(&plugins[i]);
        }
        DPRINT(2, "pscom: plugin %s: %s", plugins[i].name, plugins[i].reason);
    }
}

void pscom_plugins_reprobe(void)
{
    for (unsigned int i = 0; i < nplugins; i++) {
        if (plugins[i].usable && plugins[i].p->reprobe) {
            plugins[i].p->reprobe();
        }
    }
}

void pscom_plugins_destroy(void)
{
    for (unsigned int i = 0; i < nplugins; i++) {
        if (plugins[i].usable && plugins[i].p->destroy) {
            plugins[i].p->destroy();
        }
        plugins[i].usable = 0;
    }
    /* The libraries stay mapped: connections may still point into them
     * while other atexit handlers run. */
}

unsigned int pscom_plugins_tcp_priority(void)
{
    return pscom_env.prio_tcp;
}

int pscom_plugins_candidates(struct pscom_sock *sock,
                             const pscom_plugin_t **out)
{
    struct plugin_entry *sorted[PSCOM_PLUGINS_MAX];
    int n = 0;

    for (unsigned int i = 0; i < nplugins; i++) {
        struct plugin_entry *e = &plugins[i];
        if (!e->usable || !e->prio) {
            continue;
        }
        if (!pscom_sock_type_allowed(sock, e->p->con_type)) {
            DPRINT(2, "pscom: plugin %s masked by the socket", e->name);
            continue;
        }
        /* Insertion sort by priority, highest first. */
        int j = n++;
        while (j > 0 && sorted[j - 1]->prio < e->prio) {
            sorted[j] = sorted[j - 1];
            j--;
        }
        sorted[j] = e;
    }
    for (int i = 0; i < n; i++) {
        out[i] = sorted[i]->p;
    }
    out[n] = NULL;
    return n;
}

const pscom_plugin_t *pscom_plugins_find(struct pscom_sock *sock,
                                         const char *name, char *reason)
{
    struct plugin_entry *e = entry_find(name);

    if (!e) {
        snprintf(reason, PSCOM_PLUGIN_REASON_MAX, "%s is not known here", name);
        return NULL;
    }
    if (!e->usable || !e->prio) {
        snprintf(reason, PSCOM_PLUGIN_REASON_MAX, "%s not usable here: %.120s",
                 name, e->prio ? e->reason : "disabled by priority 0");
        return NULL;
    }
    if (!pscom_sock_type_allowed(sock, e->p->con_type)) {
        snprintf(reason, PSCOM_PLUGIN_REASON_MAX,
                 "%s masked by the socket's con-type mask", name);
        return NULL;
    }
    return e->p;
}

void pscom_plugins_dump(FILE *out)
{
    fprintf(out, "  %-10s built-in, always usable\n", "loop");
    fprintf(out, "  %-10s built-in, %s (PSP_TCP=%u)\n", "tcp",
            pscom_env.prio_tcp ? "usable" : "carries no data",
            pscom_env.prio_tcp);
    for (unsigned int i = 0; i < nplugins; i++) {
        struct plugin_entry *e = &plugins[i];
        fprintf(out, "  %-10s %s%s%s\n", e->name,
                e->usable ? "loaded, "
                          : (e->p ? "loaded, not usable: " : "not loaded: "),
                e->reason, "");
        if (e->path[0]) {
            fprintf(out, "  %-10s (%s)\n", "", e->path);
        }
    }
}
