/* embedded_kafka.c - an in-process Kafka cluster: librdkafka's mock cluster,
 * which speaks the real Kafka protocol on 127.0.0.1 so that any client
 * (kcat, the collector, an application) can use its bootstrap address. */
#include "embedded.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdlib.h>
#include <string.h>

struct embedded_kafka {
	rd_kafka_t *rk; /* the handle the mock cluster needs for its book keeping */
	rd_kafka_mock_cluster_t *mcluster;
	int brokers;
};

/* librdkafka's own chatter is only interesting when debugging. */
static void kafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	(void)rk;
	(void)level;
	log_debug("mock kafka: %s: %s", fac, buf);
}

/* The mock cluster needs a client handle; a producer that never produces. */
static rd_kafka_t *mock_handle(struct tally_err *err)
{
	char errstr[256];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_t *rk;

	rd_kafka_conf_set_log_cb(conf, kafka_log);
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
	if (!rk) {
		rd_kafka_conf_destroy(conf); /* rd_kafka_new only takes it on success */
		tally_err_set(err, TALLY_EKAFKA, false, "cannot create a Kafka handle: %s", errstr);
	}
	return rk;
}

/* Starts the mock cluster and creates the topics; the caller stops it. */
struct embedded_kafka *embedded_kafka_start(int brokers, int partitions, const char *const *topics,
                                            size_t n_topics, struct tally_err *err)
{
	struct embedded_kafka *k;

	if (brokers < 1 || partitions < 1) {
		tally_err_set(err, TALLY_EINVAL, false,
		              "a mock cluster needs at least 1 broker and 1 partition,"
		              " got %d and %d",
		              brokers, partitions);
		return NULL;
	}
	if (!(k = calloc(1, sizeof *k))) {
		tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
		return NULL;
	}
	k->brokers = brokers;
	if (!(k->rk = mock_handle(err)))
		goto fail;
	if (!(k->mcluster = rd_kafka_mock_cluster_new(k->rk, brokers))) {
		tally_err_set(err, TALLY_EKAFKA, false,
		              "cannot start the mock Kafka cluster (no free port on 127.0.0.1?)");
		goto fail;
	}
	for (size_t i = 0; i < n_topics; i++) {
		rd_kafka_resp_err_t e =
		    rd_kafka_mock_topic_create(k->mcluster, topics[i], partitions, 1);
		if (e) {
			tally_err_set(err, TALLY_EKAFKA, false, "cannot create topic %s: %s",
			              topics[i], rd_kafka_err2str(e));
			goto fail;
		}
	}
	return k;
fail:
	embedded_kafka_stop(k);
	return NULL;
}

/* The bootstrap list; owned by the cluster. */
const char *embedded_kafka_brokers(const struct embedded_kafka *k)
{
	return rd_kafka_mock_cluster_bootstraps(k->mcluster);
}

/* Takes every broker down or up; -1 when the mock refused one of them. */
int embedded_kafka_set_down(struct embedded_kafka *k, bool down)
{
	int rc = 0;

	for (int32_t id = 1; id <= k->brokers; id++) {
		rd_kafka_resp_err_t e = down ? rd_kafka_mock_broker_set_down(k->mcluster, id)
		                             : rd_kafka_mock_broker_set_up(k->mcluster, id);
		if (e)
			rc = -1;
	}
	return rc;
}

void embedded_kafka_fail_fetches(struct embedded_kafka *k, size_t n)
{
	for (size_t i = 0; i < n; i++)
		rd_kafka_mock_push_request_errors(k->mcluster, 1 /* Fetch */, 1,
		                                  RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE);
}

int embedded_kafka_set_rtt(struct embedded_kafka *k, int ms)
{
	int rc = 0;

	for (int32_t id = 1; id <= k->brokers; id++)
		if (rd_kafka_mock_broker_set_rtt(k->mcluster, id, ms))
			rc = -1;
	return rc;
}

/* Destroys the cluster, then its handle; NULL is fine. */
void embedded_kafka_stop(struct embedded_kafka *k)
{
	if (!k)
		return;
	if (k->mcluster)
		rd_kafka_mock_cluster_destroy(k->mcluster);
	if (k->rk)
		rd_kafka_destroy(k->rk);
	free(k);
}
