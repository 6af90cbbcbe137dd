/* collector.c - Kafka into the ledger: poll, parse, validate, price, and
 * write each batch with its offsets in one transaction; seek to the ledger's
 * offsets on assignment. Exactly-once in effect across crashes and
 * rebalances.
 *
 * Offsets are the ledger's for the cluster the brokers name, and are never
 * taken on trust: on assignment, after an "offset out of range" answer
 * (auto.offset.reset is "error") and after messages were skipped as already
 * stored, they are checked against the broker's watermarks; an impossible
 * one is logged, recorded and the partition read again from its low
 * watermark (README, "Offsets belong to one cluster").
 *
 * Two threads: the consumer thread polls Kafka and parses into one batch
 * while a writer thread stores the previous batch; when the batch is full
 * and the writer still busy, the consumer thread looks its event_ids up in
 * the ledger on its own connection (ledger_probe_ahead), so that the writer
 * looks up only what its own recent windows stored. Batches are written one
 * at a time, in order, so offsets only move forward. While the writer cannot
 * store a batch (database away) the consumer waits for it: at most two
 * batches are ever held, and nothing is consumed that could not be stored.
 *
 * The writer stores consecutive batches in one transaction, a window
 * (ledger_window_add), and commits it after WINDOW_US, when no batch came
 * for WINDOW_IDLE_US or Kafka has nothing more (drained), once it holds
 * WINDOW_MAX_CALLS calls (what a crash makes read again), or when the
 * consumer thread needs the ledger's offsets to be what was consumed (a
 * rebalance, a stop): one commit and one store of the offsets per window
 * instead of per batch. The rollups are summed from the stored calls
 * afterwards, set-based (ledger_rollups_roll): once caught up (Kafka had
 * nothing more and no batch came for ROLL_IDLE_US), and while a backlog is
 * read every ROLL_MAX_CALLS calls or ROLL_MAX_AGE_US;
 * until then reports sum the queued calls themselves (exact, slower). A
 * batch is released to be refilled once it is in the window;
 * when the window is lost before its commit (the database went away), its
 * batches are read again: the consumer thread seeks every assigned
 * partition back to the ledger's offsets (rewind_to_ledger). */
#include "collector.h"

#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/event.h"
#include "../ingest/ingest.h"
#include "../ledger/ledger.h"

#define BATCH_MAX_MESSAGES 3000
#define BATCH_MAX_BYTES    (16 * 1024 * 1024)
#define BATCH_LINGER_US    200000
#define PRICEBOOK_CHECK_US 5000000
#define BACKOFF_MAX_MS     10000
/* When a window commits (see above). */
#define WINDOW_US        2000000
#define WINDOW_IDLE_US   300000
#define WINDOW_MAX_CALLS 50000
/* When the rollups are brought up to date while a backlog is read (see
 * above): it bounds what a report sums from the calls themselves. */
#define ROLL_MAX_CALLS  1000000
#define ROLL_MAX_AGE_US 60000000
/* Caught up: Kafka had nothing more, and no batch came for this long (a
 * backlog hands the writer a batch every few tens of ms). */
#define ROLL_IDLE_US 150000
/* wake_fetchers: how often at most, and below how many queued messages. */
#define WAKE_FETCHERS_US      20000
#define WAKE_FETCHERS_BELOW   1000
#define WAKE_FETCHERS_SLOW_US 1000000 /* after brokers took over 50 ms to answer */
/* After this long without a batch, and as often while idle, the queue is
 * summed (what others queued and left). */
#define ROLL_IDLE_CHECK_US 5000000

/* Where a message's raw bytes are kept in its batch. */
struct raw_ref {
	struct kafka_pos pos;
	size_t from, len;
};

/* One batch and a copy of the raw messages it came from (kept until it is
 * stored, so that a message the ledger refuses can be quarantined raw; the
 * Kafka messages themselves are released at once, which frees librdkafka's
 * fetch buffers). */
struct pending {
	struct ledger_batch batch;
	struct sbuf raw;
	struct raw_ref *refs;
	size_t n_refs, cap_refs;
	size_t bytes;
	int64_t started_us;
};

struct collector {
	const struct tally_config *cfg;
	volatile sig_atomic_t *stop;
	struct collector_stats *stats;
	rd_kafka_t *rk;
	struct ledger *lg_main;  /* consumer thread: price book, stored offsets */
	struct ledger *lg_write; /* writer thread: batches */
	struct pricebook *pb;
	int64_t pb_stamp, pb_checked_us;
	/* The cluster the brokers say they are, read on each assignment (the
	 * writer is idle then); offsets are stored and read under it. */
	char cluster_id[128];
	struct ledger_source src;
	const char *topics[EVENT_KINDS]; /* indexed by enum event_kind */
	const char *topic_otlp;          /* OTLP spans (ingest/otlp.c) */
	struct otlp_map otlp_map;
	struct event scratch; /* the message being parsed */
	struct pending slots[2];
	struct pending *filling; /* the consumer thread's */

	/* Hand-off to the writer, under mu. */
	pthread_t writer;
	bool writer_started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct pending *handed; /* the writer's until it is NULL again */
	bool handed_retry;      /* retry until stored (false: one try, else abandon) */
	bool quit;
	bool window_open; /* the writer has a window open */
	bool flush;       /* the consumer thread waits for the window's commit */
	bool rewind;      /* a window was lost: read again from the ledger's offsets */
	bool drained;     /* Kafka had nothing more and everything was handed over */

	/* The writer's: what the open window stored, accounted when it commits;
	 * when its last batch came in. */
	struct ledger_batch_result win_res;
	int64_t win_quarantined[EVENT_KINDS];
	struct kafka_pos *win_marks;
	size_t n_win_marks, cap_win_marks;
	int64_t win_last_us;
	/* The writer's: calls stored since its last roll of the rollups, and
	 * when the first of them was committed. */
	int64_t unrolled_calls, unrolled_since_us;
	int64_t roll_idle_at;     /* caught up: roll if no batch comes by then (0: no) */
	int64_t behind_logged_us; /* when a poll brought nothing with a backlog known */
	rd_kafka_queue_t *cq;     /* the consumer's queue (its length: wake_fetchers) */
	int64_t wake_fetchers_at; /* wake_fetchers looks again from then */
	int64_t fetchers_woken;   /* how often it woke them */
	int64_t idle_roll_us;     /* the last roll while idle */
	/* Set by the writer when a batch had messages below a stored offset:
	 * the consumer thread then checks the stored offsets against the
	 * broker's watermarks (recheck_offsets). */
	volatile int recheck;
};

/* Sleeps ms in small steps so that a stop request is seen quickly. */
static void nap(struct collector *c, int ms)
{
	for (int slept = 0; slept < ms && !*c->stop; slept += 50) {
		struct timespec ts = {0, 50 * 1000000L};
		nanosleep(&ts, NULL);
	}
}

/* Connects (or reconnects) *lg, retrying with backoff until it works or a
 * stop is requested. */
static int ensure_ledger(struct collector *c, struct ledger **lg)
{
	int backoff = 200;

	while (!*c->stop) {
		struct tally_err err = {0};
		if (*lg && ledger_ok(*lg))
			return 0;
		if (!*lg) {
			*lg = ledger_open(c->cfg->database_url, &err);
			/* The writer's batches carry their offsets: see ledger.h. */
			if (*lg && lg == &c->lg_write && ledger_use_async_commit(*lg, &err) < 0)
				log_warn("collector: %s; commits wait for the disk", err.msg);
		} else if (ledger_reset(*lg, &err) < 0) {
			log_debug("collector: reconnecting to the ledger: %s", err.msg);
		}
		if (*lg && ledger_ok(*lg))
			return 0;
		log_warn("collector: %s; retrying in %d ms", err.msg, backoff);
		nap(c, backoff);
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
	}
	return -1;
}

