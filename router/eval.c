/* eval.c - offline, online replay of a routing data set (docs/router.md).
 *
 * Each item carries every tier's result; the router sees only the result of
 * the tier it chose, in item order, and learns from it with the learner the
 * live router uses. The baselines use hindsight over the whole file.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "router.h"

struct item {
	char *name;
	size_t task;
	size_t flow;   /* index in eval_set.flows; 0 = no workflow ("") */
	size_t group;  /* index in eval_set.groups: (task, flow) */
	int64_t *cost; /* per tier, pico-USD */
	double *q;     /* per tier */
};

struct eval_set {
	char (*tiers)[ROUTER_TIER_MAX + 1];
	size_t n_tiers, cap_tiers;
	char (*tasks)[ROUTER_TASK_MAX + 1];
	size_t n_tasks, cap_tasks, last_task;
	char (*flows)[ROUTER_TASK_MAX + 1]; /* workflow names; flows[0] = "" (none) */
	size_t n_flows, cap_flows, last_flow;
	struct eval_group {
		size_t task, flow;
	} * groups; /* the (task type, workflow) pairs seen, in first-seen order */
	size_t n_groups, cap_groups, last_group;
	struct item *items;
	size_t n_items; /* items whose name this set owns (set_cleanup frees them) */
	size_t n_lines; /* non-blank lines seen by the first pass */
	int64_t *costs; /* n_items x n_tiers */
	double *qs;
};

/* Frees what the set owns: only the items that pass_items has started
 * (s->n_items of them, in s->items), never more than were allocated. */
static void set_cleanup(struct eval_set *s)
{
	for (size_t i = 0; s->items && i < s->n_items; i++)
		free(s->items[i].name);
	free(s->items);
	free(s->tiers);
	free(s->tasks);
	free(s->flows);
	free(s->groups);
	free(s->costs);
	free(s->qs);
}

static int find_tier(const struct eval_set *s, const char *name)
{
	for (size_t i = 0; i < s->n_tiers; i++)
		if (strcmp(s->tiers[i], name) == 0)
			return (int)i;
	return -1;
}

static int add_tier(struct eval_set *s, const char *name, size_t line, struct tally_err *err)
{
	if (find_tier(s, name) >= 0)
		return 0;
	if (!name[0] || strlen(name) > ROUTER_TIER_MAX)
		return tally_err_set(err, TALLY_EINVAL, false,
		                     "line %zu: a tier name must have 1 to %d bytes", line,
		                     ROUTER_TIER_MAX);
	if (s->n_tiers == s->cap_tiers) {
		size_t cap = s->cap_tiers ? s->cap_tiers * 2 : 4;
		void *p = realloc(s->tiers, cap * sizeof *s->tiers);
		if (!p)
			return tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
		s->tiers = p;
		s->cap_tiers = cap;
	}
	strcpy(s->tiers[s->n_tiers++], name);
	return 0;
}

/* The index of name in a table of names (appended when new); items usually
 * come grouped, so the last one found is tried first. */
static int name_of(char (**tab)[ROUTER_TASK_MAX + 1], size_t *n, size_t *cap, size_t *last,
                   const char *name, size_t *out, struct tally_err *err)
{
	if (*n && strcmp((*tab)[*last], name) == 0) {
		*out = *last;
		return 0;
	}
	for (size_t i = 0; i < *n; i++)
		if (strcmp((*tab)[i], name) == 0) {
			*out = *last = i;
			return 0;
		}
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 16;
		void *p = realloc(*tab, c * sizeof **tab);
		if (!p)
			return tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
		*tab = p;
		*cap = c;
	}
	strcpy((*tab)[*n], name);
	*out = *last = (*n)++;
	return 0;
}

static int task_of(struct eval_set *s, const char *name, size_t *out, struct tally_err *err)
{
	return name_of(&s->tasks, &s->n_tasks, &s->cap_tasks, &s->last_task, name, out, err);
}

