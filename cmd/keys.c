/* keys.c - `tally keys create|list|revoke`: API tokens for the web API. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/common.h"
#include "../ledger/ledger.h"
#include "../web/web.h"
#include "cmd.h"

#define KEYS_USAGE                                                                                 \
	"usage: tally keys create --role admin|finance|viewer [--team T] [--name N]\n"             \
	"       tally keys list\n"                                                                 \
	"       tally keys revoke ID\n"

static const char *actor(void)
{
	const char *u = getenv("USER");
	return u && *u ? u : "tally";
}

static int keys_create(int argc, char **argv, struct ledger *lg)
{
	const char *role_s = NULL, *team = NULL, *name = "";
	char token[WEB_TOKEN_LEN + 1], hash[65];
	struct tally_err err = {0};
	int64_t id;
	int role;

	for (int i = 1; i < argc; i++) {
		bool missing = false;
		const char *v;
		if ((v = cmd_opt(argc, argv, &i, "--role", &missing)))
			role_s = v;
		else if ((v = cmd_opt(argc, argv, &i, "--team", &missing)))
			team = v;
		else if ((v = cmd_opt(argc, argv, &i, "--name", &missing)))
			name = v;
		else {
			fprintf(stderr, "tally keys create: %s \"%s\"\n%s",
			        missing ? "missing value for" : "unknown option", argv[i],
			        KEYS_USAGE);
			return 2;
		}
	}
	if (!role_s || (role = api_role_parse(role_s)) < 0) {
		fprintf(stderr, "tally keys create: --role must be admin, finance or viewer\n");
		return 2;
	}
	if (role == ROLE_VIEWER && (!team || !*team)) {
		fprintf(stderr, "tally keys create: a viewer sees one team: add --team T\n");
		return 2;
	}
	if ((team && (strlen(team) > EVENT_NAME_MAX || !utf8_valid(team, strlen(team)))) ||
	    strlen(name) > EVENT_NAME_MAX || !utf8_valid(name, strlen(name))) {
		fprintf(stderr,
		        "tally keys create: --team and --name take UTF-8 text of at most"
		        " %d bytes\n",
		        EVENT_NAME_MAX);
		return 2;
	}
	if (web_token_new(token, &err) < 0) {
		fprintf(stderr, "tally: %s\n", err.msg);
		return 1;
	}
	web_sha256_hex(token, strlen(token), hash);
	if (ledger_key_create(lg, hash, role, team, name, actor(), &id, &err) < 0) {
		fprintf(stderr, "tally: %s\n", err.msg);
		return 1;
	}
	printf("key %lld created: role %s%s%s%s%s\n", (long long)id, api_role_name(role),
	       team ? ", team " : "", team ? team : "", *name ? ", name " : "", name);
	printf("the token is shown only now; store it safely (the ledger keeps its hash):\n");
	printf("%s\n", token);
	memset(token, 0, sizeof token);
	return fflush(stdout) == 0 ? 0 : 1;
}

static int keys_list(struct ledger *lg)
{
	struct api_key *keys;
	struct tally_err err = {0};
	size_t n;

	if (ledger_key_list(lg, &keys, &n, &err) < 0) {
		fprintf(stderr, "tally: %s\n", err.msg);
		return 1;
	}
	printf("%-6s %-8s %-20s %-20s %-21s %-21s %s\n", "id", "role", "team", "name", "created",
	       "last used", "revoked");
	for (size_t i = 0; i < n; i++)
		printf("%-6lld %-8s %-20s %-20s %-21s %-21s %s\n", (long long)keys[i].id,
		       api_role_name(keys[i].role), keys[i].team[0] ? keys[i].team : "-",
		       keys[i].name[0] ? keys[i].name : "-", keys[i].created_at,
		       keys[i].last_used_at[0] ? keys[i].last_used_at : "never",
		       keys[i].revoked_at[0] ? keys[i].revoked_at : "no");
	free(keys);
	return fflush(stdout) == 0 ? 0 : 1;
}

static int keys_revoke(int argc, char **argv, struct ledger *lg)
{
	struct tally_err err = {0};
	int64_t id;
	bool found;

	if (argc != 2 || parse_i64(argv[1], &id) < 0 || id <= 0) {
		fprintf(stderr, "tally keys revoke: needs one key id (see `tally keys list`)\n");
		return 2;
	}
	if (ledger_key_revoke(lg, id, actor(), &found, &err) < 0) {
		fprintf(stderr, "tally: %s\n", err.msg);
		return 1;
	}
	if (!found) {
		fprintf(stderr, "tally: no live key with id %lld (see `tally keys list`)\n",
		        (long long)id);
		return 1;
	}
	printf("key %lld revoked; its sessions are ended\n", (long long)id);
	return 0;
}

int cmd_keys(int argc, char **argv)
{
	struct tally_config cfg;
	int rc;

	if (argc < 2 || (strcmp(argv[1], "create") != 0 && strcmp(argv[1], "list") != 0 &&
	                 strcmp(argv[1], "revoke") != 0)) {
		fprintf(stderr, KEYS_USAGE);
		return 2;
	}
	if (strcmp(argv[1], "list") == 0 && argc != 2) {
		fprintf(stderr, KEYS_USAGE);
		return 2;
	}
	if (cmd_config(&cfg, true) < 0)
		return 2;
	struct ledger *lg = cmd_open_ledger(&cfg);
	if (!lg)
		return 1;
	if (strcmp(argv[1], "create") == 0)
		rc = keys_create(argc - 1, argv + 1, lg);
	else if (strcmp(argv[1], "list") == 0)
		rc = keys_list(lg);
	else
		rc = keys_revoke(argc - 1, argv + 1, lg);
	ledger_close(lg);
	return rc;
}
