/* produce.c - `tally produce [FILE]`: JSON events, one per line, to the topic
 * their shape calls for; for backfills and imports. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../collector/collector.h"
#include "../common/common.h"
#include "../common/event.h"
#include "cmd.h"

#define PRODUCE_USAGE                                                                              \
	"usage: tally produce [FILE]   (JSON events, one per line; stdin without FILE)\n"
#define PROGRESS_EVERY_US   100000
#define FLUSH_NOTE_AFTER_US 10000000

struct produce_run {
	struct tally_config cfg;
	struct producer *p;
	FILE *in;
	const char *name;    /* for messages: the file or "stdin" */
	int64_t total_bytes; /* 0 when unknown (a pipe) */
	int64_t read_bytes;
	int64_t lines, events, by_kind[EVENT_KINDS], unrecognised, refused;
	int64_t started_us, progress_us;
	bool progress; /* stderr is a terminal */
};

/* The message key: outcome_id for outcomes, event_id otherwise, when the
 * line is a JSON object holding it as a string. Returns a malloc'd copy or
 * NULL. */
static char *event_key(const char *line, size_t len, int kind)
{
	cJSON *root = cJSON_ParseWithLength(line, len);
	const cJSON *id;
	char *key = NULL;

	if (!root)
		return NULL;
	id = cJSON_GetObjectItemCaseSensitive(root,
	                                      kind == EVENT_OUTCOME ? "outcome_id" : "event_id");
	if (cJSON_IsString(id) && id->valuestring[0])
		key = strdup(id->valuestring);
	cJSON_Delete(root);
	return key;
}

/* One line of the progress display on a terminal. */
static void show_progress(struct produce_run *r, bool force)
{
	int64_t now = time_mono_us(), delivered, failed;
	double secs;

	if (!r->progress || (!force && now - r->progress_us < PROGRESS_EVERY_US))
		return;
	r->progress_us = now;
	secs = (double)(now - r->started_us) / 1e6;
	producer_counts(r->p, &delivered, &failed);
	fputc('\r', stderr);
	if (r->total_bytes > 0) {
		int pct = (int)(r->read_bytes * 100 / r->total_bytes);
		int filled = pct * 30 / 100;
		fputc('[', stderr);
		for (int i = 0; i < 30; i++)
			fputc(i < filled ? '#' : '-', stderr);
		fprintf(stderr, "] %3d%% ", pct > 100 ? 100 : pct);
	}
	fprintf(stderr, "%lld events, %lld delivered, %lld failed, %.0f/s\033[K",
	        (long long)r->events, (long long)delivered, (long long)failed,
	        secs > 0 ? (double)r->events / secs : 0.0);
	fflush(stderr);
}

/* Sends one non-blank line; -1 only when producing cannot go on. */
static int produce_line(struct produce_run *r, const char *line, size_t len)
{
	struct tally_err err = {0};
	int kind = event_detect_kind(line, len);
	const char *topic = r->cfg.topic_calls;
	char *key;

	r->events++;
	if (kind == EVENT_OUTCOME)
		topic = r->cfg.topic_outcomes;
	else if (kind == EVENT_FEEDBACK)
		topic = r->cfg.topic_feedback;
	if (kind >= 0 && kind < EVENT_KINDS)
		r->by_kind[kind]++;
	else
		r->unrecognised++; /* the collector quarantines it: it is not lost */
	key = event_key(line, len, kind);
	int rc = producer_send(r->p, topic, key, key ? strlen(key) : 0, line, len, &err);
	free(key);
	if (rc == 0)
		return 0;
	r->refused++;
	if (err.retriable) {
		fprintf(stderr, "\ntally produce: %s:%lld: %s\n", r->name, (long long)r->lines,
		        err.msg);
		return -1;
	}
	fprintf(stderr, "%stally produce: %s:%lld: %s\n", r->progress ? "\r\033[K" : "", r->name,
	        (long long)r->lines, err.msg);
	return 0;
}

/* Reads every line (any length: getline) and produces it. */
static int produce_all(struct produce_run *r)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int rc = 0;

	while (!cmd_stop && (n = getline(&line, &cap, r->in)) >= 0) {
		size_t len = (size_t)n;
		r->lines++;
		r->read_bytes += n;
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			len--;
		if (strspn(line, " \t") >= len)
			continue; /* blank */
		if (produce_line(r, line, len) < 0) {
			rc = -1;
			break;
		}
		show_progress(r, false);
	}
	if (rc == 0 && !cmd_stop && ferror(r->in)) {
		fprintf(stderr, "\ntally produce: reading %s: %s\n", r->name, strerror(errno));
		rc = -1;
	}
	free(line);
	return rc;
}