/* The workflow (0 for none) and the (task type, workflow) group of an item. */
static int group_of(struct eval_set *s, struct item *it, const char *workflow,
                    struct tally_err *err)
{
	if (name_of(&s->flows, &s->n_flows, &s->cap_flows, &s->last_flow, workflow, &it->flow,
	            err) < 0)
		return -1;
	const struct eval_group *g = s->n_groups ? &s->groups[s->last_group] : NULL;
	if (g && g->task == it->task && g->flow == it->flow) {
		it->group = s->last_group;
		return 0;
	}
	for (size_t i = 0; i < s->n_groups; i++)
		if (s->groups[i].task == it->task && s->groups[i].flow == it->flow) {
			it->group = s->last_group = i;
			return 0;
		}
	if (s->n_groups == s->cap_groups) {
		size_t c = s->cap_groups ? s->cap_groups * 2 : 16;
		void *p = realloc(s->groups, c * sizeof *s->groups);
		if (!p)
			return tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
		s->groups = p;
		s->cap_groups = c;
	}
	s->groups[s->n_groups].task = it->task;
	s->groups[s->n_groups].flow = it->flow;
	it->group = s->last_group = s->n_groups++;
	return 0;
}

/* Calls fn for each non-blank line (NUL-terminated copy) with its number. */
typedef int (*line_fn)(struct eval_set *s, const char *line, size_t no, struct tally_err *err);

static int each_line(const char *text, size_t len, struct eval_set *s, line_fn fn,
                     struct tally_err *err)
{
	size_t no = 0, start = 0;
	char *buf = NULL;
	size_t cap = 0;
	int rc = 0;
	while (start < len && rc == 0) {
		const char *nl = memchr(text + start, '\n', len - start);
		size_t end = nl ? (size_t)(nl - text) : len;
		size_t n = end - start;
		no++;
		if (n + 1 > cap) {
			cap = n + 1;
			char *nb = realloc(buf, cap);
			if (!nb) {
				rc = tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
				break;
			}
			buf = nb;
		}
		memcpy(buf, text + start, n);
		buf[n] = '\0';
		bool blank = true;
		for (size_t i = 0; i < n && blank; i++)
			if (buf[i] != ' ' && buf[i] != '\t' && buf[i] != '\r')
				blank = false;
		if (!blank)
			rc = fn(s, buf, no, err);
		start = end + 1;
	}
	free(buf);
	return rc;
}

static cJSON *parse_line(const char *line, size_t no, const cJSON **results, struct tally_err *err)
{
	cJSON *root = cJSON_Parse(line);
	if (!root || !cJSON_IsObject(root)) {
		tally_err_set(err, TALLY_EINVAL, false, "line %zu: not a JSON object", no);
		cJSON_Delete(root);
		return NULL;
	}
	const cJSON *task = cJSON_GetObjectItemCaseSensitive(root, "task_type");
	*results = cJSON_GetObjectItemCaseSensitive(root, "results");
	if (!cJSON_IsString(task) || !task->valuestring[0] ||
	    strlen(task->valuestring) > ROUTER_TASK_MAX) {
		tally_err_set(err, TALLY_EINVAL, false,
		              "line %zu: \"task_type\" must be a string of 1 to %d bytes", no,
		              ROUTER_TASK_MAX);
		cJSON_Delete(root);
		return NULL;
	}
	const cJSON *wf = cJSON_GetObjectItemCaseSensitive(root, "workflow");
	if (wf && !cJSON_IsNull(wf) &&
	    (!cJSON_IsString(wf) || strlen(wf->valuestring) > ROUTER_TASK_MAX)) {
		tally_err_set(err, TALLY_EINVAL, false,
		              "line %zu: \"workflow\" must be a string of at most %d bytes", no,
		              ROUTER_TASK_MAX);
		cJSON_Delete(root);
		return NULL;
	}
	if (!cJSON_IsObject(*results) || !(*results)->child) {
		tally_err_set(err, TALLY_EINVAL, false,
		              "line %zu: \"results\" must be an object with one entry per tier",
		              no);
		cJSON_Delete(root);
		return NULL;
	}
	return root;
}

