/* common.h - errors, logging, configuration, time, exact money and buffers.
 *
 * The small vocabulary every tally component shares. Nothing here talks to
 * PostgreSQL or Kafka.
 */
#ifndef TALLY_COMMON_H
#define TALLY_COMMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ---- errors ---------------------------------------------------------- */

enum tally_code {
	TALLY_OK = 0,
	TALLY_EINVAL, /* bad input or usage */
	TALLY_EIO,    /* file or system call */
	TALLY_EDB,    /* PostgreSQL */
	TALLY_EKAFKA, /* Kafka */
	TALLY_ENOMEM,
	TALLY_ENOTFOUND,
	TALLY_ERANGE, /* a number out of range */
};

struct tally_err {
	int code;
	bool retriable;
	char msg[256];
};

/* Sets *e only if it holds no error yet (the first error wins); e may be NULL.
 * Always returns -1 so callers can write `return tally_err_set(...)`. */
int tally_err_set(struct tally_err *e, int code, bool retriable, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void tally_err_clear(struct tally_err *e);

/* ---- logging (stderr, one line each, thread-safe) --------------------- */

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };
void log_set_level(enum log_level lvl);
/* Parses "debug|info|warn|error"; returns -1 for anything else. */
int log_parse_level(const char *s, enum log_level *out);
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

/* ---- configuration (README, Configuration) ---------------------------------------- */

struct tally_config {
	char database_url[1024]; /* "" = embedded PostgreSQL */
	char kafka_brokers[512]; /* "" = embedded Kafka */
	char topic_calls[128];
	char topic_outcomes[128];
	char topic_feedback[128];
	char topic_otlp[128]; /* OTLP spans as the OpenTelemetry Collector's Kafka exporter writes
	                         them */
	char otlp_map[1024];  /* TALLY_OTLP_MAP: span/resource attributes -> call fields, "" =
	                         default */
	char kafka_group[128];
	char http_addr[128];
	char data_dir[512];
	char webhook_url[1024];
	char webhook_secret[256];
	enum log_level log_level;
};

/* Fills cfg from the TALLY_* environment variables and defaults. */
int config_load(struct tally_config *cfg, struct tally_err *err);
/* For commands that talk to a running `tally up` (status, report, produce,
 * ...): fills an empty database_url / kafka_brokers from
 * $TALLY_DATA_DIR/endpoints.env when that file exists. */
void config_use_endpoints(struct tally_config *cfg);

/* ---- time -------------------------------------------------------------- */

/* Parses an RFC 3339 timestamp ("2026-11-01T12:00:00.123Z", "+02:00"
 * offsets, up to 9 fraction digits, truncated to microseconds) into
 * microseconds since the Unix epoch. Also accepts a plain date
 * "YYYY-MM-DD" (midnight UTC) when allow_date is true. Returns 0 or -1. */
int time_parse(const char *s, bool allow_date, int64_t *us_out);
/* Formats microseconds since the epoch as "YYYY-MM-DDTHH:MM:SS.uuuuuuZ". */
void time_format(int64_t us, char out[40]);
/* year * 12 + month - 1 of a time (UTC): which calendar month it falls in. */
int32_t time_month_index(int64_t us);
/* The first microsecond (UTC) of a month given as time_month_index does. */
int64_t time_month_start_us(int32_t month_index);
int64_t time_now_us(void);
/* Microseconds since an arbitrary fixed point (CLOCK_MONOTONIC). */
int64_t time_mono_us(void);

/* ---- exact money ---------------------------------------------------------
 * Money is an integer count of a small unit: pico-USD (1e-12 USD) for costs
 * and per-token prices (a per-token price of 1e-12 USD is $0.000001 per
 * million tokens). No binary floating point anywhere on this path. */

#define PUSD_PER_USD INT64_C(1000000000000)

/* Parses a decimal number ("0.000183", "-1.5", "1.5e-07", "12") into an
 * integer of 10^-scale units, rounding half away from zero. *rounded (may be
 * NULL) tells whether digits were dropped. Returns -1 on syntax error or
 * overflow. */
int money_parse(const char *s, int scale, int64_t *out, bool *rounded);
/* Formats an integer of 10^-scale units as a plain decimal string with
 * exactly `scale` fraction digits ("0.000183000000"). */
