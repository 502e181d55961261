/**
 * What a store and a flush cost on durable state in files: `--rounds N`
 * (10,000) rounds, each two 64-byte stores (two lines) and the device's
 * write-back, on a `CachedScm` behind a `FileStore`, as the kill benchmark's
 * child does per record. `--runs N` (3) runs, min/median/max. With
 * `--baseline DIR` (a checkout of another commit, e.g. from `git archive`)
 * that tree's storage modules are timed in the same process, runs
 * interleaved, and the ratio of medians printed.
 *
 * Usage: deno run --allow-read --allow-write bench/flush_cost.ts [--rounds N] [--runs N]
 *        [--baseline DIR]
 * @module
 */

function option(name: string, fallback: number): number {
  const at = Deno.args.indexOf(`--${name}`);
  if (at < 0) return fallback;
  const value = Number(Deno.args[at + 1]);
  if (!Number.isSafeInteger(value) || value < 1 || value > 10_000_000) {
    console.error(`--${name} ${Deno.args[at + 1]}: expected a whole number from 1 to 10000000`);
    Deno.exit(2);
  }
  return value;
}

const rounds = option("rounds", 10_000);
const runs = option("runs", 3);
const baselineAt = Deno.args.indexOf("--baseline");
const baseline = baselineAt < 0 ? undefined : Deno.args[baselineAt + 1];

interface Modules {
  // deno-lint-ignore no-explicit-any
  Persistence: any;
  // deno-lint-ignore no-explicit-any
  FileStore: any;
}

async function load(root: URL): Promise<Modules> {
  const { Persistence } = await import(new URL("storage/persistence.ts", root).href);
  const { FileStore } = await import(new URL("storage/file_store.ts", root).href);
  return { Persistence, FileStore };
}

/** Milliseconds for `rounds` rounds of two stores and a write-back. */
function time(mods: Modules): number {
  const dir = Deno.makeTempDirSync({ prefix: "flush-cost-" });
  try {
    const persistence = new mods.Persistence(mods.FileStore.open(dir));
    const geometry = { index: 1, uuid: "u", blockSize: 1n << 20n, blocks: 2, metadataSize: 0 };
    const memory = persistence.powerOn(geometry).memory;
    const record = new Uint8Array(64), scratch = new Uint8Array(64);
    const started = performance.now();
    for (let n = 0; n < rounds; n++) {
      record.fill(n & 0xFF);
      scratch.fill((n * 7 + 1) & 0xFF);
      memory.write((n % 256) * 64, record);
      memory.write((1 << 20) + (n % 1024) * 64, scratch);
      memory.writeBack();
    }
    const ms = performance.now() - started;
    persistence.powerOff();
    return ms;
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

const trees: Array<[string, Modules]> = [];
if (baseline) {
  trees.push(["baseline", await load(new URL(`file://${Deno.realPathSync(baseline)}/`))]);
}
trees.push(["this tree", await load(new URL("../", import.meta.url))]);
const times = new Map<string, number[]>(trees.map(([name]) => [name, []]));
time(trees[trees.length - 1][1]); // warm-up
for (let run = 0; run < runs; run++) {
  for (const [name, mods] of trees) times.get(name)!.push(time(mods));
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const us = (ms: number) => (ms * 1000 / rounds).toFixed(2);
for (const [name, ms] of times) {
  console.log(
    `${name}: ${rounds} rounds of 2 stores + write-back, ${runs} runs: per round min ` +
      `${us(Math.min(...ms))} / median ${us(median(ms))} / max ${us(Math.max(...ms))} us ` +
      `(total median ${median(ms).toFixed(0)} ms)`,
  );
}
if (baseline) {
  const ratio = median(times.get("this tree")!) / median(times.get("baseline")!);
  console.log(`this tree / baseline (medians): ${ratio.toFixed(3)}`);
}