/* Reloads the price book when it changed (checked every few seconds). */
static void refresh_pricebook(struct collector *c)
{
	struct tally_err err = {0};
	int64_t now = time_mono_us(), stamp;

	if (c->pb && now - c->pb_checked_us < PRICEBOOK_CHECK_US)
		return;
	if (ensure_ledger(c, &c->lg_main) < 0)
		return;
	c->pb_checked_us = now;
	if (ledger_pricebook_stamp(c->lg_main, &stamp, &err) < 0) {
		log_warn("collector: %s", err.msg);
		return;
	}
	if (c->pb && stamp == c->pb_stamp)
		return;
	struct pricebook *pb = ledger_load_pricebook(c->lg_main, &err);
	if (!pb) {
		log_warn("collector: %s", err.msg);
		return;
	}
	pricebook_free(c->pb);
	c->pb = pb;
	c->pb_stamp = stamp;
	log_info("collector: price book loaded (%zu prices)", pricebook_count(pb));
}

/* ---- the batch being filled ---------------------------------------------- */

/* Copies the raw bytes of the message at pos into p. */
static int keep_raw(struct pending *p, const struct kafka_pos *pos, const void *data, size_t len)
{
	if (p->n_refs == p->cap_refs) {
		size_t cap = p->cap_refs ? p->cap_refs * 2 : 1024;
		struct raw_ref *nr = realloc(p->refs, cap * sizeof *nr);
		if (!nr)
			return -1;
		p->refs = nr;
		p->cap_refs = cap;
	}
	p->refs[p->n_refs] = (struct raw_ref){*pos, p->raw.len, len};
	sbuf_append(&p->raw, data, len);
	if (p->raw.oom)
		return -1;
	p->n_refs++;
	return 0;
}

/* Empties p. */
static void pending_reset(struct pending *p)
{
	p->n_refs = 0;
	p->bytes = 0;
	sbuf_reset(&p->raw);
	ledger_batch_reset(&p->batch);
}

static void pending_cleanup(struct pending *p)
{
	pending_reset(p);
	free(p->refs);
	p->refs = NULL;
	p->cap_refs = 0;
	sbuf_cleanup(&p->raw);
	ledger_batch_cleanup(&p->batch);
}

/* The raw bytes of the message at pos, kept with the batch (NULL if none). */
static const char *find_raw(const struct pending *p, const struct kafka_pos *pos, size_t *len)
{
	for (size_t i = 0; i < p->n_refs; i++) {
		const struct raw_ref *r = &p->refs[i];
		if (r->pos.partition == pos->partition && r->pos.offset == pos->offset &&
		    r->pos.topic == pos->topic) {
			*len = r->len;
			return p->raw.p + r->from;
		}
	}
	return NULL;
}

/* Prices a parsed call into its row (ledger/pricing.c: the one pricer). */
static void price_row(struct collector *c, struct call_row *row)
{
	ledger_price_row(row, c->pb);
}

static void quarantine(struct pending *p, const struct kafka_pos *pos, const char *reason,
                       const void *raw, size_t len)
{
	if (ledger_batch_add_quarantine(&p->batch, pos, reason, raw, len) < 0)
		log_error("collector: out of memory quarantining %s[%d]@%lld", pos->topic,
		          pos->partition, (long long)pos->offset);
}

/* Turns one OTLP message (otlp_proto or otlp_json, as the OpenTelemetry
 * Collector's Kafka exporter writes them) into call rows: one per GenAI span;
 * other spans are skipped and counted. Spans that cannot be calls put the
 * message in quarantine once (its position is unique there) with their
 * reasons, while its good spans are stored. */
static void add_otlp(struct collector *c, const rd_kafka_message_t *m)
{
	struct pending *p = c->filling;
	struct kafka_pos pos = {c->topic_otlp, m->partition, m->offset};
	const char *buf = m->payload ? (const char *)m->payload : "";
	struct ingest_result r;
	struct tally_err err = {0};
	struct sbuf why;
	size_t bad = 0, i = 0;

	if (ledger_batch_mark(&p->batch, &pos) < 0)
		log_error("collector: out of memory marking %s[%d]@%lld stored: after a restart it"
		          " is read again (and stored once)",
		          pos.topic, pos.partition, (long long)pos.offset);
	p->bytes += m->len;
	if (m->len <= OTLP_MAX_BYTES && keep_raw(p, &pos, buf, m->len) < 0)
		log_error("collector: out of memory keeping %s[%d]@%lld", pos.topic, pos.partition,
		          (long long)pos.offset);
	if (c->stats)
		c->stats->consumed++;
	while (i < m->len && strchr(" \t\r\n", buf[i]))
		i++;
	/* A protobuf request starts with field 1's tag (0x0a), never '{'. */
	if (otlp_convert(buf, m->len, i < m->len && buf[i] == '{' ? OTLP_JSON : OTLP_PROTOBUF,
	                 &c->otlp_map, &r, &err) < 0) {
		char reason[300];
		snprintf(reason, sizeof reason, "OTLP message: %s", err.msg);
		quarantine(p, &pos, reason, buf, m->len);
		ingest_result_cleanup(&r);
		return;
	}
	ingest_count_spans(INGEST_KAFKA, r.spans, r.skipped);
	sbuf_init(&why);
	for (i = 0; i < r.n; i++) {
		struct ingest_item *it = &r.items[i];
		struct event *ev = &c->scratch;
		tally_err_clear(&err);
		if (it->text && event_parse(it->text, it->len, EVENT_CALL, ev, &err) == 0) {
			struct call_row *row = ledger_batch_add_call_from(&p->batch, &ev->u.call);
			if (row) {
				row->pos = pos;
				price_row(c, row);
				ledger_batch_seal_call(&p->batch);
			}
			continue;
		}
		if (bad++ < 3)
			sbuf_printf(&why, "%s%s: %s", why.len ? "; " : "", it->source,
			            it->text ? err.msg : it->reason);
	}
	if (bad) {
		char reason[512];
		snprintf(reason, sizeof reason, "OTLP message: %zu of %zu GenAI spans refused: %s",
		         bad, r.n, why.p ? why.p : "");
		quarantine(p, &pos, reason, buf, m->len);
	}
	sbuf_cleanup(&why);
	ingest_result_cleanup(&r);
}

/* Parses one message into the batch: a call, outcome or feedback row, or
 * quarantine. Every consumed offset is marked, whatever became of it. */
