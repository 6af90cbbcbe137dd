/* util.c - what the subcommands share: signals, options, configuration. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../common/common.h"
#include "../ledger/ledger.h"
#include "cmd.h"

volatile sig_atomic_t cmd_stop = 0;

static void on_signal(int sig)
{
	(void)sig;
	if (cmd_stop)
		_exit(130); /* second signal: leave now */
	cmd_stop = 1;
}

void cmd_install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

const char *cmd_opt(int argc, char **argv, int *i, const char *name, bool *missing)
{
	size_t n = strlen(name);
	const char *a = argv[*i];

	if (strncmp(a, name, n) != 0)
		return NULL;
	if (a[n] == '=')
		return a + n + 1;
	if (a[n] != '\0')
		return NULL;
	if (*i + 1 >= argc) {
		*missing = true;
		return NULL;
	}
	return argv[++*i];
}

int cmd_time(const char *opt, const char *s, int64_t *us)
{
	if (!s || time_parse(s, true, us) < 0) {
		fprintf(
		    stderr,
		    "tally: %s needs a time like 2026-11-01 or 2026-11-01T12:00:00Z, got \"%s\"\n",
		    opt, s ? s : "");
		return -1;
	}
	return 0;
}

int cmd_config(struct tally_config *cfg, bool use_endpoints)
{
	struct tally_err err = {0};

	if (config_load(cfg, &err) < 0) {
		fprintf(stderr, "tally: %s\n", err.msg);
		return -1;
	}
	log_set_level(cfg->log_level);
	if (use_endpoints)
		config_use_endpoints(cfg);
	return 0;
}

struct ledger *cmd_open_ledger(const struct tally_config *cfg)
{
	struct tally_err err = {0};
	struct ledger *lg;

	if (!cfg->database_url[0]) {
		fprintf(stderr, "tally: no ledger: set TALLY_DATABASE_URL or start `tally up`\n");
		return NULL;
	}
	if (!(lg = ledger_open(cfg->database_url, &err)))
		fprintf(stderr, "tally: %s\n", err.msg);
	return lg;
}
