/* dev_kafka.c - `tally dev-kafka [--partitions N] [--brokers N] [--rtt MS]`:
 * the embedded Kafka cluster as a process of its own, for tests and
 * development; --rtt makes each broker answer every request MS milliseconds
 * late, as across a network.
 * SIGUSR1 takes every broker down, SIGUSR2 brings them back; SIGHUP answers
 * the next fetches "offset out of range", as for a recreated topic. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../common/common.h"
#include "../embedded/embedded.h"
#include "cmd.h"

#define DEV_KAFKA_USAGE "usage: tally dev-kafka [--partitions N] [--brokers N] [--rtt MS]\n"

static volatile sig_atomic_t want_down, want_up, want_oor;

static void on_usr(int sig)
{
	if (sig == SIGUSR1)
		want_down = 1;
	else if (sig == SIGHUP)
		want_oor = 1;
	else
		want_up = 1;
}

/* Parses an option value in [lo, hi]; prints why not. */
static int int_option(const char *name, const char *s, int lo, int hi, int *out)
{
	int64_t v;

	if (parse_i64(s, &v) < 0 || v < lo || v > hi) {
		fprintf(stderr, "tally dev-kafka: %s needs a number from %d to %d, got \"%s\"\n",
		        name, lo, hi, s);
		return -1;
	}
	*out = (int)v;
	return 0;
}

/* Applies a pending SIGUSR1/SIGUSR2 request. */
static void apply_broker_requests(struct embedded_kafka *k)
{
	if (want_down) {
		want_down = 0;
		if (embedded_kafka_set_down(k, true) < 0)
			log_warn("dev-kafka: could not take every broker down");
		else
			log_info("dev-kafka: brokers down (SIGUSR1); SIGUSR2 brings them back");
	}
	if (want_oor) {
		want_oor = 0;
		embedded_kafka_fail_fetches(k, 1);
		log_info("dev-kafka: the next fetch is answered \"offset out of range\" (SIGHUP)");
	}
	if (want_up) {
		want_up = 0;
		if (embedded_kafka_set_down(k, false) < 0)
			log_warn("dev-kafka: could not bring every broker up");
		else
			log_info("dev-kafka: brokers up (SIGUSR2)");
	}
}

/* The embedded cluster until SIGINT/SIGTERM. */
int cmd_dev_kafka(int argc, char **argv)
{
	struct tally_config cfg;
	struct tally_err err = {0};
	struct sigaction sa;
	int partitions = 16, brokers = 1, rtt_ms = 0;

	for (int i = 1; i < argc; i++) {
		bool missing = false;
		const char *v;
		if ((v = cmd_opt(argc, argv, &i, "--partitions", &missing))) {
			if (int_option("--partitions", v, 1, 10000, &partitions) < 0)
				return 2;
		} else if ((v = cmd_opt(argc, argv, &i, "--brokers", &missing))) {
			if (int_option("--brokers", v, 1, 64, &brokers) < 0)
				return 2;
		} else if ((v = cmd_opt(argc, argv, &i, "--rtt", &missing))) {
			if (int_option("--rtt", v, 0, 60000, &rtt_ms) < 0)
				return 2;
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			fputs(DEV_KAFKA_USAGE, stdout);
			return 0;
		} else {
			if (missing)
				fprintf(stderr, "tally dev-kafka: %s needs a value\n", argv[i]);
			else
				fprintf(stderr, "tally dev-kafka: unknown argument \"%s\"\n",
				        argv[i]);
			fputs(DEV_KAFKA_USAGE, stderr);
			return 2;
		}
	}
	if (cmd_config(&cfg, false) < 0)
		return 2;
	cmd_install_signals();
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	const char *topics[4] = {cfg.topic_calls, cfg.topic_outcomes, cfg.topic_feedback,
	                         cfg.topic_otlp};
	struct embedded_kafka *k = embedded_kafka_start(brokers, partitions, topics, 4, &err);
	if (!k) {
		fprintf(stderr, "tally dev-kafka: %s\n", err.msg);
		return 1;
	}
	if (rtt_ms && embedded_kafka_set_rtt(k, rtt_ms) < 0) {
		fprintf(stderr, "tally dev-kafka: the mock cluster refused --rtt %d\n", rtt_ms);
		embedded_kafka_stop(k);
		return 1;
	}
	printf("TALLY_KAFKA_BROKERS=%s\n", embedded_kafka_brokers(k));
	fflush(stdout);
	log_info("dev-kafka: %d broker(s); topics %s, %s, %s, %s with %d partitions each; each"
	         " request answered after %d ms",
	         brokers, cfg.topic_calls, cfg.topic_outcomes, cfg.topic_feedback, cfg.topic_otlp,
	         partitions, rtt_ms);
	log_warn("dev-kafka: librdkafka's in-memory mock cluster keeps only the newest ~5 MB of"
	         " each partition and nothing across restarts: for development and tests only");
	while (!cmd_stop) {
		struct timespec ts = {0, 100 * 1000000L};
		nanosleep(&ts, NULL);
		apply_broker_requests(k);
	}
	log_info("dev-kafka: stopping");
	embedded_kafka_stop(k);
	return 0;
}
