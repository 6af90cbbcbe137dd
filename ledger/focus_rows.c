/* focus_rows.c - the FOCUS export's charges (docs/focus.md), read from the
 * calls: one row per charge period, route, model, attribution, tag set,
 * price version, pricing mode and price component, each with one unit price.
 * The components are the calls' stored ones (ledger/components.c), one row
 * each through tally_call_components().
 *
 * Why the calls and not a rollup: a row of a FOCUS file needs the price
 * version, the pricing mode and the calls' tags (one unit price per row;
 * Tags), which no rollup keeps. docs/focus.md has the measurement behind the
 * choice. */
#include "ledger_int.h"

#include <stdlib.h>
#include <string.h>

#define ISO(col) "to_char(" col ", 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

/* The long-context level of a call (0: below the threshold, 1: the first
 * tier's above_* rates, 2 + i: extra_tiers[i]) - the SQL twin of pricing.c's
 * level_of. It only labels the row (SkuPriceId); the amounts are the ones
 * the pricer stored on the call. */
/* clang-format off */
#define FOCUS_OVER(t)                                                                              \
	"(" t " > 0 AND (c.input_tokens > " t " OR (pb.threshold_inclusive <> 0 AND"               \
	" c.input_tokens = " t ")))"
#define FOCUS_LEVEL                                                                                \
	"CASE WHEN pb.price_version IS NULL OR NOT " FOCUS_OVER("pb.threshold_tokens")             \
	" OR (pb.above_input_pusd IS NULL AND pb.above_priority_input_pusd IS NULL) THEN 0"        \
	" ELSE 1 + (SELECT count(*) FROM jsonb_array_elements(CASE jsonb_typeof(pb.extra_tiers)"   \
	" WHEN 'array' THEN pb.extra_tiers ELSE '[]'::jsonb END) t"                                \
	" WHERE " FOCUS_OVER("(t ->> 'from')::numeric") ") END"
/* clang-format on */

/* The calls of [$1, $2) in time order, one row each with the keys of its
 * FOCUS rows computed ($3 'day' or 'hour'): the charge period, the
 * attribution, the tags (an object's canonical text, else "{}"), the price
 * version, the pricing mode and the long-context level, and its components
 * text. Cache hits (answered by the application's or the gateway's cache)
 * are no provider usage: left out. In time order through calls_ts, so that
 * a charge period's calls come together and C sums one period at a time. */
/* clang-format off */
static const char focus_calls_sql[] =
    "SELECT date_trunc($3, c.ts, 'UTC'), c.provider, c.model, c.local, c.team, c.workflow,"
    " c.task_type,"
    " (CASE jsonb_typeof(c.tags) WHEN 'object' THEN c.tags ELSE '{}'::jsonb END)::text,"
    " c.price_version, c.cost_pusd IS NULL,"
    " CASE WHEN c.batch OR c.service_tier = 'batch' THEN 'batch'"
    "  WHEN c.service_tier IN ('flex', 'priority') THEN c.service_tier ELSE 'standard' END,"
    " coalesce(c.data_residency, ''), coalesce(c.inference_geo, ''),"
    " coalesce(c.speed, ''), " FOCUS_LEVEL ", c.components"
    " FROM calls c LEFT JOIN price_book pb ON pb.price_version = c.price_version"
    " WHERE c.ts >= $1 AND c.ts < $2 AND NOT c.cache_hit AND c.components IS NOT NULL"
    " ORDER BY c.ts";
/* clang-format on */

/* The rows of one charge period from its groups, summed in C ($5 the
 * period's start; $6.. one array per column of the groups, an element per
 * group and component). $1 from, $2 to, $3 'day' or 'hour', $4
 * FOCUS_TAG_PREFIX (the calls' tags under it are left out; nested values
 * become their JSON text). The charge period is clamped to [from, to).
 * Amounts: pico-USD sums and the row's unit price in pico-USD (exact when
 * the sum divides, else to 6 fraction digits of a pico-dollar); USD =
 * pico-USD x 10^-12, exact. The order is the database's (its collation for
 * the text keys). */
