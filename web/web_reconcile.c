/* web_reconcile.c - reconciliation over HTTP: GET /api/v1/reconcile (the
 * report, finance and admin: a bill is organisation-wide, so viewers get
 * 403) and the project-to-team map, GET and POST
 * /api/v1/reconcile/mappings (admin). docs/reconcile.md. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../reports/report.h"
#include "web_int.h"

void web_reconcile_get(struct web_req *rq, struct web_resp *rs)
{
	const char *f = web_arg(rq, "format");
	struct reconcile_result r;
	struct tally_err err = {0};
	enum report_format fmt = REPORT_JSON;
	int64_t from, to;
	char fs[40], ts[40];
	struct ledger *lg;

	if (!web_arg(rq, "from") || !web_arg(rq, "to")) {
		web_error(rs, 400,
		          "from and to are required, like 2026-11-01 or 2026-11-01T12:00:00Z");
		return;
	}
	if (web_time_arg(rq, rs, "from", 0, &from) < 0 || web_time_arg(rq, rs, "to", 0, &to) < 0)
		return;
	if (to <= from) {
		web_error(rs, 400, "to must be after from (the interval is [from, to))");
		return;
	}
	if (f && strcmp(f, "csv") == 0)
		fmt = REPORT_CSV;
	else if (f && strcmp(f, "json") != 0) {
		web_error(rs, 400, "format must be csv or json");
		return;
	}
	if (!(lg = web_ledger(rq, rs)))
		return;
	if (ledger_reconcile(lg, from, to, &r, &err) < 0) {
		web_db_error(rq, rs, &err);
		return;
	}
	time_format(from, fs);
	time_format(to, ts);
	report_reconcile_format(&r, fs, ts, fmt, &rs->body);
	reconcile_result_cleanup(&r);
	rs->status = 200;
	rs->content_type = fmt == REPORT_CSV ? "text/csv; charset=utf-8" : "application/json";
}

void web_reconcile_map_get(struct web_req *rq, struct web_resp *rs)
{
	struct reconcile_map_row *rows;
	struct tally_err err = {0};
	struct ledger *lg;
	size_t n;

	if (!(lg = web_ledger(rq, rs)))
		return;
	if (ledger_reconcile_map_list(lg, &rows, &n, &err) < 0) {
		web_db_error(rq, rs, &err);
		return;
	}
	sbuf_puts(&rs->body, "{\"mappings\":[");
	for (size_t i = 0; i < n; i++) {
		sbuf_puts(&rs->body, i ? ",{\"provider\":" : "{\"provider\":");
		sbuf_json_str(&rs->body, rows[i].provider);
		sbuf_puts(&rs->body, ",\"project\":");
		sbuf_json_str(&rs->body, rows[i].project);
		sbuf_puts(&rs->body, ",\"team\":");
		sbuf_json_str(&rs->body, rows[i].team);
		sbuf_printf(&rs->body, ",\"updated_at\":\"%s\"}", rows[i].updated_at);
	}
	sbuf_puts(&rs->body, "]}\n");
	free(rows);
	rs->status = 200;
	rs->content_type = "application/json";
}

/* {"provider":"openai","project":"proj_abc","team":"support"}; team null
 * removes the entry. */
void web_reconcile_map_post(struct web_req *rq, struct web_resp *rs)
{
	struct tally_err err = {0};
	char actor[200];
	struct ledger *lg;
	cJSON *doc = cJSON_ParseWithLength(rq->body.p ? rq->body.p : "", rq->body.len);
	const char *prov = cJSON_GetStringValue(cJSON_GetObjectItem(doc, "provider"));
	const char *proj = cJSON_GetStringValue(cJSON_GetObjectItem(doc, "project"));
	cJSON *tj = cJSON_GetObjectItem(doc, "team");
	const char *team = cJSON_GetStringValue(tj);
	bool found;

	if (!prov || !*prov || strlen(prov) > EVENT_NAME_MAX || !proj ||
	    strlen(proj) >= RECONCILE_TEXT_MAX || (!team && !cJSON_IsNull(tj)) ||
	    (team && (!*team || strlen(team) > EVENT_NAME_MAX))) {
		web_error(
		    rs, 400,
		    "send {\"provider\":\"P\",\"project\":\"ID\",\"team\":\"T\"} (null unmaps)");
		goto out;
	}
	if (!(lg = web_ledger(rq, rs)))
		goto out;
	snprintf(actor, sizeof actor, "api-key:%lld:%s", (long long)rq->auth.key.id,
	         rq->auth.key.name);
	if (ledger_reconcile_map_set(lg, prov, proj, team, actor, &found, &err) < 0) {
		web_db_error(rq, rs, &err);
		goto out;
	}
	if (!found) {
		web_error(rs, 404, "that project was not mapped");
		goto out;
	}
	sbuf_puts(&rs->body, "{\"ok\":true}\n");
	rs->status = 200;
	rs->content_type = "application/json";
out:
	cJSON_Delete(doc);
}
