/* region_race -- concurrent creation of the same name. THREADS threads,
 * each with its own handle (its own participant, as a VM would be), all
 * create "race-<round>" at the same moment (barrier). Exactly one must
 * win and every other must get EEXIST; they keep their handles until
 * everybody has decided, so a late creator cannot win legitimately. */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "pscom_region.h"
#include "tap.h"

#define THREADS 4
#define ROUNDS 300

static pthread_barrier_t bar;
static pscom_region_t *h[THREADS];
static int result[THREADS];
static pscom_region_id_t ids[THREADS];

static void *racer(void *arg)
{
    int t = (int)(long)arg;
    char name[32];

    for (int round = 0; round < ROUNDS; round++) {
        snprintf(name, sizeof(name), "race-%d", round);
        pthread_barrier_wait(&bar);
        result[t] = pscom_region_create(h[t], name, 64, &ids[t]);
        pthread_barrier_wait(&bar); /* everyone decided */
        pthread_barrier_wait(&bar); /* main checked */
        if (result[t] == 0) {
            pscom_region_destroy(h[t], ids[t]);
        }
    }
    return NULL;
}

int main(void)
{
    pthread_t th[THREADS];
    int bad_rounds = 0, other_err = 0, winners_total = 0;

    for (int t = 0; t < THREADS; t++) {
        char label[16];
        struct pscom_region_opts o = {.label = label};

        snprintf(label, sizeof(label), "racer-%d", t);
        if (pscom_region_open_opts(&h[t], &o) < 0) {
            tap_bail("cannot open the segment");
        }
    }
    pthread_barrier_init(&bar, NULL, THREADS + 1);
    for (int t = 0; t < THREADS; t++) {
        pthread_create(&th[t], NULL, racer, (void *)(long)t);
    }
    for (int round = 0; round < ROUNDS; round++) {
        int winners = 0;

        pthread_barrier_wait(&bar);
        pthread_barrier_wait(&bar);
        for (int t = 0; t < THREADS; t++) {
            if (result[t] == 0) {
                winners++;
            } else if (result[t] != -PSCOM_REGION_EEXIST) {
                other_err++;
                printf("# round %d racer %d: %s\n", round, t,
                       pscom_region_strerror(result[t]));
            }
        }
        if (winners != 1) {
            bad_rounds++;
            printf("# round %d: %d winners\n", round, winners);
        }
        winners_total += winners;
        pthread_barrier_wait(&bar);
    }
    for (int t = 0; t < THREADS; t++) {
        pthread_join(th[t], NULL);
    }
    tap_ok(bad_rounds == 0, "%d rounds of %d creators: one winner each", ROUNDS,
           THREADS);
    tap_ok(other_err == 0, "every loser got EEXIST");
    tap_ok(winners_total == ROUNDS, "winners in total: %d", winners_total);
    {
        pscom_region_id_t id;

        tap_ok(pscom_region_lookup(h[0], "race-0", &id) == -PSCOM_REGION_ENOENT,
               "winners' partitions are gone after destroy");
    }
    for (int t = 0; t < THREADS; t++) {
        tap_ok(pscom_region_close(h[t]) == 0, "racer %d closes", t);
    }
    pthread_barrier_destroy(&bar);
    tap_plan(tap_count());
    return tap_exit_status();
}
