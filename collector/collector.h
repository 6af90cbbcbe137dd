/* collector.h - Kafka into the ledger, exactly once; and the producer side.
 */
#ifndef TALLY_COLLECTOR_H
#define TALLY_COLLECTOR_H

#include <signal.h>
#include <stdio.h>

#include "../common/common.h"

/* Upper bounds (le) of the batch histograms' finite buckets. */
#define COLLECTOR_SIZE_BUCKETS 8
#define COLLECTOR_SIZE_BOUNDS                                                                      \
	{                                                                                          \
		1, 10, 50, 100, 500, 1000, 2500, 5000                                              \
	}
#define COLLECTOR_SECONDS_BUCKETS 10
#define COLLECTOR_SECONDS_BOUNDS_US                                                                \
	{                                                                                          \
		1000, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 5000000          \
	}

/* Counters a running collector keeps (for logs and /metrics). Each is
 * updated by one thread only: consumed* by the consumer thread, the rest by
 * the writer thread; readers may see slightly stale values. */
struct collector_stats {
	volatile int64_t consumed, inserted, duplicates, quarantined, unpriced, outcomes, feedback,
	    batches, batch_us_total, db_errors;
	/* Messages skipped because the ledger's stored offset was beyond them
	 * (another collector or an earlier run stored them). Offsets found
	 * impossible are counted in the ledger (kafka_offset_resets), for every
	 * collector. */
	volatile int64_t redelivered;
	/* Per topic, indexed by enum event_kind (0 calls, 1 outcomes, 2 feedback):
	 * messages consumed from it and quarantined from it. */
	volatile int64_t consumed_by_topic[3], quarantined_by_topic[3];
	/* Histograms of batch size (messages) and batch latency (poll to commit),
	 * one count per bucket (not cumulative; the last is +Inf); fill them with
	 * collector_stats_observe_batch(). */
	volatile int64_t batch_size_buckets[COLLECTOR_SIZE_BUCKETS + 1];
	volatile int64_t batch_seconds_buckets[COLLECTOR_SECONDS_BUCKETS + 1];
	volatile int64_t batch_messages_total;
};

/* Counts one written batch of `messages` messages that took `us` in the two
 * histograms of *s (batches and batch_us_total are counted apart). */
static inline void collector_stats_observe_batch(struct collector_stats *s, int64_t messages,
                                                 int64_t us)
{
	static const int64_t size_le[COLLECTOR_SIZE_BUCKETS] = COLLECTOR_SIZE_BOUNDS;
	static const int64_t us_le[COLLECTOR_SECONDS_BUCKETS] = COLLECTOR_SECONDS_BOUNDS_US;
	int i = 0, j = 0;

	while (i < COLLECTOR_SIZE_BUCKETS && messages > size_le[i])
		i++;
	while (j < COLLECTOR_SECONDS_BUCKETS && us > us_le[j])
		j++;
	s->batch_size_buckets[i]++;
	s->batch_seconds_buckets[j]++;
	s->batch_messages_total += messages;
}

/* Consumes cfg's three topics and its OTLP topic in consumer group
 * cfg->kafka_group and writes each batch into the ledger at cfg->database_url in one transaction
 * with the offsets, keyed by the cluster id the brokers report; on partition assignment seeks to
 * the offsets stored in the ledger for that cluster. A stored offset outside the broker's
 * watermarks (topic recreated, retention) is logged as an ERROR, recorded, and the partition read
 * from its low watermark. After each ledger commit the offsets are also committed to Kafka
 * (informational). Runs until *stop becomes non-zero, then abandons or finishes the batch in flight
 * and returns 0. Retries a lost database with backoff and never consumes what it cannot store.
 * stats may be NULL. */
int collector_run(const struct tally_config *cfg, volatile sig_atomic_t *stop,
                  struct collector_stats *stats, struct tally_err *err);

