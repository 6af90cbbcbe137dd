/* err.c - first-error-wins error reporting. */
#include "common.h"

#include <stdio.h>
#include <string.h>

int tally_err_set(struct tally_err *e, int code, bool retriable, const char *fmt, ...)
{
	va_list ap;

	if (!e || e->code != TALLY_OK)
		return -1;
	e->code = code ? code : TALLY_EINVAL;
	e->retriable = retriable;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	va_end(ap);
	return -1;
}

void tally_err_clear(struct tally_err *e)
{
	if (!e)
		return;
	e->code = TALLY_OK;
	e->retriable = false;
	e->msg[0] = '\0';
}
