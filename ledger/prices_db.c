/* prices_db.c - the price book in the ledger: load, store, reprice. */
#include "ledger_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

/* The price-book columns of a price version, from the component tables:
 * every <variant><component>_pusd, the scalars, extra_tiers. alias (may be
 * "") prefixes each, as "s.". */
#define PRICE_SCALAR_NAME_(name) #name,
static const char *const scalar_cols[] = {PRICE_SCALARS(PRICE_SCALAR_NAME_)};
#define N_SCALARS    ((int)(sizeof scalar_cols / sizeof *scalar_cols))
#define N_PRICE_COLS (PV_COUNT * PC_COUNT + N_SCALARS + 1)

void ledger_price_cols(struct sbuf *s, const char *alias)
{
	for (int v = 0; v < PV_COUNT; v++)
		for (int k = 0; k < PC_COUNT; k++)
			sbuf_printf(s, "%s%s%s%s_pusd", v || k ? ", " : "", alias,
			            price_variant_prefix[v], price_component_names[k]);
	for (int i = 0; i < N_SCALARS; i++)
		sbuf_printf(s, ", %s%s", alias, scalar_cols[i]);
	sbuf_printf(s, ", %sextra_tiers", alias);
}

static int64_t get_price(PGresult *res, int r, int c)
{
	return PQgetisnull(res, r, c) ? PRICE_UNSET : strtoll(PQgetvalue(res, r, c), NULL, 10);
}

/* extra_tiers as JSON text: [{"from": n, "<component>": "pusd", ...}] (rates
 * as decimal strings) or NULL. */
static char *tiers_json(const struct price *p)
{
	struct sbuf s;

	if (p->n_tiers <= 0)
		return NULL;
	sbuf_init(&s);
	sbuf_putc(&s, '[');
	for (int i = 0; i < p->n_tiers && i < PRICE_TIERS_MAX; i++) {
		sbuf_printf(&s, "%s{\"from\":%lld", i ? "," : "",
		            (long long)p->tiers[i].from_tokens);
		for (int k = 0; k < PC_COUNT; k++)
			if (p->tiers[i].rate[k] != PRICE_UNSET)
				sbuf_printf(&s, ",\"%s\":\"%lld\"", price_component_names[k],
				            (long long)p->tiers[i].rate[k]);
		sbuf_putc(&s, '}');
	}
	sbuf_putc(&s, ']');
	if (s.oom) {
		sbuf_cleanup(&s);
		return NULL;
	}
	return s.p; /* the caller frees it */
}

/* Reads extra_tiers back; a malformed value leaves no extra tiers. */
static void tiers_parse(const char *text, struct price *p)
{
	cJSON *root = cJSON_Parse(text), *t;

	p->n_tiers = 0;
	cJSON_ArrayForEach(t, root)
	{
		struct price_tier *pt;
		const cJSON *from = cJSON_GetObjectItemCaseSensitive(t, "from");
		if (p->n_tiers >= PRICE_TIERS_MAX || !cJSON_IsNumber(from))
			break;
		pt = &p->tiers[p->n_tiers++];
		pt->from_tokens = (int64_t)from->valuedouble;
		for (int k = 0; k < PC_COUNT; k++) {
			/* Rates travel as decimal strings: money never goes through a double. */
			const cJSON *v =
			    cJSON_GetObjectItemCaseSensitive(t, price_component_names[k]);
			pt->rate[k] =
			    cJSON_IsString(v) ? strtoll(v->valuestring, NULL, 10) : PRICE_UNSET;
		}
	}
	cJSON_Delete(root);
}

/* Fills p's rates and scalars from columns c0.. of row r (price_cols order). */
void ledger_price_from_row(PGresult *res, int r, int c0, struct price *p)
{
	int c = c0;

	for (int v = 0; v < PV_COUNT; v++)
		for (int k = 0; k < PC_COUNT; k++)
			p->rate[v][k] = get_price(res, r, c++);
#define PRICE_SCALAR_READ_(name)                                                                   \
	p->name = get_price(res, r, c++);                                                          \
	if (p->name < 0)                                                                           \
		p->name = 0;
	PRICE_SCALARS(PRICE_SCALAR_READ_)
#undef PRICE_SCALAR_READ_
	if (!PQgetisnull(res, r, c))
		tiers_parse(PQgetvalue(res, r, c), p);
}

