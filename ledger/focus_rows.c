/* focus_rows.c - the FOCUS export's charges (docs/focus.md), read from the
 * calls: one row per charge period, route, model, attribution, tag set,
 * price version, pricing mode and price component, each with one unit price.
 *
 * The calls come in time order, one row each with its keys and its
 * components text (ledger/components.c); C sums each charge period in exact
 * integers and writes its rows, in the order, with the values and in the
 * text one SQL statement grouping the whole range gave before (docs/focus.md,
 * "Source and speed"): SQL still orders the period's distinct strings (the
 * database's collation) and shows new tag sets.
 *
 * Why the calls and not a rollup: a row of a FOCUS file needs the price
 * version, the pricing mode and the calls' tags (one unit price per row;
 * Tags), which no rollup keeps. docs/focus.md has the measurement behind the
 * choice. */
#include "ledger_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
 * FOCUS rows computed: the whole seconds since the epoch (C divides them into
 * charge periods: a UTC day or hour is a whole number of seconds), the
 * attribution, the tags (an object's canonical text, else "{}"), the price
 * version, the pricing mode, the long-context level, and the components
 * text. Cache hits (answered by the application's or the gateway's cache)
 * are no provider usage: left out. In time order through calls_ts, so that
 * a charge period's calls come together and C sums one period at a time.
 * The seconds: date_part's epoch is the correctly rounded double of the
 * microseconds / 10^6, whose floor is the exact second (1 us is more than
 * twice its rounding error until 2242). The level: 0 without a price_book
 * lookup for a call below every price version's long-context threshold
 * (most calls; FOCUS_LEVEL gives 0 there too). */
/* clang-format off */
static const char focus_calls_sql[] =
    "SELECT floor(date_part('epoch', c.ts))::bigint, c.provider, c.model, c.local, c.team,"
    " c.workflow,"
    " c.task_type, (CASE jsonb_typeof(c.tags) WHEN 'object' THEN c.tags ELSE '{}'::jsonb END)::text,"
    " c.price_version, c.cost_pusd IS NULL,"
    " CASE WHEN c.batch OR c.service_tier = 'batch' THEN 'batch'"
    "  WHEN c.service_tier IN ('flex', 'priority') THEN c.service_tier ELSE 'standard' END,"
    " coalesce(c.data_residency, ''), coalesce(c.inference_geo, ''),"
    " coalesce(c.speed, ''),"
    " CASE WHEN c.price_version IS NULL OR c.input_tokens < (SELECT coalesce(min(threshold_tokens),"
    "  9223372036854775807) FROM price_book WHERE threshold_tokens > 0) THEN 0"
    " ELSE coalesce((SELECT " FOCUS_LEVEL " FROM price_book pb"
    "  WHERE pb.price_version = c.price_version), 0) END, c.components"
    " FROM calls c"
    " WHERE c.ts >= $1 AND c.ts < $2 AND NOT c.cache_hit AND c.components IS NOT NULL"
    " ORDER BY c.ts";
/* clang-format on */

/* The order of a period's distinct strings (provider, model, attribution,
 * tags, pricing mode and component names) in the database's collation:
 * the export's rows are ordered as when one SQL statement sorted them. */
static const char focus_order_sql[] = "SELECT t FROM unnest($1::text[]) t ORDER BY t";

/* The calls' tags as the export shows them: those under $1 FOCUS_TAG_PREFIX
 * left out, nested values as their JSON text; $2 the distinct tag objects. */
/* clang-format off */
static const char focus_tags_sql[] =
    "SELECT (SELECT coalesce(jsonb_object_agg(e.key, CASE WHEN jsonb_typeof(e.value)"
    "  IN ('object', 'array') THEN to_jsonb(e.value::text) ELSE e.value END), '{}'::jsonb)"
    "  FROM jsonb_each(t.tags::jsonb) e WHERE left(e.key, length($1)) <> $1)::text"
    " FROM unnest($2::text[]) WITH ORDINALITY t(tags, i) ORDER BY t.i";
/* clang-format on */

static const char focus_teams_sql[] = "SELECT team, cost_center FROM teams";

/* The columns of focus_calls_sql. K_PROVIDER..K_LEVEL are a row's group
 * keys. */
enum {
	K_SECONDS,
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

/* A string table (open addressing, index + 1 in each slot): a period's
 * distinct strings with their rank, the teams' cost centres, the tags as
 * shown. Keys and values live in text, NUL-terminated. */
struct strent {
	size_t key, val; /* offsets in text; val (size_t)-1: NULL */
	uint64_t hash;
	int64_t rank;
};
struct strmap {
	struct sbuf text;
	struct strent *ents;
	size_t n, cap;
	uint32_t *slot;
	size_t slots;
};

static void strmap_cleanup(struct strmap *m)
{
	sbuf_cleanup(&m->text);
	free(m->ents);
	free(m->slot);
}

static void strmap_reset(struct strmap *m)
{
	sbuf_reset(&m->text);
	m->n = 0;
	if (m->slot)
		memset(m->slot, 0, m->slots * sizeof *m->slot);
}

/* FNV-1a of n bytes (a group's key holds its fields NUL-separated; strings
 * go through hash_str). */
static uint64_t bytes_hash(const char *p, size_t n)
{
	uint64_t h = HASH_SEED;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)p[i]) * UINT64_C(1099511628211);
	return h;
}