/* clang-format off */
static const char focus_rows_sql[] =
    "SELECT " ISO("greatest(g.p, $1::timestamptz)") ","
    " " ISO("least(g.p + ('1 ' || $3)::interval, $2::timestamptz)") ","
    " " ISO("date_trunc('month', g.p, 'UTC')") ","
    " " ISO("date_trunc('month', g.p, 'UTC') + interval '1 month'") ","
    " g.provider, g.model, g.local, g.team, g.workflow, g.task_type, tm.cost_center,"
    " (SELECT coalesce(jsonb_object_agg(e.key, CASE WHEN jsonb_typeof(e.value)"
    "  IN ('object', 'array') THEN to_jsonb(e.value::text) ELSE e.value END), '{}'::jsonb)"
    "  FROM jsonb_each(g.tags) e WHERE left(e.key, length($4)) <> $4)::text,"
    " g.price_version, g.unpriced, g.svc, g.dr, g.ig, g.sp, g.lvl, g.kind,"
    " g.qty, (g.billed * 0.000000000001)::numeric(40,12), u.unit * 0.000000000001,"
    " u.unit * g.qty * 0.000000000001, g.n"
    " FROM (SELECT $5::timestamptz AS p, a.* FROM unnest($6::text[], $7::text[], $8::bool[],"
    "  $9::text[], $10::text[], $11::text[], $12::jsonb[], $13::bigint[], $14::bool[],"
    "  $15::text[], $16::text[], $17::text[], $18::text[], $19::bigint[], $20::text[],"
    "  $21::bigint[], $22::numeric[], $23::numeric[]) a(provider, model, local, team,"
    "  workflow, task_type, tags, price_version, unpriced, svc, dr, ig, sp, lvl, kind, n, qty,"
    "  billed)) g"
    " CROSS JOIN LATERAL (SELECT CASE WHEN g.qty = 0 THEN 0"
    "  WHEN mod(g.billed, g.qty) = 0 THEN div(g.billed, g.qty)"
    "  ELSE round(g.billed / g.qty, 6) END AS unit) u"
    " LEFT JOIN teams tm ON tm.team = g.team"
    " WHERE g.qty <> 0 OR g.billed <> 0"
    " ORDER BY g.p, g.provider, g.model, g.team, g.workflow, g.task_type, g.tags::text,"
    " g.price_version NULLS LAST, g.svc, g.dr, g.ig, g.sp, g.lvl, g.kind";
/* clang-format on */

/* The statement's columns. */
enum {
	Q_START,
	Q_END,
	Q_BSTART,
	Q_BEND,
	Q_PROVIDER,
	Q_MODEL,
	Q_LOCAL,
	Q_TEAM,
	Q_WORKFLOW,
	Q_TASK,
	Q_CC,
	Q_TAGS,
	Q_VERSION,
	Q_UNPRICED,
	Q_SVC,
	Q_DR,
	Q_IG,
	Q_SP,
	Q_LEVEL,
	Q_KIND,
	Q_QTY,
	Q_BILLED,
	Q_UNIT,
	Q_LIST,
	Q_CALLS,
	Q_NCOLS
};

/* The columns of focus_calls_sql. K_PROVIDER..K_LEVEL are a row's group
 * keys, in the order of focus_rows_sql's first arrays ($6..$19). */
enum {
	K_PERIOD,
	K_PROVIDER,
	K_MODEL,
	K_LOCAL,
	K_TEAM,
	K_WORKFLOW,
	K_TASK,
	K_TAGS,
	K_VERSION,
	K_UNPRICED,
	K_SVC,
	K_DR,
	K_IG,
	K_SP,
	K_LEVEL,
	K_COMPONENTS,
	K_NCOLS
};
#define N_KEYS    (K_LEVEL - K_PROVIDER + 1)
#define N_ARRAYS  (N_KEYS + 4) /* the keys, kind, n, qty, billed */
#define N_PARAMS  (5 + N_ARRAYS)
#define FETCH_SQL "FETCH FORWARD 10000 FROM tally_focus"