struct pricebook *ledger_load_pricebook(struct ledger *lg, struct tally_err *err)
{
	struct pricebook *pb = pricebook_new();
	PGresult *res;
	struct sbuf q;

	if (!pb) {
		tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
		return NULL;
	}
	sbuf_init(&q);
	sbuf_puts(&q, "SELECT price_version, provider, model, tier,"
	              " (extract(epoch FROM effective_from) * 1000000)::bigint, ");
	ledger_price_cols(&q, "");
	sbuf_puts(&q, " FROM price_book ORDER BY provider, model, effective_from");
	if (q.oom) {
		sbuf_cleanup(&q);
		pricebook_free(pb);
		tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
		return NULL;
	}
	res = PQexec(lg->conn, q.p);
	sbuf_cleanup(&q);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		ledger_fail(lg, res, "loading the price book", err);
		pricebook_free(pb);
		return NULL;
	}
	for (int r = 0; r < PQntuples(res); r++) {
		struct price *p = calloc(1, sizeof *p);
		if (!p) {
			tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
			PQclear(res);
			pricebook_free(pb);
			return NULL;
		}
		p->version = strtoll(PQgetvalue(res, r, 0), NULL, 10);
		str_copy(p->provider, sizeof p->provider, PQgetvalue(res, r, 1));
		str_copy(p->model, sizeof p->model, PQgetvalue(res, r, 2));
		str_copy(p->tier, sizeof p->tier, PQgetvalue(res, r, 3));
		p->effective_from_us = strtoll(PQgetvalue(res, r, 4), NULL, 10);
		ledger_price_from_row(res, r, 5, p);
		int rc = pricebook_add(pb, p, err);
		free(p);
		if (rc < 0) {
			PQclear(res);
			pricebook_free(pb);
			return NULL;
		}
	}
	PQclear(res);
	return pb;
}

int ledger_pricebook_stamp(struct ledger *lg, int64_t *stamp, struct tally_err *err)
{
	PGresult *res = PQexec(lg->conn, "SELECT coalesce(max(price_version), 0) * 1000003"
	                                 " + count(*) FROM price_book");

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return ledger_fail(lg, res, "reading the price book", err);
	*stamp = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return 0;
}

int ledger_price_count(struct ledger *lg, int64_t *n, struct tally_err *err)
{
	PGresult *res = PQexec(lg->conn, "SELECT count(*) FROM price_book");

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return ledger_fail(lg, res, "reading the price book", err);
	*n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return 0;
}

static void copy_price(struct sbuf *s, int64_t v)
{
	if (v == PRICE_UNSET)
		sbuf_puts(s, "\t\\N");
	else
		sbuf_printf(s, "\t%lld", (long long)v);
}

/* The statement storing the staged prices that differ from those in force. */
static void store_sql(struct sbuf *q)
{
	sbuf_puts(q, "WITH latest AS (SELECT DISTINCT ON (provider, model) * FROM price_book"
	             "  ORDER BY provider, model, effective_from DESC),"
	             " ins AS (INSERT INTO price_book (provider, model, tier, effective_from, ");
	ledger_price_cols(q, "");
	sbuf_puts(q, ", source) SELECT s.provider, s.model, s.tier, coalesce(s.effective_from,"
	             "  CASE WHEN l.provider IS NULL THEN '1970-01-01T00:00:00Z'::timestamptz"
	             "  ELSE now() END), ");
	ledger_price_cols(q, "s.");
	sbuf_puts(q, ", $1 FROM stage_prices s LEFT JOIN latest l USING (provider, model)"
	             " WHERE l.provider IS NULL OR (l.tier, ");
	ledger_price_cols(q, "l.");
	sbuf_puts(q, ") IS DISTINCT FROM (s.tier, ");
	ledger_price_cols(q, "s.");
	sbuf_puts(q, ") ON CONFLICT (provider, model, effective_from) DO NOTHING RETURNING 1)"
	             " SELECT count(*) FROM ins");
}

int ledger_store_prices(struct ledger *lg, const struct price_import *im, const char *source,
                        struct price_store_result *out, struct tally_err *err)
{
	struct sbuf s, q;
	PGresult *res = NULL;
	int rc = -1;

