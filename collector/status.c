/* status.c - the ledger's counts with per-partition stored offsets and lag:
 * what `tally status` prints and what the web API and /metrics export. */
#include <stdlib.h>
#include <string.h>

#include "../ledger/ledger.h"
#include "collector.h"

void tally_status_cleanup(struct tally_status *st)
{
	if (!st)
		return;
	free(st->partitions);
	st->partitions = NULL;
	st->n_partitions = 0;
}

/* Lag of a partition against the broker's watermarks: what is left to read
 * from where the collector will read. A stored offset outside [low, high]
 * is read again from low, so it never hides the partition's messages. */
static void judge(struct status_partition *p)
{
	int64_t from = p->low;

	p->out_of_range = p->stored && (p->offset < p->low || p->offset > p->high);
	if (p->stored && !p->out_of_range)
		from = p->offset;
	p->lag = p->high > from ? p->high - from : 0;
}

int tally_status_read(const struct tally_config *cfg, struct ledger *lg, int timeout_ms,
                      struct tally_status *st, struct tally_err *err)
{
	struct ledger_status ls;
	struct partition_watermark *wm = NULL;
	size_t nwm = 0, n = 0;

	memset(st, 0, sizeof *st);
	if (ledger_status(lg, cfg->kafka_group, &ls, err) < 0)
		return -1;
	st->calls = ls.calls;
	st->outcomes = ls.outcomes;
	st->feedback = ls.feedback;
	st->duplicates = ls.duplicates;
	st->quarantined = ls.quarantined;
	st->unpriced = ls.unpriced;
	st->rollup_queue = ls.rollup_queue;
	st->rollup_queue_age_s = ls.rollup_queue_age_s;
	st->offset_resets = ls.offset_resets;
	str_copy(st->last_reset, sizeof st->last_reset, ls.last_reset);

	/* Lag needs Kafka; without it the stored offsets are still shown. */
	if (cfg->kafka_brokers[0]) {
		struct tally_err kerr = {0};
		st->kafka_ok = collector_watermarks(cfg, timeout_ms, &wm, &nwm, st->cluster_id,
		                                    sizeof st->cluster_id, &kerr) == 0;
		if (!st->kafka_ok)
			str_copy(st->kafka_error, sizeof st->kafka_error, kerr.msg);
	}
	size_t cap = nwm + ls.n_partitions;
	if (cap && !(st->partitions = calloc(cap, sizeof *st->partitions))) {
		free(wm);
		ledger_status_cleanup(&ls);
		return tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
	}
	/* Every partition Kafka knows, with the offset stored for its cluster. */
	for (size_t i = 0; i < nwm; i++) {
		struct status_partition *p = &st->partitions[n++];
		str_copy(p->topic, sizeof p->topic, wm[i].topic);
		p->partition = wm[i].partition;
		p->low = wm[i].low;
		p->high = wm[i].high;
		p->committed = wm[i].committed;
		for (size_t j = 0; j < ls.n_partitions; j++)
			if (ls.partitions[j].partition == wm[i].partition &&
			    strcmp(ls.partitions[j].cluster_id, st->cluster_id) == 0 &&
			    strcmp(ls.partitions[j].topic, wm[i].topic) == 0) {
				p->offset = ls.partitions[j].offset;
				p->stored = true;
			}
		judge(p);
		if (p->out_of_range)
			st->out_of_range++;
	}
	/* Stored offsets Kafka did not tell about: all of them when it did not
	 * answer; else those of its cluster only (others are counted). */
	for (size_t j = 0; j < ls.n_partitions; j++) {
		bool seen = false;
		if (st->kafka_ok && strcmp(ls.partitions[j].cluster_id, st->cluster_id) != 0) {
			st->other_cluster_offsets++;
			continue;
		}
		for (size_t i = 0; i < nwm && !seen; i++)
			seen = ls.partitions[j].partition == wm[i].partition &&
			       strcmp(ls.partitions[j].topic, wm[i].topic) == 0;
		if (seen)
			continue;
		struct status_partition *p = &st->partitions[n++];
		str_copy(p->topic, sizeof p->topic, ls.partitions[j].topic);
		str_copy(p->cluster_id, sizeof p->cluster_id, ls.partitions[j].cluster_id);
		p->partition = ls.partitions[j].partition;
		p->offset = ls.partitions[j].offset;
		p->stored = true;
		p->low = p->high = p->lag = p->committed = -1;
	}
	st->n_partitions = n;
	free(wm);
	ledger_status_cleanup(&ls);
	return 0;
}

void tally_status_json(const struct tally_status *st, struct sbuf *sb)
{
	sbuf_printf(sb,
	            "{\"calls\":%lld,\"outcomes\":%lld,\"feedback\":%lld,\"duplicates\":%lld,"
	            "\"quarantined\":%lld,\"unpriced\":%lld,\"partitions\":[",
	            (long long)st->calls, (long long)st->outcomes, (long long)st->feedback,
	            (long long)st->duplicates, (long long)st->quarantined, (long long)st->unpriced);
	for (size_t i = 0; i < st->n_partitions; i++) {
		const struct status_partition *p = &st->partitions[i];
		sbuf_puts(sb, i ? ",{\"topic\":" : "{\"topic\":");
		sbuf_json_str(sb, p->topic);
		sbuf_printf(sb, ",\"partition\":%d,\"offset\":%lld,\"lag\":", (int)p->partition,
		            (long long)p->offset);
		if (p->lag >= 0)
			sbuf_printf(sb, "%lld}", (long long)p->lag);
		else
			sbuf_puts(sb, "null}");
	}
	sbuf_printf(sb, "],\"rollup_queue\":{\"transactions\":%lld,\"oldest_age_s\":%lld}",
	            (long long)st->rollup_queue, (long long)st->rollup_queue_age_s);
	sbuf_puts(sb, ",\"kafka_cluster_id\":");
	if (st->kafka_ok && st->cluster_id[0])
		sbuf_json_str(sb, st->cluster_id);
	else
		sbuf_puts(sb, "null");
	/* Stored offsets the broker's watermarks make impossible: the collector
	 * reads these partitions again from their low watermark. */
	sbuf_puts(sb, ",\"offsets_out_of_range\":[");
	size_t k = 0;
	for (size_t i = 0; i < st->n_partitions; i++) {
		const struct status_partition *p = &st->partitions[i];
		if (!p->out_of_range)
			continue;
		sbuf_puts(sb, k++ ? ",{\"topic\":" : "{\"topic\":");
		sbuf_json_str(sb, p->topic);
		sbuf_printf(sb, ",\"partition\":%d,\"stored\":%lld,\"low\":%lld,\"high\":%lld}",
		            (int)p->partition, (long long)p->offset, (long long)p->low,
		            (long long)p->high);
	}
	/* The sum of the group's offsets committed to Kafka, as Kafka's tools
	 * see it (informational; the ledger's offsets are the truth). */
	int64_t committed = 0;
	for (size_t i = 0; i < st->n_partitions; i++)
		if (st->partitions[i].committed > 0)
			committed += st->partitions[i].committed;
	sbuf_printf(sb, "],\"kafka_committed_offsets\":%lld", (long long)committed);
	sbuf_printf(sb,
	            ",\"other_cluster_offsets\":%zu,\"offset_resets\":%lld,\"last_offset_reset\":",
	            st->other_cluster_offsets, (long long)st->offset_resets);
	if (st->last_reset[0])
		sbuf_json_str(sb, st->last_reset);
	else
		sbuf_puts(sb, "null");
	sbuf_puts(sb, "}\n");
}