static void add_message(struct collector *c, const rd_kafka_message_t *m)
{
	struct pending *p = c->filling;
	const char *tname = rd_kafka_topic_name(m->rkt);
	struct kafka_pos pos = {NULL, m->partition, m->offset};
	int kind = -1;
	char reason[256];

	for (int k = 0; k < EVENT_KINDS; k++)
		if (strcmp(tname, c->topics[k]) == 0)
			kind = k, pos.topic = c->topics[k];
	if (kind < 0 && strcmp(tname, c->topic_otlp) == 0) {
		add_otlp(c, m);
		return;
	}
	if (kind < 0)
		return; /* not one of ours */
	if (ledger_batch_mark(&p->batch, &pos) < 0)
		log_error("collector: out of memory marking %s[%d]@%lld stored: after a restart it"
		          " is read again (and stored once)",
		          pos.topic, pos.partition, (long long)pos.offset);
	p->bytes += m->len;
	const char *buf = m->payload ? (const char *)m->payload : "";
	/* The quarantine keeps its own copy; keep one for the others only while
	 * the message is small enough to be an event at all. */
	if (m->len <= EVENT_MAX_BYTES && keep_raw(p, &pos, buf, m->len) < 0)
		log_error("collector: out of memory keeping %s[%d]@%lld", pos.topic, pos.partition,
		          (long long)pos.offset);
	if (c->stats) {
		c->stats->consumed++;
		c->stats->consumed_by_topic[kind]++;
	}

	if (m->len > EVENT_MAX_BYTES) {
		snprintf(reason, sizeof reason,
		         "message is %zu bytes, over the %d-byte limit: split or trim it", m->len,
		         EVENT_MAX_BYTES);
		quarantine(p, &pos, reason, buf, m->len);
		return;
	}
	if (!utf8_valid(buf, m->len)) {
		quarantine(p, &pos, "message is not valid UTF-8: send JSON encoded as UTF-8", buf,
		           m->len);
		return;
	}
	struct event *ev = &c->scratch;
	struct tally_err err = {0};
	if (event_parse(buf, m->len, kind, ev, &err) < 0) {
		quarantine(p, &pos, err.msg, buf, m->len);
		return;
	}
	if (kind == EVENT_CALL) {
		struct call_row *row = ledger_batch_add_call_from(&p->batch, &ev->u.call);
		if (row) {
			row->pos = pos;
			price_row(c, row);
			ledger_batch_seal_call(&p->batch); /* format here, off the writer */
		}
	} else if (kind == EVENT_OUTCOME) {
		struct outcome_row *row = ledger_batch_add_outcome(&p->batch);
		if (row)
			row->ev = ev->u.outcome, row->pos = pos;
	} else {
		struct feedback_row *row = ledger_batch_add_feedback(&p->batch);
		if (row)
			row->ev = ev->u.feedback, row->pos = pos;
	}
}

/* ---- what was stored, counted --------------------------------------------------- */

static void account(struct collector *c, const struct ledger_batch_result *r)
{
	if (r->redelivered)
		__atomic_store_n(&c->recheck, 1, __ATOMIC_RELAXED);
	if (!c->stats)
		return;
	c->stats->inserted += (int64_t)r->calls_inserted;
	c->stats->duplicates += (int64_t)r->duplicates;
	c->stats->quarantined += (int64_t)r->quarantined;
	c->stats->unpriced += (int64_t)r->unpriced;
	c->stats->outcomes += (int64_t)r->outcomes;
	c->stats->feedback += (int64_t)r->feedback;
	c->stats->redelivered += (int64_t)r->redelivered;
}

/* ---- the window: what it stored, accounted when it commits -------------------- */

static void win_add_result(struct collector *c, const struct ledger_batch_result *r)
{
	struct ledger_batch_result *w = &c->win_res;
	w->calls_inserted += r->calls_inserted;
	w->duplicates += r->duplicates;
	w->redelivered += r->redelivered;
	w->unpriced += r->unpriced;
	w->outcomes += r->outcomes;
	w->feedback += r->feedback;
	w->quarantined += r->quarantined;
}

/* The batch's per-topic quarantine counts and highest offsets. */
static void win_add_batch(struct collector *c, const struct ledger_batch *b)
{
	for (size_t i = 0; i < b->n_quarantine; i++)
		for (int k = 0; k < EVENT_KINDS; k++)
			if (b->quarantine[i].pos.topic == c->topics[k])
				c->win_quarantined[k]++;
	for (size_t i = 0; i < b->n_marks; i++) {
		const struct kafka_pos *m = &b->marks[i];
		size_t j = 0;
		while (j < c->n_win_marks && (c->win_marks[j].partition != m->partition ||
		                              strcmp(c->win_marks[j].topic, m->topic) != 0))
			j++;
		if (j < c->n_win_marks) {
			if (m->offset > c->win_marks[j].offset)
				c->win_marks[j].offset = m->offset;
			continue;
		}
		if (c->n_win_marks == c->cap_win_marks) {
			size_t ncap = c->cap_win_marks ? c->cap_win_marks * 2 : 64;
			struct kafka_pos *nm = realloc(c->win_marks, ncap * sizeof *nm);
			if (!nm)
				continue; /* informational only (commit_to_kafka) */
			c->win_marks = nm;
			c->cap_win_marks = ncap;
		}
		c->win_marks[c->n_win_marks++] = *m;
	}
}

static void win_forget(struct collector *c)
{
	memset(&c->win_res, 0, sizeof c->win_res);
	memset(c->win_quarantined, 0, sizeof c->win_quarantined);
	c->n_win_marks = 0;
}

/* Tells Kafka what the ledger now holds, so that the group's lag shows in
 * the usual tools (kafka-consumer-groups, Burrow, Kafka UIs). Only after the
 * ledger's commit and only informational: the collector never reads these
 * back, it seeks to the ledger's offsets. Asynchronous; a failure is
 * harmless (the next window commits again). */
static void commit_to_kafka(struct collector *c)
{
	if (!c->rk || c->n_win_marks == 0)
		return;
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)c->n_win_marks);
	for (size_t i = 0; i < c->n_win_marks; i++)
		rd_kafka_topic_partition_list_add(l, c->win_marks[i].topic,
		                                  c->win_marks[i].partition)
		    ->offset = c->win_marks[i].offset + 1;
	rd_kafka_resp_err_t e = rd_kafka_commit(c->rk, l, 1);
	if (e)
		log_debug("collector: Kafka offset commit: %s", rd_kafka_err2str(e));
	rd_kafka_topic_partition_list_destroy(l);
}

/* The open window and everything it stored are gone (rolled back): the
 * consumer thread reads its messages again from the ledger's offsets, and
 * nothing is handed to the writer until it has. */