	memset(out, 0, sizeof *out);
	sbuf_init(&s);
	sbuf_init(&q);
	for (size_t i = 0; i < im->n; i++) {
		const struct price *p = &im->prices[i];
		char *tiers;
		sbuf_copy_text(&s, p->provider);
		sbuf_putc(&s, '\t');
		sbuf_copy_text(&s, p->model);
		sbuf_putc(&s, '\t');
		sbuf_copy_text(&s, p->tier[0] ? p->tier : "unknown");
		sbuf_putc(&s, '\t');
		if (p->effective_from_us < 0) {
			sbuf_puts(&s, "\\N");
		} else {
			char ts[40];
			time_format(p->effective_from_us, ts);
			sbuf_puts(&s, ts);
		}
		for (int v = 0; v < PV_COUNT; v++)
			for (int k = 0; k < PC_COUNT; k++)
				copy_price(&s, p->rate[v][k]);
#define PRICE_SCALAR_COPY_(name) copy_price(&s, p->name > 0 ? p->name : 0);
		PRICE_SCALARS(PRICE_SCALAR_COPY_)
#undef PRICE_SCALAR_COPY_
		sbuf_putc(&s, '\t');
		tiers = tiers_json(p);
		sbuf_copy_text(&s, tiers);
		free(tiers);
		sbuf_putc(&s, '\n');
	}
	sbuf_puts(&q, "COPY stage_prices (provider, model, tier, effective_from, ");
	ledger_price_cols(&q, "");
	sbuf_puts(&q, ") FROM STDIN");
	if (s.oom || q.oom) {
		tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
		goto out;
	}
	if (ledger_exec(lg, "BEGIN", err) < 0 ||
	    ledger_exec(lg,
	                "CREATE TEMP TABLE stage_prices ON COMMIT DROP AS SELECT * FROM price_book"
	                " WITH NO DATA",
	                err) < 0 ||
	    ledger_exec(lg, "ALTER TABLE stage_prices ALTER effective_from DROP NOT NULL", err) <
	        0 ||
	    ledger_copy(lg, q.p, s.p ? s.p : "", s.len, err) < 0)
		goto rollback;
	/* A price identical to the one in force is not stored again. The first
	 * price of a model applies to all history unless a date was given; a
	 * changed price applies from now. */
	sbuf_reset(&q);
	store_sql(&q);
	if (q.oom) {
		tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
		goto rollback;
	}
	const char *params[1] = {source};
	res = PQexecParams(lg->conn, q.p, 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		ledger_fail(lg, res, "storing prices", err);
		res = NULL;
		goto rollback;
	}
	out->stored = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
	out->unchanged = im->n - out->stored;
	PQclear(res);
	res = NULL;
	/* Built whole, never cut: a long file name must not make it invalid JSON. */
	struct sbuf d;
	sbuf_init(&d);
	sbuf_puts(&d, "{\"source\":");
	sbuf_json_str(&d, source);
	sbuf_printf(&d, ",\"entries\":%zu,\"stored\":%zu,\"unchanged\":%zu,\"components\":%d}",
	            im->n, out->stored, out->unchanged, PC_COUNT);
	const char *ap[1] = {d.oom ? "{}" : d.p};
	res = PQexecParams(lg->conn,
	                   "INSERT INTO audit_log (actor, action, details)"
	                   " VALUES (current_user, 'prices.import', $1::jsonb)",
	                   1, NULL, ap, NULL, NULL, 0);
	sbuf_cleanup(&d);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		ledger_fail(lg, res, "audit log", err);
		res = NULL;
		goto rollback;
	}
	PQclear(res);
	if (ledger_exec(lg, "COMMIT", err) < 0)
		goto rollback;
	rc = 0;
	goto out;
rollback:
	PQclear(PQexec(lg->conn, "ROLLBACK"));
out:
	sbuf_cleanup(&s);
	sbuf_cleanup(&q);
	return rc;
}

/* ---- reprice ------------------------------------------------------------ */

/* The reprice cursor's columns (its DECLARE in ledger_reprice); components:
 * the stored text (ledger/components.c). */
