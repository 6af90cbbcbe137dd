/* report.h - reports over the ledger, formatted as CSV or JSON. */
#ifndef TALLY_REPORT_H
#define TALLY_REPORT_H

#include <stdio.h>

#include "../ledger/ledger.h"

enum report_format { REPORT_CSV, REPORT_JSON };

/* Writes a spend report (rows and total) to sb. cost_usd is an exact decimal
 * string with 12 fraction digits. */
void report_spend_format(const struct spend_result *r, int dim, enum report_format fmt,
			 struct sbuf *sb);

#endif