static void window_lost(struct collector *c, size_t batches, const char *why)
{
	log_warn("collector: the transaction of the last %zu batches was lost (%s); nothing of"
	         " them is stored: reading them again from the ledger's offsets",
	         batches, why);
	win_forget(c);
	pthread_mutex_lock(&c->mu);
	c->rewind = true;
	c->window_open = false;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

/* Sums the queued calls into the rollups (ledger_rollups_roll). A failure
 * leaves them queued: the reports read them exactly, the next roll sums
 * them. */
static void roll(struct collector *c, const char *why)
{
	int64_t t0 = time_mono_us(), rolled = 0;
	struct tally_err err = {0};

	if (ensure_ledger(c, &c->lg_write) < 0)
		return;
	if (ledger_rollups_roll(c->lg_write, true, &rolled, &err) < 0) {
		if (c->stats)
			c->stats->db_errors++;
		log_warn("collector: summing the rollups: %s; the calls stay queued (reports read"
		         " them exactly) and are summed at the next roll",
		         err.msg);
		return;
	}
	int64_t us = time_mono_us() - t0;
	if (rolled)
		log_debug("collector: rollups summed (%s): %lld transactions, %lld calls of this"
		          " collector, in %lld us",
		          why, (long long)rolled, (long long)c->unrolled_calls, (long long)us);
	c->unrolled_calls = 0;
}

/* Whether the rollups are due after a window's commit. */
static const char *roll_due(struct collector *c, int64_t now)
{
	if (c->unrolled_calls == 0)
		return NULL;
	if (c->quit)
		return "stopping";
	if (c->unrolled_calls >= ROLL_MAX_CALLS)
		return "calls behind";
	if (now - c->unrolled_since_us >= ROLL_MAX_AGE_US)
		return "time behind";
	return NULL;
}

/* Commits the open window: its counts, metrics and Kafka offsets then; the
 * rollups when due. */
static void window_end(struct collector *c)
{
	struct ledger_window_result wr;
	struct tally_err err = {0};
	size_t batches = ledger_window_batches(c->lg_write);

	if (ledger_window_commit(c->lg_write, &wr, &err) == 0) {
		account(c, &c->win_res);
		if (c->stats)
			for (int k = 0; k < EVENT_KINDS; k++)
				c->stats->quarantined_by_topic[k] += c->win_quarantined[k];
		commit_to_kafka(c);
		if (wr.batches)
			log_debug("collector: window committed: %zu batches in %lld us", wr.batches,
			          (long long)wr.write_us);
		if (c->win_res.calls_inserted && c->unrolled_calls == 0)
			c->unrolled_since_us = time_mono_us();
		c->unrolled_calls += (int64_t)c->win_res.calls_inserted;
		win_forget(c);
		int64_t now = time_mono_us();
		const char *why = roll_due(c, now);
		if (why)
			roll(c, why);
		else if (c->unrolled_calls && c->drained)
			c->roll_idle_at = now + ROLL_IDLE_US;
	} else {
		if (c->stats)
			c->stats->db_errors++;
		if (batches)
			window_lost(c, batches, err.msg);
		else
			win_forget(c);
	}
	pthread_mutex_lock(&c->mu);
	c->window_open = false;
	c->drained = false;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

/* Whether the open window should commit now. */
static bool window_due(struct collector *c, int64_t now)
{
	return ledger_window_age_us(c->lg_write) >= WINDOW_US ||
	       now - c->win_last_us >= WINDOW_IDLE_US ||
	       c->win_res.calls_inserted >= WINDOW_MAX_CALLS;
}

/* ---- the writer thread ------------------------------------------------------ */

/* Adds one batch to the window; 0 when added, 1 when the window (with the
 * batches before this one) was lost, -1 on another failure (err). */
static int window_add(struct collector *c, const struct ledger_batch *b,
                      struct ledger_batch_result *r, struct tally_err *err)
{
	size_t had = ledger_window_batches(c->lg_write);

	if (ledger_window_add(c->lg_write, &c->src, b, r, err) == 0) {
		win_add_result(c, r);
		c->win_last_us = time_mono_us();
		pthread_mutex_lock(&c->mu);
		c->window_open = true;
		pthread_mutex_unlock(&c->mu);
		return 0;
	}
	if (c->stats)
		c->stats->db_errors++;
	if (had && ledger_window_batches(c->lg_write) == 0) {
		window_lost(c, had, err->msg);
		return 1;
	}
	return -1;
}

/* The ledger refused the batch for a reason that retrying will not fix (a
 * value PostgreSQL rejects): write its messages one at a time, and
 * quarantine the ones refused alone, raw, with PostgreSQL's reason. Slow,
 * but only for a poisoned batch. 0 when done, 1 when the window was lost,
 * -1 to retry the whole batch later. */
static int write_one_by_one(struct collector *c, const struct pending *p)
{
	struct ledger_batch_walk w;
	struct ledger_batch one;
	struct kafka_pos pos;
	int rc = 0, more;

	if (ledger_batch_walk_init(&w, &p->batch) < 0)
		return -1;
	ledger_batch_init(&one);
	while (rc == 0 && (more = ledger_batch_walk_next(&w, &one, &pos)) != 0) {
		struct ledger_batch_result r;
		struct tally_err err = {0};

		if (more < 0) {
			rc = -1; /* out of memory: retry the whole batch later */
			break;
		}
		if ((rc = window_add(c, &one, &r, &err)) >= 0)
			continue;
		if (err.retriable || err.code != TALLY_EINVAL)
			break; /* not this message's fault: retry the whole batch later */
		char reason[256];
		snprintf(reason, sizeof reason, "the ledger refused this event: %.200s", err.msg);
		log_warn("collector: %s[%d]@%lld: %s", pos.topic, pos.partition,
		         (long long)pos.offset, reason);
		size_t raw_len = 0;
		const char *raw = find_raw(p, &pos, &raw_len);
		ledger_batch_reset(&one);
		if (ledger_batch_add_quarantine(&one, &pos, reason, raw ? raw : "", raw_len) < 0 ||
		    ledger_batch_mark(&one, &pos) < 0) {
			rc = -1; /* never store the offset without the message */
			break;
		}
		tally_err_clear(&err);
		rc = window_add(c, &one, &r, &err);
	}
	ledger_batch_cleanup(&one);
	ledger_batch_walk_cleanup(&w);
	return rc;
}

/* Stores p in the window. With retry, keeps trying (backoff, reconnect)
 * until it is stored, a stop is requested or the window is lost (then p is
 * read again with the window's batches); without, tries once. Returns 0
 * when stored. */
static int store(struct collector *c, struct pending *p, bool retry)
{
	int backoff = 200;

	if (ledger_batch_size(&p->batch) == 0 && p->batch.n_marks == 0)
		return 0;
	for (;;) {
		struct ledger_batch_result r;
		struct tally_err err = {0};
		int64_t t0 = time_mono_us();

		if (ensure_ledger(c, &c->lg_write) < 0)
			return -1;
		int rc = window_add(c, &p->batch, &r, &err);
		if (rc == 0) {
			int64_t us = time_mono_us() - t0;
			win_add_batch(c, &p->batch);
			if (c->stats) {
				c->stats->batches++;
				c->stats->batch_us_total += us;
				collector_stats_observe_batch(
				    c->stats, (int64_t)ledger_batch_size(&p->batch), us);
			}
			log_debug(
			    "collector: batch stored: %zu calls (%zu duplicates), %zu outcomes,"
			    " %zu feedback, %zu quarantined in %lld us",
			    r.calls_inserted, r.duplicates, r.outcomes, r.feedback, r.quarantined,
			    (long long)us);
			return 0;
		}
		if (rc > 0)
			return -1; /* read again */
		if (!err.retriable && err.code == TALLY_EINVAL) {
			log_error("collector: batch refused: %s; storing its messages one by one",
			          err.msg);
			rc = write_one_by_one(c, p);
			if (rc == 0) {
				win_add_batch(c, &p->batch);
				return 0;
			}
			if (rc > 0)
				return -1;
		} else if (!err.retriable) {
			/* Not the data's fault (e.g. a schema that is not migrated): hold
			 * everything, say so loudly, and keep trying. */
			log_error(
			    "collector: cannot store batch: %s; fix the ledger, retrying in %d ms",
			    err.msg, backoff);
		} else {
			log_warn("collector: cannot store batch: %s; retrying in %d ms", err.msg,
			         backoff);
		}
		if (!retry || *c->stop)
			return -1;
		nap(c, backoff);
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
	}
}

/* Waits on the writer's condition (c->mu held) for at most wait_us. */
static void wait_until_us(struct collector *c, int64_t wait_us)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += (long)(wait_us % 1000000) * 1000;
	until.tv_sec += (time_t)(wait_us / 1000000) + until.tv_nsec / 1000000000L;
	until.tv_nsec %= 1000000000L;
	pthread_cond_timedwait(&c->cv, &c->mu, &until);
}

static void *writer_main(void *arg)
{
	struct collector *c = arg;

	roll(c, "what an earlier run left queued");
	c->idle_roll_us = time_mono_us();
	pthread_mutex_lock(&c->mu);
	for (;;) {
		if (c->handed) {
			struct pending *p = c->handed;
			bool retry = c->handed_retry;
			pthread_mutex_unlock(&c->mu);
			if (store(c, p, retry) < 0 && ledger_batch_size(&p->batch))
				log_info("collector: abandoning %zu unstored messages (they will be"
				         " read again)",
				         ledger_batch_size(&p->batch));
			pending_reset(p);
			pthread_mutex_lock(&c->mu);
			c->handed = NULL;
			c->roll_idle_at = 0; /* not idle */
			c->idle_roll_us = time_mono_us();
			pthread_cond_broadcast(&c->cv);
			continue;
		}
		if (c->window_open) {
			int64_t now = time_mono_us();
			if (c->flush || c->quit || c->drained || window_due(c, now)) {
				pthread_mutex_unlock(&c->mu);
				window_end(c);
				pthread_mutex_lock(&c->mu);
				continue;
			}
			/* until the window is due, or a batch or a flush comes */
			int64_t due = WINDOW_US - ledger_window_age_us(c->lg_write);
			int64_t idle = WINDOW_IDLE_US - (now - c->win_last_us);
			wait_until_us(c, (due < idle ? due : idle) + 1000);
			continue;
		}
		if (c->roll_idle_at && !c->quit) {
			if (time_mono_us() >= c->roll_idle_at) {
				c->roll_idle_at = 0;
				pthread_mutex_unlock(&c->mu);
				if (c->unrolled_calls)
					roll(c, "caught up");
				pthread_mutex_lock(&c->mu);
			} else {
				wait_until_us(c, c->roll_idle_at - time_mono_us());
			}
			continue;
		}
		if (c->quit) {
			if (c->unrolled_calls) {
				pthread_mutex_unlock(&c->mu);
				roll(c, "stopping");
				pthread_mutex_lock(&c->mu);
			}
			break;
		}
		/* Idle: what others queued and could not sum (the HTTP ingestion
		 * skips its roll while one is under way) is summed here. */
		if (time_mono_us() - c->idle_roll_us >= ROLL_IDLE_CHECK_US) {
			c->idle_roll_us = time_mono_us();
			pthread_mutex_unlock(&c->mu);
			roll(c, "idle");
			pthread_mutex_lock(&c->mu);
			continue;
		}
		wait_until_us(c, ROLL_IDLE_CHECK_US - (time_mono_us() - c->idle_roll_us) + 1000);
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

/* Waits until the writer has no batch and no open window: what was handed
 * is committed (or given up), so the ledger's offsets are what it stored. */
static void wait_writer(struct collector *c)
{
	pthread_mutex_lock(&c->mu);
	c->flush = true;
	pthread_cond_broadcast(&c->cv);
	while (c->handed || c->window_open)
		pthread_cond_wait(&c->cv, &c->mu);
	c->flush = false;
	pthread_mutex_unlock(&c->mu);
}

/* Gives the batch being filled to the writer (after the previous one is
 * done) and starts filling the other slot. While a lost window waits to be
 * read again, the batch is dropped instead: it follows the lost messages
 * and is read again with them. */
static void hand_off(struct collector *c, bool retry)
{
	struct pending *p = c->filling;

	if (ledger_batch_size(&p->batch) == 0 && p->batch.n_marks == 0)
		return;
	int64_t t0 = time_mono_us(), ahead_us = 0;
	pthread_mutex_lock(&c->mu);
	bool busy = c->handed != NULL;
	pthread_mutex_unlock(&c->mu);
	if (busy && p->batch.n_calls) {
		/* The writer stores the batch before: look this one's event_ids
		 * up meanwhile, on this thread's connection, so that the writer
		 * looks up only what its own windows stored since
		 * (ledger_probe_ahead). Failing costs only that: the writer looks
		 * the batch up itself. */
		struct tally_err err = {0};
		uint64_t gen = ledger_seen_generation(c->lg_write);
		if (ledger_ok(c->lg_main) &&
		    ledger_probe_ahead(c->lg_main, &p->batch, gen, &err) < 0)
			log_debug(
			    "collector: looking a batch up ahead: %s (the writer looks it up)",
			    err.msg);
		ahead_us = time_mono_us() - t0;
	}
	pthread_mutex_lock(&c->mu);
	while (c->handed)
		pthread_cond_wait(&c->cv, &c->mu);
	if (c->rewind) {
		pthread_mutex_unlock(&c->mu);
		pending_reset(p);
		return;
	}
	log_debug("collector: %zu messages parsed in %lld us; looked up ahead in %lld us;"
	          " waited %lld us for the writer",
	          ledger_batch_size(&p->batch), (long long)(t0 - p->started_us),
	          (long long)ahead_us, (long long)(time_mono_us() - t0 - ahead_us));
	c->handed = p;
	c->handed_retry = retry;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	c->filling = p == &c->slots[0] ? &c->slots[1] : &c->slots[0];
}

/* ---- Kafka ------------------------------------------------------------------- */

/* Reads the cluster id the brokers report into c->cluster_id. */
static int read_cluster_id(struct collector *c)
{
	char *id = rd_kafka_clusterid(c->rk, 5000);

	if (!id || !*id) {
		if (id)
			rd_kafka_mem_free(c->rk, id);
		return -1;
	}
	if (strcmp(id, c->cluster_id) != 0) {
		if (c->cluster_id[0])
			log_warn(
			    "collector: Kafka cluster changed from %s to %s: offsets stored for"
			    " %s are not used on %s",
			    c->cluster_id, id, c->cluster_id, id);
		else
			log_info("collector: Kafka cluster %s", id);
		str_copy(c->cluster_id, sizeof c->cluster_id, id);
	}
	rd_kafka_mem_free(c->rk, id);
	return 0;
}

/* Records a stored offset that the broker's watermarks make impossible
 * (retrying while the ledger is away); a stop abandons it. */
static void record_reset(struct collector *c, const struct ledger_offset_reset *r)
{
	while (!*c->stop) {
		struct tally_err err = {0};
		bool applied;
		if (ensure_ledger(c, &c->lg_main) < 0)
			return;
		if (ledger_offset_reset(c->lg_main, &c->src, r, &applied, &err) == 0)
			return;
		log_warn("collector: %s; retrying", err.msg);
		nap(c, 500);
	}
}

/* Where to read a partition from, given its stored next offset (-1: none)
 * and, after the broker refused a fetch, the fetch position it refused (-1
 * otherwise). The stored offset when the broker's watermarks allow it. When
 * they do not, never guess silently: one ERROR naming both, a count, a row
 * in kafka_offset_resets, and the partition is read from its low watermark
 * (nothing unseen is taken as stored). */
static int64_t resume_offset(struct collector *c, const char *topic, int32_t partition,
                             int64_t stored, int64_t refused)
{
	int64_t lo = -1, hi = -1, pos;
	char why[512];

	if (stored < 0 && refused < 0)
		return RD_KAFKA_OFFSET_BEGINNING;
	rd_kafka_resp_err_t e =
	    rd_kafka_query_watermark_offsets(c->rk, topic, partition, &lo, &hi, 5000);
	if (e) {
		if (refused < 0) {
			/* Checked again by the broker when fetching (auto.offset.reset
			 * is "error"). */
			log_warn("collector: %s[%d]: cannot read the broker's offsets (%s);"
			         " resuming at stored offset %lld",
			         topic, (int)partition, rd_kafka_err2str(e), (long long)stored);
			return stored;
		}
		log_error("collector: %s[%d]: the broker refused offset %lld as out of range and"
		          " its offsets cannot be read (%s); reading the partition from its"
		          " beginning",
		          topic, (int)partition, (long long)refused, rd_kafka_err2str(e));
		return RD_KAFKA_OFFSET_BEGINNING;
	}
	/* The refused position first (out of range now: the partition changed
	 * under the collector), then the stored offset. */
	if (refused >= 0 && (refused < lo || refused > hi))
		pos = refused;
	else if (stored >= 0 && (stored < lo || stored > hi))
		pos = stored;
	else
		return stored >= 0 ? stored : refused;
	if (pos > hi)
		snprintf(
		    why, sizeof why,
		    "it is beyond the partition's end: the topic was deleted and created again,"
		    " or the cluster was replaced or lost data; read the partition again from"
		    " offset %lld (calls already stored are recognised by event_id)",
		    (long long)lo);
	else
		snprintf(why, sizeof why,
		         "it is below the first offset Kafka still holds: messages %lld to %lld"
		         " were deleted by retention before the collector stored them and are"
		         " lost; resumed at offset %lld",
		         (long long)pos, (long long)lo - 1, (long long)lo);
	log_error("collector: %s[%d]: %s offset %lld is not in the broker's offsets %lld..%lld"
	          " (cluster %s, group %s): %s",
	          topic, (int)partition, pos == stored ? "stored" : "fetch", (long long)pos,
	          (long long)lo, (long long)hi, c->cluster_id, c->cfg->kafka_group, why);
	struct ledger_offset_reset r = {topic, partition, stored >= 0 ? stored : pos, lo, hi,
	                                lo,    why};
	record_reset(c, &r);
	return lo;
}

/* Moves an assigned partition's reading position (its fetched but unread
 * messages are dropped by librdkafka). */
static void seek_partition(struct collector *c, const char *topic, int32_t partition, int64_t at)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);

	rd_kafka_topic_partition_list_add(l, topic, partition)->offset = at;
	rd_kafka_error_t *se = rd_kafka_seek_partitions(c->rk, l, 5000);
	if (se) {
		log_error("collector: %s[%d]: cannot seek to %lld: %s", topic, (int)partition,
		          (long long)at, rd_kafka_error_string(se));
		rd_kafka_error_destroy(se);
	}
	rd_kafka_topic_partition_list_destroy(l);
}

/* The next offsets the ledger stores for the partitions of parts, in the
 * order of parts (-1: none), retrying while the ledger is away; a malloc'd
 * array, or NULL when a stop was requested (or out of memory). */
static int64_t *stored_offsets_of(struct collector *c, const rd_kafka_topic_partition_list_t *parts)
{
	const char **topics = calloc((size_t)parts->cnt + 1, sizeof *topics);
	int32_t *ps = calloc((size_t)parts->cnt + 1, sizeof *ps);
	int64_t *offs = calloc((size_t)parts->cnt + 1, sizeof *offs);
	bool ok = topics && ps && offs;

	for (int i = 0; ok && i < parts->cnt; i++) {
		topics[i] = parts->elems[i].topic;
		ps[i] = parts->elems[i].partition;
	}
	while (ok) {
		struct tally_err err = {0};
		if (ensure_ledger(c, &c->lg_main) < 0) {
			ok = false;
			break;
		}
		if (ledger_stored_offsets(c->lg_main, &c->src, topics, ps, (size_t)parts->cnt, offs,
		                          &err) == 0)
			break;
		log_warn("collector: %s; retrying", err.msg);
		nap(c, 500);
	}
	free(topics);
	free(ps);
	if (!ok) {
		free(offs);
		return NULL;
	}
	return offs;
}

/* Assigns parts, each partition at the offset stored in the ledger for the
 * brokers' cluster as judged by resume_offset (the beginning when none).
 * The partition refused_topic[refused_partition], when not NULL, is the one
 * the broker refused to fetch at `refused`. A stop takes nothing, so that
 * nothing is consumed unstored. The writer must be idle. */
static void assign_from_ledger(struct collector *c, rd_kafka_topic_partition_list_t *parts,
                               const char *refused_topic, int32_t refused_partition,
                               int64_t refused)
{
	int64_t *offs = NULL;
	bool ok = true;

	/* Offsets belong to the cluster they were read from: which one is this? */
	while (ok && read_cluster_id(c) < 0) {
		log_warn("collector: Kafka does not tell its cluster id yet; retrying");
		nap(c, 500);
		ok = !*c->stop;
	}
	if (ok && !(offs = stored_offsets_of(c, parts)))
		ok = false;
	for (int i = 0; ok && i < parts->cnt; i++) {
		const char *t = parts->elems[i].topic;
		int32_t p = parts->elems[i].partition;
		bool was_refused =
		    refused_topic && p == refused_partition && strcmp(t, refused_topic) == 0;
		parts->elems[i].offset =
		    resume_offset(c, t, p, offs[i], was_refused ? refused : -1);
	}
	free(offs);
	if (!ok) {
		rd_kafka_assign(c->rk, NULL);
		return;
	}
	log_info("collector: assigned %d partitions of cluster %s, resuming from stored offsets",
	         parts->cnt, c->cluster_id);
	rd_kafka_resp_err_t e = rd_kafka_assign(c->rk, parts);
	if (e)
		log_error("collector: cannot assign the partitions: %s", rd_kafka_err2str(e));
}

/* The broker refused to fetch a partition from its position (out of range:
 * auto.offset.reset is "error", so librdkafka does not guess, and the
 * partition stops). Stores what is pending, then assigns the partitions
 * again from the ledger's offsets, the refused one judged against the
 * broker's watermarks (librdkafka cannot seek a partition stopped so). */
static void out_of_range(struct collector *c, const char *topic, int32_t partition, int64_t refused)
{
	rd_kafka_topic_partition_list_t *as = NULL;
	char t[128];

	str_copy(t, sizeof t, topic); /* the message carrying topic goes away */
	hand_off(c, true);
	wait_writer(c);
	if (rd_kafka_assignment(c->rk, &as) || !as)
		return;
	log_warn("collector: %s[%d]: the broker refused offset %lld as out of range; checking"
	         " every stored offset against the broker's",
	         t, (int)partition, (long long)refused);
	assign_from_ledger(c, as, t, partition, refused);
	rd_kafka_topic_partition_list_destroy(as);
}

/* Messages were skipped as already stored. That is right when another
 * collector stored them (a rebalance overlaps), never when the stored offset
 * is beyond the partition's end (a topic recreated under a running
 * collector, a ledger restored from another deployment): check every
 * assigned partition's stored offset against the broker's watermarks and
 * read again what an impossible one hid. */
static void recheck_offsets(struct collector *c)
{
	rd_kafka_topic_partition_list_t *as = NULL;

	if (rd_kafka_assignment(c->rk, &as) || !as)
		return;
	hand_off(c, true);
	wait_writer(c);
	for (int i = 0; i < as->cnt && !*c->stop; i++) {
		const char *topics[1] = {as->elems[i].topic};
		int64_t stored = -1;
		struct tally_err err = {0};
		if (ensure_ledger(c, &c->lg_main) < 0)
			break;
		if (ledger_stored_offsets(c->lg_main, &c->src, topics, &as->elems[i].partition, 1,
		                          &stored, &err) < 0) {
			log_warn("collector: %s", err.msg);
			break;
		}
		if (stored < 0)
			continue;
		int64_t at = resume_offset(c, topics[0], as->elems[i].partition, stored, -1);
		if (at != stored)
			seek_partition(c, topics[0], as->elems[i].partition, at);
	}
	rd_kafka_topic_partition_list_destroy(as);
}

/* On assignment: start each partition at the offset stored in the ledger
 * (the beginning when none); on revocation: store what is pending first. */
static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t code,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
	struct collector *c = opaque;

	if (code != RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		hand_off(c, false);
		wait_writer(c);
		log_info("collector: %d partitions revoked", parts->cnt);
		rd_kafka_assign(rk, NULL);
		return;
	}
	wait_writer(c); /* offsets read below must include every batch written */
	assign_from_ledger(c, parts, NULL, 0, -1);
}

