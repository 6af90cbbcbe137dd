/* pricing.c - the in-memory price book and the pricer (docs/prices.md).
 *
 * The book is a chained hash table keyed by (provider, model); each key holds
 * its price versions sorted by effective_from_us. A second table keyed by the
 * model name counts the distinct providers that list it, so a call whose
 * provider is unknown or differs can still be priced when the name is
 * unambiguous. All money is integer pico-USD: no floating point here.
 */
#include "ledger.h"

#include <pthread.h>
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

static uint64_t pb_hash_key(const char *provider, const char *model)
{
	return hash_str(hash_str(HASH_SEED, provider), model);
}

static uint64_t pb_hash_name(const char *model)
{
	return hash_str(HASH_SEED, model);
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

/* Providers as events name them -> the names LiteLLM's map files them
 * under, tried in order (docs/prices.md, "Lookup"). */
static const struct {
	const char *provider;
	const char *as[12];
} pb_aliases[] = {
    {"vertex_ai",
     {"vertex_ai-language-models", "vertex_ai-anthropic_models", "vertex_ai-mistral_models",
      "vertex_ai-llama_models", "vertex_ai-deepseek_models", "vertex_ai-qwen_models",
      "vertex_ai-openai_models", "vertex_ai-ai21_models", "vertex_ai-embedding-models",
      "vertex_ai-text-models", "vertex_ai-image-models", NULL}},
    {"vertex", {"vertex_ai", NULL}},
    {"google_vertex", {"vertex_ai", NULL}},
    {"google", {"gemini", NULL}},
    {"google_ai_studio", {"gemini", NULL}},
    {"bedrock", {"bedrock_converse", NULL}},
    {"aws_bedrock", {"bedrock", NULL}},
    {"amazon_bedrock", {"bedrock", NULL}},
    {"bedrock_converse", {"bedrock", NULL}},
    {"azure_openai", {"azure", NULL}},
    {"x-ai", {"xai", NULL}},
    {"grok", {"xai", NULL}},
    {"alibaba", {"dashscope", NULL}},
    {"qwen", {"dashscope", NULL}},
    {"claude", {"anthropic", NULL}},
};

static const struct pb_key *pb_find_alias_depth(const struct pricebook *pb, const char *provider,
                                                const char *model, int depth)
{
	const struct pb_key *k;

	for (size_t i = 0; i < sizeof pb_aliases / sizeof *pb_aliases; i++) {
		if (strcmp(pb_aliases[i].provider, provider) != 0)
			continue;
		for (size_t j = 0; pb_aliases[i].as[j]; j++) {
			if ((k = pb_find_key(pb, pb_aliases[i].as[j], model)))
				return k;
			if (depth < 2 &&
			    (k = pb_find_alias_depth(pb, pb_aliases[i].as[j], model, depth + 1)))
				return k;
		}
	}
	return NULL;
}

static const struct pb_key *pb_find_alias(const struct pricebook *pb, const char *provider,
                                          const char *model)
{
	return pb_find_alias_depth(pb, provider, model, 0);
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
	if (provider && *provider && (k = pb_find_alias(pb, provider, model)))
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

/* ---- the component tables ------------------------------------------------ */

#define PC_NAME_(ID, name, key, unit)  #name,
#define PC_UNIT_(ID, name, key, unit)  unit,
#define PC_KEY_(ID, name, key, unit)   key,
#define PV_PREFIX_(ID, prefix, suffix) prefix,
const char *const price_component_names[PC_COUNT] = {PRICE_COMPONENTS(PC_NAME_)};
const char *const price_component_units[PC_COUNT] = {PRICE_COMPONENTS(PC_UNIT_)};
const char *const price_component_litellm[PC_COUNT] = {PRICE_COMPONENTS(PC_KEY_)};
const char *const price_variant_prefix[PV_COUNT] = {PRICE_VARIANTS(PV_PREFIX_)};

/* Each component's kind of unit, read once from price_component_units: the
 * pricer asks for every component of every call. */
static bool pc_token[PC_COUNT], pc_fee[PC_COUNT];
static pthread_once_t pc_kinds_once = PTHREAD_ONCE_INIT;

static void pc_kinds_read(void)
{
	for (int k = 0; k < PC_COUNT; k++) {
		const char *u = price_component_units[k];
		pc_token[k] = strcmp(u, "tokens") == 0;
		/* A per-call fee (a search, a request, a live-search source): the
		 * same in every service tier, neither discounted for batch nor
		 * multiplied by region or speed. Tokens and the media units
		 * (images, pixels, seconds, characters) are what batch discounts
		 * and multipliers apply to. */
		pc_fee[k] = strcmp(u, "queries") == 0 || strcmp(u, "requests") == 0 ||
		            strcmp(u, "sources") == 0;
	}
}

/* Reads the kinds on first use; every function below that uses is_token or
 * is_fee calls it first. */
static void pc_kinds(void)
{
	pthread_once(&pc_kinds_once, pc_kinds_read);
}

static inline bool is_token(int k)
{
	return pc_token[k];
}

static inline bool is_fee(int k)
{
	return pc_fee[k];
}

bool price_component_is_token(int k)
{
	if (k < 0 || k >= PC_COUNT)
		return false;
	pc_kinds();
	return is_token(k);
}

/* ---- pricing ------------------------------------------------------------- */

#define PPM INT64_C(1000000)

/* Splits the usage into disjoint quantities (docs/prices.md, "Components"). */
int price_quantities(const struct call_event *c, int64_t q[PC_COUNT], struct tally_err *err)
{
	const int64_t in[] = {
	    c->input_tokens,        c->output_tokens,           c->cache_read_tokens,
	    c->cache_write_tokens,  c->reasoning_tokens,        c->cache_write_1h_tokens,
	    c->audio_input_tokens,  c->audio_cache_read_tokens, c->image_input_tokens,
	    c->audio_output_tokens, c->image_output_tokens,     c->web_search_calls,
	    c->citation_tokens,     c->video_output_tokens};

	for (size_t i = 0; i < sizeof in / sizeof *in; i++)
		if (in[i] < 0 || in[i] > INT64_C(1) << 40)
			return tally_err_set(err, TALLY_EINVAL, false,
			                     "price_call: negative or absurd count");
	for (int k = 0; k < PC_COUNT; k++)
		if (c->units[k] < 0 || c->units[k] > INT64_C(1) << 40)
			return tally_err_set(err, TALLY_EINVAL, false,
			                     "price_call: negative or absurd %s count",
			                     price_component_names[k]);
	memset(q, 0, PC_COUNT * sizeof *q);
	pc_kinds();
	/* The per-unit quantities as the event counted them. */
	for (int k = 0; k < PC_COUNT; k++)
		if (!is_token(k) && k != PC_WEB_SEARCH && k != PC_REQUEST)
			q[k] = c->units[k];
	q[PC_CACHE_WRITE_1H] = c->cache_write_1h_tokens;
	q[PC_CACHE_WRITE] = c->cache_write_tokens - c->cache_write_1h_tokens;
	q[PC_AUDIO_CACHE_READ] = c->audio_cache_read_tokens;
	q[PC_CACHE_READ] = c->cache_read_tokens - c->audio_cache_read_tokens;
	q[PC_AUDIO_INPUT] = c->audio_input_tokens - c->audio_cache_read_tokens;
	q[PC_IMAGE_INPUT] = c->image_input_tokens;
	q[PC_CITATION] = c->citation_tokens;
	q[PC_INPUT] = c->input_tokens - c->cache_read_tokens - c->cache_write_tokens -
	              q[PC_AUDIO_INPUT] - q[PC_IMAGE_INPUT] - q[PC_CITATION];
	q[PC_REASONING] = c->reasoning_tokens;
	q[PC_AUDIO_OUTPUT] = c->audio_output_tokens;
	q[PC_IMAGE_OUTPUT] = c->image_output_tokens;
	q[PC_VIDEO_OUTPUT] = c->video_output_tokens;
	q[PC_OUTPUT] = c->output_tokens - c->reasoning_tokens - c->audio_output_tokens -
	               c->image_output_tokens - c->video_output_tokens;
	q[PC_WEB_SEARCH] = c->web_search_calls;
	/* OpenAI's search-preview models search on every request. */
	if (q[PC_WEB_SEARCH] == 0 && strstr(c->model, "search-preview"))
		q[PC_WEB_SEARCH] = 1;
	q[PC_REQUEST] = 1;
	if (q[PC_CACHE_WRITE] < 0 || q[PC_CACHE_READ] < 0 || q[PC_AUDIO_INPUT] < 0)
		return tally_err_set(
		    err, TALLY_EINVAL, false,
		    "price_call: a part exceeds its whole (1-hour cache writes "
		    "%lld of %lld written, cached audio %lld of %lld read and "
		    "%lld audio)",
		    (long long)c->cache_write_1h_tokens, (long long)c->cache_write_tokens,
		    (long long)c->audio_cache_read_tokens, (long long)c->cache_read_tokens,
		    (long long)c->audio_input_tokens);
	if (q[PC_INPUT] < 0)
		return tally_err_set(
		    err, TALLY_EINVAL, false,
		    "price_call: cache tokens (%lld read + %lld write) and "
		    "uncached audio/image/citation tokens exceed input tokens (%lld)",
		    (long long)c->cache_read_tokens, (long long)c->cache_write_tokens,
		    (long long)c->input_tokens);
	if (q[PC_OUTPUT] < 0)
		return tally_err_set(
		    err, TALLY_EINVAL, false,
		    "price_call: reasoning tokens (%lld) and audio/image/video output "
		    "exceed output tokens (%lld)",
		    (long long)c->reasoning_tokens, (long long)c->output_tokens);
	return 0;
}

enum tier_kind { SVC_STD, SVC_BATCH, SVC_FLEX, SVC_PRIORITY };

/* The service tier a call was served at, or -1 for a value tally does not
 * know (flagged, not guessed). */
static int service_of(const struct call_event *c)
{
	static const char *const standard[] = {"",      "default",   "standard",      "auto",
	                                       "scale", "on_demand", "standard_only", "on-demand"};
	const char *t = c->service_tier;

	if (!c->batch && t[0] == '\0')
		return SVC_STD; /* most calls: standard[0] */
	if (c->batch || strcmp(t, "batch") == 0)
		return SVC_BATCH;
	if (strcmp(t, "flex") == 0)
		return SVC_FLEX;
	if (strcmp(t, "priority") == 0)
		return SVC_PRIORITY;
	for (size_t i = 0; i < sizeof standard / sizeof *standard; i++)
		if (strcmp(t, standard[i]) == 0)
			return SVC_STD;
	return -1;
}

/* The long-context level of the call: 0 below the first threshold, 1 in the
 * first tier (above_* rates), 2 + i in tiers[i]. */
static int level_of(const struct price *p, const struct call_event *c)
{
	int level = 0;
	bool incl = p->threshold_inclusive != 0;

#define OVER(t) ((t) > 0 && (incl ? c->input_tokens >= (t) : c->input_tokens > (t)))
	/* A threshold without a long-context input rate changes nothing. */
	if (!OVER(p->threshold_tokens) || (p->rate[PV_ABOVE][PC_INPUT] == PRICE_UNSET &&
	                                   p->rate[PV_ABOVE_PRIORITY][PC_INPUT] == PRICE_UNSET))
		return 0;
	level = 1;
	for (int i = 0; i < p->n_tiers && i < PRICE_TIERS_MAX; i++)
		if (OVER(p->tiers[i].from_tokens))
			level = 2 + i;
#undef OVER
	return level;
}

static bool is_claude(const struct price *p)
{
	return strstr(p->model, "claude") != NULL;
}

/* The rate listed for component k at a level, standard or priority, without
 * fallbacks; a higher level without its own rate takes the level below. */
static int64_t listed(const struct price *p, int level, bool prio, int k)
{
	int64_t v = PRICE_UNSET;

	for (; level >= 2 && v == PRICE_UNSET; level--)
		v = prio ? PRICE_UNSET : p->tiers[level - 2].rate[k];
	if (v == PRICE_UNSET && level == 1)
		v = p->rate[prio ? PV_ABOVE_PRIORITY : PV_ABOVE][k];
	if (v == PRICE_UNSET)
		v = p->rate[prio ? PV_PRIORITY : PV_STD][k];
	return v;
}

/* The rate of component k at a level with each component's documented
 * fallback: cache reads and writes and image input at the input rate (how
 * OpenAI and Gemini bill them when no price is listed apart), reasoning at
 * the output rate, Anthropic 1-hour cache writes at 2x input. Per-call fees
 * are the same in every service tier. */
static int64_t rate_at(const struct price *p, int level, bool prio, int k)
{
	int64_t v = listed(p, level, prio, k);

	if (v != PRICE_UNSET)
		return v;
	switch (k) {
	case PC_CACHE_READ:
	case PC_CACHE_WRITE:
		/* As listed below the threshold: the normal input rate. */
		return listed(p, 0, prio, PC_INPUT);
	case PC_IMAGE_INPUT: return listed(p, level, prio, PC_INPUT);
	case PC_REASONING: return listed(p, level, prio, PC_OUTPUT);
	case PC_CACHE_WRITE_1H:
		if (is_claude(p) && (v = listed(p, level, prio, PC_INPUT)) != PRICE_UNSET)
			return 2 * v;
		return PRICE_UNSET;
	default:
		/* Per-unit charges are the same in every service tier. */
		if (!is_token(k) && prio)
			return listed(p, level, false, k);
		return PRICE_UNSET;
	}
}

/* One component's rate and discount for the call's service tier. */
struct pick {
	int64_t rate;         /* pico-USD per unit; PRICE_UNSET: the book lacks it */
	int64_t discount_ppm; /* applied on top (a documented batch discount) */
};

static struct pick pick_rate(const struct price *p, int level, int svc, int k)
{
	struct pick r = {PRICE_UNSET, 0};
	bool token = is_token(k);

	switch (svc) {
	case SVC_STD: r.rate = rate_at(p, level, false, k); break;
	case SVC_PRIORITY:
		/* No priority rates (at this level): the book cannot price it. */
		if (p->rate[level > 0 ? PV_ABOVE_PRIORITY : PV_PRIORITY][PC_INPUT] == PRICE_UNSET)
			break;
		r.rate = rate_at(p, level, true, k);
		break;
	case SVC_FLEX:
		if (p->rate[PV_FLEX][PC_INPUT] == PRICE_UNSET || level > 0)
			break;
		r.rate = p->rate[PV_FLEX][k];
		if (r.rate == PRICE_UNSET && (k == PC_CACHE_READ || k == PC_CACHE_WRITE))
			r.rate = p->rate[PV_FLEX][PC_INPUT];
		if (r.rate == PRICE_UNSET && k == PC_REASONING)
			r.rate = p->rate[PV_FLEX][PC_OUTPUT];
		if (r.rate == PRICE_UNSET && !token)
			r.rate = rate_at(p, 0, false, k);
		break;
	case SVC_BATCH:
		/* Without a documented discount to apply on long-context rates,
		 * listed batch rates win over long context. */
		if (p->batch_discount_ppm <= 0 && p->rate[PV_BATCH][PC_INPUT] != PRICE_UNSET)
			level = 0;
		if (level == 0 && p->rate[PV_BATCH][k] != PRICE_UNSET) {
			r.rate = p->rate[PV_BATCH][k];
		} else if (level == 0 && k == PC_REASONING &&
		           p->rate[PV_STD][PC_REASONING] == PRICE_UNSET &&
		           p->rate[PV_BATCH][PC_OUTPUT] != PRICE_UNSET) {
			r.rate = p->rate[PV_BATCH][PC_OUTPUT];
		} else if (is_fee(k)) {
			/* Per-call fees are not discounted. */
			r.rate = rate_at(p, level, false, k);
		} else if (p->batch_discount_ppm > 0) {
			/* The provider's documented discount on the standard (or
			 * long-context) rate. */
			r.rate = rate_at(p, level, false, k);
			r.discount_ppm = p->batch_discount_ppm;
		} else if (level == 0 && p->rate[PV_BATCH][PC_INPUT] != PRICE_UNSET) {
			/* Listed batch token prices, none for this kind: standard. */
			r.rate = rate_at(p, 0, false, k);
		}
		break;
	}
	return r;
}

/* round(v * m / 10^6), half away from zero (v >= 0). */
static __int128 scale_ppm(__int128 v, int64_t m)
{
	return (v * m + PPM / 2) / PPM;
}

/* The multiplier (ppm) of the call's region, geography and speed; 0 with
 * *why set when the call asks for one the book lacks. */
static int64_t multiplier_of(const struct price *p, const struct call_event *c, const char **why)
{
	int64_t m = PPM;

	if (c->data_residency[0] && strcmp(c->data_residency, "global") != 0 &&
	    strcmp(c->data_residency, "none") != 0) {
		int64_t u = 0;
		if (strcmp(c->data_residency, "eu") == 0)
			u = p->uplift_eu_ppm;
		else if (strcmp(c->data_residency, "us") == 0)
			u = p->uplift_us_ppm ? p->uplift_us_ppm : p->geo_us_ppm;
		/* A model without an uplift in the list is priced the same in
		 * every region (docs/prices.md). */
		if (u > 0)
			m = m * u / PPM;
	}
	if (c->inference_geo[0] && strcmp(c->inference_geo, "global") != 0 &&
	    strcmp(c->inference_geo, "not_available") != 0) {
		int64_t u = strcmp(c->inference_geo, "us") == 0 ? p->geo_us_ppm : 0;
		if (u <= 0) {
			*why = "inference_geo";
			return 0;
		}
		m = m * u / PPM;
	}
	if (c->speed[0] && strcmp(c->speed, "standard") != 0) {
		if (strcmp(c->speed, "fast") != 0 || p->fast_ppm <= 0) {
			*why = "speed";
			return 0;
		}
		m = m * p->fast_ppm / PPM;
	}
	return m;
}

/* Prices c at p; see ledger.h. */
int price_call_parts(const struct price *p, const struct call_event *c, struct call_price *out,
                     struct tally_err *err)
{
	const char *why = NULL;
	int level, svc;
	int64_t mult;
	__int128 total = 0, list_total = 0;

	if (!p || !c || !out)
		return tally_err_set(err, TALLY_EINVAL, false, "price_call: missing argument");
	memset(out, 0, sizeof *out);
	pc_kinds();
	if (price_quantities(c, out->qty, err) < 0)
		return -1;
	if (p->rate[PV_STD][PC_REQUEST] == PRICE_UNSET)
		out->qty[PC_REQUEST] = 0; /* no per-request fee: nothing to count */
	level = level_of(p, c);
	svc = service_of(c);
	if (svc < 0)
		return tally_err_set(err, TALLY_ENOPRICE, false,
		                     "service_tier \"%s\" of %s/%s has no price rule",
		                     c->service_tier, p->provider, p->model);
	mult = multiplier_of(p, c, &why);
	if (mult == 0)
		return tally_err_set(
		    err, TALLY_ENOPRICE, false, "%s \"%s\": %s/%s lists no multiplier for it", why,
		    strcmp(why, "speed") == 0 ? c->speed : c->inference_geo, p->provider, p->model);
	for (int k = 0; k < PC_COUNT; k++) {
		struct pick b, l;
		__int128 cost, list;
		if (out->qty[k] == 0)
			continue;
		b = pick_rate(p, level, svc, k);
		l = pick_rate(p, level, SVC_STD, k);
		if (b.rate == PRICE_UNSET) {
			static const char *const svc_names[] = {"", " batch", " flex", " priority"};
			return tally_err_set(err, TALLY_ENOPRICE, false,
			                     "%s/%s has no%s %s price for %lld %s%s", p->provider,
			                     p->model, svc_names[svc], price_component_names[k],
			                     (long long)out->qty[k], price_component_units[k],
			                     level ? " above its long-context threshold" : "");
		}
		cost = (__int128)out->qty[k] * b.rate;
		list = l.rate == PRICE_UNSET ? cost : (__int128)out->qty[k] * l.rate;
		if (b.discount_ppm)
			cost = scale_ppm(cost, PPM - b.discount_ppm);
		if (!is_fee(k) && mult != PPM) {
			cost = scale_ppm(cost, mult);
			list = scale_ppm(list, mult);
		}
		if (cost > INT64_MAX || list > INT64_MAX)
			goto overflow;
		out->cost[k] = (int64_t)cost;
		out->list[k] = (int64_t)list;
		total += cost;
		list_total += list;
	}
	if (total > INT64_MAX || list_total > INT64_MAX)
		goto overflow;
	out->total = (int64_t)total;
	out->list_total = (int64_t)list_total;
	if (c->cache_hit) { /* the application's cache answered: no charge */
		memset(out->cost, 0, sizeof out->cost);
		out->total = 0;
	}
	return 0;
overflow:
	return tally_err_set(err, TALLY_ERANGE, false,
	                     "price_call: cost of %s/%s overflows 64-bit pico-USD", p->provider,
	                     p->model);
}

int price_call(const struct price *p, const struct call_event *c, int64_t *cost_pusd,
               struct tally_err *err)
{
	struct call_price cp;

	if (!cost_pusd)
		return tally_err_set(err, TALLY_EINVAL, false, "price_call: missing argument");
	if (price_call_parts(p, c, &cp, err) < 0)
		return -1;
	*cost_pusd = cp.total;
	return 0;
}

void ledger_price_row(struct call_row *row, const struct pricebook *pb)
{
	const struct call_event *ev = &row->ev;
	const struct price *p =
	    pb ? pricebook_lookup(pb, ev->provider, ev->model, ev->ts_us) : NULL;
	struct tally_err err = {0};

	str_copy(row->tier, sizeof row->tier,
	         ev->tier[0]       ? ev->tier
	         : p && p->tier[0] ? p->tier
	                           : "unknown");
	row->unpriced_reason[0] = '\0';
	row->price_version = p ? p->version : 0;
	memset(&row->parts, 0, sizeof row->parts);
	if (p && price_call_parts(p, ev, &row->parts, &err) == 0) {
		row->priced = true;
		row->cost_pusd = row->parts.total;
		return;
	}
	/* What the call incurred is kept, priced or not. */
	if (price_quantities(ev, row->parts.qty, NULL) < 0)
		memset(row->parts.qty, 0, sizeof row->parts.qty);
	row->parts.qty[PC_REQUEST] = 0;
	memset(row->parts.cost, 0, sizeof row->parts.cost);
	memset(row->parts.list, 0, sizeof row->parts.list);
	row->parts.total = row->parts.list_total = 0;
	if (ev->cache_hit) { /* served by the application's cache: no provider charge */
		row->priced = true;
		row->cost_pusd = 0;
		return;
	}
	row->priced = false;
	row->cost_pusd = 0;
	row->price_version = 0;
	if (p)
		str_copy(row->unpriced_reason, sizeof row->unpriced_reason, err.msg);
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
	input = p->input != PRICE_UNSET ? p->input : 0;
	if (input <= INT64_C(500000))
		str_copy(p->tier, sizeof p->tier, "small");
	else if (input <= INT64_C(3000000))
		str_copy(p->tier, sizeof p->tier, "medium");
	else
		str_copy(p->tier, sizeof p->tier, "large");
}
