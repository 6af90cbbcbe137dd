/* pricing.c - the in-memory price book and the pricer (DESIGN §6).
 *
 * The book is a chained hash table keyed by (provider, model); each key holds
 * its price versions sorted by effective_from_us. A second table keyed by the
 * model name counts the distinct providers that list it, so a call whose
 * provider is unknown or differs can still be priced when the name is
 * unambiguous. All money is integer pico-USD: no floating point here.
 */
#include "ledger.h"

#include <stdlib.h>
#include <string.h>

/* One (provider, model) and its versions, oldest effective_from first. */
struct pb_key {
	struct pb_key *next; /* hash chain */
	uint64_t hash;
	struct price **versions; /* each malloc'd apart so returned pointers stay valid */
	size_t n, cap;
};

/* One model name: how many providers list it, and the first of them. */
struct pb_name {
	struct pb_name *next;
	uint64_t hash;
	const char *model; /* points into first->versions[0]->model */
	const struct pb_key *first;
	size_t providers;
};

struct pricebook {
	struct pb_key **keys;
	size_t n_buckets, n_keys;
	struct pb_name **names;
	size_t n_name_buckets, n_names;
	size_t n_prices;
};

#define PB_MIN_BUCKETS 64

/* FNV-1a, continued from h over the bytes of s and its terminating NUL. */
static uint64_t pb_hash_str(uint64_t h, const char *s)
{
	do {
		h ^= (unsigned char)*s;
		h *= UINT64_C(1099511628211);
	} while (*s++);
	return h;
}

static uint64_t pb_hash_key(const char *provider, const char *model)
{
	return pb_hash_str(pb_hash_str(UINT64_C(14695981039346656037), provider), model);
}

static uint64_t pb_hash_name(const char *model)
{
	return pb_hash_str(UINT64_C(14695981039346656037), model);
}

/* An empty book; NULL when out of memory. Free with pricebook_free(). */
struct pricebook *pricebook_new(void)
{
	struct pricebook *pb = calloc(1, sizeof *pb);

	if (!pb)
		return NULL;
	pb->keys = calloc(PB_MIN_BUCKETS, sizeof *pb->keys);
	pb->names = calloc(PB_MIN_BUCKETS, sizeof *pb->names);
	if (!pb->keys || !pb->names) {
		pricebook_free(pb);
		return NULL;
	}
	pb->n_buckets = pb->n_name_buckets = PB_MIN_BUCKETS;
	return pb;
}

/* Frees the book and every price in it; NULL is fine. */
void pricebook_free(struct pricebook *pb)
{
	if (!pb)
		return;
	for (size_t i = 0; pb->keys && i < pb->n_buckets; i++) {
		struct pb_key *k = pb->keys[i];
		while (k) {
			struct pb_key *next = k->next;
			for (size_t j = 0; j < k->n; j++)
				free(k->versions[j]);
			free(k->versions);
			free(k);
			k = next;
		}
	}
	for (size_t i = 0; pb->names && i < pb->n_name_buckets; i++) {
		struct pb_name *m = pb->names[i];
		while (m) {
			struct pb_name *next = m->next;
			free(m);
			m = next;
		}
	}
	free(pb->keys);
	free(pb->names);
	free(pb);
}

static const struct pb_key *pb_find_key(const struct pricebook *pb, const char *provider,
                                        const char *model)
{
	uint64_t h = pb_hash_key(provider, model);

	for (const struct pb_key *k = pb->keys[h % pb->n_buckets]; k; k = k->next) {
		const struct price *p = k->versions[0];
		if (k->hash == h && strcmp(p->provider, provider) == 0 &&
		    strcmp(p->model, model) == 0)
			return k;
	}
	return NULL;
}

static struct pb_name *pb_find_name(const struct pricebook *pb, const char *model)
{
	uint64_t h = pb_hash_name(model);