static rd_kafka_t *consumer_new(struct collector *c, struct tally_err *err)
{
	char errstr[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	const char *kv[][2] = {
	    {"bootstrap.servers", c->cfg->kafka_brokers},
	    {"group.id", c->cfg->kafka_group},
	    {"client.id", "tally-collector"},
	    {"enable.auto.commit", "false"},
	    {"enable.auto.offset.store", "false"},
	    /* Never guess where to read: a position the broker refuses comes back
	     * as an error and is judged by out_of_range(). */
	    {"auto.offset.reset", "error"},
	    {"enable.partition.eof", "false"},
	    /* While the database is away we hold the batch and do not poll. */
	    {"max.poll.interval.ms", "86400000"},
	    {"queued.max.messages.kbytes", "24576"},
	    /* and what one fetch may add to it (librdkafka's default, 50 MB,
	     * took the peak over 170 MB in two bench runs of twenty). */
	    {"fetch.max.bytes", "8388608"},
	    /* A collector killed with -9 leaves the group within seconds. */
	    {"session.timeout.ms", "10000"},
	    {"heartbeat.interval.ms", "1000"},
	    {"fetch.wait.max.ms", "50"},
	};

	for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) {
		if (rd_kafka_conf_set(conf, kv[i][0], kv[i][1], errstr, sizeof errstr) !=
		    RD_KAFKA_CONF_OK) {
			rd_kafka_conf_destroy(conf);
			tally_err_set(err, TALLY_EKAFKA, false, "Kafka setting %s: %s", kv[i][0],
			              errstr);
			return NULL;
		}
	}
	/* librdkafka 2.2 and later: look again at a full prefetch queue after
	 * 10 ms, not 1 s (wake_fetchers does it for the older ones, which do
	 * not know the setting). */
	if (rd_kafka_conf_set(conf, "fetch.queue.backoff.ms", "10", errstr, sizeof errstr) !=
	    RD_KAFKA_CONF_OK)
		log_debug("collector: librdkafka %s has no fetch.queue.backoff.ms",
		          rd_kafka_version_str());
	rd_kafka_conf_set_opaque(conf, c);
	rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
	if (!rk) {
		rd_kafka_conf_destroy(conf); /* still ours when rd_kafka_new fails */
		tally_err_set(err, TALLY_EKAFKA, false, "cannot create the Kafka consumer: %s",
		              errstr);
		return NULL;
	}
	rd_kafka_poll_set_consumer(rk);
	rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new(EVENT_KINDS + 1);
	for (int k = 0; k < EVENT_KINDS; k++)
		rd_kafka_topic_partition_list_add(subs, c->topics[k], RD_KAFKA_PARTITION_UA);
	if (c->topic_otlp[0])
		rd_kafka_topic_partition_list_add(subs, c->topic_otlp, RD_KAFKA_PARTITION_UA);
	rd_kafka_resp_err_t e = rd_kafka_subscribe(rk, subs);
	rd_kafka_topic_partition_list_destroy(subs);
	if (e) {
		rd_kafka_destroy(rk);
		tally_err_set(err, TALLY_EKAFKA, false, "cannot subscribe: %s",
		              rd_kafka_err2str(e));
		return NULL;
	}
	return rk;
}

