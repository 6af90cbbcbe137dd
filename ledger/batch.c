/* batch.c - a batch of consumed messages in memory: its calls, outcomes,
 * feedback, quarantined messages and the offsets it covers; and its
 * messages one at a time, for a batch the ledger refused. Written by
 * ledger/batch_write.c. */
#include "ledger_int.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* ---- the batch in memory ---------------------------------------------- */

void ledger_batch_init(struct ledger_batch *b)
{
	memset(b, 0, sizeof *b);
}

void ledger_batch_reset(struct ledger_batch *b)
{
	for (size_t i = 0; i < b->n_quarantine; i++)
		free(b->quarantine[i].raw);
	b->n_calls = b->n_outcomes = b->n_feedback = b->n_quarantine = b->n_marks = 0;
	b->n_call_text = 0;
	sbuf_reset(&b->call_text);
	b->probed_ahead = false;
}

void ledger_batch_cleanup(struct ledger_batch *b)
{
	if (!b)
		return;
	ledger_batch_reset(b);
	free(b->calls);
	free(b->outcomes);
	free(b->feedback);
	free(b->quarantine);
	free(b->marks);
	free(b->call_text_end);
	free(b->stored);
	sbuf_cleanup(&b->call_text);
	ledger_batch_init(b);
}

size_t ledger_batch_size(const struct ledger_batch *b)
{
	return b->n_calls + b->n_outcomes + b->n_feedback + b->n_quarantine;
}

/* Grows *arr (of elements of size sz) to hold one more; returns the new
 * zeroed slot or NULL. */
static void *batch_slot_raw(void **arr, size_t *n, size_t *cap, size_t sz)
{
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 256;
		void *p = realloc(*arr, ncap * sz);
		if (!p)
			return NULL;
		*arr = p;
		*cap = ncap;
	}
	return (char *)*arr + (*n)++ * sz;
}

static void *batch_slot(void **arr, size_t *n, size_t *cap, size_t sz)
{
	void *slot = batch_slot_raw(arr, n, cap, sz);
	if (slot)
		memset(slot, 0, sz);
	return slot;
}

struct call_row *ledger_batch_add_call(struct ledger_batch *b)
{
	return batch_slot((void **)&b->calls, &b->n_calls, &b->cap_calls, sizeof *b->calls);
}

struct call_row *ledger_batch_add_call_from(struct ledger_batch *b, const struct call_event *ev)
{
	struct call_row *row =
	    batch_slot_raw((void **)&b->calls, &b->n_calls, &b->cap_calls, sizeof *b->calls);
	if (!row)
		return NULL;
	/* Everything but the tags buffer in one copy, then only the tags used. */
	memcpy(&row->ev, ev, offsetof(struct call_event, tags));
	memcpy(row->ev.tags, ev->tags, strlen(ev->tags) + 1);
	row->pos = (struct kafka_pos){NULL, -1, 0};
	row->priced = false;
	row->cost_pusd = 0;
	row->price_version = 0;
	row->tier[0] = '\0';
	memset(&row->parts, 0, sizeof row->parts);
	row->unpriced_reason[0] = '\0';
	return row;
}

struct outcome_row *ledger_batch_add_outcome(struct ledger_batch *b)
{
	return batch_slot((void **)&b->outcomes, &b->n_outcomes, &b->cap_outcomes,
	                  sizeof *b->outcomes);
}

struct feedback_row *ledger_batch_add_feedback(struct ledger_batch *b)
{
	return batch_slot((void **)&b->feedback, &b->n_feedback, &b->cap_feedback,
	                  sizeof *b->feedback);
}

int ledger_batch_seal_call(struct ledger_batch *b)
{
	if (b->n_calls == 0 || b->n_call_text != b->n_calls - 1)
		return -1; /* only the newest call, in order */
	if (b->n_call_text == b->cap_call_text) {
		size_t cap = b->cap_call_text ? b->cap_call_text * 2 : 1024;
		size_t *p = realloc(b->call_text_end, cap * sizeof *p);
		if (!p)
			return -1;
		b->call_text_end = p;
		b->cap_call_text = cap;
	}
	ledger_copy_call(&b->call_text, &b->calls[b->n_calls - 1]);
	if (b->call_text.oom)
		return -1;
	b->call_text_end[b->n_call_text++] = b->call_text.len;
	return 0;
}

int ledger_batch_add_quarantine(struct ledger_batch *b, const struct kafka_pos *pos,
                                const char *reason, const void *raw, size_t raw_len)
{
	struct quarantine_row *q = batch_slot((void **)&b->quarantine, &b->n_quarantine,
	                                      &b->cap_quarantine, sizeof *b->quarantine);
	if (!q)
		return -1;
	q->pos = *pos;
	str_copy(q->reason, sizeof q->reason, reason);
	utf8_sanitize(q->reason); /* a cut message may end inside a character */
	q->raw = malloc(raw_len ? raw_len : 1);
	if (!q->raw) {
		b->n_quarantine--;
		return -1;
	}
	memcpy(q->raw, raw, raw_len);
	q->raw_len = raw_len;
	return 0;
}

