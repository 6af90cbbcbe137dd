# expect_cost.sh FROM COUNT - the exact pico-USD total of gen_calls.sh's events.
awk -v from="$1" -v n="$2" 'BEGIN {
	s = 0
	for (i = from; i < from + n; i++)
		s += (100 + i % 50) * 150000 + (10 + i % 20) * 600000
	printf "%.0f\n", s
}'
