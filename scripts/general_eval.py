"""Snakemake adapter: one general-ability benchmark on one row (unpatched Base/SFT/DPO or patched M1)."""

import json
from pathlib import Path

import torch

from safety_neurons.benchmarks import evaluate, load_eval_lm
from safety_neurons.data.loaders import read_jsonl
from safety_neurons.logs import to_file
from safety_neurons.outputs import write_json

torch.set_num_threads(snakemake.threads)
with to_file(snakemake.log[0]) as log:
    p, inp, wc = snakemake.params.p, snakemake.input, snakemake.wildcards
    neurons = None
    if inp.sets:
        sets = json.loads(Path(inp.sets[0]).read_text())[wc.gsource.rsplit("-", 1)[1]][str(p["k"])]
        neurons = {int(layer): ids for layer, ids in sets.items()}
    options = dict(p["options"]) | ({"shots": read_jsonl(inp.shots[0])} if inp.shots else {})
    if inp.cot:
        options["cot_prompts"] = json.loads(Path(inp.cot[0]).read_text())
    lm = load_eval_lm(
        inp.base,
        [str(Path(f).parent) for f in inp.m1],
        [str(Path(f).parent) for f in inp.guide] if inp.guide else None,
        neurons,
        p["dtype"],
        p["batch_size"],
        p["chat_format"],
    )
    result = evaluate(p["benchmark"], lm, read_jsonl(inp.data), options)
    write_json(
        result | {"model": wc.model, "seed": int(wc.seed), "policy": wc.policy, "source": wc.gsource},
        snakemake.output[0],
    )
    log.info(
        "%s %s/%s: %s = %.4f (n = %d)", wc.model, wc.policy, wc.gsource, result["metric"], result["value"], result["n"]
    )
