/* spend.c - spend by dimension from the calls and their rollups: totals
 * (ledger_spend), time series (ledger_spend_series) and the all-time figures
 * of the metrics endpoint. */
#include "ledger_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const dim_names[DIM_COUNT] = {
    "team", "cost_center", "workflow", "task_type", "model",
    "tier", "provider",    "outcome",  "day",       "tag",
};

int spend_dim_parse(const char *s)
{
	for (int i = 0; i < DIM_COUNT; i++)
		if (strcmp(s, dim_names[i]) == 0)
			return i;
	return -1;
}

int spend_dim_parse_tag(const char *s, const char **tag_key)
{
	*tag_key = NULL;
	if (strcmp(s, "user") == 0 || strcmp(s, "api_key") == 0) {
		*tag_key = s[0] == 'u' ? "user" : "api_key";
		return DIM_TAG;
	}
	if (strncmp(s, "tag:", 4) == 0 && s[4] && strlen(s + 4) <= EVENT_NAME_MAX) {
		*tag_key = s + 4;
		return DIM_TAG;
	}
	return strcmp(s, "tag") == 0 ? -1 : spend_dim_parse(s);
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
	case DIM_TAG: return "NULL"; /* spend_by_tag */
	}
	return "NULL";
}

#define SPEND_FILTER " AND ($1::text IS NULL OR team = $1) AND ($2::text IS NULL OR workflow = $2)"
/* The figures of a row: a rollup's sums, a call's own, a call's taken away
 * (a unit's rollup row less the calls outside the range: read_partial). */
#define ROLLUP_FIGURES                                                                             \
	" calls, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,"              \
	" reasoning_tokens, cost_pusd, unpriced_calls"
#define CALL_FIGURES                                                                               \
	" 1 AS calls, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,"         \
	" reasoning_tokens, cost_pusd, (cost_pusd IS NULL)::int AS unpriced_calls"
#define CALL_FIGURES_LESS                                                                          \
	" -1 AS calls, -input_tokens, -output_tokens, -cache_read_tokens, -cache_write_tokens,"    \
	" -reasoning_tokens, -cost_pusd, -(cost_pusd IS NULL)::int AS unpriced_calls"
#define SPEND_KEYS      " team, workflow, task_type, provider, model, tier,"
#define ROLLUP_COLS     SPEND_KEYS " NULL::text AS outcome_id," ROLLUP_FIGURES
#define CALLS_COLS      SPEND_KEYS " outcome_id," CALL_FIGURES
#define CALLS_LESS_COLS SPEND_KEYS " outcome_id," CALL_FIGURES_LESS

/* A group is shown when it has calls (an edge's hour less the calls outside
 * the range may leave one with none); the total always. GROUPING of %s. */
#define SPEND_SHOWN "(GROUPING(%s) = 1 OR sum(x.calls) <> 0)"

static int64_t floor_to(int64_t t, int64_t unit)
{
	return t - ((t % unit) + unit) % unit;
}

/* The time column of each source of spend rows. */
static const char *time_col(const char *table)
{
	return strcmp(table, "calls") == 0            ? "ts"
	       : strcmp(table, "rollup_daily") == 0   ? "day"
	       : strcmp(table, "rollup_quarter") == 0 ? "quarter"
	                                              : "hour";
}

/* Appends "UNION ALL SELECT <time> AS t, <cols> FROM <table> WHERE <time> in
 * [from, to) AND the filters", with from and to as new parameters; less:
 * the calls' figures negated. */
static void spend_part_of(struct spend_source *s, const char *table, int64_t from, int64_t to,
                          bool less)
{
	bool calls = strcmp(table, "calls") == 0;
	const char *t = time_col(table);
	size_t len = strlen(s->buf);
	int a = s->n_params + 1;

	if (s->n_params + 2 > SPEND_SOURCE_PARAMS) {
		s->overflow = true;
		return;
	}
	time_format(from, s->p[s->n_params]);
	s->params[s->n_params] = s->p[s->n_params];
	time_format(to, s->p[s->n_params + 1]);
	s->params[s->n_params + 1] = s->p[s->n_params + 1];
	s->n_params += 2;
	int n = snprintf(s->buf + len, sizeof s->buf - len,
	                 "%sSELECT %s AS t,%s FROM %s WHERE %s >= $%d AND %s < $%d" SPEND_FILTER,
	                 len > 1 ? " UNION ALL " : "", t,
	                 !calls ? ROLLUP_COLS
	                 : less ? CALLS_LESS_COLS
	                        : CALLS_COLS,
	                 table, t, a, t, a + 1);
	if (n < 0 || (size_t)n >= sizeof s->buf - len)
		s->overflow = true;
}

