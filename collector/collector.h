/* collector.h - Kafka into the ledger, exactly once; and the producer side.
 */
#ifndef TALLY_COLLECTOR_H
#define TALLY_COLLECTOR_H

#include <signal.h>
#include <stdio.h>

#include "../common/common.h"

/* Counters a running collector keeps (for logs and /metrics). Updated by the
 * collector thread only; readers may see slightly stale values. */
struct collector_stats {
	volatile int64_t consumed, inserted, duplicates, quarantined, unpriced, outcomes,
		feedback, batches, batch_us_total, db_errors;
};

/* Consumes cfg's three topics in consumer group cfg->kafka_group and writes
 * each batch into the ledger at cfg->database_url in one transaction with
 * the offsets; on partition assignment seeks to the offsets stored in the
 * ledger. Runs until *stop becomes non-zero, then abandons or finishes the
 * batch in flight and returns 0. Retries a lost database with backoff and
 * never consumes what it cannot store. stats may be NULL. */
int collector_run(const struct tally_config *cfg, volatile sig_atomic_t *stop,
		  struct collector_stats *stats, struct tally_err *err);

/* Every partition of cfg's three topics with its high watermark (the offset
 * the next produced message gets). *out is malloc'd; the caller frees it.
 * Fails (retriable) when Kafka does not answer within timeout_ms. */
struct partition_watermark {
	char topic[128];
	int32_t partition;
	int64_t high;
};
int collector_watermarks(const struct tally_config *cfg, int timeout_ms,
			 struct partition_watermark **out, size_t *n, struct tally_err *err);

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

#endif
