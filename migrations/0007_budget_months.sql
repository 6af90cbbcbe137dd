-- 0007_budget_months: a budget's amount by month, so that changing a budget
-- from some month on leaves the months before it as they were (reports and
-- alerts of a past month keep the amount that applied then).
-- `tally budgets set` without a month sets the amount of every month (one row
-- from '-infinity'); with --month YYYY-MM, from that month on.
CREATE TABLE budget_amounts (
	budget_id   bigint NOT NULL REFERENCES budgets ON DELETE CASCADE,
	from_month  date NOT NULL,   -- first day of a month, or '-infinity'
	amount_pusd numeric(40, 0) NOT NULL CHECK (amount_pusd > 0),
	set_at      timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (budget_id, from_month)
);

INSERT INTO budget_amounts (budget_id, from_month, amount_pusd)
SELECT id, '-infinity', amount_pusd FROM budgets;
