/* config.c - the TALLY_* environment, with endpoints.env as a fallback. */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct config_var {
	const char *name;
	size_t offset;
	size_t size;
	const char *dflt;
};

#define CFG(name, field, dflt)                                                                     \
	{                                                                                          \
		name, offsetof(struct tally_config, field),                                        \
		    sizeof(((struct tally_config *)0)->field), dflt                                \
	}

/* The one declarative table of settings (README, Configuration). */
static const struct config_var config_vars[] = {
    CFG("TALLY_DATABASE_URL", database_url, ""),
    CFG("TALLY_KAFKA_BROKERS", kafka_brokers, ""),
    CFG("TALLY_TOPIC_CALLS", topic_calls, "llm.calls"),
    CFG("TALLY_TOPIC_OUTCOMES", topic_outcomes, "llm.outcomes"),
    CFG("TALLY_TOPIC_FEEDBACK", topic_feedback, "llm.feedback"),
    CFG("TALLY_TOPIC_OTLP", topic_otlp, "otlp_spans"),
    CFG("TALLY_OTLP_MAP", otlp_map, ""),
    CFG("TALLY_KAFKA_GROUP", kafka_group, "tally-collector"),
    CFG("TALLY_HTTP_ADDR", http_addr, "127.0.0.1:8080"),
    CFG("TALLY_DATA_DIR", data_dir, "./var"),
    CFG("TALLY_WEBHOOK_URL", webhook_url, ""),
    CFG("TALLY_WEBHOOK_SECRET", webhook_secret, ""),
};

/* Reads KEY=VALUE lines of endpoints.env for the keys still empty. */
static void config_read_endpoints(struct tally_config *cfg)
{
	char path[600], line[1200];
	FILE *fp;

	snprintf(path, sizeof path, "%s/endpoints.env", cfg->data_dir);
	if (!(fp = fopen(path, "r")))
		return;
	while (fgets(line, sizeof line, fp)) {
		char *eq = strchr(line, '=');
		if (!eq)
			continue;
		*eq = '\0';
		char *val = eq + 1;
		val[strcspn(val, "\r\n")] = '\0';
		if (*val == '\'' && strlen(val) >= 2 && val[strlen(val) - 1] == '\'') {
			val[strlen(val) - 1] = '\0';
			val++;
		}
		if (strcmp(line, "TALLY_DATABASE_URL") == 0 && !cfg->database_url[0])
			str_copy(cfg->database_url, sizeof cfg->database_url, val);
		else if (strcmp(line, "TALLY_KAFKA_BROKERS") == 0 && !cfg->kafka_brokers[0])
			str_copy(cfg->kafka_brokers, sizeof cfg->kafka_brokers, val);
	}
	fclose(fp);
}

int config_load(struct tally_config *cfg, struct tally_err *err)
{
	memset(cfg, 0, sizeof *cfg);
	for (size_t i = 0; i < sizeof config_vars / sizeof config_vars[0]; i++) {
		const struct config_var *v = &config_vars[i];
		const char *val = getenv(v->name);
		if (!val || !*val)
			val = v->dflt;
		if (str_copy((char *)cfg + v->offset, v->size, val) < 0)
			return tally_err_set(err, TALLY_EINVAL, false,
			                     "%s is too long (at most %zu characters)", v->name,
			                     v->size - 1);
	}
	const char *lvl = getenv("TALLY_LOG_LEVEL");
	cfg->log_level = LOG_INFO;
	if (lvl && *lvl && log_parse_level(lvl, &cfg->log_level) < 0)
		return tally_err_set(err, TALLY_EINVAL, false,
		                     "TALLY_LOG_LEVEL=%s: use debug, info, warn or error", lvl);
	return 0;
}

void config_use_endpoints(struct tally_config *cfg)
{
	if (!cfg->database_url[0] || !cfg->kafka_brokers[0])
		config_read_endpoints(cfg);
}