/* How many messages librdkafka knows of that were not read yet: each
 * assigned partition's position against the high watermark its last fetch
 * brought (cached: no request to the broker). A poll can come back empty in
 * the middle of a backlog (a fetch still on its way, the fetcher thread slow
 * to get the CPU); taken for "caught up", that would sum the rollups there,
 * seconds in which nothing is stored. A partition nothing was read from yet
 * (no position) counts as read: the next poll brings its messages. The
 * partitions behind are added to `behind` unless it is NULL. */
static int64_t backlog_known(struct collector *c, rd_kafka_topic_partition_list_t *behind)
{
	rd_kafka_topic_partition_list_t *as = NULL;
	int64_t n = 0;

	if (rd_kafka_assignment(c->rk, &as) || !as)
		return 0;
	if (rd_kafka_position(c->rk, as) == RD_KAFKA_RESP_ERR_NO_ERROR) {
		for (int i = 0; i < as->cnt; i++) {
			const rd_kafka_topic_partition_t *tp = &as->elems[i];
			int64_t lo, hi;
			if (tp->offset < 0 ||
			    rd_kafka_get_watermark_offsets(c->rk, tp->topic, tp->partition, &lo,
			                                   &hi) != RD_KAFKA_RESP_ERR_NO_ERROR ||
			    hi <= tp->offset)
				continue;
			n += hi - tp->offset;
			if (behind)
				rd_kafka_topic_partition_list_add(behind, tp->topic, tp->partition)
				    ->offset = -1; /* for offsets_for_times: the latest */
		}
	}
	rd_kafka_topic_partition_list_destroy(as);
	return n;
}