static const char *strmap_key(const struct strmap *m, size_t i)
{
	return m->text.p + m->ents[i].key;
}

static const char *strmap_val(const struct strmap *m, size_t i)
{
	return m->ents[i].val == (size_t)-1 ? NULL : m->text.p + m->ents[i].val;
}

/* The entry of key s: its index, or -1 when absent. */
static long strmap_find(const struct strmap *m, const char *s)
{
	uint64_t h = hash_str(HASH_SEED, s);

	if (!m->slots)
		return -1;
	for (size_t j = h & (m->slots - 1); m->slot[j]; j = (j + 1) & (m->slots - 1)) {
		const struct strent *e = &m->ents[m->slot[j] - 1];
		if (e->hash == h && strcmp(m->text.p + e->key, s) == 0)
			return (long)(m->slot[j] - 1);
	}
	return -1;
}

/* Adds key s (absent) with value val (NULL allowed): its index, or -1 when
 * out of memory. */
static long strmap_add(struct strmap *m, const char *s, const char *val)
{
	uint64_t h = hash_str(HASH_SEED, s);

	if ((m->n + 1) * 2 > m->slots) {
		size_t slots = m->slots ? m->slots * 2 : 256;
		uint32_t *t = calloc(slots, sizeof *t);
		if (!t)
			return -1;
		for (size_t i = 0; i < m->n; i++) {
			size_t j = m->ents[i].hash & (slots - 1);
			while (t[j])
				j = (j + 1) & (slots - 1);
			t[j] = (uint32_t)(i + 1);
		}
		free(m->slot);
		m->slot = t;
		m->slots = slots;
	}
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 128;
		struct strent *e = cap < UINT32_MAX ? realloc(m->ents, cap * sizeof *e) : NULL;
		if (!e)
			return -1;
		m->ents = e;
		m->cap = cap;
	}
	struct strent *e = &m->ents[m->n];
	e->hash = h;
	e->rank = 0;
	e->key = m->text.len;
	sbuf_append(&m->text, s, strlen(s) + 1);
	e->val = (size_t)-1;
	if (val) {
		e->val = m->text.len;
		sbuf_append(&m->text, val, strlen(val) + 1);
	}
	if (m->text.oom)
		return -1;
	size_t j = h & (m->slots - 1);
	while (m->slot[j])
		j = (j + 1) & (m->slots - 1);
	m->slot[j] = (uint32_t)(m->n + 1);
	return (long)m->n++;
}

/* A group's keys as a period's end reads them: the texts (NULL for SQL
 * NULL), the ranks of the text keys, the numbers. */
struct focus_view {
	const char *f[N_KEYS];
	int64_t rank[N_KEYS];
	int64_t version, level;
	long cost_center; /* the team's entry in teams, -1: no such team */
	long tags;        /* the tags' entry in shown */
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
	bool open;      /* summing a period */
	int64_t period; /* which: seconds since the epoch / the period's length */
	/* at the period's end */
	struct focus_view *views;
	size_t cap_views;
	uint32_t *order; /* the cells written, in the export's order */
	size_t cap_order;
	int64_t kind_rank[PC_COUNT];
};

