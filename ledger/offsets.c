/* offsets.c - the Kafka offsets the ledger holds (kafka_offsets): per
 * consumer group, cluster, topic and partition, the next offset to read,
 * stored in the transaction of the window that covers it; and the resets
 * the collector records when a stored offset is gone from Kafka
 * (kafka_offset_resets).
 *
 * In a window (ledger/batch_write.c) a partition's row is read and locked
 * (the fence) by the first batch that has it; the next batches know it from
 * the window's list, where each stored batch's new next offset is noted
 * too, and the window stores them all once, when it commits. */
#include "ledger_int.h"

#include <stdlib.h>
#include <string.h>

static const char fence_sql[] =
    "SELECT topic, kafka_partition, next_offset FROM kafka_offsets"
    " WHERE consumer_group = $1 AND cluster_id = $2 AND (topic, kafka_partition) IN"
    " (SELECT * FROM unnest($3::text[], $4::int[]))"
    " ORDER BY topic, kafka_partition FOR UPDATE";

static const char store_offsets_sql[] =
    "INSERT INTO kafka_offsets AS k (consumer_group, cluster_id, topic, kafka_partition,"
    " next_offset)"
    " SELECT $1, $2, t, p, o FROM unnest($3::text[], $4::int[], $5::bigint[]) AS u(t, p, o)"
    " ORDER BY t, p"
    " ON CONFLICT (consumer_group, cluster_id, topic, kafka_partition) DO UPDATE"
    " SET next_offset = greatest(k.next_offset, excluded.next_offset), updated_at = now()";

int ledger_offsets_prepare(struct ledger *lg, struct tally_err *err)
{
	if (ledger_prepare_one(lg, "fence", fence_sql, err) < 0 ||
	    ledger_prepare_one(lg, "store_offsets", store_offsets_sql, err) < 0)
		return -1;
	return 0;
}

/* Appends a PostgreSQL array literal element, after a comma unless first. */
static void array_text(struct sbuf *s, const char *v, bool first)
{
	if (!first)
		sbuf_putc(s, ',');
	ledger_array_elem(s, v);
}

/* ---- the window's list ---------------------------------------------------- */

static struct win_offset *win_find(struct ledger *lg, const struct kafka_pos *m)
{
	for (size_t i = 0; i < lg->n_win_off; i++)
		if (lg->win_off[i].partition == m->partition &&
		    strcmp(lg->win_off[i].topic, m->topic) == 0)
			return &lg->win_off[i];
	return NULL;
}

static struct win_offset *win_add(struct ledger *lg, const struct kafka_pos *m)
{
	struct win_offset *w = win_find(lg, m);
	if (w)
		return w;
	if (lg->n_win_off == lg->cap_win_off) {
		size_t ncap = lg->cap_win_off ? lg->cap_win_off * 2 : 64;
		struct win_offset *nw = realloc(lg->win_off, ncap * sizeof *nw);
		if (!nw)
			return NULL;
		lg->win_off = nw;
		lg->cap_win_off = ncap;
	}
	w = &lg->win_off[lg->n_win_off++];
	str_copy(w->topic, sizeof w->topic, m->topic);
	w->partition = m->partition;
	w->fenced = false;
	w->stored = w->next = -1;
	return w;
}

void ledger_offsets_window_reset(struct ledger *lg)
{
	lg->n_win_off = 0;
}

void ledger_offsets_unfence(struct ledger *lg)
{
	for (size_t i = 0; i < lg->n_win_off; i++)
		lg->win_off[i].fenced = false;
}

/* What the window knows of the batch's partitions: stored[i] as the fence
 * read it or the window's own progress, the larger; true when every one
 * was fenced already. */
