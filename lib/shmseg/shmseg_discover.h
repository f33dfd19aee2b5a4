/*
 * shmseg_discover.h -- find and map the shared segment (device discovery).
 *
 * Order (the first candidate that yields a valid segment wins, unless a
 * segment name is wanted, then the first valid one with that name):
 *   1. PSP_IVSHMEM_DEVICE, if set: exactly that path and nothing else.
 *      - /dev/uioN (a uio device): BAR 2 is uio map 1, mapped at offset
 *        1 * page size, its size read from <sysfs>/class/uio/uioN/maps/
 *        map1/size; BAR 0 (registers) is map 0 at offset 0, size from
 *        maps/map0/size;
 *      - a sysfs ".../resource2" file: mapped at offset 0, size = file size;
 *        BAR 0 is the sibling resource0 file;
 *      - anything else (host side: /dev/shm/NAME, a backing file, or a bare
 *        shm name without '/'): mapped whole, the member is host-local.
 *   2. uio devices <sysfs>/class/uio/uioN whose `name` starts "ivshmem".
 *   3. PCI devices 1af4:1110 found through hwloc; BAR 2 through
 *      <sysfs>/bus/pci/devices/<domain:bus:dev.fn>/resource2.
 * Every candidate rejected is logged with the reason at PSP_DEBUG >= 2.
 *
 * Environment:
 *   PSP_IVSHMEM_DEVICE      explicit device/object path (see above)
 *   PSP_IVSHMEM_SEGMENT     wanted segment name (header `name`, i.e. the
 *                           server's -s NAME or the -f file's base name)
 *   PSP_IVSHMEM_SYSFS_ROOT  sysfs root, default "/sys" (tests build a fake
 *                           tree with regular files as resource2)
 *   PSP_IVSHMEM_DEV_ROOT    directory of uio nodes, default "/dev"
 *   PSP_DEBUG               2 shows every rejected candidate
 */
#ifndef SHMSEG_DISCOVER_H
#define SHMSEG_DISCOVER_H

#include <stdbool.h>

#include "shmseg.h"

/** How a device was found. */
enum shmseg_dev_kind {
    SHMSEG_DEV_HOST = 1, /**< host object: /dev/shm/NAME or a file */
    SHMSEG_DEV_UIO = 2,  /**< /dev/uioN, map 1 */
    SHMSEG_DEV_PCI = 3,  /**< sysfs resource2 */
};

/** ivshmem BAR 0 registers (32-bit, byte offsets). */
#define SHMSEG_REG_INTR_MASK 0
#define SHMSEG_REG_INTR_STATUS 4
#define SHMSEG_REG_IVPOSITION 8 /**< our peer id (doorbell devices) */
#define SHMSEG_REG_DOORBELL 12  /**< write peer << 16 | vector */

/** An opened, mapped and validated segment. */
struct shmseg_device {
    struct shmseg seg; /**< validated view */
    enum shmseg_dev_kind kind;
    char path[512]; /**< what was mapped */
    void *map;      /**< mmap() result */
    size_t map_len;
    bool host_local; /**< join with SHMSEG_JOIN_HOST_LOCAL */
    /** BAR 0 registers (uio map 0, or sysfs resource0), NULL when the
     * device has none we could map (host objects, no permission). */
    volatile uint32_t *regs;
    size_t regs_len;
    /** uio only: the open /dev/uioN, -1 otherwise. read() 4 bytes waits
     * for an interrupt (event count); write() 1 re-enables interrupts. */
    int irq_fd;
};

/**
 * Open, map and validate one path as `kind` (no search).
 * @return 0; -SHMSEG_ESYS (open/mmap failed, logged at level 2 with the
 * reason); an attach error (dev->seg.why says why).
 */
int shmseg_device_open(struct shmseg_device *dev, const char *path,
                       enum shmseg_dev_kind kind);

/**
 * Search in the order above. `name`: wanted segment name, or NULL to use
 * PSP_IVSHMEM_SEGMENT (unset: any valid segment).
 * @return 0 with *dev mapped; -SHMSEG_ENODEV when nothing valid was found
 * (logged once at level 1, with the number of candidates rejected).
 */
int shmseg_discover(struct shmseg_device *dev, const char *name);

/**
 * Our peer id on a doorbell device (the IVPosition register).
 * @return the id (>= 0), or -SHMSEG_ENODEV without registers.
 */
int shmseg_device_peer_id(const struct shmseg_device *dev);

/**
 * Ring `vector` of peer `peer` (the Doorbell register): the peer's
 * device raises that interrupt, and its uio read() returns.
 * @return 0, or -SHMSEG_ENODEV without registers.
 */
int shmseg_device_notify(const struct shmseg_device *dev, uint16_t peer,
                         uint16_t vector);

/** Unmap a device opened by the functions above. */
void shmseg_device_close(struct shmseg_device *dev);

#endif /* SHMSEG_DISCOVER_H */
