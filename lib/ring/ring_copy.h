/*
 * ring_copy.h -- the copy of the message path (into and out of rings):
 * "rep movsb" from 1 KiB on where the CPU has fast short "rep movsb"
 * (FSRM), memcpy() elsewhere, and a plain loop in the one case where
 * "rep movsb" is a trap.
 *
 * Why "rep movsb" from 1 KiB: a ring copy reads lines the other core
 * just wrote, or writes lines the other core holds. On the test
 * machines' EPYC (Zen 4, FSRM) "rep movsb" does that faster than glibc's
 * vector loop, which glibc uses below 2112 bytes, in the send copy and in
 * the receive copy alike; below 1 KiB it is slower, and in one core, in
 * cache, both copy at the same speed (doc/performance.md, "The ring
 * copy"; bench/copy-bench.sh).
 * Above RING_COPY_REP_MAX memcpy() again: glibc switches to stores that
 * bypass the cache for copies far larger than a default ring's chunks.
 *
 * The trap: on AMD Zen cores "rep movsb" runs at a fraction of its speed
 * when the destination lies 1 to 47 bytes after the source modulo 4 KiB
 * (worst from 1 to 15; doc/performance.md, bench/copy-bench.sh): the
 * core cannot tell the stores from the loads ahead of them and falls
 * back to a slow mode. A ring
 * payload starts 8 bytes into a line and a large malloc() buffer 16
 * bytes into a page, so a stream of chunks can land in that window for
 * whole chunks. In that window a plain loop of 16-byte moves (full speed
 * whatever the offsets) copies instead, for memcpy()'s own "rep movsb"
 * (from about 2 KiB) as well.
 */
#ifndef RING_RING_COPY_H_
#define RING_RING_COPY_H_

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <stdatomic.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

/* Under AddressSanitizer the copies stay calls into memcpy(), which it
 * checks: it does not see inside an asm statement. */
#if defined(__SANITIZE_ADDRESS__)
#define RING_COPY_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RING_COPY_ASAN 1
#endif
#endif

/** From here on "rep movsb" may be used: ours (with FSRM) or memcpy()'s
 * (glibc 2.36 on x86-64, from 2112 bytes). Below, no trap to avoid. */
#define RING_COPY_LOOP_MIN 1024u
#define RING_COPY_REP_MIN RING_COPY_LOOP_MIN
/** Up to here our "rep movsb"; beyond it memcpy() (see above). */
#define RING_COPY_REP_MAX (256u * 1024u)

/** Destinations 1 to RING_COPY_WINDOW - 1 bytes after the source, modulo
 * RING_COPY_PAGE, take the loop (the slow window; at 0, equal offsets,
 * "rep movsb" is at its fastest). */
#define RING_COPY_WINDOW 48u
#define RING_COPY_PAGE 4096u

/* 16 bytes, any alignment: the compiler emits unaligned vector moves. */
typedef unsigned char ring_copy_v16
    __attribute__((vector_size(16), aligned(1)));

/** 16 <= n <= 32 bytes: two 16-byte moves, one from each end (they
 * overlap in the middle below 32), loads before stores. */
static inline void ring_copy_ends16(unsigned char *restrict d,
                                    const unsigned char *restrict s, size_t n)
{
    ring_copy_v16 a, b;

    memcpy(&a, s, 16);
    memcpy(&b, s + n - 16, 16);
    memcpy(d, &a, 16);
    memcpy(d + n - 16, &b, 16);
}

/** The loop: 64 bytes per round. */
static inline void ring_copy_loop(void *restrict dst, const void *restrict src,
                                  size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;

    while (n >= 64) {
        ring_copy_ends16(d, s, 32);
        ring_copy_ends16(d + 32, s + 32, 32);
        d += 64;
        s += 64;
        n -= 64;
    }
    memcpy(d, s, n); /* under 64 bytes: no "rep movsb" */
}