void money_format(int64_t units, int scale, char *out, size_t n);
/* Same, from a decimal integer string of any length (a PostgreSQL numeric
 * sum): "-123" with scale 2 gives "-1.23". Returns -1 if digits is not an
 * integer or out is too small. */
int money_format_digits(const char *digits, int scale, char *out, size_t n);

/* ---- growable byte buffer ------------------------------------------------ */

struct sbuf {
	char *p;
	size_t len, cap;
	bool oom; /* set when an append failed; later appends are no-ops */
};
void sbuf_init(struct sbuf *b);
void sbuf_cleanup(struct sbuf *b);
void sbuf_reset(struct sbuf *b);
/* sbuf_append and sbuf_putc when the buffer must grow first (or is oom). */
void sbuf_append_grow(struct sbuf *b, const void *data, size_t n);
void sbuf_putc_grow(struct sbuf *b, char c);

/* Appends n bytes (the buffer stays NUL-terminated). Inline while there is
 * room: a COPY row is some fifty appends (ledger_copy_call). */
static inline void sbuf_append(struct sbuf *b, const void *data, size_t n)
{
	if (!b->oom && b->len + n + 1 <= b->cap) {
		memcpy(b->p + b->len, data, n);
		b->len += n;
		b->p[b->len] = '\0';
		return;
	}
	sbuf_append_grow(b, data, n);
}

static inline void sbuf_puts(struct sbuf *b, const char *s)
{
	sbuf_append(b, s, strlen(s));
}

static inline void sbuf_putc(struct sbuf *b, char c)
{
	if (!b->oom && b->len + 2 <= b->cap) {
		b->p[b->len++] = c;
		b->p[b->len] = '\0';
		return;
	}
	sbuf_putc_grow(b, c);
}
void sbuf_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends v in decimal (no printf: this is on the ingestion hot path). */
void sbuf_i64(struct sbuf *b, int64_t v);
/* v in decimal (exact sums of money in pico-USD): a pointer into buf,
 * NUL-terminated; sbuf_i128 appends it. */
const char *i128_text(__int128 v, char buf[48]);
void sbuf_i128(struct sbuf *b, __int128 v);
/* A score in [0,1] with 6 fraction digits ("0.920000"; not money): a
 * pointer into buf, NUL-terminated; sbuf_score appends it. */
const char *score_text(double v, char buf[32]);
void sbuf_score(struct sbuf *b, double v);
/* Appends s escaped for PostgreSQL's COPY text format (NULL -> \N). */
void sbuf_copy_text(struct sbuf *b, const char *s);
/* Appends bytes as a COPY text bytea literal (\\x...). */
void sbuf_copy_bytea(struct sbuf *b, const void *data, size_t n);
/* Appends s as a JSON string literal, quotes included. */
void sbuf_json_str(struct sbuf *b, const char *s);

/* ---- small helpers ------------------------------------------------------ */

/* Copies src into dst (size n), always NUL-terminating; returns -1 when
 * src did not fit. */
int str_copy(char *dst, size_t n, const char *src);
/* True when the n bytes at s are well-formed UTF-8 (no overlongs, no
 * surrogates, nothing above U+10FFFF). */
bool utf8_valid(const char *s, size_t n);
/* The offset of the first control character (below 0x20, or DEL) in the n
 * bytes at s, or -1 when there is none: names, query parameters and paths
 * are printable text. */
ptrdiff_t text_control_at(const char *s, size_t n);
/* Replaces each byte of s that is not part of well-formed UTF-8 with '?'. */
void utf8_sanitize(char *s);
/* Writes the n bytes at data as 2n lowercase hex digits and a NUL to out. */
void hex_encode(const void *data, size_t n, char *out);
/* Strict decimal integer parse of a whole string; -1 on junk or overflow. */
int parse_i64(const char *s, int64_t *out);

/* FNV-1a of s folded into h (start from HASH_SEED), then a field separator,
 * so that ("ab", "c") and ("a", "bc") hash apart. For hash tables, not
 * security. */
/* On a function whose result says whether it worked: the compiler refuses
 * a call that drops it. */
#define TALLY_MUST_USE __attribute__((warn_unused_result))

#define HASH_SEED UINT64_C(14695981039346656037)

/* An hour and a quarter hour in microseconds, the unit of every timestamp here. */
#define HOUR_US    INT64_C(3600000000)
#define QUARTER_US (HOUR_US / 4)
uint64_t hash_str(uint64_t h, const char *s);

#endif
