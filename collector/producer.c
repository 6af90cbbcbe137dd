/* producer.c - the producing side of tally's topics: an idempotent, batched,
 * lz4-compressed librdkafka producer that counts what the brokers confirmed.
 * Used by `tally produce` and the demo traffic. One thread at a time. */
#include "collector.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QUEUE_FULL_WAIT_US 30000000 /* how long producer_send waits for room */
#define ERROR_LOG_EVERY_US 10000000 /* the same Kafka error is logged this rarely */

struct producer {
	rd_kafka_t *rk;
	char brokers[512];
	int64_t delivered, failed;
	char last_failure[200]; /* why the latest message failed for good */
	int last_logged_error;  /* rd_kafka_resp_err_t of the latest logged error */
	int64_t last_logged_us;
};

/* Delivery reports arrive in rd_kafka_poll/flush, in the caller's thread. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct producer *p = opaque;

	(void)rk;
	if (!m->err) {
		p->delivered++;
		return;
	}
	p->failed++;
	snprintf(p->last_failure, sizeof p->last_failure, "%s [%d]: %s",
	         rd_kafka_topic_name(m->rkt), (int)m->partition, rd_kafka_err2str(m->err));
}

/* Client-level errors (brokers unreachable, ...): librdkafka keeps retrying,
 * so these are warnings, each distinct one at most every few seconds. */
static void on_error(rd_kafka_t *rk, int code, const char *reason, void *opaque)
{
	struct producer *p = opaque;
	int64_t now = time_mono_us();

	if (rd_kafka_fatal_error(rk, NULL, 0)) {
		log_error("kafka producer: fatal: %s", reason);
		return;
	}
	if (code == p->last_logged_error && now - p->last_logged_us < ERROR_LOG_EVERY_US)
		return;
	p->last_logged_error = code;
	p->last_logged_us = now;
	log_warn("kafka producer (%s): %s; retrying", p->brokers, reason);
}

/* librdkafka's own log lines are only interesting when debugging. */
static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	(void)rk;
	(void)level;
	log_debug("kafka producer: %s: %s", fac, buf);
}

/* Opens a producer for `brokers`; close it with producer_close. Returns NULL
 * with err set when a setting is refused. Connecting happens in the
 * background, so an unreachable broker is not an error here. */
struct producer *producer_open(const char *brokers, struct tally_err *err)
{
	static const char *const settings[][2] = {
	    {"client.id", "tally-producer"},
	    {"enable.idempotence", "true"},
	    {"linger.ms", "20"},
	    {"compression.type", "lz4"},
	    {"queue.buffering.max.messages", "1000000"},
	    {"queue.buffering.max.kbytes", "1048576"},
	    /* Oversized events must reach the collector's quarantine, not die here. */
	    {"message.max.bytes", "16777216"},
	};
	char errstr[512];
	struct producer *p = calloc(1, sizeof *p);
	rd_kafka_conf_t *conf;

	if (!p) {
		tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
		return NULL;
	}
	if (!brokers || !*brokers) {
		tally_err_set(err, TALLY_EINVAL, false, "no Kafka brokers given");
		free(p);
		return NULL;
	}
	str_copy(p->brokers, sizeof p->brokers, brokers);
	p->last_logged_error = -1;
	conf = rd_kafka_conf_new();
	if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr, sizeof errstr) !=
	    RD_KAFKA_CONF_OK)
		goto bad_setting;
	for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++)
		if (rd_kafka_conf_set(conf, settings[i][0], settings[i][1], errstr,
		                      sizeof errstr) != RD_KAFKA_CONF_OK)
			goto bad_setting;
	rd_kafka_conf_set_opaque(conf, p);
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	rd_kafka_conf_set_error_cb(conf, on_error);
	rd_kafka_conf_set_log_cb(conf, on_log);
	if (!(p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr))) {
		rd_kafka_conf_destroy(conf); /* rd_kafka_new takes it only on success */
		tally_err_set(err, TALLY_EKAFKA, false, "cannot create a Kafka producer: %s",
		              errstr);
		free(p);
		return NULL;
	}
	return p;
bad_setting:
	rd_kafka_conf_destroy(conf);
	tally_err_set(err, TALLY_EKAFKA, false, "Kafka producer setting: %s", errstr);
	free(p);
	return NULL;
}

/* Queues one message (payload and key are copied). When the local queue is
 * full it serves delivery reports until there is room, for up to 30 s; then
 * fails retriably. Other refusals (message too large, unknown topic) fail
 * for this message only. */
int producer_send(struct producer *p, const char *topic, const char *key, size_t key_len,
                  const void *payload, size_t len, struct tally_err *err)
{
	int64_t started = 0;

	for (;;) {
		rd_kafka_resp_err_t e = rd_kafka_producev(
		    p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
		    RD_KAFKA_V_KEY(key, key ? key_len : 0), RD_KAFKA_V_VALUE((void *)payload, len),
		    RD_KAFKA_V_END);
		if (!e)
			break;
		if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
			return tally_err_set(err, TALLY_EKAFKA, false, "cannot produce to %s: %s",
			                     topic, rd_kafka_err2str(e));
		if (!started)
			started = time_mono_us();
		else if (time_mono_us() - started > QUEUE_FULL_WAIT_US)
			return tally_err_set(err, TALLY_EKAFKA, true,
			                     "the producer queue stayed full for %d s: Kafka at %s"
			                     " is not taking messages",
			                     QUEUE_FULL_WAIT_US / 1000000, p->brokers);
		rd_kafka_poll(p->rk, 100);
	}
	rd_kafka_poll(p->rk, 0); /* serve delivery reports as we go */
	return 0;
}

/* Waits up to timeout_ms for every queued message to be confirmed or to fail;
 * -1 with err set when some are still queued or some failed (ever). */
int producer_flush(struct producer *p, int timeout_ms, struct tally_err *err)
{
	rd_kafka_resp_err_t e = rd_kafka_flush(p->rk, timeout_ms);
	int queued = rd_kafka_outq_len(p->rk);

	if (e == RD_KAFKA_RESP_ERR__TIMED_OUT || queued > 0)
		return tally_err_set(err, TALLY_EKAFKA, true,
		                     "%d messages still queued for Kafka at %s after %d ms", queued,
		                     p->brokers, timeout_ms);
	if (p->failed > 0)
		return tally_err_set(err, TALLY_EKAFKA, false, "%lld messages failed; last: %s",
		                     (long long)p->failed, p->last_failure);
	return 0;
}

/* Confirmed and failed-for-good message counts so far. */
void producer_counts(const struct producer *p, int64_t *delivered, int64_t *failed)
{
	if (delivered)
		*delivered = p->delivered;
	if (failed)
		*failed = p->failed;
}

/* Flushes for up to 10 s, then frees the producer; what is still queued then
 * is lost (and was never counted as delivered). NULL is fine. */
void producer_close(struct producer *p)
{
	if (!p)
		return;
	if (rd_kafka_flush(p->rk, 10000) == RD_KAFKA_RESP_ERR__TIMED_OUT)
		log_warn("kafka producer: %d messages undelivered at close",
		         rd_kafka_outq_len(p->rk));
	rd_kafka_destroy(p->rk);
	free(p);
}
