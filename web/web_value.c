/* web_value.c - GET /api/v1/outcomes/value: what outcomes are worth against
 * what they cost, per team, workflow and outcome kind: cost per outcome and
 * per success, value delivered, and return on AI spend (value / spend).
 * A viewer gets its own team's only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../reports/report.h"
#include "web_int.h"

static __int128 digits_value(const char *s)
{
	__int128 v = 0;

	for (; *s >= '0' && *s <= '9'; s++)
		v = v * 10 + (*s - '0');
	return v;
}

/* A pico-USD amount as the API's 12-decimal USD string. */
static void usd_of(__int128 pusd, char *out, size_t n)
{
	char digits[48];

	snprintf(digits, sizeof digits, "%lld", (long long)pusd);
	report_usd(digits, out, n);
}

static void put_row(struct sbuf *sb, const struct outcome_value *v)
{
	__int128 value = digits_value(v->value_pusd), spend = digits_value(v->spend_pusd);
	char usd[4][64];

	usd_of(value, usd[0], sizeof usd[0]);
	usd_of(spend, usd[1], sizeof usd[1]);
	sbuf_printf(
	    sb, "\"outcomes\":%lld,\"successes\":%lld,\"value_usd\":\"%s\",\"spend_usd\":\"%s\"",
	    (long long)v->outcomes, (long long)v->successes, usd[0], usd[1]);
	if (v->outcomes > 0) {
		usd_of(spend / v->outcomes, usd[2], sizeof usd[2]);
		sbuf_printf(sb, ",\"cost_per_outcome_usd\":\"%s\"", usd[2]);
	} else {
		sbuf_puts(sb, ",\"cost_per_outcome_usd\":null");
	}
	if (v->successes > 0) {
		usd_of(spend / v->successes, usd[3], sizeof usd[3]);
		sbuf_printf(sb, ",\"cost_per_success_usd\":\"%s\"", usd[3]);
	} else {
		sbuf_puts(sb, ",\"cost_per_success_usd\":null");
	}
	/* value / spend to two decimals, half up, exactly */
	if (spend > 0) {
		__int128 r = (value * 200 / spend + 1) / 2;
		sbuf_printf(sb, ",\"return_on_spend\":\"%lld.%02lld\"", (long long)(r / 100),
		            (long long)(r % 100));
	} else {
		sbuf_puts(sb, ",\"return_on_spend\":null");
	}
}

void web_outcome_value(struct web_req *rq, struct web_resp *rs)
{
	const char *f = web_arg(rq, "from"), *t = web_arg(rq, "to"), *team = web_arg(rq, "team");
	struct tally_err err = {0};
	struct outcome_value *rows = NULL;
	int64_t from, to;
	size_t n = 0;
	struct ledger *lg;

	if (!f || !t || time_parse(f, true, &from) < 0 || time_parse(t, true, &to) < 0) {
		web_error(rs, 400,
		          "from and to are required, like 2026-11-01 or 2026-11-01T12:00:00Z");
		return;
	}
	if (to <= from) {
		web_error(rs, 400, "to must be after from (the interval is [from, to))");
		return;
	}
	if (web_team_allowed(rq, rs, team) < 0)
		return;
	if (rq->auth.key.role == ROLE_VIEWER)
		team = rq->auth.key.team;
	if (team && !*team)
		team = NULL;
	if (!(lg = web_ledger(rq, rs)))
		return;
	if (ledger_outcome_value(lg, from, to, team, &rows, &n, &err) < 0) {
		web_db_error(rq, rs, &err);
		return;
	}
	struct sbuf *sb = &rs->body;
	char at[2][40];
	time_format(from, at[0]);
	time_format(to, at[1]);
	sbuf_printf(sb, "{\"from\":\"%s\",\"to\":\"%s\",\"team\":", at[0], at[1]);
	if (team)
		sbuf_json_str(sb, team);
	else
		sbuf_puts(sb, "null");
	sbuf_puts(sb,
	          ",\"method\":\"outcomes of the period by their time; spend = cost of the calls"
	          " that name them (from a day before the period); value = value_usd of the"
	          " successful ones; return on spend = value / spend\",\"rows\":[");
	bool first = true;
	for (size_t i = 0; i < n; i++) {
		if (rows[i].level != OUTCOME_VALUE_ROW)
			continue;
		sbuf_puts(sb, first ? "{\"team\":" : ",{\"team\":");
		sbuf_json_str(sb, rows[i].team);
		sbuf_puts(sb, ",\"workflow\":");
		sbuf_json_str(sb, rows[i].workflow);
		sbuf_puts(sb, ",\"kind\":");
		sbuf_json_str(sb, rows[i].kind);
		sbuf_putc(sb, ',');
		put_row(sb, &rows[i]);
		sbuf_putc(sb, '}');
		first = false;
	}
	sbuf_puts(sb, "],\"teams\":[");
	first = true;
	for (size_t i = 0; i < n; i++) {
		if (rows[i].level != OUTCOME_VALUE_TEAM)
			continue;
		sbuf_puts(sb, first ? "{\"team\":" : ",{\"team\":");
		sbuf_json_str(sb, rows[i].team);
		sbuf_putc(sb, ',');
		put_row(sb, &rows[i]);
		sbuf_putc(sb, '}');
		first = false;
	}
	sbuf_puts(sb, "],\"total\":{");
	struct outcome_value none = {
	    .level = OUTCOME_VALUE_TOTAL, .value_pusd = "0", .spend_pusd = "0"};
	const struct outcome_value *tot = &none;
	for (size_t i = 0; i < n; i++)
		if (rows[i].level == OUTCOME_VALUE_TOTAL)
			tot = &rows[i];
	put_row(sb, tot);
	sbuf_puts(sb, "}}\n");
	free(rows);
	if (sb->oom) {
		web_error(rs, 500, "out of memory");
		return;
	}
	rs->status = 200;
	rs->content_type = "application/json";
}

