/* embedded.h - the embedded defaults of `tally up`: a private PostgreSQL
 * cluster on a unix socket and an in-process Kafka cluster (librdkafka's
 * mock cluster, real Kafka protocol on 127.0.0.1), plus demo traffic.
 */
#ifndef TALLY_EMBEDDED_H
#define TALLY_EMBEDDED_H

#include "../common/common.h"

struct embedded_pg;

/* Creates the cluster under data_dir/pg with initdb the first time (kept
 * across runs), starts it listening only on a unix socket in data_dir/run,
 * waits until it answers and creates database "tally". When running as root
 * the server runs as the "postgres" system user; should it not be able to
 * enter data_dir, cluster and socket live in a 0700 directory of its own
 * (named in data_dir/pg.location) instead. Returns NULL with err set
 * (the message names the log file to read). */
struct embedded_pg *embedded_pg_start(const char *data_dir, struct tally_err *err);
/* libpq connection string, e.g. "postgresql:///tally?host=/abs/var/run&user=tally". */
const char *embedded_pg_conninfo(const struct embedded_pg *pg);
/* Stops the server (fast shutdown, waits) and frees pg. NULL is fine. */
void embedded_pg_stop(struct embedded_pg *pg);

struct embedded_kafka;

/* Starts a mock cluster of `brokers` brokers with each topic created with
 * `partitions` partitions. Returns NULL with err set. */
struct embedded_kafka *embedded_kafka_start(int brokers, int partitions, const char *const *topics,
                                            size_t n_topics, struct tally_err *err);
/* "127.0.0.1:port,..." - valid while the cluster runs. */
const char *embedded_kafka_brokers(const struct embedded_kafka *k);
/* Takes every broker down (connections dropped and refused) or back up. */
int embedded_kafka_set_down(struct embedded_kafka *k, bool down);
/* The next n Fetch requests are answered "offset out of range" for every
 * partition, as a broker answers a consumer whose topic was deleted and
 * created again (the 2.0.2 mock cannot delete a topic). For tests. */
void embedded_kafka_fail_fetches(struct embedded_kafka *k, size_t n);
/* Every broker answers each request after `ms` milliseconds, as one across a
 * network does (0: at once); -1 when the mock refused one of them. */
int embedded_kafka_set_rtt(struct embedded_kafka *k, int ms);
void embedded_kafka_stop(struct embedded_kafka *k); /* NULL is fine */

struct demo;

/* Starts a thread that produces realistic demo traffic to cfg's topics on
 * `brokers` until demo_stop: several teams, workflows with outcomes (some
 * failing), task types, four tiers with real model names, feedback, cache
 * hits, repeated prompts and a small share of malformed messages.
 * events_per_sec bounds the rate. Returns NULL with err set. */
struct demo *demo_start(const struct tally_config *cfg, const char *brokers, int events_per_sec,
                        struct tally_err *err);
void demo_stop(struct demo *d); /* joins the thread and frees; NULL is fine */

/* Called after each simulated day: days done of total, calls so far. */
typedef void (*demo_progress_fn)(void *ctx, int done, int total, int64_t calls);

#define DEMO_WORKFLOWS_MAX 16

struct demo_history_result {
	int64_t calls, outcomes, cost_pusd;
	/* Per workflow: its team and name (static strings) and its spend over the
	 * 7 whole days before today, to scale budgets to the demo's spend. */
	size_t n_workflows;
	const char *team[DEMO_WORKFLOWS_MAX], *workflow[DEMO_WORKFLOWS_MAX];
	int64_t week_pusd[DEMO_WORKFLOWS_MAX];
};

/* Writes `days` days of past demo traffic up to now (calls and outcomes)
 * through the ledger's batch path (COPY; rollups in the same transactions):
 * weekly rhythm, growth, a model launch, an incident of failed calls and a
 * routing policy that saves money (see demo.c). Priced with the ledger's
 * price book as it stands. Not idempotent: the caller checks that the ledger
 * has no history yet. Blocks; the result (may be NULL) says what was
 * written. */
int demo_load_history(const char *database_url, int days, demo_progress_fn progress, void *ctx,
                      struct demo_history_result *out, struct tally_err *err);

#endif