enum rp_col {
	RP_EVENT_ID,
	RP_TS,
	RP_PROVIDER,
	RP_MODEL,
	RP_TS_US,
	RP_INPUT,
	RP_OUTPUT,
	RP_CACHE_READ,
	RP_CACHE_WRITE,
	RP_REASONING,
	RP_BATCH,
	RP_CACHE_HIT,
	RP_COST,
	RP_VERSION,
	RP_TIER,
	RP_SERVICE_TIER,
	RP_DATA_RESIDENCY,
	RP_INFERENCE_GEO,
	RP_SPEED,
	RP_COMPONENTS
};

static int reprice_fetch(struct ledger *lg, const struct pricebook *pb, struct sbuf *s,
                         struct reprice_result *out, bool *more, struct tally_err *err)
{
	PGresult *res = PQexec(lg->conn, "FETCH 10000 FROM reprice_cur");

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return ledger_fail(lg, res, "reading calls to reprice", err);
	*more = PQntuples(res) > 0;
	for (int r = 0; r < PQntuples(res); r++) {
		struct call_row row;
		struct call_event *c = &row.ev;
		memset(&row, 0, sizeof row);
		ledger_str(res, r, RP_PROVIDER, c->provider, sizeof c->provider);
		ledger_str(res, r, RP_MODEL, c->model, sizeof c->model);
		c->ts_us = ledger_i64(res, r, RP_TS_US);
		c->input_tokens = ledger_i64(res, r, RP_INPUT);
		c->output_tokens = ledger_i64(res, r, RP_OUTPUT);
		c->cache_read_tokens = ledger_i64(res, r, RP_CACHE_READ);
		c->cache_write_tokens = ledger_i64(res, r, RP_CACHE_WRITE);
		c->reasoning_tokens = ledger_i64(res, r, RP_REASONING);
		c->batch = ledger_bool(res, r, RP_BATCH);
		c->cache_hit = ledger_bool(res, r, RP_CACHE_HIT);
		ledger_str(res, r, RP_SERVICE_TIER, c->service_tier, sizeof c->service_tier);
		ledger_str(res, r, RP_DATA_RESIDENCY, c->data_residency, sizeof c->data_residency);
		ledger_str(res, r, RP_INFERENCE_GEO, c->inference_geo, sizeof c->inference_geo);
		ledger_str(res, r, RP_SPEED, c->speed, sizeof c->speed);
		/* The billable details, back from the quantities stored. */
		struct call_price old;
		/* (NULL reads as "": no component) */
		if (ledger_components_parse(PQgetvalue(res, r, RP_COMPONENTS), &old, err) < 0) {
			PQclear(res);
			return -1;
		}
		c->cache_write_1h_tokens = old.qty[PC_CACHE_WRITE_1H];
		c->audio_cache_read_tokens = old.qty[PC_AUDIO_CACHE_READ];
		c->audio_input_tokens = old.qty[PC_AUDIO_INPUT] + c->audio_cache_read_tokens;
		c->image_input_tokens = old.qty[PC_IMAGE_INPUT];
		c->audio_output_tokens = old.qty[PC_AUDIO_OUTPUT];
		c->image_output_tokens = old.qty[PC_IMAGE_OUTPUT];
		c->web_search_calls = old.qty[PC_WEB_SEARCH];
		c->citation_tokens = old.qty[PC_CITATION];
		c->video_output_tokens = old.qty[PC_VIDEO_OUTPUT];
		for (int k = 0; k < PC_COUNT; k++)
			if (!price_component_is_token(k) && k != PC_WEB_SEARCH && k != PC_REQUEST)
				c->units[k] = old.qty[k];
		bool was_priced = !PQgetisnull(res, r, RP_COST);
		int64_t old_cost = ledger_i64(res, r, RP_COST); /* 0 when NULL */
		int64_t old_version = ledger_i64(res, r, RP_VERSION);
		const char *tier = PQgetvalue(res, r, RP_TIER);
		bool same_parts = true;

		out->examined++;
		ledger_price_row(&row, pb);
		if (!row.priced) {
			if (!was_priced)
				out->still_unpriced++;
			continue;
		}
		for (int k = 0; k < PC_COUNT; k++)
			same_parts &= row.parts.cost[k] == old.cost[k];
		if (was_priced && row.cost_pusd == old_cost && row.price_version == old_version &&
		    same_parts)
			continue;
		out->changed++;
		if (!was_priced)
			out->newly_priced++;
		sbuf_copy_text(s, PQgetvalue(res, r, RP_EVENT_ID));
		sbuf_putc(s, '\t');
		sbuf_copy_text(s, PQgetvalue(res, r, RP_TS));
		sbuf_printf(s, "\t%lld\t", (long long)row.cost_pusd);
		if (row.price_version)
			sbuf_printf(s, "%lld\t", (long long)row.price_version);
		else
			sbuf_puts(s, "\\N\t");
		sbuf_copy_text(s, strcmp(tier, "unknown") == 0 ? row.tier : tier);
		sbuf_putc(s, '\t');
		ledger_copy_components(s, &row.parts);
		sbuf_putc(s, '\n');
	}
	PQclear(res);
	return 0;
}

