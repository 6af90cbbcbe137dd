/* waste.c - reads that judge the stored calls: the waste report (failed,
 * repeated, cache savings, over-tier spend) and provider_cost_usd against
 * tally's own cost. Money is numeric pico-USD, never float. */
#include "ledger_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* team, workflow, failed calls, failed spend, repeated calls, repeated
 * spend, cache hits, realised savings, spend, over-tier spend (NULL: no
 * policy version yet), 1 on the totals row, whether a policy exists. */
const char ledger_sql_waste[] =
    "WITH c AS (SELECT c.team, c.workflow, c.status, c.cost_pusd, c.cache_hit,"
    " c.input_tokens, c.output_tokens, c.cache_read_tokens, c.cache_write_tokens,"
    " c.reasoning_tokens, c.price_version, " PC_LIST_TOTAL "::numeric AS list"
    " FROM calls c"
    " WHERE c.ts >= $1 AND c.ts < $2 AND ($4::text IS NULL OR c.team = $4)),"
    /* The last successful identical prompt before each call, looking back
     * one window before the period too. */
    " w AS (SELECT c.team, c.workflow, c.ts, c.cost_pusd, max(c.ts) FILTER (WHERE"
    "  c.status = 'ok') OVER (PARTITION BY c.prompt_hash ORDER BY c.ts, c.event_id"
    "  ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS last_ok"
    "  FROM calls c WHERE c.prompt_hash IS NOT NULL AND NOT c.cache_hit"
    "  AND c.ts >= $1::timestamptz - make_interval(secs => $3::bigint) AND c.ts < $2"
    "  AND ($4::text IS NULL OR c.team = $4)),"
    " r AS (SELECT team, workflow, count(*) AS rn, coalesce(sum(cost_pusd), 0) AS rs"
    "  FROM w WHERE ts >= $1 AND last_ok >= ts - make_interval(secs => $3::bigint)"
    "  GROUP BY 1, 2),"
    /* What cache hits would have cost at list rates, as the
     * pricer stored it on each call. */
    " sav AS (SELECT c.team, c.workflow, count(*) AS n, sum(c.list) AS s"
    "  FROM c WHERE c.cache_hit AND c.price_version IS NOT NULL GROUP BY 1, 2),"
    " f AS (SELECT team, workflow, count(*) FILTER (WHERE status <> 'ok') AS fn,"
    "  coalesce(sum(cost_pusd) FILTER (WHERE status <> 'ok'), 0) AS fs,"
    "  coalesce(sum(cost_pusd), 0) AS total FROM c GROUP BY 1, 2),"
    /* Over-tier spend: the calls of the period on a tier dearer
     * per call than the tier of the policy version that judges
     * them (the one in force when each was made, or $5), less
     * what they would have cost at that tier's mean cost per
     * call; as /api/v1/routing/savings computes it per task type
     * (ledger_router_over_tier), here by team and workflow. */
    LEDGER_OVER_TIER_CTES(
        "$1", "$2",
        "$5") ","
              " ot AS (SELECT team, workflow, sum(cost - n * per_call) AS over FROM dear"
              "  WHERE ($4::text IS NULL OR team = $4) GROUP BY 1, 2),"
              " x AS (SELECT f.team, f.workflow, f.fn, f.fs, coalesce(r.rn, 0) AS rn,"
              "  coalesce(r.rs, 0) AS rs, coalesce(sav.n, 0) AS sn, coalesce(sav.s, 0) AS ss,"
              "  f.total, CASE WHEN (SELECT judges FROM judged) THEN coalesce(ot.over, 0)"
              "  END AS over FROM f LEFT JOIN r USING (team, workflow)"
              "  LEFT JOIN sav USING (team, workflow) LEFT JOIN ot USING (team, workflow))"
              /* The rows, then their exact totals (team NULL, last). */
              " SELECT team, workflow, sum(fn), sum(fs)::numeric(40,0), sum(rn),"
              " sum(rs)::numeric(40,0), sum(sn), sum(ss)::numeric(40,0),"
              " sum(total)::numeric(40,0), sum(over)::numeric(40,0), GROUPING(team),"
              " (SELECT judges FROM judged), (SELECT versions FROM judged)"
              " FROM x GROUP BY GROUPING SETS ((team, workflow), ())"
              " ORDER BY GROUPING(team), team, workflow";

const char ledger_sql_cost_mismatch[] =
    "SELECT provider, model, count(*),"
    " count(*) FILTER (WHERE cost_pusd IS NULL OR abs(provider_cost_pusd - cost_pusd) > $3),"
    " count(*) FILTER (WHERE cost_pusd IS NULL),"
    " sum(provider_cost_pusd)::numeric(40,0), coalesce(sum(cost_pusd), 0)::numeric(40,0),"
    " (sum(provider_cost_pusd) - coalesce(sum(cost_pusd), 0))::numeric(40,0)"
    " FROM calls WHERE ts >= $1 AND ts < $2 AND provider_cost_pusd IS NOT NULL"
    " AND NOT cache_hit GROUP BY 1, 2"
    " ORDER BY abs(sum(provider_cost_pusd) - coalesce(sum(cost_pusd), 0)) DESC, 1, 2";