static int pass_tiers(struct eval_set *s, const char *line, size_t no, struct tally_err *err)
{
	const cJSON *results, *r;
	cJSON *root = parse_line(line, no, &results, err);
	if (!root)
		return -1;
	int rc = 0;
	cJSON_ArrayForEach(r, results) if ((rc = add_tier(s, r->string, no, err)) < 0) break;
	cJSON_Delete(root);
	s->n_lines++;
	return rc;
}

static int parse_cost(const cJSON *c, int64_t *out)
{
	char num[64];
	if (cJSON_IsString(c))
		return money_parse(c->valuestring, 12, out, NULL);
	if (!cJSON_IsNumber(c))
		return -1;
	/* a JSON number: its shortest decimal form, read exactly from there */
	snprintf(num, sizeof num, "%.17g", c->valuedouble);
	return money_parse(num, 12, out, NULL);
}

static int pass_items(struct eval_set *s, const char *line, size_t no, struct tally_err *err)
{
	const cJSON *results, *r;
	if (s->n_items >= s->n_lines)
		return tally_err_set(err, TALLY_EINVAL, false, "line %zu: the file changed", no);
	cJSON *root = parse_line(line, no, &results, err);
	if (!root)
		return -1;
	struct item *it = &s->items[s->n_items];
	int rc = -1;
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(root, "item");
	char nbuf[32];
	it->cost = &s->costs[s->n_items * s->n_tiers];
	it->q = &s->qs[s->n_items * s->n_tiers];
	for (size_t t = 0; t < s->n_tiers; t++)
		it->cost[t] = -1;
	if (cJSON_IsString(name)) {
		it->name = strdup(name->valuestring);
	} else if (cJSON_IsNumber(name)) {
		snprintf(nbuf, sizeof nbuf, "%.0f", name->valuedouble);
		it->name = strdup(nbuf);
	} else {
		snprintf(nbuf, sizeof nbuf, "line-%zu", no);
		it->name = strdup(nbuf);
	}
	if (!it->name) {
		tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
		goto out;
	}
	if (task_of(s, cJSON_GetObjectItemCaseSensitive(root, "task_type")->valuestring, &it->task,
	            err) < 0)
		goto out;
	const cJSON *wf = cJSON_GetObjectItemCaseSensitive(root, "workflow");
	if (group_of(s, it, cJSON_IsString(wf) ? wf->valuestring : "", err) < 0)
		goto out;
	cJSON_ArrayForEach(r, results)
	{
		int t = find_tier(s, r->string);
		const cJSON *q = cJSON_GetObjectItemCaseSensitive(r, "quality");
		const cJSON *c = cJSON_GetObjectItemCaseSensitive(r, "cost_usd");
		if (t < 0) { /* only if the text changed between the passes */
			tally_err_set(err, TALLY_EINVAL, false, "line %zu: unknown tier", no);
			goto out;
		}
		if (!cJSON_IsNumber(q) || !(q->valuedouble >= 0 && q->valuedouble <= 1)) {
			tally_err_set(err, TALLY_EINVAL, false,
			              "line %zu: results.%s.quality must be a number in [0,1]", no,
			              r->string);
			goto out;
		}
		if (parse_cost(c, &it->cost[t]) < 0 || it->cost[t] < 0) {
			tally_err_set(err, TALLY_EINVAL, false,
			              "line %zu: results.%s.cost_usd must be a non-negative decimal"
			              " (a string such as \"0.000310\")",
			              no, r->string);
			goto out;
		}
		it->q[t] = q->valuedouble;
	}
	for (size_t t = 0; t < s->n_tiers; t++)
		if (it->cost[t] < 0) {
			tally_err_set(err, TALLY_EINVAL, false,
			              "line %zu: item %s has no result for tier \"%s\"; every item "
			              "needs a result for every tier of the file",
			              no, it->name, s->tiers[t]);
			goto out;
		}
	rc = 0;
out:
	s->n_items++; /* so that set_cleanup frees the name */
	cJSON_Delete(root);
	return rc;
}

