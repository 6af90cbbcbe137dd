/* budget.c - monthly budgets with run-rate forecasts, alerts at 50/80/100%
 * of actual and forecast spend, and the reports' background thread that
 * evaluates them and delivers the webhook outbox (reports/webhook.c). */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "report.h"

#define BG_TICK_MS     500
#define BG_EVALUATE_US INT64_C(30000000) /* budgets every 30 s */

static const char forecast_method[] =
    "month-to-date spend + the mean daily spend of the last 7 whole days x the days left,"
    " with a band from the lowest to the highest of those days (basis_days says how many"
    " there were); with no such day, the run rate of the month so far, without a band"
    " (forecast alerts from the second day of the month)";

static int64_t num(const struct ledger_table *t, int r, int c)
{
	return strtoll(ledger_cell(t, r, c), NULL, 10);
}

/* spend * 100 / amount as a percentage with 2 decimals (digits strings). */
static void burn_pct(const char *spend, const char *amount, char *out, size_t n)
{
	__int128 s = strtoll(spend, NULL, 10), a = strtoll(amount, NULL, 10);
	if (a <= 0) {
		str_copy(out, n, "");
		return;
	}
	__int128 v = s * 10000 / a;
	snprintf(out, n, "%lld.%02lld", (long long)(v / 100), (long long)(v % 100));
}

int report_budgets(struct ledger *lg, int64_t at_us, const char *team, enum report_format fmt,
                   struct sbuf *sb, struct tally_err *err)
{
	char at[40], usd[5][64], pct[2][32];
	const char *p[1] = {at};
	struct ledger_table t = {0};
	bool first = true;

	time_format(at_us, at);
	if (ledger_report_query(lg, LRS_BUDGETS, p, 1, &t, err) < 0)
		return -1;
	if (fmt == REPORT_CSV)
		sbuf_puts(sb, "scope,name,month,budget_usd,spend_usd,forecast_usd,spend_pct,"
		              "forecast_pct\n");
	else {
		sbuf_printf(sb, "{\"at\":\"%s\",\"forecast_method\":", at);
		sbuf_json_str(sb, forecast_method);
		sbuf_puts(sb, ",\"budgets\":[");
	}
	for (int r = 0; r < t.rows; r++) {
		/* A viewer sees its own team's budget only. */
		if (team && (strcmp(ledger_cell(&t, r, 1), "team") != 0 ||
		             strcmp(ledger_cell(&t, r, 2), team) != 0))
			continue;
		report_usd(ledger_cell(&t, r, 3), usd[0], sizeof usd[0]);
		report_usd(ledger_cell(&t, r, 5), usd[1], sizeof usd[1]);
		report_usd(ledger_cell(&t, r, 6), usd[2], sizeof usd[2]);
		burn_pct(ledger_cell(&t, r, 5), ledger_cell(&t, r, 3), pct[0], sizeof pct[0]);
		burn_pct(ledger_cell(&t, r, 6), ledger_cell(&t, r, 3), pct[1], sizeof pct[1]);
		if (fmt == REPORT_CSV) {
			sbuf_printf(sb, "%s,", ledger_cell(&t, r, 1));
			report_csv_field(sb, ledger_cell(&t, r, 2));
			sbuf_printf(sb, ",%s,%s,%s,%s,%s,%s\n", ledger_cell(&t, r, 4), usd[0],
			            usd[1], usd[2], pct[0], pct[1]);
			continue;
		}
		sbuf_printf(sb, "%s{\"id\":%lld,\"scope\":\"%s\",\"name\":", first ? "" : ",",
		            (long long)num(&t, r, 0), ledger_cell(&t, r, 1));
		sbuf_json_str(sb, ledger_cell(&t, r, 2));
		sbuf_printf(sb,
		            ",\"month\":\"%s\",\"budget_usd\":\"%s\",\"spend_usd\":\"%s\","
		            "\"forecast_usd\":\"%s\",\"spend_pct\":\"%s\",\"forecast_pct\":\"%s\","
		            "\"elapsed_s\":%lld,\"month_s\":%lld",
		            ledger_cell(&t, r, 4), usd[0], usd[1], usd[2], pct[0], pct[1],
		            (long long)num(&t, r, 7), (long long)num(&t, r, 8));
		/* The band: null when the forecast is a run rate over the month so far. */
		sbuf_printf(sb, ",\"basis_days\":%lld", (long long)num(&t, r, 9));
		if (ledger_cell(&t, r, 10)[0] && ledger_cell(&t, r, 11)[0]) {
			report_usd(ledger_cell(&t, r, 10), usd[3], sizeof usd[3]);
			report_usd(ledger_cell(&t, r, 11), usd[4], sizeof usd[4]);
			sbuf_printf(sb,
			            ",\"forecast_low_usd\":\"%s\",\"forecast_high_usd\":\"%s\"}",
			            usd[3], usd[4]);
		} else {
			sbuf_puts(sb, ",\"forecast_low_usd\":null,\"forecast_high_usd\":null}");
		}
		first = false;
	}
	if (fmt == REPORT_JSON)
		sbuf_puts(sb, "]}\n");
	ledger_table_cleanup(&t);
	return sb->oom ? tally_err_set(err, TALLY_ENOMEM, false, "out of memory") : 0;
}