static bool win_known(struct ledger *lg, const struct ledger_batch *b, int64_t *stored)
{
	bool all = true;
	for (size_t i = 0; i < b->n_marks; i++) {
		struct win_offset *w = win_find(lg, &b->marks[i]);
		stored[i] = -1;
		if (!w || !w->fenced) {
			all = false;
			if (w)
				stored[i] = w->next;
			continue;
		}
		stored[i] = w->stored > w->next ? w->stored : w->next;
	}
	return all;
}

int ledger_offsets_note(struct ledger *lg, const struct ledger_batch *b, struct tally_err *err)
{
	for (size_t i = 0; i < b->n_marks; i++) {
		struct win_offset *w = win_add(lg, &b->marks[i]);
		if (!w)
			return tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
		if (b->marks[i].offset + 1 > w->next)
			w->next = b->marks[i].offset + 1;
	}
	return 0;
}

/* ---- the fence, the store ------------------------------------------------ */

/* Stored next offsets of the batch's partitions, locked until commit so that
 * a second collector cannot store the same messages at the same time. */
int ledger_offsets_fence(struct ledger *lg, const struct ledger_source *src,
                         const struct ledger_batch *b, int64_t *stored, struct tally_err *err)
{
	struct sbuf topics, parts;
	int rc = -1;

	if (b->n_marks == 0 || win_known(lg, b, stored))
		return 0;
	sbuf_init(&topics);
	sbuf_init(&parts);
	sbuf_putc(&topics, '{');
	sbuf_putc(&parts, '{');
	for (size_t i = 0; i < b->n_marks; i++) {
		array_text(&topics, b->marks[i].topic, i == 0);
		sbuf_printf(&parts, "%s%d", i ? "," : "", b->marks[i].partition);
	}
	sbuf_putc(&topics, '}');
	sbuf_putc(&parts, '}');
	if (topics.oom || parts.oom) {
		tally_err_set(err, TALLY_ENOMEM, true, "out of memory");
		goto out;
	}
	const char *params[4] = {src->group, src->cluster_id, topics.p, parts.p};
	PGresult *res = PQexecPrepared(lg->conn, "fence", 4, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		ledger_fail(lg, res, "reading stored offsets", err);
		goto out;
	}
	for (size_t i = 0; i < b->n_marks; i++) {
		struct win_offset *w = win_add(lg, &b->marks[i]);
		if (!w) {
			PQclear(res);
			tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
			goto out;
		}
		w->fenced = true;
		w->stored = -1;
	}
	for (int r = 0; r < PQntuples(res); r++) {
		struct kafka_pos m = {.topic = PQgetvalue(res, r, 0),
		                      .partition = atoi(PQgetvalue(res, r, 1))};
		struct win_offset *w = win_find(lg, &m);
		if (w)
			w->stored = strtoll(PQgetvalue(res, r, 2), NULL, 10);
	}
	win_known(lg, b, stored);
	PQclear(res);
	rc = 0;
out:
	sbuf_cleanup(&topics);
	sbuf_cleanup(&parts);
	return rc;
}

/* True when pos is below the offset already stored for its partition. */
bool ledger_batch_already_stored(const struct ledger_batch *b, const int64_t *stored,
                                 const struct kafka_pos *pos)
{
	if (pos->partition < 0)
		return false;
	for (size_t i = 0; i < b->n_marks; i++)
		if (b->marks[i].partition == pos->partition &&
		    strcmp(b->marks[i].topic, pos->topic) == 0)
			return stored[i] >= 0 && pos->offset < stored[i];
	return false;
}

