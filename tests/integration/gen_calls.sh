# gen_calls.sh FROM COUNT [PREFIX] - COUNT gpt-4o-mini call events numbered
# from FROM, on stdout. Costs follow from the index: input 100+i%50 and
# output 10+i%20 tokens at $0.15 / $0.60 per million tokens.
awk -v from="$1" -v n="$2" -v p="${3:-ev}" 'BEGIN {
	for (i = from; i < from + n; i++)
		printf "{\"event_id\":\"%s-%d\",\"ts\":\"2026-11-02T%02d:%02d:%02dZ\",\"team\":\"team-%d\",\"workflow\":\"wf-%d\",\"task_type\":\"classify\",\"provider\":\"openai\",\"model\":\"gpt-4o-mini\",\"usage\":{\"input_tokens\":%d,\"output_tokens\":%d},\"prompt_hash\":\"h%d\",\"quality\":0.9}\n", p, i, (i / 3600) % 24, (i / 60) % 60, i % 60, i % 5, i % 3, 100 + i % 50, 10 + i % 20, i % 1000
}'
