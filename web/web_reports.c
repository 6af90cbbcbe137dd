/* web_reports.c - the finance reports over HTTP: chargeback, cost per
 * outcome, waste, budgets and alerts, teams and cost centres, and the FOCUS
 * export. The queries and formats are the CLI's (reports/, ledger/); a
 * viewer sees its own team only. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../reports/report.h"
#include "web_int.h"

#define DAY_US             (INT64_C(86400) * 1000000)
#define FOCUS_API_MAX_DAYS 366 /* per request; the CLI takes any period */

/* [from, to) from the query (both required). -1 with a 400 set. */
static int period_args(struct web_req *rq, struct web_resp *rs, int64_t *from, int64_t *to)
{
	const char *f = web_arg(rq, "from"), *t = web_arg(rq, "to");

	if (!f || !t) {
		web_error(rs, 400,
		          "from and to are required, like 2026-11-01 or"
		          " 2026-11-01T12:00:00Z");
		return -1;
	}
	if (time_parse(f, true, from) < 0 || time_parse(t, true, to) < 0) {
		web_error(rs, 400,
		          "from and to must be dates or RFC 3339 times, like 2026-11-01 or"
		          " 2026-11-01T12:00:00Z");
		return -1;
	}
	if (*to <= *from) {
		web_error(rs, 400, "to must be after from (the interval is [from, to))");
		return -1;
	}
	return 0;
}

static const char *viewer_team(struct web_req *rq)
{
	return rq->auth.key.role == ROLE_VIEWER ? rq->auth.key.team : NULL;
}

/* Who did it, for the audit log. */
static void actor_of(struct web_req *rq, char *out, size_t n)
{
	snprintf(out, n, "api-key:%lld:%s", (long long)rq->auth.key.id, rq->auth.key.name);
}

static void json_ok(struct web_resp *rs)
{
	rs->status = 200;
	rs->content_type = "application/json";
}

/* format=csv|json (default json), as the CLI's --format. -1 with a 400 set. */
static int format_arg(struct web_req *rq, struct web_resp *rs, enum report_format *fmt)
{
	const char *f = web_arg(rq, "format");

	*fmt = REPORT_JSON;
	if (!f || strcmp(f, "json") == 0)
		return 0;
	if (strcmp(f, "csv") == 0) {
		*fmt = REPORT_CSV;
		return 0;
	}
	web_error(rs, 400, "format must be csv or json");
	return -1;
}

static void report_ok(struct web_resp *rs, enum report_format fmt)
{
	json_ok(rs);
	if (fmt == REPORT_CSV)
		rs->content_type = "text/csv; charset=utf-8";
}

void web_chargeback(struct web_req *rq, struct web_resp *rs)
{
	const char *month = web_arg(rq, "month"), *share = web_arg(rq, "share_unassigned");
	struct chargeback_result r;
	struct tally_err err = {0};
	int64_t from, to;
	struct ledger *lg;

	if (!month) {
		web_error(rs, 400, "month is required, like 2026-11");
		return;
	}
	if (report_month(month, &from, &to) < 0) {
		web_error(rs, 400,
		          "month must be YYYY-MM with a month from 01 to 12, like 2026-11");
		return;
	}
	enum report_format fmt;
	if (format_arg(rq, rs, &fmt) < 0)
		return;
	if (!share)
		share = "none";
	if (strcmp(share, "none") && strcmp(share, "proportional") && strcmp(share, "even")) {
		web_error(rs, 400, "share_unassigned must be none, proportional or even");
		return;
	}
	/* Shared amounts follow from the unassigned spend and the number or the
	 * spend of the other teams: a viewer sees its direct spend only. */
	if (viewer_team(rq) && strcmp(share, "none") != 0) {
		web_error(rs, 403,
		          "a viewer key sees its team's direct spend only: share_unassigned=%s"
		          " depends on other teams' spend (it needs an admin or finance key)",
		          share);
		return;
	}
	if (!(lg = web_ledger(rq, rs)))
		return;
	if (ledger_chargeback(lg, from, to, share, &r, &err) < 0) {
		web_db_error(rq, rs, &err);
		return;
	}
	report_chargeback_format(&r, month, viewer_team(rq), fmt, &rs->body);
	chargeback_result_cleanup(&r);
	report_ok(rs, fmt);
}

