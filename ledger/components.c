/* components.c - how a call's price components are stored: one text column,
 * calls.components (migrations/0018_call_components.sql), written by the
 * collector's COPY and by reprice, read back by reprice. SQL reads the same
 * text through tally_call_components() and tally_call_component().
 *
 * The text: the components with a non-zero quantity, cost or list cost, in
 * the order of ledger/price_components.h, separated by one space, each
 * "<name>:<quantity>:<billed pico-USD>:<list pico-USD>"; empty when none
 * (stored as NULL). */
#include "ledger_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The length of each component's name, known to the compiler. */
#define PC_NAME_LEN_(ID, name, key, unit) sizeof #name - 1,
static const size_t name_len[PC_COUNT] = {PRICE_COMPONENTS(PC_NAME_LEN_)};
#undef PC_NAME_LEN_

bool ledger_components_format(struct sbuf *s, const struct call_price *p)
{
	bool any = false;

	for (int k = 0; k < PC_COUNT; k++) {
		if (p->qty[k] == 0 && p->cost[k] == 0 && p->list[k] == 0)
			continue;
		if (any)
			sbuf_putc(s, ' ');
		sbuf_append(s, price_component_names[k], name_len[k]);
		sbuf_putc(s, ':');
		sbuf_i64(s, p->qty[k]);
		sbuf_putc(s, ':');
		sbuf_i64(s, p->cost[k]);
		sbuf_putc(s, ':');
		sbuf_i64(s, p->list[k]);
		any = true;
	}
	return any;
}

void ledger_copy_components(struct sbuf *s, const struct call_price *p)
{
	if (!ledger_components_format(s, p))
		sbuf_append(s, "\\N", 2); /* none: NULL */
}

static int component_named(const char *name, size_t len)
{
	for (int k = 0; k < PC_COUNT; k++)
		if (strlen(price_component_names[k]) == len &&
		    memcmp(price_component_names[k], name, len) == 0)
			return k;
	return -1;
}

/* One integer of an item: a pointer past it, or NULL. */
static const char *read_i64(const char *p, int64_t *out)
{
	char *end;

	errno = 0;
	long long v = strtoll(p, &end, 10);
	if (end == p || errno != 0)
		return NULL;
	*out = v;
	return end;
}

int ledger_components_parse(const char *text, struct call_price *p, struct tally_err *err)
{
	memset(p, 0, sizeof *p);
	if (!text)
		return 0;
	for (const char *q = text; *q;) {
		const char *colon = strchr(q, ':');
		int k = colon ? component_named(q, (size_t)(colon - q)) : -1;
		int64_t qty = 0, cost = 0, list = 0;
		if (k < 0)
			return tally_err_set(err, TALLY_EINVAL, false,
			                     "stored components: unknown component in \"%.40s\"",
			                     q);
		const char *r = read_i64(colon + 1, &qty);
		r = r && *r == ':' ? read_i64(r + 1, &cost) : NULL;
		r = r && *r == ':' ? read_i64(r + 1, &list) : NULL;
		if (!r || (*r != ' ' && *r != '\0'))
			return tally_err_set(err, TALLY_EINVAL, false,
			                     "stored components: unreadable item in \"%.40s\"", q);
		p->qty[k] = qty;
		p->cost[k] = cost;
		p->list[k] = list;
		p->total += cost;
		p->list_total += list;
		q = *r == ' ' ? r + 1 : r;
	}
	return 0;
}
