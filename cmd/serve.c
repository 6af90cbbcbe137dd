/* serve.c - `tally serve`: the web API, dashboard and /metrics alone. */
#include <stdio.h>
#include <unistd.h>

#include "../common/common.h"
#include "../reports/report.h"
#include "../router/router.h"
#include "../web/web.h"
#include "cmd.h"

int cmd_serve(int argc, char **argv)
{
	struct tally_config cfg;
	struct tally_err err = {0};
	struct web *w;
	struct router *rt;
	struct reports_bg *bg;

	(void)argv;
	if (argc > 1) {
		fprintf(stderr, "usage: tally serve   (configuration: TALLY_* variables)\n");
		return 2;
	}
	if (cmd_config(&cfg, true) < 0)
		return 2;
	if (!cfg.database_url[0]) {
		fprintf(stderr, "tally: no ledger: set TALLY_DATABASE_URL or start `tally up`\n");
		return 2;
	}
	cmd_install_signals();
	if (!(rt = router_start(&cfg, &err))) {
		fprintf(stderr, "tally: %s\n", err.msg);
		return 1;
	}
	if (!(w = web_start(&cfg, NULL, &err))) {
		fprintf(stderr, "tally: %s\n", err.msg);
		router_stop(rt);
		return 1;
	}
	if (!(bg = reports_start(&cfg, &err))) {
		fprintf(stderr, "tally: %s\n", err.msg);
		web_stop(w);
		router_stop(rt);
		return 1;
	}
	log_info("web: serving http://%s/", cfg.http_addr);
	while (!cmd_stop)
		usleep(100000);
	log_info("web: stopping");
	reports_stop(bg);
	web_stop(w);
	router_stop(rt);
	return 0;
}