/* One group of a charge period: its keys, each a flag ('N' NULL, 'V' a
 * value), the text and a NUL, one after another in focus_sum.keys. */
struct focus_group {
	size_t key, len;
	uint64_t hash;
};

/* One group's component: the exact sums (a sum of int64 values cannot
 * overflow 128 bits) and the number of calls that used it. */
struct focus_cell {
	uint32_t group, kind;
	__int128 qty, billed;
	int64_t n;
};

/* One charge period's sums: open-addressing tables of groups (by key) and
 * of cells (by group and component), index + 1 in each slot, 0 empty. */
struct focus_sum {
	struct sbuf keys, key;
	struct focus_group *groups;
	size_t n_groups, cap_groups;
	uint32_t *gslot;
	size_t gslots;
	struct focus_cell *cells;
	size_t n_cells, cap_cells;
	uint32_t *cslot;
	size_t cslots;
	char period[64]; /* the period's start as PostgreSQL wrote it; "" none */
	struct sbuf arr[N_ARRAYS];
};

static void focus_sum_cleanup(struct focus_sum *s)
{
	sbuf_cleanup(&s->keys);
	sbuf_cleanup(&s->key);
	free(s->groups);
	free(s->gslot);
	free(s->cells);
	free(s->cslot);
	for (int i = 0; i < N_ARRAYS; i++)
		sbuf_cleanup(&s->arr[i]);
}

static void focus_sum_reset(struct focus_sum *s)
{
	sbuf_reset(&s->keys);
	s->n_groups = s->n_cells = 0;
	if (s->gslot)
		memset(s->gslot, 0, s->gslots * sizeof *s->gslot);
	if (s->cslot)
		memset(s->cslot, 0, s->cslots * sizeof *s->cslot);
	s->period[0] = '\0';
}

static uint64_t cell_hash(uint32_t group, uint32_t kind)
{
	uint64_t h = ((uint64_t)group << 8 | kind) * UINT64_C(0x9E3779B97F4A7C15);
	return h ^ h >> 29;
}

/* Doubles a slot table (at least 1024 slots) and puts the entries back. */
static int rehash(uint32_t **slot, size_t *slots, size_t n, const void *items, size_t size,
                  bool cells)
{
	size_t m = *slots ? *slots * 2 : 1024;
	uint32_t *t = calloc(m, sizeof *t);

	if (!t)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const char *it = (const char *)items + i * size;
		uint64_t h = cells ? cell_hash(((const struct focus_cell *)(const void *)it)->group,
		                               ((const struct focus_cell *)(const void *)it)->kind)
		                   : ((const struct focus_group *)(const void *)it)->hash;
		size_t j = h & (m - 1);
		while (t[j])
			j = (j + 1) & (m - 1);
		t[j] = (uint32_t)(i + 1);
	}
	free(*slot);
	*slot = t;
	*slots = m;
	return 0;
}