/* ---- drill-down ---------------------------------------------------------------- */

/* A filter value: NULL when absent or empty. */
static const char *opt_arg(struct web_req *rq, const char *name)
{
	const char *v = web_arg(rq, name);
	return v && *v ? v : NULL;
}

void web_calls(struct web_req *rq, struct web_resp *rs)
{
	struct calls_filter f = {0};
	struct tally_err err = {0};
	const char *fr = web_arg(rq, "from"), *t = web_arg(rq, "to");
	struct ledger *lg;

	if (!fr || !t || time_parse(fr, true, &f.from_us) < 0 ||
	    time_parse(t, true, &f.to_us) < 0) {
		web_error(rs, 400,
		          "from and to are required, like 2026-11-01 or 2026-11-01T12:00:00Z");
		return;
	}
	if (f.to_us <= f.from_us) {
		web_error(rs, 400, "to must be after from (the interval is [from, to))");
		return;
	}
	f.team = opt_arg(rq, "team");
	if (web_team_allowed(rq, rs, f.team) < 0 ||
	    web_int_arg(rq, rs, "limit", 50, 1, 200, &f.limit) < 0 ||
	    web_int_arg(rq, rs, "offset", 0, 0, INT64_C(1000000000), &f.offset) < 0)
		return;
	if (rq->auth.key.role == ROLE_VIEWER)
		f.team = rq->auth.key.team;
	f.workflow = opt_arg(rq, "workflow");
	f.task_type = opt_arg(rq, "task_type");
	f.model = opt_arg(rq, "model");
	f.tier = opt_arg(rq, "tier");
	f.provider = opt_arg(rq, "provider");
	f.status = opt_arg(rq, "status");
	f.outcome_id = opt_arg(rq, "outcome_id");
	if (!(lg = web_ledger(rq, rs)))
		return;
	if (ledger_calls_json(lg, &f, &rs->body, &err) < 0) {
		web_db_error(rq, rs, &err);
		return;
	}
	sbuf_putc(&rs->body, '\n');
	rs->status = 200;
	rs->content_type = "application/json";
}

void web_call(struct web_req *rq, struct web_resp *rs)
{
	const char *id = web_arg(rq, "event_id");
	struct tally_err err = {0};
	struct ledger *lg;
	bool found = false;

	if (!id || !*id || strlen(id) > EVENT_ID_MAX) {
		web_error(rs, 400, "event_id is required (1 to %d characters)", EVENT_ID_MAX);
		return;
	}
	if (!(lg = web_ledger(rq, rs)))
		return;
	/* A viewer finds its own team's calls only: another team's is "not found". */
	if (ledger_call_json(lg, id, rq->auth.key.role == ROLE_VIEWER ? rq->auth.key.team : NULL,
	                     &rs->body, &found, &err) < 0) {
		web_db_error(rq, rs, &err);
		return;
	}
	if (!found) {
		web_error(rs, 404, "no call with that event_id");
		return;
	}
	sbuf_putc(&rs->body, '\n');
	rs->status = 200;
	rs->content_type = "application/json";
}

void web_quarantine_reasons(struct web_req *rq, struct web_resp *rs)
{
	struct tally_err err = {0};
	int64_t examples;
	struct ledger *lg;

	if (web_int_arg(rq, rs, "examples", 5, 0, 100, &examples) < 0)
		return;
	if (!(lg = web_ledger(rq, rs)))
		return;
	if (ledger_quarantine_groups_json(lg, opt_arg(rq, "reason"), (int)examples, &rs->body,
	                                  &err) < 0) {
		web_db_error(rq, rs, &err);
		return;
	}
	sbuf_putc(&rs->body, '\n');
	rs->status = 200;
	rs->content_type = "application/json";
}
