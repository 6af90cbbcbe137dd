/* prices_db.c - the price book in the ledger: load, store, reprice. */
#include "ledger_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PRICE_COLS                                                                                 \
	"input_pusd, output_pusd, cache_read_pusd, cache_write_pusd, reasoning_pusd, "             \
	"batch_input_pusd, batch_output_pusd, threshold_tokens, above_input_pusd, "                \
	"above_output_pusd, above_cache_read_pusd, above_cache_write_pusd"

static int64_t get_price(PGresult *res, int r, int c)
{
	return PQgetisnull(res, r, c) ? PRICE_UNSET : strtoll(PQgetvalue(res, r, c), NULL, 10);
}

struct pricebook *ledger_load_pricebook(struct ledger *lg, struct tally_err *err)
{
	struct pricebook *pb = pricebook_new();
	PGresult *res;

	if (!pb) {
		tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
		return NULL;
	}
	res =
	    PQexec(lg->conn, "SELECT price_version, provider, model, tier,"
	                     " (extract(epoch FROM effective_from) * 1000000)::bigint, " PRICE_COLS
	                     " FROM price_book ORDER BY provider, model, effective_from");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		ledger_fail(lg, res, "loading the price book", err);
		pricebook_free(pb);
		return NULL;
	}
	for (int r = 0; r < PQntuples(res); r++) {
		struct price p;
		memset(&p, 0, sizeof p);
		p.version = strtoll(PQgetvalue(res, r, 0), NULL, 10);
		str_copy(p.provider, sizeof p.provider, PQgetvalue(res, r, 1));
		str_copy(p.model, sizeof p.model, PQgetvalue(res, r, 2));
		str_copy(p.tier, sizeof p.tier, PQgetvalue(res, r, 3));
		p.effective_from_us = strtoll(PQgetvalue(res, r, 4), NULL, 10);
		int64_t *f[] = {&p.input,        &p.output,           &p.cache_read,
		                &p.cache_write,  &p.reasoning,        &p.batch_input,
		                &p.batch_output, &p.threshold_tokens, &p.above_input,
		                &p.above_output, &p.above_cache_read, &p.above_cache_write};
		for (int i = 0; i < 12; i++)
			*f[i] = get_price(res, r, 5 + i);
		if (p.threshold_tokens < 0)
			p.threshold_tokens = 0;
		if (pricebook_add(pb, &p, err) < 0) {
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

int ledger_store_prices(struct ledger *lg, const struct price_import *im, const char *source,
                        struct price_store_result *out, struct tally_err *err)
{
	struct sbuf s;
	PGresult *res = NULL;
	int rc = -1;

	memset(out, 0, sizeof *out);
	sbuf_init(&s);
	for (size_t i = 0; i < im->n; i++) {
		const struct price *p = &im->prices[i];
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
		const int64_t v[] = {p->input,        p->output,           p->cache_read,
		                     p->cache_write,  p->reasoning,        p->batch_input,
		                     p->batch_output, p->threshold_tokens, p->above_input,
		                     p->above_output, p->above_cache_read, p->above_cache_write};
		for (int k = 0; k < 12; k++)
			copy_price(&s, k == 7 && v[k] <= 0 ? 0 : v[k]);
		sbuf_putc(&s, '\n');
	}
	if (s.oom) {
		tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
		goto out;
	}
	if (ledger_exec(lg, "BEGIN", err) < 0 ||
	    ledger_exec(
	        lg,
	        "CREATE TEMP TABLE stage_prices (provider text, model text, tier text,"
	        " effective_from timestamptz, input_pusd bigint, output_pusd bigint,"
	        " cache_read_pusd bigint, cache_write_pusd bigint, reasoning_pusd bigint,"
	        " batch_input_pusd bigint, batch_output_pusd bigint, threshold_tokens bigint,"
	        " above_input_pusd bigint, above_output_pusd bigint,"
	        " above_cache_read_pusd bigint, above_cache_write_pusd bigint)"
	        " ON COMMIT DROP",
	        err) < 0 ||
	    ledger_copy(lg, "COPY stage_prices FROM STDIN", s.p ? s.p : "", s.len, err) < 0)
		goto rollback;
	/* A price identical to the one in force is not stored again. The first
	 * price of a model applies to all history unless a date was given; a
	 * changed price applies from now. */
	const char *params[1] = {source};
	res = PQexecParams(
	    lg->conn,
	    "WITH latest AS (SELECT DISTINCT ON (provider, model) * FROM price_book"
	    "  ORDER BY provider, model, effective_from DESC),"
	    " ins AS (INSERT INTO price_book (provider, model, tier, effective_from, " PRICE_COLS
	    ", source)"
	    " SELECT s.provider, s.model, s.tier, coalesce(s.effective_from,"
	    "  CASE WHEN l.provider IS NULL THEN '1970-01-01T00:00:00Z'::timestamptz"
	    "  ELSE now() END), s.input_pusd, s.output_pusd, s.cache_read_pusd,"
	    "  s.cache_write_pusd, s.reasoning_pusd, s.batch_input_pusd, s.batch_output_pusd,"
	    "  s.threshold_tokens, s.above_input_pusd, s.above_output_pusd,"
	    "  s.above_cache_read_pusd, s.above_cache_write_pusd, $1"
	    " FROM stage_prices s LEFT JOIN latest l USING (provider, model)"
	    " WHERE l.provider IS NULL OR (l.tier, l.input_pusd, l.output_pusd,"
	    "  l.cache_read_pusd, l.cache_write_pusd, l.reasoning_pusd, l.batch_input_pusd,"
	    "  l.batch_output_pusd, l.threshold_tokens, l.above_input_pusd,"
	    "  l.above_output_pusd, l.above_cache_read_pusd, l.above_cache_write_pusd)"
	    "  IS DISTINCT FROM (s.tier, s.input_pusd, s.output_pusd, s.cache_read_pusd,"
	    "  s.cache_write_pusd, s.reasoning_pusd, s.batch_input_pusd, s.batch_output_pusd,"
	    "  s.threshold_tokens, s.above_input_pusd, s.above_output_pusd,"
	    "  s.above_cache_read_pusd, s.above_cache_write_pusd)"
	    " ON CONFLICT (provider, model, effective_from) DO NOTHING RETURNING 1)"
	    " SELECT count(*) FROM ins",
	    1, NULL, params, NULL, NULL, 0);
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
	sbuf_printf(&d, ",\"entries\":%zu,\"stored\":%zu,\"unchanged\":%zu}", im->n, out->stored,
	            out->unchanged);
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
	return rc;
}

/* ---- reprice ------------------------------------------------------------ */

static int reprice_fetch(struct ledger *lg, const struct pricebook *pb, struct sbuf *s,
                         struct reprice_result *out, bool *more, struct tally_err *err)
{
	PGresult *res = PQexec(lg->conn, "FETCH 10000 FROM reprice_cur");

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return ledger_fail(lg, res, "reading calls to reprice", err);
	*more = PQntuples(res) > 0;
	for (int r = 0; r < PQntuples(res); r++) {
		struct call_event c;
		memset(&c, 0, sizeof c);
		str_copy(c.provider, sizeof c.provider, PQgetvalue(res, r, 2));
		str_copy(c.model, sizeof c.model, PQgetvalue(res, r, 3));
		c.ts_us = strtoll(PQgetvalue(res, r, 4), NULL, 10);
		c.input_tokens = strtoll(PQgetvalue(res, r, 5), NULL, 10);
		c.output_tokens = strtoll(PQgetvalue(res, r, 6), NULL, 10);
		c.cache_read_tokens = strtoll(PQgetvalue(res, r, 7), NULL, 10);
		c.cache_write_tokens = strtoll(PQgetvalue(res, r, 8), NULL, 10);
		c.reasoning_tokens = strtoll(PQgetvalue(res, r, 9), NULL, 10);
		c.batch = PQgetvalue(res, r, 10)[0] == 't';
		c.cache_hit = PQgetvalue(res, r, 11)[0] == 't';
		bool was_priced = !PQgetisnull(res, r, 12);
		int64_t old_cost = was_priced ? strtoll(PQgetvalue(res, r, 12), NULL, 10) : 0;
		int64_t old_version =
		    PQgetisnull(res, r, 13) ? 0 : strtoll(PQgetvalue(res, r, 13), NULL, 10);
		const char *tier = PQgetvalue(res, r, 14);

		out->examined++;
		const struct price *p = pricebook_lookup(pb, c.provider, c.model, c.ts_us);
		int64_t cost = 0;
		if (c.cache_hit && !p) {
			cost = 0; /* an application cache hit costs nothing, known model or not */
		} else if (!p || price_call(p, &c, &cost, NULL) < 0) {
			if (!was_priced)
				out->still_unpriced++;
			continue;
		}
		int64_t version = p ? p->version : 0;
		if (was_priced && cost == old_cost && version == old_version)
			continue;
		out->changed++;
		if (!was_priced)
			out->newly_priced++;
		sbuf_copy_text(s, PQgetvalue(res, r, 0));
		sbuf_putc(s, '\t');
		sbuf_copy_text(s, PQgetvalue(res, r, 1));
		sbuf_printf(s, "\t%lld\t", (long long)cost);
		if (version)
			sbuf_printf(s, "%lld\t", (long long)version);
		else
			sbuf_puts(s, "\\N\t");
		sbuf_copy_text(s, strcmp(tier, "unknown") == 0 && p && p->tier[0] ? p->tier : tier);
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

/* Collectors wait on the rollups while they are rebuilt, so that no
 * increment is lost between the aggregate and the commit. The order is the
 * one the collector's upsert locks them in (ledger/batch.c). */
#define ROLLUP_LOCK                                                                                \
	"LOCK TABLE rollup_daily, rollup_charges, rollup_hourly IN SHARE ROW EXCLUSIVE MODE"

/* Rebuilds the rollups of the whole hours [hf, ht) from the calls, and the
 * days that overlap them from the hourly rollups. The caller holds the
 * rollup tables locked. Each DELETE is its own statement: an INSERT does not
 * see a DELETE of its own statement. */
#define DAY_END "(date_trunc('day', $2::timestamptz - interval '1 microsecond') + interval '1 day')"
static int rebuild_rollups(struct ledger *lg, int64_t hf, int64_t ht, struct tally_err *err)
{
	static const char *const sql[] = {
	    "DELETE FROM rollup_hourly WHERE hour >= $1 AND hour < $2",
	    "INSERT INTO rollup_hourly (hour, team, workflow, task_type, provider, model,"
	    " tier, status, calls, input_tokens, output_tokens, cache_read_tokens,"
	    " cache_write_tokens, reasoning_tokens, cost_pusd, unpriced_calls, cache_hit_calls)"
	    " SELECT date_trunc('hour', ts), team, workflow, task_type, provider, model, tier,"
	    " status, count(*), sum(input_tokens), sum(output_tokens), sum(cache_read_tokens),"
	    " sum(cache_write_tokens), sum(reasoning_tokens), coalesce(sum(cost_pusd), 0),"
	    " count(*) FILTER (WHERE cost_pusd IS NULL), count(*) FILTER (WHERE cache_hit)"
	    " FROM calls WHERE ts >= $1 AND ts < $2 GROUP BY 1, 2, 3, 4, 5, 6, 7, 8",
	    "DELETE FROM rollup_charges WHERE hour >= $1 AND hour < $2",
	    "INSERT INTO rollup_charges " LEDGER_CHARGES_FROM_CALLS,
	    /* the days overlapping [$1, $2), whole */
	    "DELETE FROM rollup_daily WHERE day >= date_trunc('day', $1::timestamptz)"
	    " AND day < " DAY_END,
	    "INSERT INTO rollup_daily SELECT date_trunc('day', hour), team, workflow, task_type,"
	    " provider, model, tier, sum(calls), sum(input_tokens), sum(output_tokens),"
	    " sum(cache_read_tokens), sum(cache_write_tokens), sum(reasoning_tokens),"
	    " sum(cost_pusd), sum(unpriced_calls), sum(cache_hit_calls) FROM rollup_hourly"
	    " WHERE hour >= date_trunc('day', $1::timestamptz) AND hour < " DAY_END
	    " GROUP BY 1, 2, 3, 4, 5, 6, 7",
	};
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
	const int64_t hour = INT64_C(3600000000);
	int64_t hf = from_us - ((from_us % hour) + hour) % hour;
	int64_t ht = to_us + (hour - ((to_us % hour) + hour) % hour) % hour;
	char from[40], to[40], details[160];

	time_format(hf, from);
	time_format(ht, to);
	snprintf(details, sizeof details, "{\"from\":\"%s\",\"to\":\"%s\"}", from, to);
	if (ledger_exec(lg, "BEGIN", err) < 0)
		return -1;
	if (ledger_exec(lg, ROLLUP_LOCK, err) < 0 || rebuild_rollups(lg, hf, ht, err) < 0)
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
	const int64_t hour = INT64_C(3600000000);
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
	/* Collectors wait on rollups while we rebuild them, so no increment is
	 * lost between our aggregate and our commit. */
	if (ledger_exec(lg, ROLLUP_LOCK, err) < 0 ||
	    ledger_exec(lg,
	                "CREATE TEMP TABLE stage_reprice (event_id text, ts timestamptz,"
	                " cost_pusd bigint, price_version bigint, tier text) ON COMMIT DROP",
	                err) < 0)
		goto fail;
	const char *params[2] = {from, to};
	res =
	    PQexecParams(lg->conn,
	                 "DECLARE reprice_cur NO SCROLL CURSOR FOR SELECT event_id, ts, provider,"
	                 " model, (extract(epoch FROM ts) * 1000000)::bigint, input_tokens,"
	                 " output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens,"
	                 " batch, cache_hit, cost_pusd, price_version, tier FROM calls"
	                 " WHERE ts >= $1 AND ts < $2",
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
	        " tier = s.tier FROM stage_reprice s"
	        " WHERE c.event_id = s.event_id AND c.ts = s.ts",
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