int ledger_batch_mark(struct ledger_batch *b, const struct kafka_pos *pos)
{
	if (pos->partition < 0)
		return 0;
	/* Messages come in runs per partition: try the last mark first. */
	if (b->n_marks) {
		struct kafka_pos *m = &b->marks[b->last_mark < b->n_marks ? b->last_mark : 0];
		if (m->partition == pos->partition && m->topic == pos->topic) {
			if (pos->offset > m->offset)
				m->offset = pos->offset;
			return 0;
		}
	}
	for (size_t i = 0; i < b->n_marks; i++) {
		struct kafka_pos *m = &b->marks[i];
		if (m->partition == pos->partition &&
		    (m->topic == pos->topic || strcmp(m->topic, pos->topic) == 0)) {
			b->last_mark = i;
			if (pos->offset > m->offset)
				m->offset = pos->offset;
			return 0;
		}
	}
	struct kafka_pos *m =
	    batch_slot((void **)&b->marks, &b->n_marks, &b->cap_marks, sizeof *b->marks);
	if (!m)
		return -1;
	*m = *pos;
	b->last_mark = b->n_marks - 1;
	return 0;
}

/* ---- writing ----------------------------------------------------------------- */

/* ---- the batch message by message ------------------------------------------ */

/* One row of a batch: its message's position and its index over calls, then
 * outcomes, feedback and quarantined messages. */
struct ledger_batch_item {
	const struct kafka_pos *pos;
	size_t index;
};

static int item_cmp(const void *a, const void *b)
{
	const struct kafka_pos *x = ((const struct ledger_batch_item *)a)->pos;
	const struct kafka_pos *y = ((const struct ledger_batch_item *)b)->pos;
	int t = strcmp(x->topic ? x->topic : "", y->topic ? y->topic : "");

	if (t)
		return t;
	if (x->partition != y->partition)
		return x->partition < y->partition ? -1 : 1;
	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static const struct kafka_pos *item_pos(const struct ledger_batch *b, size_t j)
{
	if (j < b->n_calls)
		return &b->calls[j].pos;
	if ((j -= b->n_calls) < b->n_outcomes)
		return &b->outcomes[j].pos;
	if ((j -= b->n_outcomes) < b->n_feedback)
		return &b->feedback[j].pos;
	return &b->quarantine[j - b->n_feedback].pos;
}

int ledger_batch_walk_init(struct ledger_batch_walk *w, const struct ledger_batch *b)
{
	memset(w, 0, sizeof *w);
	w->b = b;
	w->n = ledger_batch_size(b);
	if (!(w->items = calloc(w->n ? w->n : 1, sizeof *w->items)))
		return -1;
	/* In offset order per partition: each write stores its message's
	 * offset, and anything below a stored offset counts as stored already. */
	for (size_t i = 0; i < w->n; i++)
		w->items[i] = (struct ledger_batch_item){item_pos(b, i), i};
	qsort(w->items, w->n, sizeof *w->items, item_cmp);
	return 0;
}

/* Adds row j of b to one. Returns 0, or -1 when out of memory. */
static int add_row(struct ledger_batch *one, const struct ledger_batch *b, size_t j)
{
	void *slot;

	if (j < b->n_calls) {
		if ((slot = ledger_batch_add_call(one)))
			*(struct call_row *)slot = b->calls[j];
	} else if ((j -= b->n_calls) < b->n_outcomes) {
		if ((slot = ledger_batch_add_outcome(one)))
			*(struct outcome_row *)slot = b->outcomes[j];
	} else if ((j -= b->n_outcomes) < b->n_feedback) {
		if ((slot = ledger_batch_add_feedback(one)))
			*(struct feedback_row *)slot = b->feedback[j];
	} else {
		const struct quarantine_row *q = &b->quarantine[j - b->n_feedback];
		return ledger_batch_add_quarantine(one, &q->pos, q->reason, q->raw, q->raw_len);
	}
	return slot ? 0 : -1;
}

int ledger_batch_walk_next(struct ledger_batch_walk *w, struct ledger_batch *one,
                           struct kafka_pos *pos)
{
	size_t k = w->next;

	ledger_batch_reset(one);
	if (k >= w->n)
		return 0;
	*pos = *w->items[k].pos;
	/* An OTLP message may hold several rows: they are one message, written
	 * together (storing its offset alone would skip the others). */
	do {
		if (add_row(one, w->b, w->items[w->next].index) < 0)
			return -1;
		w->next++;
	} while (w->next < w->n && item_cmp(&w->items[k], &w->items[w->next]) == 0);
	return ledger_batch_mark(one, pos) < 0 ? -1 : 1;
}

void ledger_batch_walk_cleanup(struct ledger_batch_walk *w)
{
	free(w->items);
	w->items = NULL;
}
