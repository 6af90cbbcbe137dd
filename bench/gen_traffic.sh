#!/bin/sh
# bench/gen_traffic.sh MODE COUNT [SEED] - COUNT call events on stdout, with the
# diversity of a real company's traffic, followed by outcome and feedback
# events for some of them. MODE:
#   live      timestamps within the 10 minutes before now, in time order
#   backfill  a month of history before now, in no particular time order (an
#             export sorted by team or by id, as imports usually are)
#
# What varies (all deterministic for a SEED):
#   36 teams, 3-5 workflows each (~140), 12 task types, 14 models of 7
#   providers (OpenAI, Anthropic, Gemini, Bedrock, DeepSeek, Mistral and two
#   self-hosted vLLM models), four usage shapes (tally's generic one, OpenAI
#   Chat Completions, OpenAI Responses, Anthropic Messages) chosen by provider,
#   prompts from 50 to 8,000 tokens (2% long context over 200,000), cache
#   reads on a third of calls, cache writes, reasoning tokens on reasoning
#   models, 5% batch, 3% answered by the application's cache, 2% errors, 40%
#   with an outcome id, 60% with a quality score, tags (env, region, feature,
#   and a customer on a fifth), latencies and prompt hashes.
mode=${1:?usage: gen_traffic.sh live|backfill COUNT [SEED]}
n=${2:?usage: gen_traffic.sh live|backfill COUNT [SEED]}
seed=${3:-7}
now=$(date -u +%s)
awk -v mode="$mode" -v n="$n" -v seed="$seed" -v now="$now" '
function pick(k) { return int(rand() * k) }
function ts(t, us) { return strftime("%Y-%m-%dT%H:%M:%S", t, 1) sprintf(".%06dZ", us) }
BEGIN {
	srand(seed)
	split("support sales legal platform marketing research finance growth security data " \
	      "hr ops billing search ads mobile web infra docs success partners risk trust " \
	      "pricing onboarding analytics content design devrel qa procurement tax " \
	      "treasury compliance retail enterprise", base, " ")
	split("triage summarise draft-reply search review extract route translate classify " \
	      "enrich answer plan", wfs, " ")
	split("classify extract summarise generate rerank chat translate code plan judge " \
	      "legal-review sql", tasks, " ")
	# provider, model, tier, usage shape, reasoning?, weight
	nm = split("openai gpt-4o-mini small chat 0 22|openai gpt-4o large chat 0 8|" \
	           "openai gpt-4.1-mini small responses 0 10|openai gpt-4.1 large responses 0 5|" \
	           "openai o4-mini medium responses 1 4|" \
	           "anthropic claude-sonnet-4-20250514 large anthropic 0 9|" \
	           "anthropic claude-opus-4-20250514 large anthropic 0 2|" \
	           "anthropic claude-3-5-haiku-latest small anthropic 0 6|" \
	           "gemini gemini-2.5-pro large generic 1 4|gemini gemini-2.0-flash small generic 0 10|" \
	           "bedrock anthropic.claude-3-5-sonnet-20241022-v2:0 large anthropic 0 4|" \
	           "deepseek deepseek-chat small chat 0 6|mistral mistral-small-latest small chat 0 5|" \
	           "vllm llama-3.1-8b-instruct local generic 0 5", models, "|")
	wsum = 0
	for (i = 1; i <= nm; i++) {
		split(models[i], f, " ")
		prov[i] = f[1]; model[i] = f[2]; tier[i] = f[3]; shape[i] = f[4]; reas[i] = f[5]
		wsum += f[6]; cum[i] = wsum
	}
	nt = 36
	for (t = 1; t <= nt; t++) {
		team[t] = base[t]
		nwf[t] = 3 + pick(3)
		for (w = 1; w <= nwf[t]; w++) {
			wf[t, w] = wfs[(t * 5 + w * 3) % 12 + 1]
			task[t, w] = tasks[(t * 7 + w) % 12 + 1]
			# each workflow has a usual model; 25% of its calls use another
			usual[t, w] = 1 + (t * 11 + w * 5) % nm
		}
		# a few teams spend most: a skewed team weight
		tw[t] = 1 / (t + 2); twsum += tw[t]; tcum[t] = twsum
	}
	span = mode == "live" ? 600 : 30 * 86400
	no = 0
	for (i = 0; i < n; i++) {
		r = rand() * twsum
		for (t = 1; t < nt && tcum[t] < r; t++) ;
		w = 1 + pick(nwf[t])
		if (rand() < 0.75) m = usual[t, w]
		else { r = rand() * wsum; for (m = 1; m < nm && cum[m] < r; m++) ; }
		# time: live in order over the last 10 minutes; backfill anywhere in
		# the month, with a weekday rhythm (weekends a third as busy)
		if (mode == "live") t0 = now - span + int(i * span / n)
		else {
			do { t0 = now - span + pick(span) } while (strftime("%u", t0, 1) > 5 && rand() < 0.66)
		}
		lc = rand() < 0.02 && (tier[m] == "large")
		inp = lc ? 200001 + pick(300000) : 50 + int(rand() * rand() * 8000)
		outp = 20 + pick(900)
		cr = rand() < 0.33 ? int(inp * rand() * 0.8) : 0
		cw = (shape[m] == "anthropic" && rand() < 0.15) ? int((inp - cr) * rand() * 0.5) : 0
		rs = reas[m] ? int(outp * rand()) : 0
		if (shape[m] == "chat")
			usage = sprintf("{\"prompt_tokens\":%d,\"completion_tokens\":%d,\"total_tokens\":%d,\"prompt_tokens_details\":{\"cached_tokens\":%d},\"completion_tokens_details\":{\"reasoning_tokens\":%d}}", inp, outp, inp + outp, cr, rs)
		else if (shape[m] == "responses")
			usage = sprintf("{\"input_tokens\":%d,\"input_tokens_details\":{\"cached_tokens\":%d},\"output_tokens\":%d,\"output_tokens_details\":{\"reasoning_tokens\":%d},\"total_tokens\":%d}", inp, cr, outp, rs, inp + outp)
		else if (shape[m] == "anthropic")
			usage = sprintf("{\"input_tokens\":%d,\"cache_creation_input_tokens\":%d,\"cache_read_input_tokens\":%d,\"output_tokens\":%d}", inp - cr - cw, cw, cr, outp)
		else
			usage = sprintf("{\"input_tokens\":%d,\"output_tokens\":%d,\"cache_read_tokens\":%d,\"cache_write_tokens\":0,\"reasoning_tokens\":%d}", inp, outp, cr, rs)
		oid = ""
		if (rand() < 0.4) {
			o = int(i / 3)
			oid = sprintf(",\"outcome_id\":\"%s-%s-%d\"", team[t], wf[t, w], o)
			if (i % 3 == 0 && no < n) { oteam[no] = team[t]; owf[no] = wf[t, w]; onum[no] = o; ots[no] = t0 + 60; no++ }
		}
		status = rand() < 0.02 ? "error" : "ok"
		q = rand() < 0.6 ? sprintf(",\"quality\":%.2f", 0.5 + rand() / 2) : ""
		cust = rand() < 0.2 ? sprintf(",\"customer\":\"cust-%04d\"", pick(2000)) : ""
		printf "{\"event_id\":\"%s-%d-%d\",\"ts\":\"%s\",\"team\":\"%s\",\"workflow\":\"%s\",\"task_type\":\"%s\"%s,\"provider\":\"%s\",\"model\":\"%s\",\"tier\":\"%s\",\"usage\":%s,\"batch\":%s,\"latency_ms\":%d,\"status\":\"%s\",\"cache_hit\":%s,\"local\":%s,\"prompt_hash\":\"%08x\"%s,\"tags\":{\"env\":\"%s\",\"region\":\"%s\",\"feature\":\"f-%d\"%s}}\n", \
			mode, seed, i, ts(t0, pick(1000000)), team[t], wf[t, w], task[t, w], oid, prov[m], model[m], tier[m], usage, \
			rand() < 0.05 ? "true" : "false", 150 + int(rand() * rand() * 6000), status, \
			rand() < 0.03 ? "true" : "false", prov[m] == "vllm" ? "true" : "false", pick(2^31), q, \
			rand() < 0.9 ? "prod" : "staging", rand() < 0.6 ? "us" : "eu", pick(40), cust
	}
	for (k = 0; k < no; k++)
		printf "{\"outcome_id\":\"%s-%s-%d\",\"ts\":\"%s\",\"team\":\"%s\",\"workflow\":\"%s\",\"kind\":\"%s_done\",\"success\":%s,\"value_usd\":\"%d.%02d\"}\n", \
			oteam[k], owf[k], onum[k], ts(ots[k], 0), oteam[k], owf[k], owf[k], rand() < 0.8 ? "true" : "false", pick(40), pick(100)
	for (k = 0; k < n / 20; k++)
		printf "{\"event_id\":\"%s-%d-%d\",\"ts\":\"%s\",\"score\":%.2f,\"source\":\"human\"}\n", mode, seed, pick(n), ts(now, 0), rand()
}'