/* The index of the group whose key is s->key, added when new; -1: no memory. */
static long group_of(struct focus_sum *s)
{
	uint64_t h = HASH_SEED;

	for (size_t i = 0; i < s->key.len; i++)
		h = (h ^ (unsigned char)s->key.p[i]) * UINT64_C(1099511628211);
	if ((s->n_groups + 1) * 2 > s->gslots &&
	    rehash(&s->gslot, &s->gslots, s->n_groups, s->groups, sizeof *s->groups, false) < 0)
		return -1;
	size_t j = h & (s->gslots - 1);
	for (; s->gslot[j]; j = (j + 1) & (s->gslots - 1)) {
		const struct focus_group *g = &s->groups[s->gslot[j] - 1];
		if (g->hash == h && g->len == s->key.len &&
		    memcmp(s->keys.p + g->key, s->key.p, g->len) == 0)
			return (long)(s->gslot[j] - 1);
	}
	if (s->n_groups == s->cap_groups) {
		size_t cap = s->cap_groups ? s->cap_groups * 2 : 1024;
		struct focus_group *ng = realloc(s->groups, cap * sizeof *ng);
		if (!ng || cap > UINT32_MAX - 1)
			return -1;
		s->groups = ng;
		s->cap_groups = cap;
	}
	s->groups[s->n_groups] = (struct focus_group){.key = s->keys.len, .len = s->key.len, .hash = h};
	sbuf_append(&s->keys, s->key.p, s->key.len);
	if (s->keys.oom)
		return -1;
	s->gslot[j] = (uint32_t)(s->n_groups + 1);
	return (long)s->n_groups++;
}

/* The cell of (group, kind), added (zero) when new; NULL: no memory. */
static struct focus_cell *cell_of(struct focus_sum *s, uint32_t group, uint32_t kind)
{
	if ((s->n_cells + 1) * 2 > s->cslots &&
	    rehash(&s->cslot, &s->cslots, s->n_cells, s->cells, sizeof *s->cells, true) < 0)
		return NULL;
	size_t j = cell_hash(group, kind) & (s->cslots - 1);
	for (; s->cslot[j]; j = (j + 1) & (s->cslots - 1)) {
		struct focus_cell *c = &s->cells[s->cslot[j] - 1];
		if (c->group == group && c->kind == kind)
			return c;
	}
	if (s->n_cells == s->cap_cells) {
		size_t cap = s->cap_cells ? s->cap_cells * 2 : 4096;
		struct focus_cell *nc = realloc(s->cells, cap * sizeof *nc);
		if (!nc || cap > UINT32_MAX - 1)
			return NULL;
		s->cells = nc;
		s->cap_cells = cap;
	}
	s->cells[s->n_cells] = (struct focus_cell){.group = group, .kind = kind};
	s->cslot[j] = (uint32_t)(s->n_cells + 1);
	return &s->cells[s->n_cells++];
}

/* Adds call r of res (its charge period is the one being summed). */
static int add_call(struct focus_sum *s, const PGresult *res, int r, struct tally_err *err)
{
	struct call_price p;

	if (ledger_components_parse(PQgetvalue(res, r, K_COMPONENTS), &p, err) < 0)
		return -1;
	sbuf_reset(&s->key);
	for (int c = K_PROVIDER; c <= K_LEVEL; c++) {
		bool null = PQgetisnull(res, r, c);
		sbuf_putc(&s->key, null ? 'N' : 'V');
		if (!null)
			sbuf_append(&s->key, PQgetvalue(res, r, c), (size_t)PQgetlength(res, r, c));
		sbuf_putc(&s->key, '\0');
	}
	long g = s->key.oom ? -1 : group_of(s);
	if (g < 0)
		return tally_err_set(err, TALLY_ENOMEM, false, "FOCUS export: out of memory");
	for (uint32_t k = 0; k < PC_COUNT; k++) {
		/* a stored component is never all zero (ledger/components.c) */
		if (p.qty[k] == 0 && p.cost[k] == 0 && p.list[k] == 0)
			continue;
		struct focus_cell *c = cell_of(s, (uint32_t)g, k);
		if (!c)
			return tally_err_set(err, TALLY_ENOMEM, false,
			                     "FOCUS export: out of memory");
		c->qty += p.qty[k];
		c->billed += p.cost[k];
		c->n++;
	}
	return 0;
}