static void spend_part(struct spend_source *s, const char *table, int64_t from, int64_t to)
{
	spend_part_of(s, table, from, to, false);
}

/* Whether a statement of n characters (snprintf's answer) fitted its buffer
 * of size, and its parts theirs (overflow: they did not); never false unless
 * the parts outgrew the buffers. */
static int spend_fits(bool overflow, int n, size_t size, struct tally_err *err)
{
	if (overflow || n < 0 || (size_t)n >= size)
		return tally_err_set(err, TALLY_EINVAL, false,
		                     "the spend query outgrew its buffer (a bug)");
	return 0;
}

/* Appends a part of a spend source: [from, to) of a rollup (whole units)
 * or of the calls, their figures negated when less. */
typedef void (*part_fn)(void *src, bool rollup, bool less, int64_t from, int64_t to);

/* [a, b), part of the rollup unit [u, u + unit) (a quarter, an hour): read
 * from its calls, or, when fewer calls lie in the rest of the unit than in
 * [a, b), as the unit's rollup row less the calls of the rest of it. Either
 * is exact (a call stamped after now, a producer's clock ahead, is taken
 * away too); the second reads fewer calls where the rest is short or after
 * now ("last 24 hours" to now: none after now is counted). At most half a
 * unit of calls, and what lies after now. */
static void read_partial(part_fn part, void *src, int64_t a, int64_t b, int64_t u, int64_t unit,
                         int64_t now)
{
	int64_t end = u + unit, last = end < now ? end : now;

	if ((a - u) + (last > b ? last - b : 0) >= b - a) {
		part(src, false, false, a, b);
		return;
	}
	part(src, true, false, u, end);
	if (u < a)
		part(src, false, true, u, a);
	if (b < end)
		part(src, false, true, b, end);
}

/* part_fn of a spend source whose partial units are quarter hours. */
static void quarter_part(void *s, bool rollup, bool less, int64_t from, int64_t to)
{
	spend_part_of(s, rollup ? "rollup_quarter" : "calls", from, to, less);
}

/* [a, b), less than an hour not on whole hours: its whole quarter hours
 * from rollup_quarter, the partial quarters as read_partial reads them. */
static void spend_edge(struct spend_source *s, int64_t a, int64_t b, int64_t now)
{
	int64_t q1 = floor_to(a + QUARTER_US - 1, QUARTER_US), q2 = floor_to(b, QUARTER_US);

	if (q1 > q2) { /* inside one quarter */
		read_partial(quarter_part, s, a, b, q2, QUARTER_US, now);
		return;
	}
	if (a < q1)
		read_partial(quarter_part, s, a, q1, q1 - QUARTER_US, QUARTER_US, now);
	if (q1 < q2)
		spend_part(s, "rollup_quarter", q1, q2);
	if (q2 < b)
		read_partial(quarter_part, s, q2, b, q2, QUARTER_US, now);
}

