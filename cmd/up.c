/* up.c - `tally up [--demo]`: everything in one process on embedded defaults. */
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../collector/collector.h"
#include "../common/common.h"
#include "../embedded/embedded.h"
#include "../ledger/ledger.h"
#include "../reports/report.h"
#include "../router/router.h"
#include "../web/web.h"
#include "cmd.h"

extern const unsigned char embedded_litellm_model_prices_json[];
extern const size_t embedded_litellm_model_prices_json_len;
extern const unsigned char embedded_local_prices_csv[];
extern const size_t embedded_local_prices_csv_len;

#define UP_PARTITIONS 16

struct up {
	struct tally_config cfg;
	struct embedded_pg *pg;
	struct embedded_kafka *kafka;
	struct demo *demo;
	struct web *web;
	struct router *router;
	struct reports_bg *reports;
	pthread_t collector;
	bool collector_started;
	volatile sig_atomic_t collector_stop;
	struct collector_stats stats;
	char endpoints[PATH_MAX];
	char demo_token[WEB_TOKEN_LEN + 1]; /* "" unless created on this start */
};

static void *collector_main(void *arg)
{
	struct up *u = arg;
	struct tally_err err = {0};

	if (collector_run(&u->cfg, &u->collector_stop, &u->stats, &err) < 0) {
		log_error("collector: %s", err.msg);
		cmd_stop = 1; /* a collector that cannot run stops the whole service */
	}
	return NULL;
}

/* A demo ledger nobody has set up for finance yet gets cost centres for the
 * demo's teams (platform left unassigned, to show sharing) and four monthly
 * budgets scaled to the demo's own spend (its history's last 7 days): two on
 * track, one forecast over, one already spent. Audit-logged as the actor
 * "demo"; never touches a ledger already set up. */
static void seed_demo_finance(struct ledger *lg, const struct demo_history_result *h)
{
	static const char *const centres[][2] = {
	    {"support", "CC-100"},
	    {"sales", "CC-200"},
	    {"marketing", "CC-200"},
	    {"legal", "CC-300"},
	};
	/* scope, name, budget as a share (percent) of the month's spend at the
	 * pace of the last 7 days */
	static const struct {
		const char *scope, *name;
		int pct;
	} budgets[] = {
	    {"team", "support", 150},            /* on track */
	    {"team", "sales", 160},              /* on track */
	    {"workflow", "contract-review", 92}, /* forecast over: at risk */
	    {"team", "marketing", 3},            /* spent already: over */
	};
	struct tally_err err = {0};
	char amount[32], summary[512];
	size_t used = 0;
	bool set_up;

	if (ledger_finance_set_up(lg, &set_up, &err) < 0) {
		log_warn("demo: %s", err.msg);
		return;
	}
	if (set_up)
		return;
	for (size_t i = 0; i < sizeof centres / sizeof centres[0]; i++)
		if (ledger_team_set_cost_center(lg, centres[i][0], centres[i][1], "demo", &err) <
		    0) {
			log_warn("demo: %s", err.msg);
			return;
		}
	summary[0] = '\0';
	for (size_t i = 0; h && i < sizeof budgets / sizeof budgets[0]; i++) {
		int64_t week = 0;
		for (size_t w = 0; w < h->n_workflows; w++)
			if (strcmp(budgets[i].scope, "team") == 0
			        ? strcmp(h->team[w], budgets[i].name) == 0
			        : strcmp(h->workflow[w], budgets[i].name) == 0)
				week += h->week_pusd[w];
		/* a 30-day month at the last week's pace, scaled, in whole dollars */
		__int128 month = (__int128)week * 30 / 7 * budgets[i].pct / 100;
		int64_t dollars = (int64_t)(month / INT64_C(1000000000000));
		if (dollars < 1)
			dollars = 1;
		/* two significant digits: budgets people set are round numbers */
		int64_t unit = 1;
		while (dollars / unit >= 100)
			unit *= 10;
		dollars = (dollars + unit / 2) / unit * unit;
		snprintf(amount, sizeof amount, "%lld000000000000", (long long)dollars);
		if (ledger_budget_set(lg, budgets[i].scope, budgets[i].name, amount, NULL, "demo",
		                      &err) < 0) {
			log_warn("demo: %s", err.msg);
			return;
		}
		int k = snprintf(summary + used, sizeof summary - used, "%s%s $%lld",
		                 used ? ", " : "", budgets[i].name, (long long)dollars);
		if (k > 0 && (size_t)k < sizeof summary - used)
			used += (size_t)k;
	}
	log_info("demo: cost centres for support, sales, marketing and legal (platform left"
	         " unassigned) and monthly budgets scaled to the demo's spend (%s); change them"
	         " with `tally teams` and `tally budgets`",
	         summary[0] ? summary : "none: no history");
}

