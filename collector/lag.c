/* lag.c - partition watermarks and the cluster id, for consumer lag. */
#include <librdkafka/rdkafka.h>
#include <stdlib.h>
#include <string.h>

#include "collector.h"

int collector_watermarks(const struct tally_config *cfg, int timeout_ms,
                         struct partition_watermark **out, size_t *n, char *cluster_id,
                         size_t cluster_id_size, struct tally_err *err)
{
	char errstr[256];
	/* The OTLP topic last: written by other tools, it may not exist yet. */
	const char *topics[4] = {cfg->topic_calls, cfg->topic_outcomes, cfg->topic_feedback,
	                         cfg->topic_otlp};
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_t *rk;
	size_t cap = 0;
	int rc = -1;

	*out = NULL;
	*n = 0;
	if (cluster_id_size)
		cluster_id[0] = 0;
	if (rd_kafka_conf_set(conf, "bootstrap.servers", cfg->kafka_brokers, errstr,
	                      sizeof errstr) != RD_KAFKA_CONF_OK) {
		rd_kafka_conf_destroy(conf);
		return tally_err_set(err, TALLY_EKAFKA, false, "Kafka: %s", errstr);
	}
	rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof errstr);
	/* Only to read the group's committed offsets: never subscribes. */
	rd_kafka_conf_set(conf, "group.id", cfg->kafka_group, errstr, sizeof errstr);
	if (!(rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr)))
		return tally_err_set(err, TALLY_EKAFKA, false, "Kafka: %s", errstr);
	for (int t = 0; t < 4; t++) {
		rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topics[t], NULL);
		const struct rd_kafka_metadata *md = NULL;
		rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms);
		rd_kafka_topic_destroy(rkt);
		if (e && t == 3)
			continue;
		if (e) {
			tally_err_set(err, TALLY_EKAFKA, true, "Kafka metadata for %s: %s",
			              topics[t], rd_kafka_err2str(e));
			goto out;
		}
		for (int i = 0; i < md->topic_cnt; i++) {
			for (int p = 0; p < md->topics[i].partition_cnt; p++) {
				int32_t part = md->topics[i].partitions[p].id;
				int64_t lo, hi;
				e = rd_kafka_query_watermark_offsets(rk, topics[t], part, &lo, &hi,
				                                     timeout_ms);
				if (e)
					continue;
				if (*n == cap) {
					cap = cap ? cap * 2 : 64;
					struct partition_watermark *np =
					    realloc(*out, cap * sizeof *np);
					if (!np) {
						rd_kafka_metadata_destroy(md);
						tally_err_set(err, TALLY_ENOMEM, false,
						              "out of memory");
						goto out;
					}
					*out = np;
				}
				struct partition_watermark *w = &(*out)[(*n)++];
				str_copy(w->topic, sizeof w->topic, topics[t]);
				w->partition = part;
				w->low = lo;
				w->committed = -1;
				w->high = hi;
			}
		}
		rd_kafka_metadata_destroy(md);
	}
	/* What the collectors committed to Kafka (informational: what
	 * kafka-consumer-groups shows); none when the group never committed. */
	if (*n) {
		rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)*n);
		for (size_t i = 0; i < *n; i++)
			rd_kafka_topic_partition_list_add(l, (*out)[i].topic, (*out)[i].partition);
		if (rd_kafka_committed(rk, l, timeout_ms) == RD_KAFKA_RESP_ERR_NO_ERROR)
			for (int i = 0; i < l->cnt && (size_t)i < *n; i++)
				if (!l->elems[i].err && l->elems[i].offset >= 0)
					(*out)[i].committed = l->elems[i].offset;
		rd_kafka_topic_partition_list_destroy(l);
	}
	/* Known from the metadata answers above: no wait. */
	char *id = rd_kafka_clusterid(rk, 0);
	if (id) {
		str_copy(cluster_id, cluster_id_size, id);
		rd_kafka_mem_free(rk, id);
	}
	rc = 0;
out:
	rd_kafka_destroy(rk);
	if (rc < 0) {
		free(*out);
		*out = NULL;
		*n = 0;
	}
	return rc;
}
