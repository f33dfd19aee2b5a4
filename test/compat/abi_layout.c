/*
 * abi_layout.c -- build-time check that include/pscom.h has the x86-64
 * layout of the pscom 0x0200 header: every offset, member size, struct
 * size and alignment below is a fact taken from that header (measured
 * with gcc on x86-64). A difference stops the build; running the program
 * only reports that it compiled.
 */
#include <stddef.h>

#include "pscom.h"

#include "tap.h"

#define MEMBER_SIZE(T, m) sizeof(((T *)0)->m)

#if defined(__x86_64__)
#define MEMBER(T, m, off, size)                                                \
    _Static_assert(offsetof(T, m) == (off), #T "." #m " offset");              \
    _Static_assert(MEMBER_SIZE(T, m) == (size), #T "." #m " size")
#define SIZE(T, size, align)                                                   \
    _Static_assert(sizeof(T) == (size), "sizeof " #T);                         \
    _Static_assert(_Alignof(T) == (align), "alignment of " #T)

/* One line per fact: MEMBER(type, member, offset, size) and
 * SIZE(type, size, alignment). */
#include "facts.inc"

/* Enum values a 0x0200 binary passes in and reads back. */
_Static_assert(PSCOM_CON_TYPE_IVSHMEM == 0x13 && PSCOM_CON_TYPE_UCP == 0x12 &&
                   PSCOM_CON_TYPE_SUSPENDED == 0x11,
               "con types");
_Static_assert(PSCOM_CON_STATE_SUSPENDED == 0x1C0 &&
                   PSCOM_CON_STATE_ACCEPTING_ONDEMAND == 0x210,
               "con states");
_Static_assert(PSCOM_ERR_CONNECTION_REFUSED == -8 && PSCOM_OP_RW == 4,
               "errors and operations");
_Static_assert(PSCOM_REQ_STATE_GRECV_MERGED == 0x4000, "state bits");
#define LAYOUT_CHECKED 1
#else
#define LAYOUT_CHECKED 0
#endif

int main(void)
{
    tap_plan(1);
    tap_ok(LAYOUT_CHECKED, "pscom.h has the 0x0200 x86-64 layout "
                           "(static assertions compiled)");
    return tap_exit_status();
}