/* librdkafka 2.0 (Debian bookworm's) stops fetching while its prefetch
 * queue is over queued.max.messages.kbytes and decides again only when its
 * broker thread next wakes, up to a second later (confluentinc/librdkafka
 * issue 2879; 2.2 added fetch.queue.backoff.ms, set in consumer_new). A
 * collector reading a backlog empties the queue sooner and then waits, idle:
 * six pauses of about 200 ms in a 6 s run of bench/run.sh. So when the queue
 * runs low while the brokers hold more, one request to the leaders of the
 * partitions behind (the latest offsets: nothing changes) wakes their broker
 * threads, which then fetch at once (the wake is the request being queued:
 * the answer is waited for 50 ms at most, and not needed). Checked at most
 * every WAKE_FETCHERS_US, or WAKE_FETCHERS_SLOW_US after brokers took longer
 * than that to answer. */
static void wake_fetchers(struct collector *c)
{
	int64_t now = time_mono_us();

	if (now < c->wake_fetchers_at || !c->cq ||
	    rd_kafka_queue_length(c->cq) >= WAKE_FETCHERS_BELOW)
		return;
	c->wake_fetchers_at = now + WAKE_FETCHERS_US;
	rd_kafka_topic_partition_list_t *behind = rd_kafka_topic_partition_list_new(16);
	if (behind && backlog_known(c, behind) > 0) {
		rd_kafka_resp_err_t e = rd_kafka_offsets_for_times(c->rk, behind, 50);
		c->fetchers_woken++;
		/* Brokers that take longer to answer are far away: a fetch on its
		 * way takes as long, and more requests would only queue before it. */
		if (e == RD_KAFKA_RESP_ERR__TIMED_OUT)
			c->wake_fetchers_at = time_mono_us() + WAKE_FETCHERS_SLOW_US;
		else if (e)
			log_debug("collector: waking the fetchers: %s", rd_kafka_err2str(e));
	}
	if (behind)
		rd_kafka_topic_partition_list_destroy(behind);
}