/* The demo's self-hosted model gets cheaper DEMO_PRICE_CHANGE_DAYS ago (a
 * new GPU reservation): a second price version, so that the history shows
 * a price change and each call keeps the version that priced it. */
#define DEMO_PRICE_CHANGE_DAYS 35
#define DEMO_HISTORY_DAYS      100 /* TALLY_DEMO_HISTORY_DAYS: 0 for none */
#define DEMO_RATE              2   /* events/s of live traffic; TALLY_DEMO_RATE */

/* A whole number from the environment in [lo, hi], else dflt (and a warning). */
static int env_int(const char *name, int dflt, int lo, int hi)
{
	const char *v = getenv(name);
	int64_t n;

	if (!v || !*v)
		return dflt;
	if (parse_i64(v, &n) < 0 || n < lo || n > hi) {
		log_warn("%s=%s: use a whole number from %d to %d; using %d", name, v, lo, hi,
		         dflt);
		return dflt;
	}
	return (int)n;
}

static const char demo_price_change_csv[] =
    "provider,model,tier,input,output,cache_read,cache_write,reasoning,batch_input,"
    "batch_output,threshold_tokens,above_input,above_output,above_cache_read,"
    "above_cache_write\n"
    "vllm,llama-3.1-8b-instruct,local,0.012000,0.024000,,,,,,,,,,\n";

struct history_bar {
	bool tty;
	int64_t started_us;
};

static void history_progress(void *ctx, int done, int total, int64_t calls)
{
	struct history_bar *bar = ctx;
	int width = 30, fill = done * width / total;

	if (bar->tty) {
		fprintf(stderr, "\r\033[Kdemo history [%.*s%*s] %3d%%  %d/%d days  %lld calls",
		        fill, "##############################", width - fill, "",
		        done * 100 / total, done, total, (long long)calls);
		if (done == total)
			fputc('\n', stderr);
		fflush(stderr);
	} else if (done % 25 == 0 || done == total) {
		log_info("demo history: %d/%d days, %lld calls", done, total, (long long)calls);
	}
}

/* On a ledger without history (no call older than two days), writes the
 * demo's past: the price change, then DEMO_HISTORY_DAYS days of calls and
 * outcomes through the ledger's batch path; then the finance set-up scaled
 * to that spend. */
static int demo_history(struct up *u)
{
	struct tally_err err = {0};
	struct demo_history_result res = {0};
	struct history_bar bar = {isatty(STDERR_FILENO) == 1, time_mono_us()};
	bool any = false;
	int rc = -1, days = env_int("TALLY_DEMO_HISTORY_DAYS", DEMO_HISTORY_DAYS, 0, 400);
	struct ledger *lg = ledger_open(u->cfg.database_url, &err);

	if (!lg ||
	    ledger_calls_before(lg, time_now_us() - INT64_C(2) * 86400000000, &any, &err) < 0) {
		log_error("demo: %s", err.msg);
		goto out;
	}
	if (any || days == 0) {
		seed_demo_finance(lg, NULL);
		rc = 0;
		goto out;
	}
	if (cmd_prices_load(lg, demo_price_change_csv, sizeof demo_price_change_csv - 1, false,
	                    time_now_us() - (int64_t)DEMO_PRICE_CHANGE_DAYS * 86400000000,
	                    "demo:price-change", true) < 0)
		goto out;
	log_info("demo: writing %d days of history (once, on a ledger without any)", days);
	if (demo_load_history(u->cfg.database_url, days, history_progress, &bar, &res, &err) < 0) {
		log_error("demo history: %s", err.msg);
		goto out;
	}
	char usd[64];
	char pusd[32];
	snprintf(pusd, sizeof pusd, "%lld", (long long)res.cost_pusd);
	report_usd(pusd, usd, sizeof usd);
	log_info("demo history: %lld calls, %lld outcomes, $%s in %.1f s", (long long)res.calls,
	         (long long)res.outcomes, usd, (double)(time_mono_us() - bar.started_us) / 1e6);
	seed_demo_finance(lg, &res);
	rc = 0;
out:
	ledger_close(lg);
	return rc;
}

/* A demo ledger without any API key gets an admin key, its token printed
 * with the endpoints, so that the dashboard can be opened at once. Only the
 * token's hash is kept, so while that key is the ledger's only one and has
 * never been used (say the first start stopped before printing it), each
 * start replaces it with a new one and prints that: the demo never leaves a
 * newcomer without a way in. */