void ledger_spend_source(const struct spend_query *q, bool hour_buckets, struct spend_source *s)
{
	const int64_t hour = HOUR_US, day = 24 * HOUR_US;
	/* [h1, h2): the whole hours inside the range; [d1, d2): the whole days. */
	int64_t h1 = floor_to(q->from_us + hour - 1, hour), h2 = floor_to(q->to_us, hour);
	int64_t d1 = floor_to(h1 + day - 1, day), d2 = floor_to(h2, day);
	int64_t now = time_now_us();
	size_t len;

	s->params[0] = q->team;
	s->params[1] = q->workflow;
	s->n_params = 2;
	s->overflow = false;
	s->sql = s->buf;
	str_copy(s->buf, sizeof s->buf, "(");
	if (q->dim == DIM_OUTCOME) {
		spend_part(s, "calls", q->from_us, q->to_us);
	} else if (h1 > h2) {
		/* inside one hour, not on its edges */
		spend_edge(s, q->from_us, q->to_us, now);
	} else {
		/* The partial hours at the edges, less than an hour each (whole
		 * quarter hours and a partial one: spend_edge); whole days from
		 * rollup_daily, whole hours around them from rollup_hourly. */
		if (q->from_us < h1)
			spend_edge(s, q->from_us, h1, now);
		if (h2 < q->to_us)
			spend_edge(s, h2, q->to_us, now);
		if (h1 == h2) {
			/* two partial hours, nothing between */
		} else if (hour_buckets || d1 >= d2) {
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
	if (len + 2 > sizeof s->buf)
		s->overflow = true;
	else
		memcpy(s->buf + len, ")", 2);
}

/* Reads a spend answer (key, total flag, counters) into *out; clears res. */
static int spend_rows(PGresult *res, const struct spend_query *q, struct spend_result *out,
                      struct tally_err *err)
{
	if (q->dim == DIM_TAG)
		snprintf(out->dim_name, sizeof out->dim_name, "%s%s",
		         strcmp(q->tag_key, "user") == 0 || strcmp(q->tag_key, "api_key") == 0
		             ? ""
		             : "tag:",
		         q->tag_key);
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
		row->calls = ledger_i64(res, r, 2);
		row->input_tokens = ledger_i64(res, r, 3);
		row->output_tokens = ledger_i64(res, r, 4);
		row->cache_read_tokens = ledger_i64(res, r, 5);
		row->cache_write_tokens = ledger_i64(res, r, 6);
		row->reasoning_tokens = ledger_i64(res, r, 7);
		str_copy(row->cost_pusd, sizeof row->cost_pusd, PQgetvalue(res, r, 8));
		row->unpriced_calls = ledger_i64(res, r, 9);
	}
	if (out->total.cost_pusd[0] == '\0')
		str_copy(out->total.cost_pusd, sizeof out->total.cost_pusd, "0");
	PQclear(res);
	return 0;
}

/* The tagged rows of a spend by tag, built part by part: each part's bounds
 * are new parameters after the source's and the tag key ($k). */
#define TAG_SOURCE_PARTS 7 /* 3 per edge, the whole hours */
struct tag_source {
	char buf[4096];
	size_t len;
	const char **params;
	char p[2 * TAG_SOURCE_PARTS][40];
	int np, n, k;
	bool overflow;
};

/* part_fn of the tagged rows: [from, to) of rollup_tags_hourly (whole
 * hours), or of the calls carrying the tag. */
static void tag_part(void *src, bool rollup, bool less, int64_t from, int64_t to)
{
	struct tag_source *t = src;
	int n;

	if (t->np + 2 > (int)(sizeof t->p / sizeof t->p[0])) {
		t->overflow = true;
		return;
	}
	time_format(from, t->p[t->np]);
	time_format(to, t->p[t->np + 1]);
	t->params[t->n] = t->p[t->np];
	t->params[t->n + 1] = t->p[t->np + 1];
	t->np += 2;
	if (rollup)
		n = snprintf(t->buf + t->len, sizeof t->buf - t->len,
		             "%sSELECT tag_value AS v," ROLLUP_FIGURES
		             " FROM rollup_tags_hourly WHERE tag_key = $%d AND hour >= $%d"
		             " AND hour < $%d" SPEND_FILTER,
		             t->len ? " UNION ALL " : "", t->k, t->n + 1, t->n + 2);
	else
		n = snprintf(t->buf + t->len, sizeof t->buf - t->len,
		             "%sSELECT tags->>$%d AS v,%s FROM calls WHERE ts >= $%d AND ts < $%d"
		             " AND tags ? $%d" SPEND_FILTER,
		             t->len ? " UNION ALL " : "", t->k,
		             less ? CALL_FIGURES_LESS : CALL_FIGURES, t->n + 1, t->n + 2, t->k);
	t->n += 2;
	if (n < 0 || (size_t)n >= sizeof t->buf - t->len)
		t->overflow = true;
	else
		t->len += (size_t)n;
}

/* Spend by one tag's value: whole hours from rollup_tags_hourly, the partial
 * hours at the edges from their calls or as their hour's rows less the rest
 * (read_partial); calls without the tag in one row of their own (key NULL: the
 * whole spend less the tagged), so that nothing is dropped; the total is the
 * whole spend. */
static int spend_by_tag(struct ledger *lg, const struct spend_query *q, struct spend_result *out,
                        struct tally_err *err)
{
	const int64_t hour = HOUR_US;
	int64_t h1 = floor_to(q->from_us + hour - 1, hour), h2 = floor_to(q->to_us, hour);
	struct spend_query all = *q;
	struct spend_source src;
	const char *params[SPEND_SOURCE_PARAMS + 1 + 2 * TAG_SOURCE_PARTS];
	struct tag_source tg = {.params = params};
	char sql[16384];

	all.dim = DIM_TEAM;
	ledger_spend_source(&all, false, &src);
	for (int i = 0; i < src.n_params; i++)
		params[i] = src.params[i];
	params[src.n_params] = q->tag_key;
	tg.k = tg.n = src.n_params + 1;
	if (h1 > h2) {
		/* inside one hour */
		tag_part(&tg, false, false, q->from_us, q->to_us);
	} else {
		int64_t now = time_now_us();
		if (q->from_us < h1)
			read_partial(tag_part, &tg, q->from_us, h1, h1 - hour, hour, now);
		if (h2 < q->to_us)
			read_partial(tag_part, &tg, h2, q->to_us, h2, hour, now);
		if (h1 < h2)
			tag_part(&tg, true, false, h1, h2);
	}
	int len_sql = snprintf(
	    sql, sizeof sql,
	    "WITH a AS (SELECT coalesce(sum(calls), 0) AS c, coalesce(sum(input_tokens), 0) AS i,"
	    " coalesce(sum(output_tokens), 0) AS o, coalesce(sum(cache_read_tokens), 0) AS cr,"
	    " coalesce(sum(cache_write_tokens), 0) AS cw, coalesce(sum(reasoning_tokens), 0) AS r,"
	    " coalesce(sum(cost_pusd), 0) AS cost, coalesce(sum(unpriced_calls), 0) AS u FROM %s "
	    "x),"
	    " t AS (SELECT v, sum(calls) AS c, sum(input_tokens) AS i, sum(output_tokens) AS o,"
	    " sum(cache_read_tokens) AS cr, sum(cache_write_tokens) AS cw,"
	    " sum(reasoning_tokens) AS r, sum(cost_pusd) AS cost, sum(unpriced_calls) AS u"
	    " FROM (%s) y GROUP BY v HAVING sum(calls) <> 0),"
	    " s AS (SELECT coalesce(sum(c), 0) AS c, coalesce(sum(i), 0) AS i,"
	    " coalesce(sum(o), 0) AS o, coalesce(sum(cr), 0) AS cr, coalesce(sum(cw), 0) AS cw,"
	    " coalesce(sum(r), 0) AS r, coalesce(sum(cost), 0) AS cost,"
	    " coalesce(sum(u), 0) AS u FROM t),"
	    " rows AS (SELECT v, 0 AS g, c, i, o, cr, cw, r, cost, u FROM t"
	    " UNION ALL SELECT NULL, 0, a.c - s.c, a.i - s.i, a.o - s.o, a.cr - s.cr, a.cw - s.cw,"
	    " a.r - s.r, a.cost - s.cost, a.u - s.u FROM a, s WHERE a.c > s.c"
	    " UNION ALL SELECT NULL, 1, c, i, o, cr, cw, r, cost, u FROM a)"
	    " SELECT v, g, c, i, o, cr, cw, r, cost::numeric(40,0), u FROM rows"
	    " ORDER BY g, cost DESC, v NULLS LAST",
	    src.sql, tg.buf);
	if (spend_fits(src.overflow || tg.overflow, len_sql, sizeof sql, err) < 0)
		return -1;
	PGresult *res = PQexecParams(lg->conn, sql, tg.n, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return ledger_fail(lg, res, "spend report by tag", err);
	return spend_rows(res, q, out, err);
}

int ledger_spend(struct ledger *lg, const struct spend_query *q, struct spend_result *out,
                 struct tally_err *err)
{
	struct spend_source src;
	char sql[12288];
	int len;

	memset(out, 0, sizeof *out);
	if (q->dim < 0 || q->dim >= DIM_COUNT)
		return tally_err_set(err, TALLY_EINVAL, false, "unknown group-by dimension");
	if (q->dim == DIM_TAG)
		return q->tag_key ? spend_by_tag(lg, q, out, err)
		                  : tally_err_set(err, TALLY_EINVAL, false, "group by tag: no key");
	ledger_spend_source(q, false, &src);
	len = snprintf(sql, sizeof sql,
	               "SELECT %s AS k, GROUPING(%s) AS g, sum(x.calls), sum(x.input_tokens),"
	               " sum(x.output_tokens), sum(x.cache_read_tokens), sum(x.cache_write_tokens),"
	               " sum(x.reasoning_tokens), coalesce(sum(x.cost_pusd), 0)::numeric(40,0),"
	               " sum(x.unpriced_calls)"
	               " FROM %s x LEFT JOIN teams tm ON tm.team = x.team"
	               " GROUP BY GROUPING SETS ((%s), ()) HAVING " SPEND_SHOWN
	               " ORDER BY g, coalesce(sum(x.cost_pusd), 0) DESC, k NULLS LAST",
	               ledger_spend_dim_sql(q->dim), ledger_spend_dim_sql(q->dim), src.sql,
	               ledger_spend_dim_sql(q->dim), ledger_spend_dim_sql(q->dim));
	if (spend_fits(src.overflow, len, sizeof sql, err) < 0)
		return -1;
	PGresult *res = PQexecParams(lg->conn, sql, src.n_params, NULL, src.params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return ledger_fail(lg, res, "spend report", err);
	return spend_rows(res, q, out, err);
}

void spend_result_cleanup(struct spend_result *r)
{
	if (!r)
		return;
	free(r->rows);
	r->rows = NULL;
	r->n = 0;
}

/* ---- spend series ------------------------------------------------------------ */

static void spend_from_row(PGresult *res, int r, int c, struct spend_row *row)
{
	row->key_null = PQgetisnull(res, r, c);
	str_copy(row->key, sizeof row->key, PQgetvalue(res, r, c));
	row->calls = ledger_i64(res, r, c + 1);
	row->input_tokens = ledger_i64(res, r, c + 2);
	row->output_tokens = ledger_i64(res, r, c + 3);
	row->cache_read_tokens = ledger_i64(res, r, c + 4);
	row->cache_write_tokens = ledger_i64(res, r, c + 5);
	row->reasoning_tokens = ledger_i64(res, r, c + 6);
	str_copy(row->cost_pusd, sizeof row->cost_pusd, PQgetvalue(res, r, c + 7));
	row->unpriced_calls = ledger_i64(res, r, c + 8);
}

int ledger_spend_series(struct ledger *lg, const struct spend_query *q, int bucket,
                        struct spend_series *out, struct tally_err *err)
{
	/* Bucket expressions: fixed text chosen by enum, never user input. */
	const char *bexpr =
	    bucket == BUCKET_DAY
	        ? "to_char(date_trunc('day', x.t), 'YYYY-MM-DD')"
	        : "to_char(date_trunc('hour', x.t), 'YYYY-MM-DD\"T\"HH24:00:00\"Z\"')";
	const char *dim = ledger_spend_dim_sql(q->dim);
	struct spend_source src;
	char sql[12288];
	PGresult *res;
	int n;

	memset(out, 0, sizeof *out);
	if (q->dim < 0 || q->dim >= DIM_COUNT || (bucket != BUCKET_HOUR && bucket != BUCKET_DAY))
		return tally_err_set(err, TALLY_EINVAL, false, "unknown group-by or bucket");
	ledger_spend_source(q, bucket == BUCKET_HOUR, &src);
	n = snprintf(
	    sql, sizeof sql,
	    "SELECT %s AS b, GROUPING(%s) AS g, %s AS k, sum(x.calls), sum(x.input_tokens),"
	    " sum(x.output_tokens), sum(x.cache_read_tokens), sum(x.cache_write_tokens),"
	    " sum(x.reasoning_tokens), coalesce(sum(x.cost_pusd), 0)::numeric(40,0),"
	    " sum(x.unpriced_calls)"
	    " FROM %s x LEFT JOIN teams tm ON tm.team = x.team"
	    " GROUP BY GROUPING SETS ((%s, %s), ()) HAVING " SPEND_SHOWN
	    " ORDER BY g, b, coalesce(sum(x.cost_pusd), 0) DESC, k NULLS LAST",
	    bexpr, bexpr, dim, src.sql, bexpr, dim, bexpr);
	if (spend_fits(src.overflow, n, sizeof sql, err) < 0)
		return -1;
	res = PQexecParams(lg->conn, sql, src.n_params, NULL, src.params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return ledger_fail(lg, res, "spend series", err);
	n = PQntuples(res);
	if (n > 0 && !(out->rows = calloc((size_t)n, sizeof *out->rows))) {
		PQclear(res);
		return tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
	}
	for (int r = 0; r < n; r++) {
		if (strcmp(PQgetvalue(res, r, 1), "0") != 0) {
			spend_from_row(res, r, 2, &out->total);
			continue;
		}
		struct spend_series_row *row = &out->rows[out->n++];
		str_copy(row->bucket, sizeof row->bucket, PQgetvalue(res, r, 0));
		spend_from_row(res, r, 2, &row->r);
	}
	if (out->total.cost_pusd[0] == '\0')
		str_copy(out->total.cost_pusd, sizeof out->total.cost_pusd, "0");
	PQclear(res);
	return 0;
}

void spend_series_cleanup(struct spend_series *s)
{
	if (!s)
		return;
	free(s->rows);
	s->rows = NULL;
	s->n = 0;
}

/* ---- all time, for /metrics ------------------------------------------------------------ */

/* The columns of labels_sql. */
enum label_col {
	LBL_TEAM,
	LBL_PROVIDER,
	LBL_MODEL,
	LBL_TIER,
	LBL_CALLS,
	LBL_TOKENS, /* 5 columns: input, output, cache read, cache write, reasoning */
	LBL_COST = LBL_TOKENS + 5
};
static const char labels_sql[] =
    "WITH s AS (SELECT team, provider, model, tier, sum(calls) AS calls,"
    " sum(input_tokens) AS i, sum(output_tokens) AS o, sum(cache_read_tokens) AS cr,"
    " sum(cache_write_tokens) AS cw, sum(reasoning_tokens) AS r, sum(cost_pusd) AS cost"
    " FROM rollup_daily GROUP BY 1, 2, 3, 4),"
    " k AS (SELECT s.*, row_number() OVER (ORDER BY cost DESC, calls DESC, team, provider,"
    "  model, tier) < $1::int AS keep FROM s)"
    " SELECT CASE WHEN keep THEN team ELSE '_other' END,"
    " CASE WHEN keep THEN provider ELSE '_other' END,"
    " CASE WHEN keep THEN model ELSE '_other' END,"
    " CASE WHEN keep THEN tier ELSE '_other' END,"
    " sum(calls)::numeric(40,0), sum(i)::numeric(40,0), sum(o)::numeric(40,0),"
    " sum(cr)::numeric(40,0), sum(cw)::numeric(40,0), sum(r)::numeric(40,0),"
    " sum(cost)::numeric(40,0) FROM k GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4";

static void label_row(const PGresult *res, int r, void *row)
{
	struct spend_label_row *l = row;
	ledger_str(res, r, LBL_TEAM, l->team, sizeof l->team);
	ledger_str(res, r, LBL_PROVIDER, l->provider, sizeof l->provider);
	ledger_str(res, r, LBL_MODEL, l->model, sizeof l->model);
	ledger_str(res, r, LBL_TIER, l->tier, sizeof l->tier);
	ledger_str(res, r, LBL_CALLS, l->calls, sizeof l->calls);
	for (int k = 0; k < 5; k++)
		ledger_str(res, r, LBL_TOKENS + k, l->tokens[k], sizeof l->tokens[k]);
	ledger_str(res, r, LBL_COST, l->cost_pusd, sizeof l->cost_pusd);
}

int ledger_spend_labels(struct ledger *lg, int series, struct spend_label_row **rows, size_t *n,
                        struct tally_err *err)
{
	char s[16];
	const char *p[1] = {s};

	snprintf(s, sizeof s, "%d", series);
	return ledger_load_rows(lg, labels_sql, 1, p, "spend by label", sizeof **rows, label_row,
	                        rows, n, err);
}