void web_outcomes(struct web_req *rq, struct web_resp *rs)
{
	struct tally_err err = {0};
	enum report_format fmt;
	int64_t from, to;
	struct ledger *lg;

	if (period_args(rq, rs, &from, &to) < 0 || format_arg(rq, rs, &fmt) < 0 ||
	    !(lg = web_ledger(rq, rs)))
		return;
	if (report_outcomes(lg, from, to, fmt, &rs->body, &err) < 0) {
		web_db_error(rq, rs, &err);
		return;
	}
	report_ok(rs, fmt);
}

void web_waste(struct web_req *rq, struct web_resp *rs)
{
	const char *team = web_arg(rq, "team"), *win = web_arg(rq, "window_s");
	const char *pv = web_arg(rq, "policy_version");
	struct tally_err err = {0};
	int64_t from, to, window = 86400, version = 0;
	enum report_format fmt;
	struct ledger *lg;

	if (period_args(rq, rs, &from, &to) < 0 || web_team_allowed(rq, rs, team) < 0 ||
	    format_arg(rq, rs, &fmt) < 0)
		return;
	if (win && (parse_i64(win, &window) < 0 || window < 1 || window > 366 * 86400)) {
		web_error(rs, 400, "window_s must be seconds from 1 to 31622400");
		return;
	}
	if (pv && (parse_i64(pv, &version) < 0 || version < 1)) {
		web_error(rs, 400, "policy_version must be a version number");
		return;
	}
	if (viewer_team(rq))
		team = viewer_team(rq);
	if (!(lg = web_ledger(rq, rs)))
		return;
	if (report_waste(lg, from, to, window, team, version, fmt, &rs->body, &err) < 0) {
		web_db_error(rq, rs, &err);
		return;
	}
	report_ok(rs, fmt);
}

/* provider_cost_usd against tally's cost per provider and model (finance, admin). */
void web_mismatches(struct web_req *rq, struct web_resp *rs)
{
	struct tally_err err = {0};
	int64_t from, to;
	enum report_format fmt;
	struct ledger *lg;

	if (period_args(rq, rs, &from, &to) < 0 || format_arg(rq, rs, &fmt) < 0)
		return;
	if (!(lg = web_ledger(rq, rs)))
		return;
	if (report_cost_mismatch(lg, from, to, fmt, &rs->body, &err) < 0) {
		web_db_error(rq, rs, &err);
		return;
	}
	report_ok(rs, fmt);
}

void web_budgets_get(struct web_req *rq, struct web_resp *rs)
{
	struct tally_err err = {0};
	enum report_format fmt;
	struct ledger *lg;
	int64_t at;

	if (web_time_arg(rq, rs, "at", time_now_us(), &at) < 0 || format_arg(rq, rs, &fmt) < 0)
		return;
	if (!(lg = web_ledger(rq, rs)))
		return;
	if (report_budgets(lg, at, viewer_team(rq), fmt, &rs->body, &err) < 0) {
		web_db_error(rq, rs, &err);
		return;
	}
	report_ok(rs, fmt);
}

/* scope and name from a JSON body or the query. */
static int scope_name(cJSON *doc, struct web_req *rq, struct web_resp *rs, const char **scope,
                      const char **name)
{
	*scope =
	    doc ? cJSON_GetStringValue(cJSON_GetObjectItem(doc, "scope")) : web_arg(rq, "scope");
	*name = doc ? cJSON_GetStringValue(cJSON_GetObjectItem(doc, "name")) : web_arg(rq, "name");
	if (!*scope || (strcmp(*scope, "team") && strcmp(*scope, "workflow")) || !*name ||
	    !**name || strlen(*name) > EVENT_NAME_MAX ||
	    text_control_at(*name, strlen(*name)) >= 0) {
		web_error(rs, 400,
		          "scope (team or workflow) and name (1 to %d bytes, no control"
		          " characters) are required",
		          EVENT_NAME_MAX);
		return -1;
	}
	return 0;
}