static void line_add(struct router_eval_line *ln, int64_t cost, double q)
{
	ln->cost_pusd += cost;
	ln->quality += q;
	ln->items++;
}

static void line_finish(struct router_eval_line *ln)
{
	if (ln->items)
		ln->quality /= (double)ln->items;
}

/* Hindsight baselines: always-best, always-cheapest, static and item oracles.
 * The static oracle chooses per (task type, workflow) group: per task type
 * when no item carries a workflow. */
static void baselines(const struct eval_set *s, double tol, struct router_eval_result *out)
{
	size_t nt = s->n_tiers, nk = s->n_groups;
	int64_t *tc = calloc(nt * (nk + 1), sizeof *tc);
	double *tq = calloc(nt * (nk + 1), sizeof *tq);
	int64_t *tn = calloc(nk + 1, sizeof *tn);
	size_t *pick = calloc(nk + 1, sizeof *pick);
	if (!tc || !tq || !tn || !pick)
		goto out;
	/* row nk holds the totals over all task types */
	for (size_t i = 0; i < s->n_items; i++) {
		const struct item *it = &s->items[i];
		tn[it->group]++;
		for (size_t t = 0; t < nt; t++) {
			tc[it->group * nt + t] += it->cost[t];
			tq[it->group * nt + t] += it->q[t];
			tc[nk * nt + t] += it->cost[t];
			tq[nk * nt + t] += it->q[t];
		}
	}
	/* counts are equal across tiers within a row, so sums compare as means */
	size_t best = 0, cheap = 0;
	for (size_t t = 1; t < nt; t++) {
		const int64_t *c = &tc[nk * nt];
		const double *q = &tq[nk * nt];
		if (q[t] > q[best] || (q[t] == q[best] && c[t] < c[best]))
			best = t;
		if (c[t] < c[cheap] || (c[t] == c[cheap] && q[t] > q[cheap]))
			cheap = t;
	}
	snprintf(out->best_tier, sizeof out->best_tier, "%s", s->tiers[best]);
	snprintf(out->cheapest_tier, sizeof out->cheapest_tier, "%s", s->tiers[cheap]);
	for (size_t k = 0; k < nk; k++) {
		const int64_t *c = &tc[k * nt];
		const double *q = &tq[k * nt];
		size_t b = 0;
		for (size_t t = 1; t < nt; t++)
			if (q[t] > q[b] || (q[t] == q[b] && c[t] < c[b]))
				b = t;
		size_t p = b;
		double thr = (1 - tol) * q[b] / (double)tn[k];
		for (size_t t = 0; t < nt; t++)
			if (q[t] / (double)tn[k] >= thr - 1e-12 && c[t] < c[p])
				p = t;
		pick[k] = p;
	}
	for (size_t i = 0; i < s->n_items; i++) {
		const struct item *it = &s->items[i];
		line_add(&out->always_best, it->cost[best], it->q[best]);
		line_add(&out->always_cheapest, it->cost[cheap], it->q[cheap]);
		line_add(&out->static_oracle, it->cost[pick[it->group]], it->q[pick[it->group]]);
		/* the cheapest tier reaching the item's best result (for 0/1
		 * quality: the cheapest that succeeds, else the cheapest) */
		double top = 0;
		for (size_t t = 0; t < nt; t++)
			if (it->q[t] > top)
				top = it->q[t];
		size_t o = nt;
		for (size_t t = 0; t < nt; t++)
			if (it->q[t] >= top && (o == nt || it->cost[t] < it->cost[o]))
				o = t;
		line_add(&out->item_oracle, it->cost[o], it->q[o]);
	}
out:
	free(tc);
	free(tq);
	free(tn);
	free(pick);
}

