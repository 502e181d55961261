/**
 * The swarm tester, tested: seeds pass with the real drivers, runs are
 * deterministic, a broken 5.4 driver (the canary) is found, shrunk and
 * replayed, recordings replay to the same trace hash, and bad command lines
 * are refused. Nothing here depends on wall-clock speed.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { main } from "../cli/main.ts";
import {
  generateCase,
  parseCases,
  parseSeeds,
  readCases,
  runCase,
  runChecked,
  runSwarm,
  writeCases,
} from "../swarm/mod.ts";
import { CANARY_DRIVERS } from "./canary_driver.ts";

/**
 * A temporary directory for record, replay and shrink files, under "." (the
 * test task grants `--allow-write=.`); each test removes its own.
 */
function tempDir(prefix: string): Promise<string> {
  return Deno.makeTempDir({ dir: ".", prefix });
}

/** Runs the CLI, capturing what it prints. */
async function cli(args: string[]) {
  const out: string[] = [], err: string[] = [];
  const code = await main(args, { print: (t) => out.push(t), error: (t) => err.push(t) });
  return { code, out, err };
}

Deno.test("swarm: seeds 1..60 pass with the real drivers", async () => {
  const failures: string[] = [];
  const summary = await runSwarm({
    seeds: { from: 1, to: 60 },
    shrink: false,
    onReport: ({ result }) => {
      if (result.failure) failures.push(`seed ${result.seed}: ${JSON.stringify(result.failure)}`);
    },
  });
  assert.deepEqual(failures, []);
  assert.equal(summary.cases, 60);
  assert.equal(summary.failures, 0);
});

Deno.test("swarm: cases are plain JSON and runs are deterministic", async (t) => {
  await t.step("a case survives a JSON round trip unchanged", () => {
    const c = generateCase(11);
    assert.deepEqual(JSON.parse(JSON.stringify(c)), c);
    assert.deepEqual(generateCase(11), c, "the same seed draws the same case");
    assert.ok(c.ops.length >= 80 && c.ops.length <= 120, `${c.ops.length} operations`);
    assert.ok(c.system.lpars.length >= 1 && c.system.lpars.length <= 8);
  });
  await t.step("the same seed twice gives the same trace hash; other seeds differ", async () => {
    const hashes = new Set<string>();
    for (const seed of [2, 9, 23]) {
      const c = generateCase(seed);
      const [a, b] = [await runCase(c), await runCase(c)];
      assert.equal(a.traceHash, b.traceHash, `seed ${seed}`);
      assert.equal(a.steps, b.steps, `seed ${seed}`);
      hashes.add(a.traceHash);
    }
    assert.equal(hashes.size, 3, "three seeds, three trace hashes");
  });
  await t.step("--check-determinism passes a seed that is deterministic", async () => {
    const result = await runChecked(generateCase(4), { checkDeterminism: true });
    assert.equal(result.verdict, "pass", JSON.stringify(result.failure));
  });
});