/* Every partition of cfg's topics (the OTLP one when it exists) with its
 * watermarks: low (the first offset the broker still holds) and high (the
 * offset the next produced message gets), and the cluster id the brokers
 * report (cluster_id[0] = 0 when they report none), and the offset cfg's
 * group committed to Kafka. *out is malloc'd; the caller frees it. Fails
 * (retriable) when Kafka does not answer within timeout_ms. */
struct partition_watermark {
	char topic[128];
	int32_t partition;
	int64_t low, high;
	int64_t committed; /* the group's offset committed to Kafka, -1 if none */
};
int collector_watermarks(const struct tally_config *cfg, int timeout_ms,
                         struct partition_watermark **out, size_t *n, char *cluster_id,
                         size_t cluster_id_size, struct tally_err *err);

/* ---- producing --------------------------------------------------------- */

struct producer;

/* A Kafka producer for tally's topics (idempotent, lz4, batched). */
struct producer *producer_open(const char *brokers, struct tally_err *err);
/* Queues one message; key may be NULL. Blocks briefly when the local queue
 * is full. */
int producer_send(struct producer *p, const char *topic, const char *key, size_t key_len,
                  const void *payload, size_t len, struct tally_err *err);
/* Waits until everything queued is delivered (or timeout_ms passes);
 * returns -1 when some message failed or is still queued. */
int producer_flush(struct producer *p, int timeout_ms, struct tally_err *err);
/* Messages that the broker confirmed / that failed for good. */
void producer_counts(const struct producer *p, int64_t *delivered, int64_t *failed);
void producer_close(struct producer *p); /* flushes up to 10 s; NULL is fine */

/* ---- status: counts, stored offsets and lag (status.c) ------------------- */

struct ledger;

/* One partition: the offset stored in the ledger for the brokers' cluster
 * (0 when none) and its lag behind Kafka's high watermark, counted from the
 * low watermark when the stored offset is outside the broker's offsets (-1
 * when Kafka did not answer or knows no such partition). */
struct status_partition {
	char topic[128];
	int32_t partition;
	int64_t offset, lag;
	int64_t low, high;    /* the broker's watermarks; -1 when unknown */
	int64_t committed;    /* the group's offset committed to Kafka; -1 if none */
	bool stored;          /* an offset is stored for it */
	bool out_of_range;    /* stored, but below low or beyond high */
	char cluster_id[128]; /* whose offset (only filled without Kafka) */
};

struct tally_status {
	int64_t calls, outcomes, feedback, duplicates, quarantined, unpriced;
	int64_t rollup_queue, rollup_queue_age_s; /* as struct ledger_status */
	struct status_partition *partitions;      /* malloc'd */
	size_t n_partitions;
	bool kafka_ok;         /* the watermarks were read */
	char kafka_error[256]; /* why not, when !kafka_ok and brokers are set */
	char cluster_id[128];  /* the brokers' cluster, when kafka_ok */
	/* Stored offsets of other clusters (and of offsets stored before they
	 * named one), never used to skip messages on this one. */
	size_t other_cluster_offsets;
	size_t out_of_range;   /* partitions whose stored offset is impossible */
	int64_t offset_resets; /* impossible stored offsets found, ever */
	char last_reset[512];  /* the newest one as a sentence, "" if none */
};

/* What `tally status` shows: the ledger's counts and, for every partition
 * Kafka knows plus any with stored offsets of its cluster only, the stored
 * offset and lag (with Kafka unreachable: every stored offset, lag -1).
 * Kafka is asked (within timeout_ms) only when cfg->kafka_brokers is set; its
 * failure is not an error (kafka_ok false, lag -1). Fails when the ledger
 * does. Free with tally_status_cleanup. Thread-safe for distinct lg. */
int tally_status_read(const struct tally_config *cfg, struct ledger *lg, int timeout_ms,
                      struct tally_status *st, struct tally_err *err);
void tally_status_cleanup(struct tally_status *st); /* NULL is fine */
/* Appends the JSON of `tally status --format json` (one line, "\n"). */
void tally_status_json(const struct tally_status *st, struct sbuf *sb);

#endif