int report_alerts(struct ledger *lg, int limit, int64_t offset, const char *team, struct sbuf *sb,
                  struct tally_err *err)
{
	char lim[16], off[24], usd[3][64];
	const char *p[3] = {lim, team, off};
	struct ledger_table t = {0};
	bool first = true;

	snprintf(lim, sizeof lim, "%d", limit);
	snprintf(off, sizeof off, "%lld", (long long)offset);
	/* A team's view is filtered before the limit, not after. */
	if (ledger_report_query(lg, LRS_ALERTS, p, 3, &t, err) < 0)
		return -1;
	sbuf_puts(sb, "{\"alerts\":[");
	for (int r = 0; r < t.rows; r++) {
		for (int k = 0; k < 3; k++)
			report_usd(ledger_cell(&t, r, 6 + k), usd[k], sizeof usd[k]);
		sbuf_printf(sb, "%s{\"id\":%lld,\"scope\":\"%s\",\"name\":", first ? "" : ",",
		            (long long)num(&t, r, 0), ledger_cell(&t, r, 1));
		sbuf_json_str(sb, ledger_cell(&t, r, 2));
		sbuf_printf(sb,
		            ",\"period\":\"%s\",\"basis\":\"%s\",\"threshold_pct\":%lld,"
		            "\"budget_usd\":\"%s\",\"spend_usd\":\"%s\",\"forecast_usd\":\"%s\","
		            "\"fired_at\":\"%s\"}",
		            ledger_cell(&t, r, 3), ledger_cell(&t, r, 4), (long long)num(&t, r, 5),
		            usd[0], usd[1], usd[2], ledger_cell(&t, r, 9));
		first = false;
	}
	sbuf_puts(sb, "]}\n");
	ledger_table_cleanup(&t);
	return sb->oom ? tally_err_set(err, TALLY_ENOMEM, false, "out of memory") : 0;
}

/* ---- the background loop ------------------------------------------------------------- */

struct reports_bg {
	const struct tally_config *cfg;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;
};

static bool bg_stopping(void *arg)
{
	struct reports_bg *bg = arg;
	pthread_mutex_lock(&bg->mu);
	bool stop = bg->stop;
	pthread_mutex_unlock(&bg->mu);
	return stop;
}

static void *bg_main(void *arg)
{
	struct reports_bg *bg = arg;
	struct ledger *lg = NULL;
	int64_t last_eval = 0;

	for (;;) {
		pthread_mutex_lock(&bg->mu);
		if (!bg->stop) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += BG_TICK_MS * 1000000L;
			ts.tv_sec += ts.tv_nsec / 1000000000L;
			ts.tv_nsec %= 1000000000L;
			pthread_cond_timedwait(&bg->cv, &bg->mu, &ts);
		}
		bool stop = bg->stop;
		pthread_mutex_unlock(&bg->mu);
		if (stop)
			break;
		struct tally_err err = {0};
		if (lg && !ledger_ok(lg) && ledger_reset(lg, &err) < 0)
			continue;
		if (!lg && !(lg = ledger_open(bg->cfg->database_url, &err)))
			continue;
		int64_t now = time_mono_us();
		if (now - last_eval >= BG_EVALUATE_US || last_eval == 0) {
			int fired = 0;
			last_eval = now;
			if (ledger_budget_evaluate(lg, time_now_us(), &fired, &err) < 0)
				log_warn("budget evaluation: %s", err.msg);
			else if (fired > 0)
				log_info("budgets: %d new alert(s)", fired);
		}
		if (bg->cfg->webhook_url[0])
			report_webhook_deliver_due(bg->cfg, lg, bg_stopping, bg);
	}
	ledger_close(lg);
	return NULL;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct reports_bg *reports_start(const struct tally_config *cfg, struct tally_err *err)
{
	struct reports_bg *bg = calloc(1, sizeof *bg);

	/* libcurl's global state before any thread uses it. */
	pthread_once(&curl_once, curl_init_once);

	if (!bg) {
		tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
		return NULL;
	}
	bg->cfg = cfg;
	pthread_mutex_init(&bg->mu, NULL);
	pthread_cond_init(&bg->cv, NULL);
	if (pthread_create(&bg->thread, NULL, bg_main, bg) != 0) {
		pthread_mutex_destroy(&bg->mu);
		pthread_cond_destroy(&bg->cv);
		free(bg);
		tally_err_set(err, TALLY_EIO, false, "cannot start the reports thread");
		return NULL;
	}
	return bg;
}

void reports_stop(struct reports_bg *bg)
{
	if (!bg)
		return;
	pthread_mutex_lock(&bg->mu);
	bg->stop = true;
	pthread_cond_signal(&bg->cv);
	pthread_mutex_unlock(&bg->mu);
	pthread_join(bg->thread, NULL);
	pthread_mutex_destroy(&bg->mu);
	pthread_cond_destroy(&bg->cv);
	free(bg);
}