Deno.test("swarm: the canary 5.4 driver is caught, shrunk and replayed", async (t) => {
  let found: Awaited<ReturnType<typeof runSwarm>>["failed"][number] | undefined;
  await t.step("a failing seed within 200", async () => {
    const summary = await runSwarm({
      seeds: { from: 1, to: 200 },
      drivers: CANARY_DRIVERS,
      stopAfter: 1,
    });
    assert.equal(summary.failures, 1, "the canary went unnoticed for 200 seeds");
    assert.ok(summary.cases <= 200 && summary.cases === summary.failed[0].case.seed);
    found = summary.failed[0];
    assert.equal(found.result.failure?.invariant, "region-bound", found.result.failure?.message);
  });
  const shrunk = found!.shrunk!;
  await t.step("shrunk to a handful of operations with the same invariant", () => {
    assert.ok(shrunk, "the failure was not shrunk");
    assert.ok(shrunk.case.ops.length <= 8, `${shrunk.case.ops.length} operations`);
    assert.ok(shrunk.case.ops.length < found!.case.ops.length);
    assert.ok(shrunk.case.system.lpars.length <= found!.case.system.lpars.length);
    assert.equal(shrunk.result.failure?.invariant, found!.result.failure?.invariant);
    assert.ok(shrunk.case.ops.some((op) => op.op === "scatter"), "the scatter is the trigger");
  });
  await t.step("the shrunk case replays to the same failure and trace hash", async () => {
    const [replayed] = parseCases(JSON.stringify(shrunk.case), "shrunk");
    const result = await runChecked(replayed, { drivers: CANARY_DRIVERS });
    assert.equal(result.failure?.invariant, "region-bound", JSON.stringify(result.failure));
    assert.equal(result.traceHash, shrunk.case.expect?.traceHash);
    // With the real 5.4 driver the same schedule passes: the canary is the bug.
    const real = await runCase(replayed);
    assert.equal(real.verdict, "pass", JSON.stringify(real.failure));
  });
  await t.step({
    name: "the shrunk file, written and read back, replays the same",
    fn: async () => {
      const dir = await tempDir("swarm_canary_");
      try {
        const file = join(dir, `swarm-${found!.case.seed}-shrunk.json`);
        await writeCases(file, [shrunk.case]);
        const [replayed] = await readCases(file);
        const result = await runChecked(replayed, { drivers: CANARY_DRIVERS });
        assert.equal(result.failure?.invariant, "region-bound");
        assert.equal(result.traceHash, shrunk.case.expect?.traceHash);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
});

Deno.test("swarm: the command line", async (t) => {
  const dir = await tempDir("swarm_cli_");
  try {
    await t.step("--json prints a line per seed and a summary", async () => {
      const { code, out } = await cli(["swarm", "--seeds", "3..4", "--json"]);
      assert.equal(code, 0);
      const lines = out.map((l) => JSON.parse(l));
      assert.equal(lines.length, 3);
      assert.deepEqual(lines.slice(0, 2).map((l) => [l.seed, l.verdict]), [[3, "pass"], [
        4,
        "pass",
      ]]);
      assert.match(lines[0].traceHash, /^[0-9a-f]{16}$/);
      assert.ok(lines[0].steps > 0);
      assert.equal(lines[2].summary, true);
      assert.equal(lines[2].seeds, 2);
      assert.equal(lines[2].failures, 0);
      assert.equal(typeof lines[2].seedsPerSecond, "number");
    });
    await t.step("--record then --replay gives the same trace hash", async () => {
      const file = join(dir, "recorded.json");
      const recorded = await cli(["swarm", "--seeds", "6", "--record", file]);
      assert.equal(recorded.code, 0, recorded.out.join("\n"));
      const [c] = await readCases(file);
      assert.equal(c.seed, 6);
      const replayed = await cli(["swarm", "--replay", file, "--json"]);
      assert.equal(replayed.code, 0, replayed.out.join("\n"));
      const line = JSON.parse(replayed.out[0]);
      assert.equal(line.traceHash, c.expect?.traceHash);
      assert.equal(line.replayed, true);
    });
    await t.step("a replay that does not match its recording fails, exit 1", async () => {
      const c = generateCase(8);
      const file = join(dir, "tampered.json");
      await writeCases(file, [{ ...c, expect: { traceHash: "0".repeat(16), verdict: "pass" } }]);
      const { code, out } = await cli(["swarm", "--replay", file]);
      assert.equal(code, 1);
      const text = out.join("\n");
      assert.match(text, /seed 8 FAILED in the run: replay/);
      assert.match(
        text,
        new RegExp(`replay: deno task swarm --replay ${file.replaceAll("\\", "\\\\")}`),
      );
      assert.match(text, /0 passed, 1 failed/);
    });
    await t.step("bad arguments exit 2 and say what is accepted", async () => {
      for (const seeds of ["5..2", "x", "1..", "-3"]) {
        const { code, err } = await cli(["swarm", `--seeds=${seeds}`]);
        assert.equal(code, 2, `--seeds ${seeds}`);
        assert.match(err.join("\n"), /expected N or A\.\.B, whole numbers from 0 with A ≤ B/);
      }
      const both = await cli(["swarm", "--seeds", "1", "--replay", "x.json"]);
      assert.equal(both.code, 2);
      assert.match(both.err.join("\n"), /give --seeds or --replay, not both/);
      const other = await cli(["swarm", "--kernel", "5.4"]);
      assert.equal(other.code, 2);
      assert.match(other.err.join("\n"), /swarm does not take --kernel; it takes: --seeds/);
      const missing = await cli(["swarm", "--replay", join(dir, "swarm_none.json")]);
      assert.equal(missing.code, 2);
      assert.match(missing.err.join("\n"), /cannot read the case file: no such file/);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("swarm: seeds and case files are checked", () => {
  assert.deepEqual(parseSeeds("17"), { from: 17, to: 17 });
  assert.deepEqual(parseSeeds("1..1000"), { from: 1, to: 1000 });
  assert.match(parseSeeds("5..2") as string, /the range is empty \(5 > 2\)/);
  const c = generateCase(1);
  assert.throws(
    () => parseCases(JSON.stringify({ ...c, ops: [{ op: "teleport" }] }), "f.json"),
    /f\.json: case\.ops\[0\]\.op: "teleport" is not valid; expected one of boot, kexec/,
  );
  assert.throws(
    () => parseCases(JSON.stringify({ ...c, ops: [{ op: "kexec" }] }), "f.json"),
    /case\.ops\[0\]: a kexec operation needs "lpar"/,
  );
  assert.throws(() => parseCases("{", "f.json"), /f\.json: not valid JSON/);
  assert.equal(parseCases(JSON.stringify({ swarm: 1, cases: [c, c] }), "f.json").length, 2);
});
