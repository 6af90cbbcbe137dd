#!/bin/sh
# bench/routerbench_sets.sh - held-out routing sets for `tally router eval`
# (docs/router.md, "Held-out RouterBench sets"), converted from RouterBench's
# zero-shot results as redistributed by shuhao02/RouterDC
# (https://github.com/shuhao02/RouterDC, datasets/routerbench_zs/, MIT licence;
# RouterBench itself: withmartian/routerbench, MIT). Each CSV row is one
# prompt with, per model of the 11, a 0/1 (or [0,1]) quality column named
# after the model and "<model>|total_cost", RouterBench's own dollar cost of
# that model's call. The router was tuned on ARC-Challenge only: the other
# task types are held out.
#
# Usage: sh bench/routerbench_sets.sh [OUT_DIR]    (default bench/data, .gitignored)
#   ROUTERDC_DIR  a checkout (or a bare git directory) of shuhao02/RouterDC;
#                 default: a shallow clone into OUT_DIR/RouterDC
# Writes, in the `tally router eval` format (one JSON line per item):
#   routerbench-<task>.jsonl   one file per task type found (train and test
#                              splits together, duplicates by sample_id once)
#   routerbench-mixed.jsonl    every task type found except ARC, in one file
#                              (several task types sharing the 11 arms)
#   routerbench-<task>-open.jsonl  the same tasks with only the 6 open-weight
#                              models (no gpt/claude arm: other models, another best)
#   routerbench-<task>-x8.jsonl    ARC-Challenge and Winogrande replayed 8 times
#                              (items "<id>#0".."<id>#7"): a task type whose
#                              traffic lasts, for what exploration does in the long run
# Costs are copied as exact decimals (never through a binary float).
# Files too large for the snapshot at hand (the stored RouterDC snapshot lacks
# MMLU, GSM8K and Hellaswag) are skipped with a message.
cd "$(dirname "$0")/.." || exit 1
OUT=${1:-bench/data}
mkdir -p "$OUT" || exit 1
SRC=${ROUTERDC_DIR:-}
if [ -z "$SRC" ]; then
	SRC="$OUT/RouterDC"
	[ -e "$SRC" ] || git clone -q --depth 1 https://github.com/shuhao02/RouterDC "$SRC" || exit 1
fi
python3 - "$SRC" "$OUT" <<'PY'
import csv, decimal, io, json, os, subprocess, sys

src, out = sys.argv[1], sys.argv[2]
csv.field_size_limit(1 << 30)
OPEN = ["WizardLM/WizardLM-13B-V1.2", "meta/code-llama-instruct-34b-chat",
        "meta/llama-2-70b-chat", "mistralai/mistral-7b-chat",
        "mistralai/mixtral-8x7b-chat", "zero-one-ai/Yi-34B-Chat"]


def read(path):
    """The text of a file of the checkout, or of HEAD when src is a git directory."""
    full = os.path.join(src, path)
    if os.path.isfile(full):
        with open(full, encoding="utf-8") as f:
            return f.read()
    try:
        return subprocess.run(["git", "--git-dir", src if os.path.isdir(os.path.join(src, "objects"))
                               else os.path.join(src, ".git"), "show", "HEAD:" + path],
                              check=True, capture_output=True).stdout.decode("utf-8")
    except (subprocess.CalledProcessError, FileNotFoundError):
        return None


def exact(s):
    d = decimal.Decimal(s.strip())
    if not d.is_finite() or d < 0:
        raise ValueError("bad cost " + s)
    # pandas wrote some as float artefacts (0.0005479999999999999): to the
    # pico-dollar, the unit the ledger counts in
    return format(d.quantize(decimal.Decimal("1e-12"), rounding=decimal.ROUND_HALF_EVEN), "f")


def write(name, items, models):
    path = os.path.join(out, name)
    with open(path + ".partial", "w") as f:
        for it in items:
            f.write(json.dumps({"item": it["item"], "task_type": it["task_type"],
                                "results": {m: it["results"][m] for m in models}}) + "\n")
    os.replace(path + ".partial", path)
    print("%s: %d items, %d models" % (path, len(items), len(models)))


sets = {}
models = None
skipped = {}
for task in ["arc_challenge", "gsm8k", "hellaswag", "mbpp", "mmlu", "winograde"]:
    items, seen = [], set()
    for split in ["train", "test"]:
        text = read("datasets/routerbench_zs/%s_%s.csv" % (task, split))
        if text is None:
            print("skipped %s_%s.csv: not in this snapshot" % (task, split), file=sys.stderr)
            continue
        rows = csv.reader(io.StringIO(text))
        head = next(rows)
        ms = [h[: -len("|total_cost")] for h in head if h.endswith("|total_cost")]
        models = models or ms
        col = {h: i for i, h in enumerate(head)}
        for r in rows:
            sid = r[col["sample_id"]]
            if sid in seen:
                continue
            res = {}
            try:
                for m in ms:
                    q = float(r[col[m]])
                    if not 0 <= q <= 1:
                        raise ValueError("quality %r" % q)
                    res[m] = {"quality": q, "cost_usd": exact(r[col[m + "|total_cost"]])}
            except (ValueError, decimal.InvalidOperation):
                skipped[task] = skipped.get(task, 0) + 1  # a model's result is missing
                continue
            seen.add(sid)
            items.append({"item": sid, "task_type": r[col["eval_name"]], "results": res})
    if skipped.get(task):
        print("%s: %d rows without a result for every model left out" % (task, skipped[task]),
              file=sys.stderr)
    if items:
        sets[task] = items
        write("routerbench-%s.jsonl" % task.replace("_", "-"), items, models)
held = [it for t, its in sets.items() if t != "arc_challenge" for it in its]
if held:
    write("routerbench-mixed.jsonl", held, models)
for task in sets:
    if task != "arc_challenge":
        write("routerbench-%s-open.jsonl" % task.replace("_", "-"), sets[task], OPEN)
for task in ["arc_challenge", "winograde"]:
    if task in sets:
        write("routerbench-%s-x8.jsonl" % task.replace("_", "-"),
              [dict(it, item="%s#%d" % (it["item"], r)) for r in range(8) for it in sets[task]],
              models)
PY