	for (struct pb_name *m = pb->names[h % pb->n_name_buckets]; m; m = m->next)
		if (m->hash == h && strcmp(m->model, model) == 0)
			return m;
	return NULL;
}

/* Doubles the key table when it is three quarters full. A failed grow only
 * costs speed, so it is not an error. */
static void pb_grow_keys(struct pricebook *pb)
{
	size_t nb = pb->n_buckets * 2;
	struct pb_key **nk;

	if (pb->n_keys < pb->n_buckets / 4 * 3 || !(nk = calloc(nb, sizeof *nk)))
		return;
	for (size_t i = 0; i < pb->n_buckets; i++) {
		struct pb_key *k = pb->keys[i];
		while (k) {
			struct pb_key *next = k->next;
			k->next = nk[k->hash % nb];
			nk[k->hash % nb] = k;
			k = next;
		}
	}
	free(pb->keys);
	pb->keys = nk;
	pb->n_buckets = nb;
}

static void pb_grow_names(struct pricebook *pb)
{
	size_t nb = pb->n_name_buckets * 2;
	struct pb_name **nn;

	if (pb->n_names < pb->n_name_buckets / 4 * 3 || !(nn = calloc(nb, sizeof *nn)))
		return;
	for (size_t i = 0; i < pb->n_name_buckets; i++) {
		struct pb_name *m = pb->names[i];
		while (m) {
			struct pb_name *next = m->next;
			m->next = nn[m->hash % nb];
			nn[m->hash % nb] = m;
			m = next;
		}
	}
	free(pb->names);
	pb->names = nn;
	pb->n_name_buckets = nb;
}

/* Inserts v into k's versions after every version with the same or an earlier
 * effective_from, so among equal dates the one added last wins. */
static int pb_key_insert(struct pb_key *k, struct price *v)
{
	size_t at = k->n;

	if (k->n == k->cap) {
		size_t cap = k->cap ? k->cap * 2 : 2;
		struct price **nv = realloc(k->versions, cap * sizeof *nv);
		if (!nv)
			return -1;
		k->versions = nv;
		k->cap = cap;
	}
	while (at > 0 && k->versions[at - 1]->effective_from_us > v->effective_from_us)
		at--;
	memmove(k->versions + at + 1, k->versions + at, (k->n - at) * sizeof *k->versions);
	k->versions[at] = v;
	k->n++;
	return 0;
}

/* Copies *p in as one more version of its (provider, model). Not thread-safe;
 * -1 with TALLY_ENOMEM, or TALLY_EINVAL for an empty model name. */
int pricebook_add(struct pricebook *pb, const struct price *p, struct tally_err *err)
{
	struct price *v = NULL;
	struct pb_key *k = NULL;
	struct pb_name *m = NULL;
	bool new_name;

	if (!pb || !p)
		return tally_err_set(err, TALLY_EINVAL, false, "pricebook_add: no book or price");
	if (!memchr(p->provider, '\0', sizeof p->provider) ||
	    !memchr(p->model, '\0', sizeof p->model) || p->model[0] == '\0')
		return tally_err_set(err, TALLY_EINVAL, false,
		                     "pricebook_add: provider or model missing or unterminated");
	if (!(v = malloc(sizeof *v)))
		goto oom;
	*v = *p;

	k = (struct pb_key *)pb_find_key(pb, p->provider, p->model);
	if (k) {
		if (pb_key_insert(k, v) < 0)
			goto oom;
		pb->n_prices++;
		return 0;
	}

	/* A new (provider, model): both tables change, so allocate first. */
	m = pb_find_name(pb, p->model);
	new_name = m == NULL;
	if (!(k = calloc(1, sizeof *k)))
		goto oom;
	if (new_name && !(m = calloc(1, sizeof *m)))
		goto oom;
	if (pb_key_insert(k, v) < 0)
		goto oom;
	k->hash = pb_hash_key(p->provider, p->model);
	k->next = pb->keys[k->hash % pb->n_buckets];
	pb->keys[k->hash % pb->n_buckets] = k;
	pb->n_keys++;
	pb->n_prices++;
	if (new_name) {
		m->hash = pb_hash_name(p->model);
		m->model = v->model;
		m->first = k;
		m->next = pb->names[m->hash % pb->n_name_buckets];
		pb->names[m->hash % pb->n_name_buckets] = m;
		pb->n_names++;
	}
	m->providers++;
	pb_grow_keys(pb);
	pb_grow_names(pb);
	return 0;
oom:
	if (k && k->n == 0) {
		free(k->versions);
		free(k);
	}
	if (m && m->providers == 0)
		free(m);
	free(v);
	return tally_err_set(err, TALLY_ENOMEM, false, "pricebook_add: out of memory");
}

