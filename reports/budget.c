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
	struct budget_state *rows = NULL;
	size_t n = 0;
	bool first = true;

	time_format(at_us, at);
	if (ledger_budget_states(lg, at_us, &rows, &n, err) < 0)
		return -1;
	if (fmt == REPORT_CSV)
		sbuf_puts(sb, "scope,name,month,budget_usd,spend_usd,forecast_usd,spend_pct,"
		              "forecast_pct\n");
	else {
		sbuf_printf(sb, "{\"at\":\"%s\",\"forecast_method\":", at);
		sbuf_json_str(sb, forecast_method);
		sbuf_puts(sb, ",\"budgets\":[");
	}
	for (size_t i = 0; i < n; i++) {
		const struct budget_state *b = &rows[i];
		/* A viewer sees its own team's budget only. */
		if (team && (strcmp(b->scope, "team") != 0 || strcmp(b->name, team) != 0))
			continue;
		report_usd(b->amount_pusd, usd[0], sizeof usd[0]);
		report_usd(b->spend_pusd, usd[1], sizeof usd[1]);
		report_usd(b->forecast_pusd, usd[2], sizeof usd[2]);
		burn_pct(b->spend_pusd, b->amount_pusd, pct[0], sizeof pct[0]);
		burn_pct(b->forecast_pusd, b->amount_pusd, pct[1], sizeof pct[1]);
		if (fmt == REPORT_CSV) {
			sbuf_printf(sb, "%s,", b->scope);
			report_csv_field(sb, b->name);
			sbuf_printf(sb, ",%s,%s,%s,%s,%s,%s\n", b->month, usd[0], usd[1], usd[2],
			            pct[0], pct[1]);
			continue;
		}
		sbuf_printf(sb, "%s{\"id\":%lld,\"scope\":\"%s\",\"name\":", first ? "" : ",",
		            (long long)b->id, b->scope);
		sbuf_json_str(sb, b->name);
		sbuf_printf(sb,
		            ",\"month\":\"%s\",\"budget_usd\":\"%s\",\"spend_usd\":\"%s\","
		            "\"forecast_usd\":\"%s\",\"spend_pct\":\"%s\",\"forecast_pct\":\"%s\","
		            "\"elapsed_s\":%lld,\"month_s\":%lld",
		            b->month, usd[0], usd[1], usd[2], pct[0], pct[1],
		            (long long)b->elapsed_s, (long long)b->month_s);
		/* The band: null when the forecast is a run rate over the month so far. */
		sbuf_printf(sb, ",\"basis_days\":%lld", (long long)b->basis_days);
		if (b->band) {
			report_usd(b->forecast_low_pusd, usd[3], sizeof usd[3]);
			report_usd(b->forecast_high_pusd, usd[4], sizeof usd[4]);
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
	free(rows);
	return sb->oom ? tally_err_set(err, TALLY_ENOMEM, false, "out of memory") : 0;
}

int report_alerts(struct ledger *lg, int limit, int64_t offset, const char *team, struct sbuf *sb,
                  struct tally_err *err)
{
	char usd[3][64];
	struct budget_alert_row *rows = NULL;
	size_t n = 0;

	if (ledger_budget_alerts(lg, limit, offset, team, &rows, &n, err) < 0)
		return -1;
	sbuf_puts(sb, "{\"alerts\":[");
	for (size_t i = 0; i < n; i++) {
		const struct budget_alert_row *a = &rows[i];
		report_usd(a->amount_pusd, usd[0], sizeof usd[0]);
		report_usd(a->spend_pusd, usd[1], sizeof usd[1]);
		report_usd(a->forecast_pusd, usd[2], sizeof usd[2]);
		sbuf_printf(sb, "%s{\"id\":%lld,\"scope\":\"%s\",\"name\":", i ? "," : "",
		            (long long)a->id, a->scope);
		sbuf_json_str(sb, a->name);
		sbuf_printf(sb,
		            ",\"period\":\"%s\",\"basis\":\"%s\",\"threshold_pct\":%lld,"
		            "\"budget_usd\":\"%s\",\"spend_usd\":\"%s\",\"forecast_usd\":\"%s\","
		            "\"fired_at\":\"%s\"}",
		            a->period, a->basis, (long long)a->threshold_pct, usd[0], usd[1],
		            usd[2], a->fired_at);
	}
	sbuf_puts(sb, "]}\n");
	free(rows);
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