/* Appends one element of an array literal: NULL, or the text quoted. */
static void array_elem(struct sbuf *a, const char *v, size_t n)
{
	sbuf_putc(a, a->len > 1 ? ',' : '{');
	if (!v) {
		sbuf_puts(a, "NULL");
		return;
	}
	sbuf_putc(a, '"');
	for (size_t i = 0; i < n; i++) {
		if (v[i] == '"' || v[i] == '\\')
			sbuf_putc(a, '\\');
		sbuf_putc(a, v[i]);
	}
	sbuf_putc(a, '"');
}

static void array_i128(struct sbuf *a, __int128 v)
{
	char buf[48], *e = buf + sizeof buf, *q = e;
	unsigned __int128 u = v < 0 ? -(unsigned __int128)v : (unsigned __int128)v;

	do {
		*--q = (char)('0' + (int)(u % 10));
		u /= 10;
	} while (u);
	if (v < 0)
		*--q = '-';
	array_elem(a, q, (size_t)(e - q));
}

static int component_of(const char *name)
{
	for (int k = 0; k < PC_COUNT; k++)
		if (strcmp(name, price_component_names[k]) == 0)
			return k;
	return -1;
}

/* Hands the rows of a result of focus_rows_sql to fn. */
static int emit_rows(PGresult *res, ledger_focus_fn fn, void *ctx, struct tally_err *err)
{
	int rows = PQntuples(res);

	if (rows > 0 && PQnfields(res) != Q_NCOLS)
		return tally_err_set(err, TALLY_EINVAL, false, "FOCUS export: unexpected columns");
	for (int r = 0; r < rows; r++) {
/* S: a non-null column; V: NULL for SQL NULL. */
#define S(c) PQgetvalue(res, r, (c))
#define V(c) (PQgetisnull(res, r, (c)) ? NULL : S(c))
		struct focus_row row = {
		    .period_start = S(Q_START),
		    .period_end = S(Q_END),
		    .billing_start = S(Q_BSTART),
		    .billing_end = S(Q_BEND),
		    .provider = S(Q_PROVIDER),
		    .model = S(Q_MODEL),
		    .local = S(Q_LOCAL)[0] == 't',
		    .team = S(Q_TEAM),
		    .workflow = S(Q_WORKFLOW),
		    .task_type = S(Q_TASK),
		    .cost_center = V(Q_CC),
		    .tags = S(Q_TAGS),
		    .price_version = V(Q_VERSION),
		    .unpriced = S(Q_UNPRICED)[0] == 't',
		    .service = S(Q_SVC),
		    .data_residency = S(Q_DR),
		    .inference_geo = S(Q_IG),
		    .speed = S(Q_SP),
		    .long_context = atoi(S(Q_LEVEL)),
		    .component = component_of(S(Q_KIND)),
		    .quantity = S(Q_QTY),
		    .billed_usd = S(Q_BILLED),
		    .unit_usd = S(Q_UNIT),
		    .list_usd = S(Q_LIST),
		    .calls = strtoll(S(Q_CALLS), NULL, 10),
		};
#undef V
#undef S
		if (row.component < 0)
			return tally_err_set(err, TALLY_EINVAL, false,
			                     "FOCUS export: unknown price component");
		if (fn(ctx, &row, err) != 0)
			return tally_err_set(err, TALLY_EIO, false, "FOCUS export stopped");
	}
	return 0;
}

