/* webhook.c - the webhook outbox's delivery: budget alerts and the router's
 * policy changes (both queue rows in webhook_outbox), POSTed HMAC-signed
 * (X-Tally-Signature: sha256=...), retried with backoff across failures and
 * restarts, marked delivered once answered 2xx. */
#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

#define BACKOFF_MAX_S 600

void report_hmac_hex(const char *key, const char *body, size_t len, char *out)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (!HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)body, len, md, &n))
		n = 0;
	hex_encode(md, n, out);
}

static size_t discard(char *p, size_t size, size_t n, void *ctx)
{
	(void)p;
	(void)ctx;
	return size * n;
}

int report_webhook_post(const char *url, const char *secret, int64_t id, const char *kind,
                        const char *body, struct tally_err *err)
{
	char sig[160], hmac[65], did[64], ev[128];
	struct curl_slist *h = NULL;
	long code = 0;
	CURLcode cc;
	CURL *c = curl_easy_init();

	if (!c)
		return tally_err_set(err, TALLY_ENOMEM, true, "curl_easy_init failed");
	h = curl_slist_append(h, "Content-Type: application/json");
	if (secret && *secret) {
		report_hmac_hex(secret, body, strlen(body), hmac);
		snprintf(sig, sizeof sig, "X-Tally-Signature: sha256=%s", hmac);
		h = curl_slist_append(h, sig);
	}
	snprintf(did, sizeof did, "X-Tally-Delivery: %lld", (long long)id);
	snprintf(ev, sizeof ev, "X-Tally-Event: %s", kind);
	h = curl_slist_append(h, did);
	h = curl_slist_append(h, ev);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	cc = curl_easy_perform(c);
	if (cc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	if (cc != CURLE_OK)
		return tally_err_set(err, TALLY_EIO, true, "webhook: %s", curl_easy_strerror(cc));
	if (code < 200 || code > 299)
		return tally_err_set(err, TALLY_EIO, true, "webhook: HTTP %ld", code);
	return 0;
}

int report_webhook_deliver_due(const struct tally_config *cfg, struct ledger *lg,
                               bool (*stopping)(void *), void *arg)
{
	int attempted = 0;

	while (attempted < 100) {
		struct outbox_item it;
		struct tally_err err = {0};
		bool found;
		if (stopping(arg) || ledger_outbox_claim(lg, &it, &found, &err) < 0) {
			if (err.msg[0])
				log_warn("webhook outbox: %s", err.msg);
			break;
		}
		if (!found)
			break;
		attempted++;
		struct tally_err perr = {0};
		int rc = report_webhook_post(cfg->webhook_url, cfg->webhook_secret, it.id, it.kind,
		                             it.payload, &perr);
		int backoff = it.attempts >= 9 ? BACKOFF_MAX_S : 1 << it.attempts;
		if (backoff > BACKOFF_MAX_S)
			backoff = BACKOFF_MAX_S;
		if (rc < 0)
			log_warn(
			    "webhook delivery %lld (%s) failed (attempt %d): %s; retrying in %d s",
			    (long long)it.id, it.kind, it.attempts + 1, perr.msg, backoff);
		else
			log_info("webhook delivery %lld (%s) delivered", (long long)it.id, it.kind);
		if (ledger_outbox_done(lg, it.id, rc == 0, backoff, rc == 0 ? NULL : perr.msg,
		                       &err) < 0)
			log_warn("webhook outbox: %s", err.msg);
		free(it.payload);
	}
	return attempted;
}
