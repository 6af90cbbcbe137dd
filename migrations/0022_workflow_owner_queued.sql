-- 0022_workflow_owner_queued.sql - a workflow's owner read exactly while its
-- first calls are still queued.
--
-- A workflow belongs to the team that used it first (budgets by workflow,
-- ledger/budgets.c); the roll records it in workflow_owners (0021) with the
-- rollups. Until the roll, a workflow first seen in queued calls had no
-- owner, and its budget counted nothing of them: not exact at every
-- instant, as the rollups themselves are. The owner is now read through
-- this function: the recorded one, else the one the roll will record (the
-- team of the earliest hour among the queued calls naming it, then by team
-- name: the roll's own order, rollups_write.c).

CREATE FUNCTION tally_workflow_owner(wf text) RETURNS text LANGUAGE sql STABLE AS $$
	SELECT coalesce(
		(SELECT wo.team FROM workflow_owners wo WHERE wo.workflow = wf),
		(SELECT c.team FROM calls c
		 WHERE c.workflow = wf
		   AND c.ingest_xid = ANY ((SELECT array_agg(xid) FROM rollup_queue)::bigint[])
		 ORDER BY date_trunc('hour', c.ts, 'UTC'), c.team LIMIT 1))
$$;