static void demo_admin_key(struct up *u, struct ledger *lg)
{
	struct api_key *keys = NULL;
	struct tally_err err = {0};
	char hash[65];
	int64_t id, unused = 0;
	size_t n = 0;

	if (ledger_key_list(lg, &keys, &n, &err) < 0) {
		log_warn("demo: %s", err.msg);
		return;
	}
	if (n == 1 && strcmp(keys[0].name, "demo-admin") == 0 && !keys[0].revoked_at[0] &&
	    !keys[0].last_used_at[0])
		unused = keys[0].id;
	free(keys);
	if (n > 0 && !unused)
		return;
	if (web_token_new(u->demo_token, &err) < 0) {
		log_warn("demo: %s", err.msg);
		u->demo_token[0] = '\0';
		return;
	}
	web_sha256_hex(u->demo_token, strlen(u->demo_token), hash);
	if (ledger_key_create(lg, hash, ROLE_ADMIN, NULL, "demo-admin", "demo", &id, &err) < 0) {
		log_warn("demo: %s", err.msg);
		memset(u->demo_token, 0, sizeof u->demo_token);
		return;
	}
	if (unused) {
		bool found = false;
		if (ledger_key_revoke(lg, unused, "demo", &found, &err) < 0)
			log_warn("demo: %s", err.msg);
		else
			log_info(
			    "demo: the demo admin key %lld was never used; it is replaced by key"
			    " %lld, whose token is printed below",
			    (long long)unused, (long long)id);
	}
}

/* Migrations, then the default price book on first start. */
static int prepare_ledger(struct up *u, bool demo)
{
	struct tally_err err = {0};
	int applied;
	int64_t prices;
	struct ledger *lg = ledger_open(u->cfg.database_url, &err);

	if (!lg || ledger_migrate(lg, &applied, &err) < 0 ||
	    ledger_price_count(lg, &prices, &err) < 0) {
		log_error("%s", err.msg);
		ledger_close(lg);
		return -1;
	}
	if (applied)
		log_info("ledger: %d migrations applied", applied);
	if (prices == 0) {
		log_info(
		    "price book empty: loading the default (LiteLLM's price map + local models)");
		if (cmd_prices_load(lg, (const char *)embedded_litellm_model_prices_json,
		                    embedded_litellm_model_prices_json_len, true, -1,
		                    "default:litellm_model_prices.json", true) < 0 ||
		    cmd_prices_load(lg, (const char *)embedded_local_prices_csv,
		                    embedded_local_prices_csv_len, false, -1,
		                    "default:local_prices.csv", true) < 0) {
			ledger_close(lg);
			return -1;
		}
	}
	if (demo)
		demo_admin_key(u, lg);
	ledger_close(lg);
	return 0;
}