/* Ends the period being summed: its rows, in order, to fn; then resets. */
static int flush_period(struct ledger *lg, struct focus_sum *s, const char *const *base,
                        ledger_focus_fn fn, void *ctx, struct tally_err *err)
{
	const char *params[N_PARAMS];
	PGresult *res;
	int rc;

	if (!s->period[0] || s->n_cells == 0) {
		focus_sum_reset(s);
		return 0;
	}
	for (int i = 0; i < N_ARRAYS; i++)
		sbuf_reset(&s->arr[i]);
	for (size_t i = 0; i < s->n_cells; i++) {
		const struct focus_cell *c = &s->cells[i];
		const struct focus_group *g = &s->groups[c->group];
		const char *k = s->keys.p + g->key;
		for (int a = 0; a < N_KEYS; a++) {
			size_t n = strlen(k + 1);
			array_elem(&s->arr[a], k[0] == 'V' ? k + 1 : NULL, n);
			k += n + 2;
		}
		const char *kind = price_component_names[c->kind];
		array_elem(&s->arr[N_KEYS], kind, strlen(kind));
		array_i128(&s->arr[N_KEYS + 1], c->n);
		array_i128(&s->arr[N_KEYS + 2], c->qty);
		array_i128(&s->arr[N_KEYS + 3], c->billed);
	}
	for (int i = 0; i < 4; i++)
		params[i] = base[i];
	params[4] = s->period;
	for (int i = 0; i < N_ARRAYS; i++) {
		sbuf_putc(&s->arr[i], '}');
		if (s->arr[i].oom)
			return tally_err_set(err, TALLY_ENOMEM, false, "FOCUS export: out of memory");
		params[5 + i] = s->arr[i].p;
	}
	res = PQexecParams(lg->conn, focus_rows_sql, N_PARAMS, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return ledger_fail(lg, res, "FOCUS export", err);
	rc = emit_rows(res, fn, ctx, err);
	PQclear(res);
	focus_sum_reset(s);
	return rc;
}

int ledger_focus_stream(struct ledger *lg, int64_t from_us, int64_t to_us, bool hourly,
                        ledger_focus_fn fn, void *ctx, struct tally_err *err)
{
	bool own = PQtransactionStatus(lg->conn) == PQTRANS_IDLE;
	char from[40], to[40];
	const char *params[4] = {from, to, hourly ? "hour" : "day", FOCUS_TAG_PREFIX};
	char sql[sizeof focus_calls_sql + 64];
	struct focus_sum sum = {0};
	PGresult *res = NULL;
	int rc = -1;

	sbuf_init(&sum.keys);
	sbuf_init(&sum.key);
	for (int i = 0; i < N_ARRAYS; i++)
		sbuf_init(&sum.arr[i]);
	time_format(from_us, from);
	time_format(to_us, to);
	if (own && ledger_snapshot_begin(lg, err) < 0)
		return -1;
	snprintf(sql, sizeof sql, "DECLARE tally_focus NO SCROLL CURSOR FOR %s", focus_calls_sql);
	res = PQexecParams(lg->conn, sql, 3, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		ledger_fail(lg, res, "FOCUS export", err);
		res = NULL;
		goto out;
	}
	PQclear(res);
	for (;;) {
		res = PQexec(lg->conn, FETCH_SQL);
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			ledger_fail(lg, res, "FOCUS export", err);
			res = NULL;
			goto out;
		}
		int rows = PQntuples(res);
		if (rows > 0 && PQnfields(res) != K_NCOLS) {
			tally_err_set(err, TALLY_EINVAL, false, "FOCUS export: unexpected columns");
			goto out;
		}
		for (int r = 0; r < rows; r++) {
			const char *period = PQgetvalue(res, r, K_PERIOD);
			if (strcmp(period, sum.period) != 0) {
				if (flush_period(lg, &sum, params, fn, ctx, err) < 0)
					goto out;
				if (str_copy(sum.period, sizeof sum.period, period) < 0) {
					tally_err_set(err, TALLY_EINVAL, false,
					              "FOCUS export: unexpected period %.40s", period);
					goto out;
				}
			}
			if (add_call(&sum, res, r, err) < 0)
				goto out;
		}
		PQclear(res);
		res = NULL;
		if (rows == 0)
			break;
	}
	if (flush_period(lg, &sum, params, fn, ctx, err) < 0)
		goto out;
	PQclear(PQexec(lg->conn, "CLOSE tally_focus"));
	rc = 0;
out:
	PQclear(res);
	focus_sum_cleanup(&sum);
	if (own)
		ledger_snapshot_end(lg);
	return rc;
}