/** 1 if memcpy(dst, src, n) would run into the slow window. */
static inline int ring_copy_in_window(const void *dst, const void *src,
                                      size_t n)
{
    /* (delta - 1) mod page < window - 1: delta in [1, window). */
    return n >= RING_COPY_LOOP_MIN &&
           (((uintptr_t)dst - (uintptr_t)src - 1) & (RING_COPY_PAGE - 1)) <
               RING_COPY_WINDOW - 1;
}

/** Up to this many bytes are copied inline (ring_copy_small()). */
#define RING_COPY_SMALL_MAX 64u

typedef uint64_t ring_copy_u64 __attribute__((aligned(1), may_alias));
typedef uint32_t ring_copy_u32 __attribute__((aligned(1), may_alias));

/** A copy of at most RING_COPY_SMALL_MAX bytes without a call: the small
 * messages of a ping-pong copy a header, an xheader and a few bytes of
 * data each, and a call into memcpy() costs more than the copy (on the
 * message path that is a few percent of a round trip). Two moves, one
 * from each end, that may overlap in the middle. */
static inline void ring_copy_small(void *restrict dst, const void *restrict src,
                                   size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;

    if (n >= 32) {
        /* The two halves may overlap in dst: both write the same bytes. */
        ring_copy_ends16(d, s, 32);
        ring_copy_ends16(d + n - 32, s + n - 32, 32);
    } else if (n >= 16) {
        ring_copy_ends16(d, s, n);
    } else if (n >= 8) {
        uint64_t a = *(const ring_copy_u64 *)s;
        uint64_t b = *(const ring_copy_u64 *)(s + n - 8);

        *(ring_copy_u64 *)d = a;
        *(ring_copy_u64 *)(d + n - 8) = b;
    } else if (n >= 4) {
        uint32_t a = *(const ring_copy_u32 *)s;
        uint32_t b = *(const ring_copy_u32 *)(s + n - 4);

        *(ring_copy_u32 *)d = a;
        *(ring_copy_u32 *)(d + n - 4) = b;
    } else if (n > 0) {
        unsigned char a = s[0], b = s[n / 2], c = s[n - 1];

        d[0] = a;
        d[n / 2] = b;
        d[n - 1] = c;
    }
}

/** 1 if this CPU has fast short "rep movsb" (CPUID leaf 7, EDX bit 4).
 * Asked once per translation unit (threads that race ask twice and get
 * the same answer; relaxed atomics keep that defined). */
static inline int ring_copy_fsrm(void)
{
#if defined(__x86_64__) && !defined(RING_COPY_ASAN)
    static atomic_int fsrm = -1;
    int v = atomic_load_explicit(&fsrm, memory_order_relaxed);

    if (v < 0) {
        unsigned int a, b, c, d;

        v = __get_cpuid_count(7, 0, &a, &b, &c, &d) && (d & (1u << 4));
        atomic_store_explicit(&fsrm, v, memory_order_relaxed);
    }
    return v;
#else
    return 0;
#endif
}

/** "rep movsb": n bytes from src to dst (x86-64 only). */
static inline void ring_copy_rep(void *dst, const void *src, size_t n)
{
#if defined(__x86_64__)
    __asm__ __volatile__("rep movsb"
                         : "+D"(dst), "+S"(src), "+c"(n)
                         :
                         : "memory");
#else
    memcpy(dst, src, n);
#endif
}

/** memcpy() for the message path: same contract (no overlap). */
static inline void ring_copy(void *restrict dst, const void *restrict src,
                             size_t n)
{
    if (n <= RING_COPY_SMALL_MAX) {
        ring_copy_small(dst, src, n);
        return;
    }
    if (ring_copy_in_window(dst, src, n)) {
        ring_copy_loop(dst, src, n);
        return;
    }
    if (n >= RING_COPY_REP_MIN && n <= RING_COPY_REP_MAX && ring_copy_fsrm()) {
        ring_copy_rep(dst, src, n);
        return;
    }
    memcpy(dst, src, n);
}

#endif /* RING_RING_COPY_H_ */