int ledger_offsets_store(struct ledger *lg, const struct ledger_source *src, struct tally_err *err)
{
	struct sbuf t, p, o;
	size_t n = 0;
	int rc;

	sbuf_init(&t);
	sbuf_init(&p);
	sbuf_init(&o);
	sbuf_putc(&t, '{');
	sbuf_putc(&p, '{');
	sbuf_putc(&o, '{');
	for (size_t i = 0; i < lg->n_win_off; i++) {
		const struct win_offset *w = &lg->win_off[i];
		if (w->next < 0)
			continue;
		array_text(&t, w->topic, n == 0);
		sbuf_printf(&p, "%s%d", n ? "," : "", w->partition);
		sbuf_printf(&o, "%s%lld", n ? "," : "", (long long)w->next);
		n++;
	}
	sbuf_putc(&t, '}');
	sbuf_putc(&p, '}');
	sbuf_putc(&o, '}');
	const char *params[5] = {src ? src->group : "", src ? src->cluster_id : "", t.p, p.p, o.p};
	if (t.oom || p.oom || o.oom)
		rc = tally_err_set(err, TALLY_ENOMEM, true, "out of memory");
	else
		rc = n ? ledger_exec_prepared(lg, "store_offsets", 5, params, NULL, err) : 0;
	sbuf_cleanup(&t);
	sbuf_cleanup(&p);
	sbuf_cleanup(&o);
	return rc;
}

int ledger_stored_offsets(struct ledger *lg, const struct ledger_source *src,
                          const char *const *topics, const int32_t *partitions, size_t n,
                          int64_t *offsets, struct tally_err *err)
{
	const char *params[2] = {src->group, src->cluster_id};
	PGresult *res = PQexecParams(lg->conn,
	                             "SELECT topic, kafka_partition, next_offset FROM kafka_offsets"
	                             " WHERE consumer_group = $1 AND cluster_id = $2",
	                             2, NULL, params, NULL, NULL, 0);

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return ledger_fail(lg, res, "reading stored offsets", err);
	for (size_t i = 0; i < n; i++)
		offsets[i] = -1;
	for (int r = 0; r < PQntuples(res); r++) {
		const char *t = PQgetvalue(res, r, 0);
		int32_t p = atoi(PQgetvalue(res, r, 1));
		for (size_t i = 0; i < n; i++)
			if (partitions[i] == p && strcmp(topics[i], t) == 0)
				offsets[i] = strtoll(PQgetvalue(res, r, 2), NULL, 10);
	}
	PQclear(res);
	return 0;
}

int ledger_offset_reset(struct ledger *lg, const struct ledger_source *src,
                        const struct ledger_offset_reset *r, bool *applied, struct tally_err *err)
{
	char part[16], stored[24], low[24], high[24], resumed[24];
	const char *params[9] = {src->group, src->cluster_id, r->topic, part, stored, low,
	                         high,       resumed,         r->reason};
	PGresult *res;

	*applied = false;
	snprintf(part, sizeof part, "%d", (int)r->partition);
	snprintf(stored, sizeof stored, "%lld", (long long)r->stored_offset);
	snprintf(low, sizeof low, "%lld", (long long)r->low_watermark);
	snprintf(high, sizeof high, "%lld", (long long)r->high_watermark);
	snprintf(resumed, sizeof resumed, "%lld", (long long)r->resumed_at);
	/* Only if the stored offset is still the one the collector judged (or
	 * none is stored): a second collector that got there first has already
	 * recorded it. */
	res = PQexecParams(
	    lg->conn,
	    "WITH u AS (UPDATE kafka_offsets SET next_offset = $8, updated_at = now()"
	    "  WHERE consumer_group = $1 AND cluster_id = $2 AND topic = $3"
	    "  AND kafka_partition = $4 AND next_offset = $5 RETURNING 1)"
	    " INSERT INTO kafka_offset_resets (consumer_group, cluster_id, topic, kafka_partition,"
	    "  stored_offset, low_watermark, high_watermark, resumed_at, reason)"
	    " SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9"
	    " WHERE EXISTS (SELECT 1 FROM u) OR NOT EXISTS (SELECT 1 FROM kafka_offsets"
	    "  WHERE consumer_group = $1 AND cluster_id = $2 AND topic = $3"
	    "  AND kafka_partition = $4)",
	    9, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		return ledger_fail(lg, res, "recording an offset reset", err);
	*applied = strcmp(PQcmdTuples(res), "1") == 0;
	PQclear(res);
	return 0;
}