/* Records action in the audit log and commits the caller's transaction. */
static int audit_and_commit(struct ledger *lg, const char *actor, const char *action,
                            const char *details_json, struct tally_err *err)
{
	const char *p[3] = {actor, action, details_json};
	PGresult *res = PQexecParams(lg->conn,
	                             "INSERT INTO audit_log (actor, action, details)"
	                             " VALUES ($1, $2, $3::jsonb)",
	                             3, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		return ledger_fail(lg, res, "audit log", err);
	PQclear(res);
	return ledger_exec(lg, "COMMIT", err);
}

/* Nothing is queued for the rollups, and nothing rolled, while they are
 * rebuilt (collectors wait to queue their windows; readers go on): the
 * queued calls are summed first, in the same transaction, so that every
 * call is then in the rows and in none of the queue
 * (ledger/rollups_write.c). */
static int rollups_hold(struct ledger *lg, struct tally_err *err)
{
	int64_t rolled;
	if (ledger_exec(lg, "LOCK TABLE rollup_queue IN EXCLUSIVE MODE", err) < 0)
		return -1;
	return ledger_rollups_roll_in_tx(lg, &rolled, err);
}

/* Rebuilds the rollups of the whole hours [hf, ht) from the calls, and of
 * the days that overlap them, by the rules of the rollups
 * (tally_rollup_*, migrations/0021_rollup_queue.sql). The caller holds
 * them (rollups_hold). Each DELETE is its own statement: an INSERT does not
 * see a DELETE of its own statement. */
#define DAY_FROM "date_trunc('day', $1::timestamptz, 'UTC')"
#define DAY_END                                                                                    \
	"(date_trunc('day', $2::timestamptz - interval '1 microsecond', 'UTC') + interval '1 "     \
	"day')"
static int rebuild_rollups(struct ledger *lg, int64_t hf, int64_t ht, struct tally_err *err)
{
#define REBUILD(T, COL, FROM, TO)                                                                  \
	"DELETE FROM " T "_merged WHERE " COL " >= " FROM " AND " COL " < " TO,                    \
	    "INSERT INTO " T "_merged SELECT * FROM tally_" T "(" FROM ", " TO ", false)"
	static const char *const sql[] = {
	    REBUILD("rollup_hourly", "hour", "$1::timestamptz", "$2::timestamptz"),
	    REBUILD("rollup_quarter", "quarter", "$1::timestamptz", "$2::timestamptz"),
	    REBUILD("rollup_tags_hourly", "hour", "$1::timestamptz", "$2::timestamptz"),
	    REBUILD("rollup_daily", "day", DAY_FROM, DAY_END),
	};
#undef REBUILD
	char hfrom[40], hto[40];
	const char *hp[2] = {hfrom, hto};

	time_format(hf, hfrom);
	time_format(ht, hto);
	for (size_t i = 0; i < sizeof sql / sizeof sql[0]; i++) {
		PGresult *res = PQexecParams(lg->conn, sql[i], 2, NULL, hp, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
			return ledger_fail(lg, res, "rebuilding rollups", err);
		PQclear(res);
	}
	return 0;
}

int ledger_rebuild_rollups(struct ledger *lg, int64_t from_us, int64_t to_us, const char *actor,
                           struct tally_err *err)
{
	const int64_t hour = HOUR_US;
	int64_t hf = from_us - ((from_us % hour) + hour) % hour;
	int64_t ht = to_us + (hour - ((to_us % hour) + hour) % hour) % hour;
	char from[40], to[40], details[160];

	time_format(hf, from);
	time_format(ht, to);
	snprintf(details, sizeof details, "{\"from\":\"%s\",\"to\":\"%s\"}", from, to);
	if (ledger_exec(lg, "BEGIN", err) < 0)
		return -1;
	if (rollups_hold(lg, err) < 0 || rebuild_rollups(lg, hf, ht, err) < 0)
		goto fail;
	if (audit_and_commit(lg, actor, "rollups.rebuild", details, err) < 0)
		goto fail;
	return 0;
fail:
	PQclear(PQexec(lg->conn, "ROLLBACK"));
	return -1;
}

int ledger_reprice(struct ledger *lg, const struct pricebook *pb, int64_t from_us, int64_t to_us,
                   const char *actor, struct reprice_result *out, struct tally_err *err)
{
	char from[40], to[40];
	const int64_t hour = HOUR_US;
	struct sbuf s;
	PGresult *res;
	bool more = true;

	memset(out, 0, sizeof *out);
	sbuf_init(&s);
	time_format(from_us, from);
	time_format(to_us, to);
	/* Rollups are rebuilt for whole hours. */
	int64_t hf = from_us - ((from_us % hour) + hour) % hour;
	int64_t ht = to_us + (hour - ((to_us % hour) + hour) % hour) % hour;

	if (ledger_exec(lg, "BEGIN", err) < 0)
		goto fail;
	/* Collectors wait to queue their calls while we reprice and rebuild,
	 * so that each call is summed once, at its new price. */
	if (rollups_hold(lg, err) < 0 ||
	    ledger_exec(lg,
	                "CREATE TEMP TABLE stage_reprice ON COMMIT DROP AS SELECT event_id, ts,"
	                " cost_pusd, price_version, tier, components FROM calls WITH NO DATA",
	                err) < 0)
		goto fail;
	const char *params[2] = {from, to};
	res = PQexecParams(
	    lg->conn,
	    "DECLARE reprice_cur NO SCROLL CURSOR FOR SELECT event_id, ts, provider,"
	    " model, (extract(epoch FROM ts) * 1000000)::bigint, input_tokens,"
	    " output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens,"
	    " batch, cache_hit, cost_pusd, price_version, tier, coalesce(service_tier, ''),"
	    " coalesce(data_residency, ''), coalesce(inference_geo, ''), coalesce(speed, ''),"
	    " components FROM calls WHERE ts >= $1 AND ts < $2",
	    2, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		ledger_fail(lg, res, "reprice", err);
		goto fail;
	}
	PQclear(res);
	while (more) {
		sbuf_reset(&s);
		if (reprice_fetch(lg, pb, &s, out, &more, err) < 0)
			goto fail;
		if (s.oom) {
			tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
			goto fail;
		}
		if (s.len && ledger_copy(lg, "COPY stage_reprice FROM STDIN", s.p, s.len, err) < 0)
			goto fail;
	}
	if (ledger_exec(lg, "CLOSE reprice_cur", err) < 0 ||
	    ledger_exec(
	        lg,
	        "UPDATE calls c SET cost_pusd = s.cost_pusd, price_version = s.price_version,"
	        " tier = s.tier, unpriced_reason = NULL, components = s.components"
	        " FROM stage_reprice s WHERE c.event_id = s.event_id AND c.ts = s.ts",
	        err) < 0)
		goto fail;
	if (rebuild_rollups(lg, hf, ht, err) < 0)
		goto fail;
	char details[512];
	snprintf(details, sizeof details,
	         "{\"from\":\"%s\",\"to\":\"%s\",\"examined\":%zu,\"changed\":%zu,"
	         "\"newly_priced\":%zu,\"still_unpriced\":%zu}",
	         from, to, out->examined, out->changed, out->newly_priced, out->still_unpriced);
	if (audit_and_commit(lg, actor, "prices.reprice", details, err) < 0)
		goto fail;
	sbuf_cleanup(&s);
	return 0;
fail:
	PQclear(PQexec(lg->conn, "ROLLBACK"));
	sbuf_cleanup(&s);
	memset(out, 0, sizeof *out);
	return -1;
}