void web_budgets_post(struct web_req *rq, struct web_resp *rs)
{
	struct tally_err err = {0};
	const char *scope, *name, *amount;
	char pusd[48], actor[200];
	struct ledger *lg;
	cJSON *doc = cJSON_ParseWithLength(rq->body.p ? rq->body.p : "", rq->body.len);

	if (!cJSON_IsObject(doc)) {
		web_error(rs, 400,
		          "send {\"scope\":\"team\",\"name\":\"T\",\"amount_usd\":\"100\"}");
		goto out;
	}
	if (scope_name(doc, rq, rs, &scope, &name) < 0)
		goto out;
	amount = cJSON_GetStringValue(cJSON_GetObjectItem(doc, "amount_usd"));
	if (!amount || report_usd_parse(amount, pusd, sizeof pusd) < 0) {
		web_error(rs, 400, "amount_usd must be a positive decimal string, like \"1500\"");
		goto out;
	}
	/* from_month (optional): the amount applies from that month on. */
	const cJSON *fm = cJSON_GetObjectItem(doc, "from_month");
	char month[16] = "";
	int64_t m0, m1;
	if (fm && !cJSON_IsNull(fm)) {
		const char *v = cJSON_GetStringValue(fm);
		if (!v || report_month(v, &m0, &m1) < 0) {
			web_error(rs, 400, "from_month must be YYYY-MM, like \"2027-01\"");
			goto out;
		}
		snprintf(month, sizeof month, "%.7s-01", v);
	}
	if (!(lg = web_ledger(rq, rs)))
		goto out;
	actor_of(rq, actor, sizeof actor);
	if (ledger_budget_set(lg, scope, name, pusd, month[0] ? month : NULL, actor, &err) < 0) {
		web_db_error(rq, rs, &err);
		goto out;
	}
	sbuf_puts(&rs->body, "{\"ok\":true}\n");
	json_ok(rs);
out:
	cJSON_Delete(doc);
}

void web_budgets_delete(struct web_req *rq, struct web_resp *rs)
{
	struct tally_err err = {0};
	const char *scope, *name;
	char actor[200];
	struct ledger *lg;
	bool found;

	if (scope_name(NULL, rq, rs, &scope, &name) < 0 || !(lg = web_ledger(rq, rs)))
		return;
	actor_of(rq, actor, sizeof actor);
	if (ledger_budget_delete(lg, scope, name, actor, &found, &err) < 0) {
		web_db_error(rq, rs, &err);
		return;
	}
	if (!found) {
		web_error(rs, 404, "no budget for %s %s", scope, name);
		return;
	}
	sbuf_puts(&rs->body, "{\"ok\":true}\n");
	json_ok(rs);
}

void web_alerts(struct web_req *rq, struct web_resp *rs)
{
	struct tally_err err = {0};
	struct ledger *lg;
	int64_t limit, offset;

	if (web_int_arg(rq, rs, "limit", 500, 1, 500, &limit) < 0 ||
	    web_int_arg(rq, rs, "offset", 0, 0, INT64_C(1000000000), &offset) < 0)
		return;
	if (!(lg = web_ledger(rq, rs)))
		return;
	if (report_alerts(lg, (int)limit, offset, viewer_team(rq), &rs->body, &err) < 0) {
		web_db_error(rq, rs, &err);
		return;
	}
	json_ok(rs);
}

