/*
 * ring_crc.h -- CRC32C (Castagnoli, the iSCSI/ext4 polynomial 0x1EDC6F41)
 * for the opt-in per-message checksum of the memory transports
 * (PSP_IVSHMEM_CHECKSUM, lib/core/shm_link.c): the SSE4.2 crc32
 * instruction where the CPU has it (checked once at run time), a table
 * otherwise. Both give the same values; test/ring/test_ring_crc.c checks
 * them against published vectors.
 */
#ifndef RING_CRC_H_
#define RING_CRC_H_

#include <stddef.h>
#include <stdint.h>

/**
 * Continue a CRC32C over len bytes: start with crc = 0; the result of one
 * call may be passed as crc of the next to cover a buffer in pieces
 * (ring_crc32c(0, "123456789", 9) == 0xE3069283).
 */
uint32_t ring_crc32c(uint32_t crc, const void *buf, size_t len);

/** The same with the table only (tests compare the two). */
uint32_t ring_crc32c_table(uint32_t crc, const void *buf, size_t len);

/** 1 when ring_crc32c() uses the crc32 instruction, else 0. */
int ring_crc32c_hw(void);

#endif /* RING_CRC_H_ */