/* What every period's end uses: a period's distinct strings and their
 * order, the teams' cost centres, the tags as shown (kept across periods),
 * two array literals. */
struct focus_shared {
	struct strmap ranks, teams, shown;
	struct sbuf arr, arr2;
};

static void focus_sum_cleanup(struct focus_sum *s)
{
	sbuf_cleanup(&s->keys);
	sbuf_cleanup(&s->key);
	free(s->groups);
	free(s->gslot);
	free(s->cells);
	free(s->cslot);
	free(s->views);
	free(s->order);
}

/* A new period's sums (focus_sum_free frees them); NULL: no memory. */
static struct focus_sum *focus_sum_new(void)
{
	struct focus_sum *s = calloc(1, sizeof *s);

	if (s) {
		sbuf_init(&s->keys);
		sbuf_init(&s->key);
	}
	return s;
}

static void focus_sum_free(struct focus_sum *s)
{
	if (s) {
		focus_sum_cleanup(s);
		free(s);
	}
}

static void focus_sum_reset(struct focus_sum *s)
{
	sbuf_reset(&s->keys);
	s->n_groups = s->n_cells = 0;
	if (s->gslot)
		memset(s->gslot, 0, s->gslots * sizeof *s->gslot);
	if (s->cslot)
		memset(s->cslot, 0, s->cslots * sizeof *s->cslot);
	s->open = false;
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
	uint64_t h = bytes_hash(s->key.p, s->key.len);

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
	s->groups[s->n_groups] =
	    (struct focus_group){.key = s->keys.len, .len = s->key.len, .hash = h};
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

/* v x 10^-scale with scale fraction digits, as PostgreSQL writes a numeric
 * of that scale. */
static void scaled_text(__int128 v, int scale, char out[64])
{
	char buf[48];

	(void)money_format_digits(i128_text(v, buf), scale, out, 64); /* 64 > 1 + 40 + 1 + 18 */
}

/* The base-10000 weight and first digit of x > 0, as PostgreSQL's numeric
 * stores an integer. */
static void nbase_digits(unsigned __int128 x, int *weight, int *first)
{
	int w = 0;

	while (x >= 10000) {
		x /= 10000;
		w++;
	}
	*weight = w;
	*first = (int)x;
}

/* round(a / b, 6) of PostgreSQL numerics a, b (integers, b not 0, a not a
 * multiple of b) x 10^6, exactly as PostgreSQL computes it: the division
 * first rounds half away from zero to select_div_scale()'s scale (16
 * significant digits at least), then round() to 6 digits, again half away
 * from zero. -1 on overflow. */
int ledger_focus_round6(__int128 a, __int128 b, __int128 *out)
{
	bool neg = (a < 0) != (b < 0);
	unsigned __int128 ua = a < 0 ? -(unsigned __int128)a : (unsigned __int128)a;
	unsigned __int128 ub = b < 0 ? -(unsigned __int128)b : (unsigned __int128)b;
	int w1, f1, w2, f2;
	unsigned char d[1002];

	if (ub == 0 || ub > (~(unsigned __int128)0) / 10)
		return -1;
	nbase_digits(ua, &w1, &f1);
	nbase_digits(ub, &w2, &f2);
	int qweight = w1 - w2 - (f1 <= f2);
	int rscale = 16 - qweight * 4;
	if (rscale < 0)
		rscale = 0;
	if (rscale > 1000)
		rscale = 1000;
	/* the exact quotient's fraction digits, one past the scale */
	int nd = (rscale > 6 ? rscale : 6) + 1;
	unsigned __int128 ip = ua / ub, rem = ua % ub;
	for (int i = 0; i < nd; i++) {
		rem *= 10;
		d[i] = (unsigned char)(rem / ub);
		rem %= ub;
	}
	/* round at rscale, then at 6 */
	for (int pass = 0; pass < 2; pass++) {
		int at = pass == 0 ? rscale : 6;
		if (pass == 1 && rscale <= 6)
			break;
		bool up = d[at] >= 5;
		for (int i = at; i < nd; i++)
			d[i] = 0;
		for (int i = at - 1; up && i >= 0; i--) {
			if (d[i] == 9) {
				d[i] = 0;
			} else {
				d[i]++;
				up = false;
			}
		}
		if (up)
			ip++;
	}
	unsigned __int128 v = ip;
	for (int i = 0; i < 6; i++) {
		if (v > ((~(unsigned __int128)0) >> 1) / 10)
			return -1;
		v = v * 10 + d[i];
	}
	if (v > ((~(unsigned __int128)0) >> 1))
		return -1;
	*out = neg ? -(__int128)v : (__int128)v;
	return 0;
}

/* The row's unit price and its list cost (unit x quantity), in USD, as the
 * export writes them: the pico-USD unit price billed / qty when it divides
 * (12 fraction digits), else round(billed / qty, 6) (18 fraction digits). */
static int unit_and_list(__int128 billed, __int128 qty, char unit[64], char list[64])
{
	__int128 u6, l6;

	if (qty == 0) {
		scaled_text(0, 12, unit);
		scaled_text(0, 12, list);
		return 0;
	}
	if (billed % qty == 0) {
		scaled_text(billed / qty, 12, unit);
		scaled_text(billed, 12, list);
		return 0;
	}
	if (ledger_focus_round6(billed, qty, &u6) < 0 || __builtin_mul_overflow(u6, qty, &l6))
		return -1;
	scaled_text(u6, 18, unit);
	scaled_text(l6, 18, list);
	return 0;
}

/* A time (us) to the second, ISO 8601 UTC, as to_char(.., 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
 * writes it (the fraction dropped). */
static void iso_second(int64_t us, char out[24])
{
	char full[40];

	time_format(us - (((us % 1000000) + 1000000) % 1000000), full);
	memcpy(out, full, 19);
	memcpy(out + 19, "Z", 2);
}

/* The first instant of the calendar month (UTC) index y * 12 + m - 1, to
 * the second, ISO 8601. */
static void month_start(int32_t index, char out[24])
{
	int32_t y = index / 12 - (index % 12 < 0);
	char day[32];
	int64_t us = 0;

	snprintf(day, sizeof day, "%04d-%02d-01", (int)y, (int)(index - y * 12 + 1));
	(void)time_parse(day, true, &us); /* well-formed for years 0-9999 */
	iso_second(us, out);
}

/* Appends one element of an array literal (opening it when empty). */
static void array_elem(struct sbuf *a, const char *v)
{
	sbuf_putc(a, a->len > 0 ? ',' : '{');
	ledger_array_elem(a, v);
}

/* Runs sql with $1 = FOCUS_TAG_PREFIX (when two parameters) and an array
 * literal: the result, or NULL with err set. */
static PGresult *run_array(struct ledger *lg, const char *sql, bool prefix, struct sbuf *arr,
                           struct tally_err *err)
{
	const char *params[2] = {FOCUS_TAG_PREFIX, NULL};
	PGresult *res;

	sbuf_putc(arr, '}');
	if (arr->oom) {
		tally_err_set(err, TALLY_ENOMEM, false, "FOCUS export: out of memory");
		return NULL;
	}
	params[prefix ? 1 : 0] = arr->p;
	res = PQexecParams(lg->conn, sql, prefix ? 2 : 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		ledger_fail(lg, res, "FOCUS export", err);
		return NULL;
	}
	return res;
}

/* The text keys that order the rows (K_ index - K_PROVIDER), in the order
 * of the old ORDER BY; then price version, lvl and the component. */
static const int text_keys[] = {K_PROVIDER - K_PROVIDER, K_MODEL - K_PROVIDER, K_TEAM - K_PROVIDER,
                                K_WORKFLOW - K_PROVIDER, K_TASK - K_PROVIDER,  K_TAGS - K_PROVIDER,
                                K_SVC - K_PROVIDER,      K_DR - K_PROVIDER,    K_IG - K_PROVIDER,
                                K_SP - K_PROVIDER};

static int cmp_i64(int64_t a, int64_t b)
{
	return (a > b) - (a < b);
}

/* The export's order (the statement's ORDER BY before: provider, model,
 * team, workflow, task type, tags' text, price version NULLS LAST, pricing
 * mode, data residency, inference geo, speed, level, component). */
static int cell_cmp(const void *pa, const void *pb, void *ctx)
{
	const struct focus_sum *s = ctx;
	const struct focus_cell *ca = &s->cells[*(const uint32_t *)pa];
	const struct focus_cell *cb = &s->cells[*(const uint32_t *)pb];
	const struct focus_view *a = &s->views[ca->group], *b = &s->views[cb->group];
	int c;

	if (ca->group != cb->group) {
		for (int i = 0; i < 6; i++)
			if ((c = cmp_i64(a->rank[text_keys[i]], b->rank[text_keys[i]])) != 0)
				return c;
		bool na = !a->f[K_VERSION - K_PROVIDER], nb = !b->f[K_VERSION - K_PROVIDER];
		if (na != nb)
			return na ? 1 : -1;
		if (!na && (c = cmp_i64(a->version, b->version)) != 0)
			return c;
		for (int i = 6; i < 10; i++)
			if ((c = cmp_i64(a->rank[text_keys[i]], b->rank[text_keys[i]])) != 0)
				return c;
		if ((c = cmp_i64(a->level, b->level)) != 0)
			return c;
	}
	c = cmp_i64(s->kind_rank[ca->kind], s->kind_rank[cb->kind]);
	return c ? c : cmp_i64(ca->group, cb->group);
}

/* Ends the period being summed: its rows, in the export's order, to fn;
 * then resets. from_us, to_us: the requested range (it clamps the charge
 * period). */
static int flush_period(struct ledger *lg, struct focus_shared *sh, struct focus_sum *s,
                        int64_t unit_s, int64_t from_us, int64_t to_us, ledger_focus_fn fn,
                        void *ctx, struct tally_err *err)
{
	char dates[4][24];
	PGresult *res = NULL;
	size_t n_rows = 0;
	int rc = -1;

	if (!s->open || s->n_cells == 0) {
		focus_sum_reset(s);
		return 0;
	}
	if (s->n_groups > s->cap_views) {
		struct focus_view *v = realloc(s->views, s->n_groups * sizeof *v);
		if (!v)
			goto nomem;
		s->views = v;
		s->cap_views = s->n_groups;
	}
	if (s->n_cells > s->cap_order) {
		uint32_t *o = realloc(s->order, s->n_cells * sizeof *o);
		if (!o)
			goto nomem;
		s->order = o;
		s->cap_order = s->n_cells;
	}
	/* the groups' keys; the distinct strings, and the tags not shown yet */
	strmap_reset(&sh->ranks);
	sbuf_reset(&sh->arr);
	sbuf_reset(&sh->arr2);
	if (sh->shown.n > 100000) /* bounded: free-form tags */
		strmap_reset(&sh->shown);
	for (int k = 0; k < PC_COUNT; k++)
		if (strmap_add(&sh->ranks, price_component_names[k], NULL) < 0)
			goto nomem;
	for (size_t g = 0; g < s->n_groups; g++) {
		struct focus_view *v = &s->views[g];
		const char *k = s->keys.p + s->groups[g].key;
		for (int a = 0; a < N_KEYS; a++) {
			v->f[a] = k[0] == 'V' ? k + 1 : NULL;
			k += strlen(k + 1) + 2;
		}
		for (size_t i = 0; i < sizeof text_keys / sizeof *text_keys; i++) {
			const char *t = v->f[text_keys[i]];
			if (t && strmap_find(&sh->ranks, t) < 0 &&
			    strmap_add(&sh->ranks, t, NULL) < 0)
				goto nomem;
		}
		const char *tags = v->f[K_TAGS - K_PROVIDER], *ver = v->f[K_VERSION - K_PROVIDER];
		if (!tags || parse_i64(v->f[K_LEVEL - K_PROVIDER], &v->level) < 0 ||
		    (ver && parse_i64(ver, &v->version) < 0)) {
			tally_err_set(err, TALLY_EINVAL, false, "FOCUS export: unexpected keys");
			goto out;
		}
		const char *team = v->f[K_TEAM - K_PROVIDER];
		v->cost_center = team ? strmap_find(&sh->teams, team) : -1;
		v->tags = strmap_find(&sh->shown, tags);
		if (v->tags < 0) {
			if ((v->tags = strmap_add(&sh->shown, tags, NULL)) < 0)
				goto nomem;
			sh->shown.ents[v->tags].rank = -1; /* not rendered yet */
			array_elem(&sh->arr2, tags);
		}
	}
	for (size_t i = 0; i < sh->ranks.n; i++)
		array_elem(&sh->arr, strmap_key(&sh->ranks, i));
	if (!(res = run_array(lg, focus_order_sql, false, &sh->arr, err)))
		goto out;
	for (int r = 0; r < PQntuples(res); r++) {
		long e = strmap_find(&sh->ranks, PQgetvalue(res, r, 0));
		if (e < 0) {
			tally_err_set(err, TALLY_EINVAL, false, "FOCUS export: unexpected order");
			goto out;
		}
		sh->ranks.ents[e].rank = r;
	}
	PQclear(res);
	res = NULL;
	if (sh->arr2.len) {
		if (!(res = run_array(lg, focus_tags_sql, true, &sh->arr2, err)))
			goto out;
		int r = 0;
		for (size_t i = 0; i < sh->shown.n; i++) {
			if (sh->shown.ents[i].rank != -1)
				continue;
			if (r >= PQntuples(res)) {
				tally_err_set(err, TALLY_EINVAL, false, "FOCUS export: tags lost");
				goto out;
			}
			/* the shown text, kept beside the key */
			sh->shown.ents[i].val = sh->shown.text.len;
			sbuf_append(&sh->shown.text, PQgetvalue(res, r, 0),
			            (size_t)PQgetlength(res, r, 0) + 1);
			sh->shown.ents[i].rank = 0;
			r++;
		}
		PQclear(res);
		res = NULL;
		if (sh->shown.text.oom)
			goto nomem;
	}
	for (int k = 0; k < PC_COUNT; k++)
		s->kind_rank[k] = sh->ranks.ents[k].rank; /* added first, in this order */
	for (size_t g = 0; g < s->n_groups; g++)
		for (size_t i = 0; i < sizeof text_keys / sizeof *text_keys; i++) {
			const char *t = s->views[g].f[text_keys[i]];
			s->views[g].rank[text_keys[i]] =
			    t ? sh->ranks.ents[strmap_find(&sh->ranks, t)].rank : 0;
		}
	/* the rows with a quantity or a charge, in order */
	for (size_t i = 0; i < s->n_cells; i++)
		if (s->cells[i].qty != 0 || s->cells[i].billed != 0)
			s->order[n_rows++] = (uint32_t)i;
	qsort_r(s->order, n_rows, sizeof *s->order, cell_cmp, s);

	int64_t start = s->period * unit_s * 1000000, end = start + unit_s * 1000000;
	int32_t month = time_month_index(start);
	iso_second(start > from_us ? start : from_us, dates[0]);
	iso_second(end < to_us ? end : to_us, dates[1]);
	month_start(month, dates[2]);
	month_start(month + 1, dates[3]);
	for (size_t i = 0; i < n_rows; i++) {
		const struct focus_cell *c = &s->cells[s->order[i]];
		const struct focus_view *v = &s->views[c->group];
		char qty[48], billed[64], unit[64], list[64];
		if (unit_and_list(c->billed, c->qty, unit, list) < 0) {
			tally_err_set(err, TALLY_EINVAL, false,
			              "FOCUS export: amount out of range");
			goto out;
		}
		scaled_text(c->billed, 12, billed);
		struct focus_row row = {
		    .period_start = dates[0],
		    .period_end = dates[1],
		    .billing_start = dates[2],
		    .billing_end = dates[3],
		    .provider = v->f[K_PROVIDER - K_PROVIDER],
		    .model = v->f[K_MODEL - K_PROVIDER],
		    .local = v->f[K_LOCAL - K_PROVIDER][0] == 't',
		    .team = v->f[K_TEAM - K_PROVIDER],
		    .workflow = v->f[K_WORKFLOW - K_PROVIDER],
		    .task_type = v->f[K_TASK - K_PROVIDER],
		    .cost_center =
		        v->cost_center < 0 ? NULL : strmap_val(&sh->teams, (size_t)v->cost_center),
		    .tags = strmap_val(&sh->shown, (size_t)v->tags),
		    .price_version = v->f[K_VERSION - K_PROVIDER],
		    .unpriced = v->f[K_UNPRICED - K_PROVIDER][0] == 't',
		    .service = v->f[K_SVC - K_PROVIDER],
		    .data_residency = v->f[K_DR - K_PROVIDER],
		    .inference_geo = v->f[K_IG - K_PROVIDER],
		    .speed = v->f[K_SP - K_PROVIDER],
		    .long_context = (int)v->level,
		    .component = (int)c->kind,
		    .quantity = i128_text(c->qty, qty),
		    .billed_usd = billed,
		    .unit_usd = unit,
		    .list_usd = list,
		    .calls = c->n,
		};
		if (fn(ctx, &row, err) != 0) {
			tally_err_set(err, TALLY_EIO, false, "FOCUS export stopped");
			goto out;
		}
	}
	focus_sum_reset(s);
	rc = 0;
	goto out;
nomem:
	tally_err_set(err, TALLY_ENOMEM, false, "FOCUS export: out of memory");
out:
	PQclear(res);
	return rc;
}

/* The teams' cost centres, once per export (the same snapshot). */
static int load_teams(struct ledger *lg, struct strmap *teams, struct tally_err *err)
{
	PGresult *res = PQexec(lg->conn, focus_teams_sql);

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return ledger_fail(lg, res, "FOCUS export", err);
	for (int r = 0; r < PQntuples(res); r++)
		if (strmap_add(teams, PQgetvalue(res, r, 0),
		               PQgetisnull(res, r, 1) ? NULL : PQgetvalue(res, r, 1)) < 0) {
			PQclear(res);
			return tally_err_set(err, TALLY_ENOMEM, false,
			                     "FOCUS export: out of memory");
		}
	PQclear(res);
	return 0;
}

/* The answer to the statement sent last (PQsendQuery), all of it read:
 * its last result, or NULL. */
static PGresult *sent_result(PGconn *conn)
{
	PGresult *last = NULL, *r;

	while ((r = PQgetResult(conn))) {
		PQclear(last);
		last = r;
	}
	return last;
}

/* The periods ended in a batch of calls, written once the next batch has
 * been asked for and read (no statement runs while a FETCH is on its way);
 * spare: sums to reuse. */
struct focus_queue {
	struct focus_sum **done, **spare;
	size_t n_done, n_spare, cap;
};

static int queue_grow(struct focus_queue *q)
{
	if (q->n_done < q->cap && q->n_spare < q->cap)
		return 0;
	size_t cap = q->cap ? q->cap * 2 : 16;
	struct focus_sum **d = realloc(q->done, cap * sizeof *d);
	if (!d)
		return -1;
	q->done = d;
	struct focus_sum **sp = realloc(q->spare, cap * sizeof *sp);
	if (!sp)
		return -1;
	q->spare = sp;
	q->cap = cap;
	return 0;
}

int ledger_focus_stream(struct ledger *lg, int64_t from_us, int64_t to_us, bool hourly,
                        ledger_focus_fn fn, void *ctx, struct tally_err *err)
{
	bool own = PQtransactionStatus(lg->conn) == PQTRANS_IDLE, sent = false;
	char from[40], to[40];
	const char *params[2] = {from, to};
	char sql[sizeof focus_calls_sql + 64];
	struct focus_shared sh = {0};
	struct focus_queue q = {0};
	struct focus_sum *sum = focus_sum_new();
	int64_t unit_s = hourly ? 3600 : 86400;
	PGresult *res = NULL;
	int rc = -1;

	sbuf_init(&sh.arr);
	sbuf_init(&sh.arr2);
	sbuf_init(&sh.ranks.text);
	sbuf_init(&sh.teams.text);
	sbuf_init(&sh.shown.text);
	time_format(from_us, from);
	time_format(to_us, to);
	if (!sum)
		return tally_err_set(err, TALLY_ENOMEM, false, "FOCUS export: out of memory");
	if (own && ledger_snapshot_begin(lg, err) < 0)
		goto out;
	if (load_teams(lg, &sh.teams, err) < 0)
		goto out;
	snprintf(sql, sizeof sql, "DECLARE tally_focus NO SCROLL CURSOR FOR %s", focus_calls_sql);
	res = PQexecParams(lg->conn, sql, 2, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		ledger_fail(lg, res, "FOCUS export", err);
		res = NULL;
		goto out;
	}
	PQclear(res);
	res = PQexec(lg->conn, FETCH_SQL);
	for (;;) {
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			ledger_fail(lg, res, "FOCUS export", err);
			res = NULL;
			goto out;
		}
		int rows = PQntuples(res);
		if (rows == 0)
			break;
		if (PQnfields(res) != K_NCOLS) {
			tally_err_set(err, TALLY_EINVAL, false, "FOCUS export: unexpected columns");
			goto out;
		}
		/* the server reads the next batch while this one is summed */
		if (!PQsendQuery(lg->conn, FETCH_SQL)) {
			tally_err_set(err, TALLY_EIO, true, "FOCUS export: %s",
			              PQerrorMessage(lg->conn));
			goto out;
		}
		sent = true;
		for (int r = 0; r < rows; r++) {
			int64_t secs = 0, period;
			if (parse_i64(PQgetvalue(res, r, K_SECONDS), &secs) < 0) {
				tally_err_set(err, TALLY_EINVAL, false, "FOCUS export: bad time");
				goto out;
			}
			period = secs / unit_s - (secs % unit_s < 0);
			if (!sum->open || period != sum->period) {
				if (sum->n_cells > 0) {
					if (queue_grow(&q) < 0)
						goto nomem;
					q.done[q.n_done++] = sum;
					sum = q.n_spare ? q.spare[--q.n_spare] : focus_sum_new();
					if (!sum)
						goto nomem;
				}
				focus_sum_reset(sum);
				sum->open = true;
				sum->period = period;
			}
			if (add_call(sum, res, r, err) < 0)
				goto out;
			/* take in what the server has sent so far: it stops when its
			 * socket buffer is full */
			if ((r & 255) == 255 && !PQconsumeInput(lg->conn)) {
				tally_err_set(err, TALLY_EIO, true, "FOCUS export: %s",
				              PQerrorMessage(lg->conn));
				goto out;
			}
		}
		PQclear(res);
		res = sent_result(lg->conn);
		sent = false;
		int frc = 0;
		for (size_t i = 0; i < q.n_done; i++) {
			if (frc == 0)
				frc = flush_period(lg, &sh, q.done[i], unit_s, from_us, to_us, fn,
				                   ctx, err);
			q.spare[q.n_spare++] = q.done[i];
		}
		q.n_done = 0;
		if (frc < 0)
			goto out;
	}
	if (flush_period(lg, &sh, sum, unit_s, from_us, to_us, fn, ctx, err) < 0)
		goto out;
	PQclear(res);
	res = NULL;
	PQclear(PQexec(lg->conn, "CLOSE tally_focus"));
	rc = 0;
	goto out;
nomem:
	tally_err_set(err, TALLY_ENOMEM, false, "FOCUS export: out of memory");
out:
	PQclear(res);
	if (sent)
		PQclear(sent_result(lg->conn));
	for (size_t i = 0; i < q.n_done; i++)
		focus_sum_free(q.done[i]);
	for (size_t i = 0; i < q.n_spare; i++)
		focus_sum_free(q.spare[i]);
	free(q.done);
	free(q.spare);
	focus_sum_free(sum);
	strmap_cleanup(&sh.ranks);
	strmap_cleanup(&sh.teams);
	strmap_cleanup(&sh.shown);
	sbuf_cleanup(&sh.arr);
	sbuf_cleanup(&sh.arr2);
	if (own)
		ledger_snapshot_end(lg);
	return rc;
}
