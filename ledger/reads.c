/* reads.c - status counts and spend by dimension. */
#include "ledger_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int64_t cell_i64(PGresult *res, int r, int c)
{
	return PQgetisnull(res, r, c) ? 0 : strtoll(PQgetvalue(res, r, c), NULL, 10);
}

int ledger_status(struct ledger *lg, const char *group, struct ledger_status *st,
                  struct tally_err *err)
{
	PGresult *res;

	memset(st, 0, sizeof *st);
	res = PQexec(lg->conn, "SELECT coalesce(sum(d.calls), 0),"
	                       " (SELECT count(*) FROM outcomes), (SELECT count(*) FROM feedback),"
	                       " (SELECT value FROM ledger_counters WHERE name = 'duplicates'),"
	                       " (SELECT count(*) FROM quarantine),"
	                       " coalesce(sum(d.unpriced_calls), 0) FROM rollup_daily d");
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return ledger_fail(lg, res, "reading status", err);
	st->calls = cell_i64(res, 0, 0);
	st->outcomes = cell_i64(res, 0, 1);
	st->feedback = cell_i64(res, 0, 2);
	st->duplicates = cell_i64(res, 0, 3);
	st->quarantined = cell_i64(res, 0, 4);
	st->unpriced = cell_i64(res, 0, 5);
	PQclear(res);

	res =
	    PQexecParams(lg->conn,
	                 "SELECT cluster_id, topic, kafka_partition, next_offset FROM kafka_offsets"
	                 " WHERE consumer_group = $1 ORDER BY cluster_id, topic, kafka_partition",
	                 1, NULL, &group, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return ledger_fail(lg, res, "reading stored offsets", err);
	int n = PQntuples(res);
	if (n > 0 && !(st->partitions = calloc((size_t)n, sizeof *st->partitions))) {
		PQclear(res);
		return tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
	}
	for (int r = 0; r < n; r++) {
		str_copy(st->partitions[r].cluster_id, sizeof st->partitions[r].cluster_id,
		         PQgetvalue(res, r, 0));
		str_copy(st->partitions[r].topic, sizeof st->partitions[r].topic,
		         PQgetvalue(res, r, 1));
		st->partitions[r].partition = (int32_t)cell_i64(res, r, 2);
		st->partitions[r].offset = cell_i64(res, r, 3);
	}
	st->n_partitions = (size_t)n;
	PQclear(res);

	res = PQexecParams(
	    lg->conn,
	    "SELECT (SELECT count(*) FROM kafka_offset_resets WHERE consumer_group = $1),"
	    " (SELECT to_char(at, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') || ' '"
	    "  || topic || '[' || kafka_partition || ']: stored offset '"
	    "  || stored_offset || ', broker offsets ' || low_watermark || '..'"
	    "  || high_watermark || ' (cluster ' || cluster_id || '): ' || reason"
	    "  FROM kafka_offset_resets WHERE consumer_group = $1"
	    "  ORDER BY id DESC LIMIT 1)",
	    1, NULL, &group, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		ledger_status_cleanup(st);
		return ledger_fail(lg, res, "reading offset resets", err);
	}
	st->offset_resets = cell_i64(res, 0, 0);
	if (!PQgetisnull(res, 0, 1))
		str_copy(st->last_reset, sizeof st->last_reset, PQgetvalue(res, 0, 1));
	PQclear(res);
	return 0;
}

void ledger_status_cleanup(struct ledger_status *st)
{
	if (!st)
		return;
	free(st->partitions);
	st->partitions = NULL;
	st->n_partitions = 0;
}

static const char *const dim_names[DIM_COUNT] = {
    "team", "cost_center", "workflow", "task_type", "model", "tier", "provider", "outcome", "day",
};

int spend_dim_parse(const char *s)
{
	for (int i = 0; i < DIM_COUNT; i++)
		if (strcmp(s, dim_names[i]) == 0)
			return i;
	return -1;
}

const char *spend_dim_name(int dim)
{
	return dim >= 0 && dim < DIM_COUNT ? dim_names[dim] : "?";
}

/* `x.t` is the time column of the source (hour in rollups, ts in calls). */
const char *ledger_spend_dim_sql(int dim)
{
	switch (dim) {
	case DIM_TEAM: return "x.team";
	case DIM_COST_CENTER: return "tm.cost_center";
	case DIM_WORKFLOW: return "x.workflow";
	case DIM_TASK_TYPE: return "x.task_type";
	case DIM_MODEL: return "x.model";
	case DIM_TIER: return "x.tier";
	case DIM_PROVIDER: return "x.provider";
	case DIM_OUTCOME: return "x.outcome_id";
	case DIM_DAY: return "to_char(date_trunc('day', x.t), 'YYYY-MM-DD')";
	}
	return "NULL";
}

#define SPEND_FILTER " AND ($1::text IS NULL OR team = $1) AND ($2::text IS NULL OR workflow = $2)"
#define ROLLUP_COLS                                                                                \
	" team, workflow, task_type, provider, model, tier, NULL::text AS outcome_id, calls,"      \
	" input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens,"   \
	" cost_pusd, unpriced_calls"
#define CALLS_COLS                                                                                 \
	" team, workflow, task_type, provider, model, tier, outcome_id, 1 AS calls, input_tokens," \
	" output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_pusd,"      \
	" (cost_pusd IS NULL)::int AS unpriced_calls"

static int64_t floor_to(int64_t t, int64_t unit)
{
	return t - ((t % unit) + unit) % unit;
}

/* Appends "UNION ALL SELECT <time> AS t, <cols> FROM <table> WHERE <time> in
 * [from, to) AND the filters", with from and to as new parameters. */
static void spend_part(struct spend_source *s, const char *table, int64_t from, int64_t to)
{
	bool calls = strcmp(table, "calls") == 0;
	const char *t = calls ? "ts" : strcmp(table, "rollup_daily") == 0 ? "day" : "hour";
	size_t len = strlen(s->buf);
	int a = s->n_params + 1;

	time_format(from, s->p[s->n_params]);
	s->params[s->n_params] = s->p[s->n_params];
	time_format(to, s->p[s->n_params + 1]);
	s->params[s->n_params + 1] = s->p[s->n_params + 1];
	s->n_params += 2;
	snprintf(s->buf + len, sizeof s->buf - len,
	         "%sSELECT %s AS t,%s FROM %s WHERE %s >= $%d AND %s < $%d" SPEND_FILTER,
	         len > 1 ? " UNION ALL " : "", t, calls ? CALLS_COLS : ROLLUP_COLS, table, t, a, t,
	         a + 1);
}

void ledger_spend_source(const struct spend_query *q, bool hour_buckets, struct spend_source *s)
{
	const int64_t hour = INT64_C(3600000000), day = INT64_C(86400000000);
	/* [h1, h2): the whole hours inside the range; [d1, d2): the whole days. */
	int64_t h1 = floor_to(q->from_us + hour - 1, hour), h2 = floor_to(q->to_us, hour);
	int64_t d1 = floor_to(h1 + day - 1, day), d2 = floor_to(h2, day);
	size_t len;

	s->params[0] = q->team;
	s->params[1] = q->workflow;
	s->n_params = 2;
	s->sql = s->buf;
	str_copy(s->buf, sizeof s->buf, "(");
	if (q->dim == DIM_OUTCOME || h1 >= h2) {
		spend_part(s, "calls", q->from_us, q->to_us);
	} else {
		/* The partial hours at the edges, less than an hour each, from the
		 * calls; whole days from rollup_daily, whole hours around them from
		 * rollup_hourly. */
		if (q->from_us < h1)
			spend_part(s, "calls", q->from_us, h1);
		if (h2 < q->to_us)
			spend_part(s, "calls", h2, q->to_us);
		if (hour_buckets || d1 >= d2) {
			spend_part(s, "rollup_hourly", h1, h2);
		} else {
			spend_part(s, "rollup_daily", d1, d2);
			if (h1 < d1)
				spend_part(s, "rollup_hourly", h1, d1);
			if (d2 < h2)
				spend_part(s, "rollup_hourly", d2, h2);
		}
	}
	len = strlen(s->buf);
	snprintf(s->buf + len, sizeof s->buf - len, ")");
}

int ledger_spend(struct ledger *lg, const struct spend_query *q, struct spend_result *out,
                 struct tally_err *err)
{
	struct spend_source src;
	char sql[6144];