int router_eval(const char *text, size_t len, const struct router_params *p, bool shuffle,
                FILE *trace, struct router_eval_result *out, struct tally_err *err)
{
	struct eval_set s;
	struct router_learner *l = NULL;
	size_t *order = NULL;
	int rc = -1;

	memset(&s, 0, sizeof s);
	memset(out, 0, sizeof *out);
	size_t none;
	if (name_of(&s.flows, &s.n_flows, &s.cap_flows, &s.last_flow, "", &none, err) < 0)
		goto out; /* flows[0]: no workflow */
	if (each_line(text, len, &s, pass_tiers, err) < 0)
		goto out;
	if (s.n_lines == 0) {
		tally_err_set(err, TALLY_EINVAL, false, "no items: the file is empty");
		goto out;
	}
	size_t n = s.n_lines;
	s.items = calloc(n, sizeof *s.items);
	s.costs = calloc(n * s.n_tiers, sizeof *s.costs);
	s.qs = calloc(n * s.n_tiers, sizeof *s.qs);
	order = calloc(n, sizeof *order);
	if (!s.items || !s.costs || !s.qs || !order) {
		tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
		goto out;
	}
	if (each_line(text, len, &s, pass_items, err) < 0)
		goto out;
	/* every sum of costs below (the router's, a baseline's, a learner's
	 * cell) is at most the sum over items of their dearest result: when
	 * that fits in int64, none of them can overflow */
	int64_t bound = 0;
	for (size_t i = 0; i < n; i++) {
		int64_t top = 0;
		for (size_t t = 0; t < s.n_tiers; t++)
			if (s.items[i].cost[t] > top)
				top = s.items[i].cost[t];
		if (__builtin_add_overflow(bound, top, &bound)) {
			tally_err_set(err, TALLY_ERANGE, false,
			              "the costs of the file add up to more than can be counted "
			              "exactly (%s)",
			              s.items[i].name);
			goto out;
		}
	}
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	if (shuffle) {
		struct router_rng rng;
		router_rng_seed(&rng, p->seed ^ UINT64_C(0x53485546464c45)); /* own stream */
		for (size_t i = n - 1; i > 0; i--) {
			size_t j = (size_t)(router_rng_next(&rng) % (uint64_t)(i + 1));
			size_t tmp = order[i];
			order[i] = order[j];
			order[j] = tmp;
		}
	}
	if (!(l = router_learner_new(p, err)))
		goto out;
	for (size_t t = 0; t < s.n_tiers; t++)
		if (router_learner_add_tier(l, s.tiers[t], err) < 0)
			goto out;
	for (size_t i = 0; i < n; i++) {
		const struct item *it = &s.items[order[i]];
		struct router_choice ch;
		const char *task = s.tasks[it->task], *wf = s.flows[it->flow];
		if (wf[0])
			router_learner_choose_workflow(l, task, wf, &ch);
		else
			router_learner_choose(l, task, &ch);
		int t = find_tier(&s, ch.tier);
		if (t < 0) {
			tally_err_set(err, TALLY_EINVAL, false,
			              "the router chose tier \"%s\", which the file does not have",
			              ch.tier);
			goto out;
		}
		/* the only result the learner ever sees */
		if (router_learner_observe_workflow(l, task, wf, s.tiers[t], it->q[t], it->cost[t],
		                                    -1, err) < 0)
			goto out;
		line_add(&out->router, it->cost[t], it->q[t]);
		if (trace)
			fprintf(trace, "%s\t%s\n", it->name, s.tiers[t]);
	}
	baselines(&s, p->tolerance, out);
	line_finish(&out->router);
	line_finish(&out->always_best);
	line_finish(&out->always_cheapest);
	line_finish(&out->static_oracle);
	line_finish(&out->item_oracle);
	out->n_tiers = s.n_tiers;
	out->n_task_types = s.n_tasks;
	out->n_groups = s.n_groups;
	if (out->always_best.items != (int64_t)n) {
		tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
		goto out;
	}
	rc = 0;
out:
	router_learner_free(l);
	free(order);
	set_cleanup(&s);
	return rc;
}
