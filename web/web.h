/* web.h - the HTTP server: JSON API, dashboard, /metrics, authentication.
 */
#ifndef TALLY_WEB_H
#define TALLY_WEB_H

#include "../collector/collector.h"
#include "../common/common.h"

struct web;

/* Starts the HTTP server at cfg->http_addr ("host:port") over the ledger at
 * cfg->database_url, with Kafka at cfg->kafka_brokers (for /readyz and for
 * POST /api/v1/events). stats (may be NULL) are the counters of a collector
 * running in the same process, exported on /metrics. cfg and stats must
 * outlive the server. Returns NULL with err set (e.g. the port is taken). */
struct web *web_start(const struct tally_config *cfg, const struct collector_stats *stats,
                      struct tally_err *err);
/* Stops accepting, finishes requests in flight, frees. NULL is fine. */
/* Whether addr ("host:port", "[v6]:port") can be listened on, checked by
 * binding a socket and closing it: `tally up` asks before it creates
 * anything, so a taken port stops it at once, naming the address. A race with
 * another program remains possible; web_start reports that one. 0 or -1. */
int web_addr_free(const char *addr, struct tally_err *err);
void web_stop(struct web *w);

/* A static file of the dashboard, embedded in the binary at build time. */
struct web_asset {
	const char *path;         /* "/index.html" */
	const char *content_type; /* "text/html; charset=utf-8" */
	const unsigned char *data;
	size_t len;
};

/* The asset at an exact path ("/" means "/index.html"), or NULL. Generated
 * by scripts/embed-web.sh from web/static/. Thread-safe (read-only). */
const struct web_asset *web_asset_find(const char *path);

/* ---- tokens (API keys and session ids) ------------------------------------- */

#define WEB_TOKEN_PREFIX "tly_"
#define WEB_TOKEN_LEN    (4 + 64) /* "tly_" + 32 random bytes in hex */

/* Fills out (WEB_TOKEN_LEN + 1 bytes) with a new API token from the CSPRNG
 * (RAND_bytes). Returns 0, or -1 with err set when the CSPRNG fails. */
int web_token_new(char *out, struct tally_err *err);
/* Random bytes as lowercase hex: n bytes give 2n digits (out holds 2n + 1). */
int web_random_hex(char *out, size_t n, struct tally_err *err);
/* SHA-256 of s as 64 lowercase hex digits (out holds 65). What the ledger
 * stores instead of a token or a session id. Thread-safe. */
void web_sha256_hex(const char *s, size_t len, char *out);

#endif
