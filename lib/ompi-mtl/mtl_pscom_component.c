/*
 * mtl_pscom_component.c -- the MCA component "pscom" of Open MPI's mtl
 * framework: its parameters, and the decision whether to run at all.
 *
 * The component only offers itself when the user named it in the mtl
 * selection (--mca mtl pscom, OMPI_MCA_mtl=pscom): installed into Open
 * MPI's own component directory it must not change any other job. Its
 * priority is low for the same reason.
 */
#include "mtl_pscom.h"

#include <string.h>

#include "opal/mca/base/mca_base_var.h"
#include "opal/util/output.h"

static int param_priority = 5;

static int component_register(void)
{
    (void)mca_base_component_var_register(
        &mca_mtl_pscom_component.mtl_version, "priority",
        "Priority of the pscom MTL (only offered when named in --mca mtl)",
        MCA_BASE_VAR_TYPE_INT, NULL, 0, 0, OPAL_INFO_LVL_9,
        MCA_BASE_VAR_SCOPE_READONLY, &param_priority);
    ompi_mtl_pscom_g.verbose = 0;
    (void)mca_base_component_var_register(
        &mca_mtl_pscom_component.mtl_version, "verbose",
        "Verbosity of the pscom MTL (0: errors only)", MCA_BASE_VAR_TYPE_INT,
        NULL, 0, 0, OPAL_INFO_LVL_9, MCA_BASE_VAR_SCOPE_LOCAL,
        &ompi_mtl_pscom_g.verbose);
    ompi_mtl_pscom_g.sleep_us = -1;
    (void)mca_base_component_var_register(
        &mca_mtl_pscom_component.mtl_version, "sleep",
        "A rank waiting in MPI (back-to-back progress calls without "
        "progress) for this many microseconds sleeps on the ivshmem "
        "doorbell or the sockets until a message comes (-1: PSP_SPIN_US, "
        "0: never sleep, keep polling)",
        MCA_BASE_VAR_TYPE_INT, NULL, 0, 0, OPAL_INFO_LVL_9,
        MCA_BASE_VAR_SCOPE_READONLY, &ompi_mtl_pscom_g.sleep_us);
    return OMPI_SUCCESS;
}

static int component_open(void)
{
    return OMPI_SUCCESS;
}

static int component_close(void)
{
    return OMPI_SUCCESS;
}

/* 1 if the mtl framework's selection names "pscom" as an include (not
 * after a leading '^', which excludes). */
static int selection_names_us(void)
{
    char **value = NULL;
    const char *s;
    int idx = mca_base_var_find("ompi", "mtl", NULL, NULL);

    if (idx < 0 ||
        mca_base_var_get_value(idx, &value, NULL, NULL) != OPAL_SUCCESS ||
        !value || !*value) {
        return 0;
    }
    s = *value;
    if (s[0] == '^') {
        return 0;
    }
    while (*s) {
        size_t n = strcspn(s, ",");
        if (n == 5 && strncmp(s, "pscom", 5) == 0) {
            return 1;
        }
        s += n;
        s += *s == ',';
    }
    return 0;
}

static int component_query(mca_base_module_t **module, int *priority)
{
    if (!selection_names_us()) {
        *module = NULL;
        *priority = -1;
        return OMPI_ERR_NOT_AVAILABLE;
    }
    *priority = param_priority;
    *module = (mca_base_module_t *)&ompi_mtl_pscom_module;
    return OMPI_SUCCESS;
}

static mca_mtl_base_module_t *component_init(bool enable_progress_threads,
                                             bool enable_mpi_threads)
{
    if (ompi_mtl_pscom_module_init(enable_mpi_threads) != 0) {
        /* Logged where it failed; Open MPI falls back (ob1). */
        return NULL;
    }
    ompi_mtl_pscom_module.mtl_request_size = sizeof(struct mtl_pscom_req) -
                                             sizeof(mca_mtl_request_t);
    return &ompi_mtl_pscom_module;
}

mca_mtl_base_component_2_0_0_t mca_mtl_pscom_component = {
    .mtl_version =
        {
            MCA_MTL_BASE_VERSION_2_0_0,
            .mca_component_name = "pscom",
            MCA_BASE_MAKE_VERSION(component, OMPI_MAJOR_VERSION,
                                  OMPI_MINOR_VERSION, OMPI_RELEASE_VERSION),
            .mca_open_component = component_open,
            .mca_close_component = component_close,
            .mca_query_component = component_query,
            .mca_register_component_params = component_register,
        },
    .mtl_data = {MCA_BASE_METADATA_PARAM_NONE},
    .mtl_init = component_init,
};
