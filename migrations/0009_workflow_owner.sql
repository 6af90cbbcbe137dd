-- 0009_workflow_owner: a workflow belongs to the team that used it first, so
-- that a workflow budget counts that team's calls only: another team's call
-- naming the workflow (names are guessable) never moves its budget.
CREATE TABLE workflow_owners (
	workflow   text PRIMARY KEY,
	team       text NOT NULL,
	first_seen timestamptz NOT NULL DEFAULT now()
);

INSERT INTO workflow_owners (workflow, team, first_seen)
SELECT DISTINCT ON (workflow) workflow, team, day FROM rollup_daily
ORDER BY workflow, day, team;