static int fd_write(void *ctx, const char *data, size_t len)
{
	int fd = *(int *)ctx;
	while (len > 0) {
		ssize_t n = write(fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

#define FOCUS_METADATA_LINK                                                                        \
	"</api/v1/export/focus/metadata>; rel=\"describedby\"; type=\"application/json\""

/* The CSV is streamed from the ledger's cursor into an unlinked temporary
 * file and sent from there (sendfile): constant memory for any period. */
void web_export_focus(struct web_req *rq, struct web_resp *rs)
{
	const char *gran = web_arg(rq, "granularity");
	const char *dir = getenv("TMPDIR");
	struct tally_err err = {0};
	char path[PATH_MAX];
	int64_t from, to;
	struct ledger *lg;
	int fd;

	if (period_args(rq, rs, &from, &to) < 0)
		return;
	if (gran && strcmp(gran, "hour") && strcmp(gran, "day")) {
		web_error(rs, 400, "granularity must be hour or day");
		return;
	}
	if (to - from > FOCUS_API_MAX_DAYS * DAY_US) {
		web_error(rs, 400,
		          "at most %d days per request; `tally export focus` takes any period",
		          FOCUS_API_MAX_DAYS);
		return;
	}
	if (!(lg = web_ledger(rq, rs)))
		return;
	snprintf(path, sizeof path, "%s/tally-focus-XXXXXX", dir && dir[0] ? dir : "/tmp");
	if ((fd = mkstemp(path)) < 0) {
		log_error("web: FOCUS export: cannot create %s: %s", path, strerror(errno));
		web_error(rs, 500,
		          "cannot create a temporary file for the export (see the server log)");
		return;
	}
	unlink(path);
	if (report_focus(lg, from, to, gran && strcmp(gran, "hour") == 0, fd_write, &fd, NULL,
	                 &err) < 0) {
		close(fd);
		if (err.code != TALLY_EIO) {
			web_db_error(rq, rs, &err);
			return;
		}
		/* The temporary file, not the ledger, failed (a full disk...). */
		log_error("web: FOCUS export into %s: %s", path, err.msg);
		web_error(rs, 500,
		          "cannot write the export to a temporary file (is $TMPDIR full? see the"
		          " server log)");
		return;
	}
	rs->file = fd;
	rs->status = 200;
	rs->content_type = "text/csv; charset=utf-8";
	rs->link = FOCUS_METADATA_LINK;
}

/* The FOCUS schema metadata (docs/focus.md, "Metadata"); every export answer
 * points to it with its Link header. */
void web_export_focus_metadata(struct web_req *rq, struct web_resp *rs)
{
	char now[40];

	(void)rq;
	time_format(time_now_us(), now);
	report_focus_metadata(now, &rs->body);
	rs->status = 200;
	rs->link = FOCUS_METADATA_LINK;
}

void web_teams_get(struct web_req *rq, struct web_resp *rs)
{
	struct tally_err err = {0};
	struct team_row *rows = NULL;
	size_t n = 0;
	struct ledger *lg;

	if (!(lg = web_ledger(rq, rs)))
		return;
	if (ledger_teams(lg, &rows, &n, &err) < 0) {
		web_db_error(rq, rs, &err);
		return;
	}
	report_teams_format(rows, n, viewer_team(rq), REPORT_JSON, &rs->body);
	free(rows);
	json_ok(rs);
}

void web_teams_post(struct web_req *rq, struct web_resp *rs)
{
	struct tally_err err = {0};
	char actor[200];
	struct ledger *lg;
	cJSON *doc = cJSON_ParseWithLength(rq->body.p ? rq->body.p : "", rq->body.len);
	const char *team = cJSON_GetStringValue(cJSON_GetObjectItem(doc, "team"));
	cJSON *ccj = cJSON_GetObjectItem(doc, "cost_center");
	const char *cc = cJSON_GetStringValue(ccj);

	if (!team || !*team || strlen(team) > EVENT_NAME_MAX || (!cc && !cJSON_IsNull(ccj)) ||
	    (cc && strlen(cc) > EVENT_NAME_MAX) || text_control_at(team, strlen(team)) >= 0 ||
	    (cc && text_control_at(cc, strlen(cc)) >= 0)) {
		web_error(rs, 400, "send {\"team\":\"T\",\"cost_center\":\"CC\"} (null unmaps)");
		goto out;
	}
	if (!(lg = web_ledger(rq, rs)))
		goto out;
	actor_of(rq, actor, sizeof actor);
	if (ledger_team_set_cost_center(lg, team, cc, actor, &err) < 0) {
		web_db_error(rq, rs, &err);
		goto out;
	}
	sbuf_puts(&rs->body, "{\"ok\":true}\n");
	json_ok(rs);
out:
	cJSON_Delete(doc);
}