/* Waits until every queued message is confirmed or failed, or Ctrl-C. */
static void wait_delivered(struct produce_run *r)
{
	int64_t started = time_mono_us(), delivered, failed;
	bool noted = false;

	for (;;) {
		producer_counts(r->p, &delivered, &failed);
		if (delivered + failed + r->refused >= r->events || cmd_stop)
			return;
		producer_flush(r->p, 100, NULL);
		show_progress(r, false);
		if (!noted && time_mono_us() - started > FLUSH_NOTE_AFTER_US) {
			int64_t waiting = r->events - r->refused - delivered - failed;
			noted = true;
			fprintf(stderr,
			        "%stally produce: waiting for Kafka at %s to confirm %lld events"
			        " (Ctrl-C gives up)\n",
			        r->progress ? "\r\033[K" : "", r->cfg.kafka_brokers,
			        (long long)waiting);
		}
	}
}

/* `tally produce [FILE]`; see the README's command table. */
int cmd_produce(int argc, char **argv)
{
	struct produce_run *r = calloc(1, sizeof *r);
	struct tally_err err = {0};
	const char *path = NULL;
	struct stat st;
	int rc = 1;

	if (!r) {
		fprintf(stderr, "tally produce: out of memory\n");
		return 1;
	}
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			fputs(PRODUCE_USAGE, stdout);
			free(r);
			return 0;
		}
		if ((argv[i][0] == '-' && argv[i][1] != '\0') || path) {
			fprintf(stderr, "tally produce: unexpected argument \"%s\"\n", argv[i]);
			fputs(PRODUCE_USAGE, stderr);
			free(r);
			return 2;
		}
		path = argv[i];
	}
	if (cmd_config(&r->cfg, true) < 0) {
		free(r);
		return 2;
	}
	if (!r->cfg.kafka_brokers[0]) {
		fprintf(stderr, "tally produce: no Kafka brokers: set TALLY_KAFKA_BROKERS or start"
		                " `tally up`\n");
		goto out;
	}
	if (!path || strcmp(path, "-") == 0) {
		r->in = stdin;
		r->name = "stdin";
	} else if (!(r->in = fopen(path, "r"))) {
		fprintf(stderr, "tally produce: cannot open %s: %s\n", path, strerror(errno));
		goto out;
	} else {
		r->name = path;
	}
	if (fstat(fileno(r->in), &st) == 0 && S_ISREG(st.st_mode))
		r->total_bytes = st.st_size;
	r->progress = isatty(STDERR_FILENO);
	cmd_install_signals();
	if (!(r->p = producer_open(r->cfg.kafka_brokers, &err))) {
		fprintf(stderr, "tally produce: %s\n", err.msg);
		goto out;
	}
	r->started_us = time_mono_us();
	int read_rc = produce_all(r);
	wait_delivered(r);
	show_progress(r, true);
	if (r->progress)
		fputs("\r\033[K", stderr);

	int64_t delivered, failed;
	producer_counts(r->p, &delivered, &failed);
	/* What never got a verdict (Ctrl-C, a stuck queue) counts as failed. */
	failed = r->events - delivered;
	printf("produced %lld events (calls %lld, outcomes %lld, feedback %lld, unrecognised"
	       " %lld), delivered %lld, failed %lld\n",
	       (long long)r->events, (long long)r->by_kind[EVENT_CALL],
	       (long long)r->by_kind[EVENT_OUTCOME], (long long)r->by_kind[EVENT_FEEDBACK],
	       (long long)r->unrecognised, (long long)delivered, (long long)failed);
	fflush(stdout);
	if (cmd_stop)
		fprintf(stderr, "tally produce: interrupted after line %lld of %s\n",
		        (long long)r->lines, r->name);
	rc = (read_rc == 0 && failed == 0 && !cmd_stop) ? 0 : 1;
out:
	producer_close(r->p);
	if (r->in && r->in != stdin)
		fclose(r->in);
	free(r);
	return rc;
}