/* Kafka had nothing for a poll and nothing waits to be handed over, and
 * knows of nothing more to fetch (backlog_known): the writer commits its
 * window now instead of after WINDOW_IDLE_US (under a backlog this never
 * happens; at a trickle each batch commits at once). */
static void drained(struct collector *c)
{
	pthread_mutex_lock(&c->mu);
	bool open = c->window_open && !c->drained;
	pthread_mutex_unlock(&c->mu);
	if (!open)
		return;
	int64_t behind = backlog_known(c, NULL);
	if (behind > 0) {
		int64_t now = time_mono_us();
		if (now - c->behind_logged_us >= 1000000) {
			log_debug("collector: a poll brought nothing, %lld messages still to fetch:"
			          " not caught up",
			          (long long)behind);
			c->behind_logged_us = now;
		}
		return;
	}
	pthread_mutex_lock(&c->mu);
	if (c->window_open && !c->drained) {
		c->drained = true;
		pthread_cond_broadcast(&c->cv);
	}
	pthread_mutex_unlock(&c->mu);
}

/* A window was lost (window_lost): drops the batch being filled and seeks
 * every assigned partition back to the ledger's offset (judged against the
 * broker's watermarks as on assignment), so that the lost messages, and
 * those after them, are read again. */
static void rewind_to_ledger(struct collector *c)
{
	rd_kafka_topic_partition_list_t *as = NULL;

	pending_reset(c->filling);
	wait_writer(c);
	if (rd_kafka_assignment(c->rk, &as) == 0 && as) {
		int64_t *offs = stored_offsets_of(c, as);
		for (int i = 0; offs && i < as->cnt; i++) {
			const char *t = as->elems[i].topic;
			int32_t p = as->elems[i].partition;
			seek_partition(c, t, p, resume_offset(c, t, p, offs[i], -1));
		}
		if (offs)
			log_info("collector: %d partitions read again from the ledger's offsets",
			         as->cnt);
		rd_kafka_topic_partition_list_destroy(as);
		if (!offs)
			return; /* stopping: nothing more is stored; the flag stays */
		free(offs);
	}
	pthread_mutex_lock(&c->mu);
	c->rewind = false;
	pthread_mutex_unlock(&c->mu);
}

static void consume(struct collector *c)
{
	int64_t last_err_log = 0;

	while (!*c->stop) {
		if (__atomic_load_n(&c->rewind, __ATOMIC_RELAXED))
			rewind_to_ledger(c);
		rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, 50);
		struct pending *p = c->filling;
		wake_fetchers(c);
		if (!m && ledger_batch_size(&p->batch) == 0)
			drained(c);
		if (m) {
			if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET && m->rkt) {
				out_of_range(c, rd_kafka_topic_name(m->rkt), m->partition,
				             m->offset);
			} else if (m->err) {
				int64_t now = time_mono_us();
				if (now - last_err_log > 5000000) {
					log_warn("collector: Kafka: %s",
					         rd_kafka_message_errstr(m));
					last_err_log = now;
				}
			} else {
				if (ledger_batch_size(&p->batch) == 0)
					p->started_us = time_mono_us();
				add_message(c, m);
			}
			rd_kafka_message_destroy(m);
		}
		if (__atomic_exchange_n(&c->recheck, 0, __ATOMIC_RELAXED))
			recheck_offsets(c);
		p = c->filling;
		size_t n = ledger_batch_size(&p->batch);
		if (n && (n >= BATCH_MAX_MESSAGES || p->bytes >= BATCH_MAX_BYTES ||
		          time_mono_us() - p->started_us >= BATCH_LINGER_US)) {
			refresh_pricebook(c);
			hand_off(c, true);
		}
	}
}

int collector_run(const struct tally_config *cfg, volatile sig_atomic_t *stop,
                  struct collector_stats *stats, struct tally_err *err)
{
	struct collector *c = calloc(1, sizeof *c);
	int rc = -1;

	if (!c)
		return tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
	/* Few malloc arenas: the consumer, writer and librdkafka threads would
	 * otherwise each keep their own, and the collector's memory with them. */
	mallopt(M_ARENA_MAX, 2);
	c->cfg = cfg;
	c->stop = stop;
	c->stats = stats;
	c->topics[EVENT_CALL] = cfg->topic_calls;
	c->topics[EVENT_OUTCOME] = cfg->topic_outcomes;
	c->topics[EVENT_FEEDBACK] = cfg->topic_feedback;
	c->src.group = cfg->kafka_group;
	c->src.cluster_id = c->cluster_id;
	c->topic_otlp = cfg->topic_otlp;
	ledger_batch_init(&c->slots[0].batch);
	ledger_batch_init(&c->slots[1].batch);
	c->filling = &c->slots[0];
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);

	if (!cfg->database_url[0] || !cfg->kafka_brokers[0]) {
		tally_err_set(err, TALLY_EINVAL, false,
		              "the collector needs TALLY_DATABASE_URL and TALLY_KAFKA_BROKERS");
		goto out;
	}
	if (otlp_map_parse(cfg->otlp_map, &c->otlp_map, err) < 0)
		goto out;
	/* The ledger first: nothing is consumed that could not be stored. */
	if (ensure_ledger(c, &c->lg_main) < 0) {
		rc = 0; /* stopped before the database answered */
		goto out;
	}
	refresh_pricebook(c);
	/* The writer's ledger before its thread: the consumer thread reads its
	 * generation (hand_off), so the pointer never changes while both run. */
	if (ensure_ledger(c, &c->lg_write) < 0) {
		rc = 0;
		goto out;
	}
	if (ledger_track_seen(c->lg_write) < 0) {
		tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
		goto out;
	}
	if (pthread_create(&c->writer, NULL, writer_main, c) != 0) {
		tally_err_set(err, TALLY_EIO, false, "cannot start the writer thread");
		goto out;
	}
	c->writer_started = true;
	if (!(c->rk = consumer_new(c, err)))
		goto out;
	c->cq = rd_kafka_queue_get_consumer(c->rk);
	log_info("collector: consuming %s, %s, %s, %s from %s as group %s", cfg->topic_calls,
	         cfg->topic_outcomes, cfg->topic_feedback, cfg->topic_otlp, cfg->kafka_brokers,
	         cfg->kafka_group);
	consume(c);
	/* Finish the batch in flight if the ledger takes it now; else abandon it:
	 * its offsets were not stored, so it is read again on the next start. */
	hand_off(c, false);
	wait_writer(c);
	rc = 0;
out:
	if (c->rk) {
		if (c->cq)
			rd_kafka_queue_destroy(c->cq);
		if (c->fetchers_woken)
			log_debug("collector: woke the fetchers %lld times",
			          (long long)c->fetchers_woken);
		rd_kafka_consumer_close(c->rk); /* revokes: the rebalance callback runs */
		rd_kafka_destroy(c->rk);
	}
	if (c->writer_started) {
		pthread_mutex_lock(&c->mu);
		c->quit = true;
		pthread_cond_broadcast(&c->cv);
		pthread_mutex_unlock(&c->mu);
		pthread_join(c->writer, NULL);
	}
	pending_cleanup(&c->slots[0]);
	pending_cleanup(&c->slots[1]);
	free(c->win_marks);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
	pricebook_free(c->pb);
	ledger_close(c->lg_main);
	ledger_close(c->lg_write);
	free(c);
	return rc;
}