	memset(out, 0, sizeof *out);
	if (q->dim < 0 || q->dim >= DIM_COUNT)
		return tally_err_set(err, TALLY_EINVAL, false, "unknown group-by dimension");
	ledger_spend_source(q, false, &src);
	snprintf(sql, sizeof sql,
	         "SELECT %s AS k, GROUPING(%s) AS g, sum(x.calls), sum(x.input_tokens),"
	         " sum(x.output_tokens), sum(x.cache_read_tokens), sum(x.cache_write_tokens),"
	         " sum(x.reasoning_tokens), coalesce(sum(x.cost_pusd), 0)::numeric(40,0),"
	         " sum(x.unpriced_calls)"
	         " FROM %s x LEFT JOIN teams tm ON tm.team = x.team"
	         " GROUP BY GROUPING SETS ((%s), ())"
	         " ORDER BY g, coalesce(sum(x.cost_pusd), 0) DESC, k NULLS LAST",
	         ledger_spend_dim_sql(q->dim), ledger_spend_dim_sql(q->dim), src.sql,
	         ledger_spend_dim_sql(q->dim));
	PGresult *res = PQexecParams(lg->conn, sql, src.n_params, NULL, src.params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return ledger_fail(lg, res, "spend report", err);
	int n = PQntuples(res);
	if (n > 0 && !(out->rows = calloc((size_t)n, sizeof *out->rows))) {
		PQclear(res);
		return tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
	}
	for (int r = 0; r < n; r++) {
		bool total = strcmp(PQgetvalue(res, r, 1), "0") != 0;
		struct spend_row *row = total ? &out->total : &out->rows[out->n++];
		row->key_null = PQgetisnull(res, r, 0);
		str_copy(row->key, sizeof row->key, PQgetvalue(res, r, 0));
		row->calls = cell_i64(res, r, 2);
		row->input_tokens = cell_i64(res, r, 3);
		row->output_tokens = cell_i64(res, r, 4);
		row->cache_read_tokens = cell_i64(res, r, 5);
		row->cache_write_tokens = cell_i64(res, r, 6);
		row->reasoning_tokens = cell_i64(res, r, 7);
		str_copy(row->cost_pusd, sizeof row->cost_pusd, PQgetvalue(res, r, 8));
		row->unpriced_calls = cell_i64(res, r, 9);
	}
	if (out->total.cost_pusd[0] == '\0')
		str_copy(out->total.cost_pusd, sizeof out->total.cost_pusd, "0");
	PQclear(res);
	return 0;
}

void spend_result_cleanup(struct spend_result *r)
{
	if (!r)
		return;
	free(r->rows);
	r->rows = NULL;
	r->n = 0;
}