/* The version of k in force at ts: the greatest effective_from <= ts. */
static const struct price *pb_key_at(const struct pb_key *k, int64_t ts_us)
{
	size_t lo = 0, hi = k->n;

	/* Find the first version that starts after ts; the one before it rules. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (k->versions[mid]->effective_from_us <= ts_us)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo > 0 ? k->versions[lo - 1] : NULL;
}

/* The version in force at ts: exact name first, else a model name listed by
 * exactly one provider, else NULL. Thread-safe on a book no longer added to. */
const struct price *pricebook_lookup(const struct pricebook *pb, const char *provider,
                                     const char *model, int64_t ts_us)
{
	const struct pb_key *k;
	const struct pb_name *m;

	if (!pb || !model || !*model)
		return NULL;
	if (provider && *provider && (k = pb_find_key(pb, provider, model)))
		return pb_key_at(k, ts_us);
	m = pb_find_name(pb, model);
	if (!m || m->providers != 1)
		return NULL;
	return pb_key_at(m->first, ts_us);
}

/* Number of price versions in the book (0 for NULL). */
size_t pricebook_count(const struct pricebook *pb)
{
	return pb ? pb->n_prices : 0;
}

/* ---- pricing ------------------------------------------------------------- */

/* Per-token rates of one call, after choosing batch, long-context or normal. */
struct rates {
	int64_t input, cache_read, cache_write, output, reasoning;
};

static int64_t rate_or(int64_t rate, int64_t fallback)
{
	return rate != PRICE_UNSET ? rate : fallback;
}

static void pick_rates(const struct price *p, const struct call_event *c, struct rates *r)
{
	int64_t input = rate_or(p->input, 0);
	int64_t output = rate_or(p->output, 0);
	int64_t cache_read = rate_or(p->cache_read, input);
	int64_t cache_write = rate_or(p->cache_write, input);

	r->input = input;
	r->output = output;
	r->cache_read = cache_read;
	r->cache_write = cache_write;
	if (c->batch && p->batch_input != PRICE_UNSET) {
		r->input = p->batch_input;
		r->output = rate_or(p->batch_output, output);
	} else if (p->threshold_tokens > 0 && c->input_tokens > p->threshold_tokens &&
	           p->above_input != PRICE_UNSET) {
		/* Long context: the whole request moves to the higher rates. */
		r->input = p->above_input;
		r->output = rate_or(p->above_output, output);
		r->cache_read = rate_or(p->above_cache_read, cache_read);
		r->cache_write = rate_or(p->above_cache_write, cache_write);
	}
	r->reasoning = rate_or(p->reasoning, r->output);
}

/* *sum += tokens * rate; false on overflow. */
static bool add_product(int64_t *sum, int64_t tokens, int64_t rate)
{
	int64_t part;

	return !__builtin_mul_overflow(tokens, rate, &part) &&
	       !__builtin_add_overflow(*sum, part, sum);
}

/* Cost of call c at price p in pico-USD (docs/prices.md). Leaves *cost_pusd
 * alone on error: TALLY_ERANGE on overflow, TALLY_EINVAL for inconsistent
 * token counts. Pure; thread-safe. */
int price_call(const struct price *p, const struct call_event *c, int64_t *cost_pusd,
               struct tally_err *err)
{
	struct rates r;
	int64_t uncached, plain_output, sum = 0;

	if (!p || !c || !cost_pusd)
		return tally_err_set(err, TALLY_EINVAL, false, "price_call: missing argument");
	if (c->cache_hit) {
		*cost_pusd = 0;
		return 0;
	}
	if (c->input_tokens < 0 || c->output_tokens < 0 || c->cache_read_tokens < 0 ||
	    c->cache_write_tokens < 0 || c->reasoning_tokens < 0)
		return tally_err_set(err, TALLY_EINVAL, false, "price_call: negative token count");
	/* Cannot overflow: each count is non-negative. */
	uncached = c->input_tokens - c->cache_read_tokens - c->cache_write_tokens;
	if (uncached < 0)
		return tally_err_set(err, TALLY_EINVAL, false,
		                     "price_call: cache tokens (%lld read + %lld write) exceed "
		                     "input tokens (%lld)",
		                     (long long)c->cache_read_tokens,
		                     (long long)c->cache_write_tokens, (long long)c->input_tokens);
	if (c->reasoning_tokens > c->output_tokens)
		return tally_err_set(err, TALLY_EINVAL, false,
		                     "price_call: reasoning tokens (%lld) exceed output tokens "
		                     "(%lld)",
		                     (long long)c->reasoning_tokens, (long long)c->output_tokens);
	plain_output = c->output_tokens - c->reasoning_tokens;

	pick_rates(p, c, &r);
	if (!add_product(&sum, uncached, r.input) ||
	    !add_product(&sum, c->cache_read_tokens, r.cache_read) ||
	    !add_product(&sum, c->cache_write_tokens, r.cache_write) ||
	    !add_product(&sum, plain_output, r.output) ||
	    !add_product(&sum, c->reasoning_tokens, r.reasoning))
		return tally_err_set(err, TALLY_ERANGE, false,
		                     "price_call: cost of %s/%s overflows 64-bit pico-USD",
		                     p->provider, p->model);
	*cost_pusd = sum;
	return 0;
}

unsigned price_mode(const struct price *p, const struct call_event *c)
{
	unsigned mode = 0;

	if (!p)
		return 0;
	if (c->batch && p->batch_input != PRICE_UNSET)
		mode |= PRICE_MODE_BATCH;
	if (p->threshold_tokens > 0 && c->input_tokens > p->threshold_tokens &&
	    p->above_input != PRICE_UNSET)
		mode |= PRICE_MODE_LONG;
	return mode;
}

static const char *const local_providers[] = {
    "ollama", "ollama_chat", "vllm", "hosted_vllm", "lm_studio", "llamafile", "local",
};

static bool is_local_provider(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof local_providers / sizeof *local_providers; i++)
		if (strlen(local_providers[i]) == len &&
		    strncmp(local_providers[i], name, len) == 0)
			return true;
	return false;
}

/* Fills an empty p->tier: "local" for self-hosted providers, else small,
 * medium or large by the input price ($0.50 and $3.00 per million tokens). */
void price_default_tier(struct price *p)
{
	const char *slash;
	int64_t input;

	if (!p || p->tier[0] != '\0')
		return;
	slash = strchr(p->model, '/');
	if (is_local_provider(p->provider, strlen(p->provider)) ||
	    (slash && is_local_provider(p->model, (size_t)(slash - p->model)))) {
		str_copy(p->tier, sizeof p->tier, "local");
		return;
	}
	/* Thresholds in pico-USD per token: $0.50 and $3.00 per million tokens. */
	input = rate_or(p->input, 0);
	if (input <= INT64_C(500000))
		str_copy(p->tier, sizeof p->tier, "small");
	else if (input <= INT64_C(3000000))
		str_copy(p->tier, sizeof p->tier, "medium");
	else
		str_copy(p->tier, sizeof p->tier, "large");
}