/* Writes endpoints.env atomically (temp file + rename). */
static int write_endpoints(struct up *u, const char *http_url)
{
	char tmp[PATH_MAX + 16];
	FILE *fp;

	snprintf(u->endpoints, sizeof u->endpoints, "%s/endpoints.env", u->cfg.data_dir);
	snprintf(tmp, sizeof tmp, "%s.partial", u->endpoints);
	if (!(fp = fopen(tmp, "w"))) {
		log_error("cannot write %s: %s", tmp, strerror(errno));
		return -1;
	}
	fprintf(fp, "TALLY_KAFKA_BROKERS='%s'\nTALLY_DATABASE_URL='%s'\nTALLY_HTTP_URL='%s'\n",
	        u->cfg.kafka_brokers, u->cfg.database_url, http_url);
	if (fclose(fp) != 0 || rename(tmp, u->endpoints) != 0) {
		log_error("cannot write %s: %s", u->endpoints, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

int cmd_up(int argc, char **argv)
{
	struct up *u = calloc(1, sizeof *u);
	struct tally_err err = {0};
	bool demo = false;
	int rc = 1;

	if (!u)
		return 1;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--demo") == 0) {
			demo = true;
		} else {
			fprintf(stderr, "usage: tally up [--demo]\n");
			free(u);
			return 2;
		}
	}
	if (cmd_config(&u->cfg, false) < 0) {
		free(u);
		return 2;
	}
	cmd_install_signals();
	/* Before anything is created: a demo key made by a start that then cannot
	 * listen would be of no use to anyone. */
	if (web_addr_free(u->cfg.http_addr, &err) < 0) {
		log_error("%s", err.msg);
		goto out;
	}
	if (mkdir(u->cfg.data_dir, 0755) < 0 && errno != EEXIST) {
		log_error("cannot create TALLY_DATA_DIR %s: %s", u->cfg.data_dir, strerror(errno));
		goto out;
	}
	if (!u->cfg.database_url[0]) {
		if (!(u->pg = embedded_pg_start(u->cfg.data_dir, &err))) {
			log_error("embedded PostgreSQL: %s", err.msg);
			goto out;
		}
		str_copy(u->cfg.database_url, sizeof u->cfg.database_url,
		         embedded_pg_conninfo(u->pg));
	}
	if (prepare_ledger(u, demo) < 0)
		goto out;
	if (demo && demo_history(u) < 0)
		goto out;
	if (!u->cfg.kafka_brokers[0]) {
		const char *topics[4] = {u->cfg.topic_calls, u->cfg.topic_outcomes,
		                         u->cfg.topic_feedback, u->cfg.topic_otlp};
		if (!(u->kafka = embedded_kafka_start(1, UP_PARTITIONS, topics, 4, &err))) {
			log_error("embedded Kafka: %s", err.msg);
			goto out;
		}
		str_copy(u->cfg.kafka_brokers, sizeof u->cfg.kafka_brokers,
		         embedded_kafka_brokers(u->kafka));
		log_warn("embedded Kafka is librdkafka's in-memory mock cluster: it keeps only the"
		         " newest ~5 MB of each partition and nothing across restarts; set"
		         " TALLY_KAFKA_BROKERS for production");
	}
	if (!(u->router = router_start(&u->cfg, &err))) {
		log_error("router: %s", err.msg);
		goto out;
	}
	if (!(u->web = web_start(&u->cfg, &u->stats, &err))) {
		log_error("web: %s", err.msg);
		goto out;
	}
	char http_url[256];
	snprintf(http_url, sizeof http_url, "http://%s/", u->cfg.http_addr);
	printf("TALLY_KAFKA_BROKERS=%s\n", u->cfg.kafka_brokers);
	printf("TALLY_DATABASE_URL=%s\n", u->cfg.database_url);
	printf("TALLY_HTTP_URL=%s\n", http_url);
	if (u->demo_token[0]) {
		/* First start of a demo ledger: sign in to the dashboard with it. */
		printf("TALLY_DEMO_ADMIN_TOKEN=%s\n", u->demo_token);
		log_info("demo: an admin key was created; its token, printed above, signs in"
		         " to %s (the ledger keeps only its hash; it is printed again, as a new"
		         " token, on each start until it is used)",
		         http_url);
		memset(u->demo_token, 0, sizeof u->demo_token);
	}
	fflush(stdout);
	if (write_endpoints(u, http_url) < 0)
		goto out;
	log_info("endpoints written to %s (source it: . %s)", u->endpoints, u->endpoints);

	if (pthread_create(&u->collector, NULL, collector_main, u) != 0) {
		log_error("cannot start the collector thread");
		goto out;
	}
	u->collector_started = true;
	if (!(u->reports = reports_start(&u->cfg, &err))) {
		log_error("reports: %s", err.msg);
		goto out;
	}
	if (demo) {
		int rate = env_int("TALLY_DEMO_RATE", DEMO_RATE, 1, 10000);
		if (!(u->demo = demo_start(&u->cfg, u->cfg.kafka_brokers, rate, &err))) {
			log_error("demo traffic: %s", err.msg);
			goto out;
		}
		log_info(
		    "demo traffic: producing about %d events/s until stopped (TALLY_DEMO_RATE)",
		    rate);
	}
	log_info("tally is up; Ctrl-C stops it");
	int64_t last = time_mono_us();
	while (!cmd_stop) {
		struct timespec ts = {0, 100 * 1000000L};
		nanosleep(&ts, NULL);
		if (time_mono_us() - last > 30000000) {
			last = time_mono_us();
			log_info("collector: %lld consumed, %lld calls stored, %lld duplicates,"
			         " %lld quarantined, %lld unpriced",
			         (long long)u->stats.consumed, (long long)u->stats.inserted,
			         (long long)u->stats.duplicates, (long long)u->stats.quarantined,
			         (long long)u->stats.unpriced);
		}
	}
	log_info("stopping");
	rc = 0;
out:
	reports_stop(u->reports);
	web_stop(u->web); /* drains requests in flight first */
	router_stop(u->router);
	demo_stop(u->demo);
	if (u->collector_started) {
		u->collector_stop = 1;
		pthread_join(u->collector, NULL);
	}
	if (u->endpoints[0])
		unlink(u->endpoints);
	embedded_kafka_stop(u->kafka);
	embedded_pg_stop(u->pg);
	free(u);
	return rc;
}
