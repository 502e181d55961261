/** Merging swarm shards: coverage, failures with their replay, non-determinism, bad lines. */
import assert from "node:assert/strict";
import { formatMerged, mergeShards } from "../swarm/merge.ts";
import { main } from "../cli/main.ts";

const line = (seed: number, verdict = "pass", traceHash = `h${seed}`, extra = {}) =>
  JSON.stringify({ seed, verdict, steps: 1, traceHash, ...extra });

Deno.test("swarm merge: ranges, gaps, a failure with its replay, repeated seeds", () => {
  const failing = line(7, "fail", "h7", {
    failure: { invariant: "region-bound", message: "region0 is not bound" },
    replay: "deno task swarm --seeds 7",
  });
  const merged = mergeShards([
    {
      name: "a",
      text: [1, 2, 3].map((s) => line(s)).join("\n") + '\n{"summary":true,"seconds":2}\n',
    },
    { name: "b", text: [line(5), line(6), failing, line(3)].join("\n") },
  ]);
  assert.equal(merged.seeds, 6);
  assert.deepEqual(merged.ranges, [[1, 3], [5, 7]]);
  assert.deepEqual(merged.failures.map((f) => f.seed), [7]);
  assert.deepEqual(merged.repeated, [{ seed: 3, sameHash: true }]);
  assert.equal(merged.seconds, 2);
  const text = formatMerged(merged);
  assert.match(text, /^swarm shards: 6 seeds \(1\.\.3, 5\.\.7\), 5 passed, 1 failed/);
  assert.match(
    text,
    /seed 7 FAILED: region-bound: region0 is not bound\n {4}replay: deno task swarm --seeds 7/,
  );
  assert.match(text, /gaps: seeds between the ranges above were not run/);
});

Deno.test("swarm merge: a seed whose trace hash differs between shards is reported", () => {
  const merged = mergeShards([
    { name: "a", text: line(4, "pass", "aaaa") },
    { name: "b", text: line(4, "pass", "bbbb") },
  ]);
  assert.deepEqual(merged.repeated, [{ seed: 4, sameHash: false }]);
  assert.match(formatMerged(merged), /trace hashes differ for 4 \(not deterministic\)/);
});

Deno.test("swarm merge: a bad line names its file and line", () => {
  assert.throws(
    () => mergeShards([{ name: "shard.jsonl", text: `${line(1)}\nnot json` }]),
    /shard\.jsonl:2: not a JSON line of swarm --json/,
  );
  assert.throws(
    () => mergeShards([{ name: "s", text: '{"seed":"x","verdict":"pass"}' }]),
    /s:1: expected a seed line/,
  );
});

Deno.test("swarm merge: the command line says what failed with exit 1, bad files with exit 2", async () => {
  const dir = await Deno.makeTempDir({ dir: ".", prefix: "swarm_merge_" });
  try {
    await Deno.writeTextFile(`${dir}/ok.jsonl`, line(1));
    await Deno.writeTextFile(`${dir}/bad.jsonl`, line(2, "fail"));
    const out: string[] = [], err: string[] = [];
    const io = { print: (t: string) => out.push(t), error: (t: string) => err.push(t) };
    assert.equal(await main(["swarm", "--merge", `${dir}/ok.jsonl`], io), 0);
    assert.equal(await main(["swarm", "--merge", `${dir}/ok.jsonl`, `${dir}/bad.jsonl`], io), 1);
    assert.match(out.at(-1)!, /2 seeds \(1\.\.2\), 1 passed, 1 failed/);
    assert.equal(await main(["swarm", "--merge", `${dir}/missing.jsonl`], io), 2);
    assert.match(err.at(-1)!, /swarm --merge: cannot read .*missing\.jsonl/);
    assert.equal(await main(["swarm", "--merge", `${dir}/ok.jsonl`, "--seeds", "1"], io), 2);
    assert.match(err.at(-1)!, /swarm --merge takes shard files and --json only, not --seeds/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("swarm takes --runtime sim and --seed N as every command does; threads is refused", async () => {
  const out: string[] = [], err: string[] = [];
  const io = { print: (t: string) => out.push(t), error: (t: string) => err.push(t) };
  assert.equal(await main(["swarm", "--runtime", "sim", "--seed", "4", "--json"], io), 0);
  assert.equal(JSON.parse(out[0]).seed, 4);
  assert.equal(await main(["swarm", "--runtime", "threads"], io), 2);
  assert.match(err.at(-1)!, /the swarm runs on the sim runtime only .*; accepted: sim/);
  assert.equal(await main(["swarm", "--seed", "3", "--seeds", "1..2"], io), 2);
  assert.match(err.at(-1)!, /give --seed N or --seeds A\.\.B, not both/);
});
