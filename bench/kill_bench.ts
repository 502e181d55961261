/**
 * The kill benchmark (`deno task bench:kill`, `--kills N`, `--seed N`,
 * `--runtime sim|threads` of the child, `--json`): runs
 * bench/kill_workload.ts with `--state DIR` and kills it
 * with SIGKILL at a seeded random moment (50 to 400 ms after it is ready),
 * N times. After each kill a system is powered on on the same directory in
 * this process and checked:
 * - every record the child reported flushed (the last 255) is on the
 *   media, byte for byte: flushed bytes lost must be 0;
 * - the persistence-failed count (`ndctl list -DH` shutdown_count) went up
 *   by one exactly when the media shows a stored line lost, and stayed when
 *   nothing was lost: the child between steps with nothing unflushed
 *   (`flushed N` last), or inside a flush with both lines on the media
 *   (`stored N` last: the flush was cut after its last line was written but
 *   before the unflushed mark was cleared; the mark then holds a flush
 *   intent that the power-on judges against the media, storage/
 *   flush_intent.ts). A raise there is reported as `conservative` and is
 *   wrong: the run fails when there is one.
 * A kill while the child was storing (`store N` last) cannot be judged: the
 * child cannot say whether its store landed; such kills are counted apart.
 * @module
 */
import { ManagedSystem } from "../actors/managed_system.ts";
import { SeededRandom } from "../runtime/sim/random.ts";
import { KILL_CONFIG, record, scratch, SCRATCH_AT, SLOT_AT, SLOTS } from "./kill_layout.ts";

function option(name: string, fallback: number): number {
  const at = Deno.args.indexOf(`--${name}`);
  if (at < 0) return fallback;
  const value = Number(Deno.args[at + 1]);
  if (!Number.isSafeInteger(value) || value < 1) {
    console.error(`--${name} ${Deno.args[at + 1]}: expected a whole number from 1`);
    Deno.exit(2);
  }
  return value;
}

const kills = option("kills", 100);
const seed = option("seed", 1);
const json = Deno.args.includes("--json");
const runtimeAt = Deno.args.indexOf("--runtime");
const runtime = runtimeAt < 0 ? "sim" : Deno.args[runtimeAt + 1];
if (runtime !== "sim" && runtime !== "threads") {
  console.error(`--runtime ${runtime}: expected sim or threads`);
  Deno.exit(2);
}
const random = new SeededRandom(seed, 11);
const dir = Deno.makeTempDirSync({ prefix: "kill-bench-" });
const child = new URL("./kill_workload.ts", import.meta.url).pathname;

const same = (a: Uint8Array, b: Uint8Array) => a.every((v, i) => v === b[i]);

async function shutdownCount(system: ManagedSystem): Promise<number> {
  const json = await system.lpars[0].ndctlJson({ dimms: true, health: true }) as unknown;
  const dimm = (Array.isArray(json) ? json[0] : json) as { health: { shutdown_count: number } };
  return dimm.health.shutdown_count;
}

/** Runs the child until it is ready, kills it after `delayMs`; its last line. */
async function runAndKill(from: number, delayMs: number): Promise<string[]> {
  const process = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-check",
      `--allow-read`,
      `--allow-write`,
      child,
      "--state",
      dir,
      "--from",
      String(from),
      "--runtime",
      runtime,
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  const decoder = new TextDecoder();
  let pending = "";
  let ready!: () => void;
  const readyPromise = new Promise<void>((resolve) => ready = resolve);
  const reading = (async () => {
    for await (const chunk of process.stdout) {
      pending += decoder.decode(chunk, { stream: true });
      const parts = pending.split("\n");
      pending = parts.pop()!;
      for (const part of parts) {
        if (part === "ready") ready();
        lines.push(part);
      }
    }
  })();
  const stderr = new Response(process.stderr).text();
  const status = process.status.then((s) => {
    ready();
    return s;
  });
  await readyPromise;
  await new Promise((resolve) => setTimeout(resolve, delayMs));
  try {
    process.kill("SIGKILL");
  } catch { /* it ended by itself: reported below */ }
  const s = await status;
  await reading;
  if (s.signal !== "SIGKILL") {
    throw new Error(
      `the workload ended with ${JSON.stringify(s)} before the kill: ${await stderr}`,
    );
  }
  await stderr;
  return lines;
}

interface Round {
  kill: number;
  delayMs: number;
  last: string;
  flushedThrough: number;
  recordsChecked: number;
  flushedBytesLost: number;
  linesLost: number;
  countBefore: number;
  countAfter: number;
  verdict: "ok" | "conservative" | "WRONG";
}

const rounds: Round[] = [];
let from = 0;
let flushedThrough = -1;
let count = 0;
const started = performance.now();
// A first power-on creates the files.
{
  const system = await ManagedSystem.start(KILL_CONFIG(dir), { runtime: "sim" });
  await system.stop();
}
for (let kill = 1; kill <= kills; kill++) {
  const delayMs = 50 + random.below(351);
  const lines = await runAndKill(from, delayMs);
  const last = lines[lines.length - 1] ?? "";
  for (const l of lines) {
    const m = /^flushed (\d+)$/.exec(l);
    if (m) flushedThrough = Number(m[1]);
  }
  const system = await ManagedSystem.start(KILL_CONFIG(dir), { runtime: "sim" });
  let round: Round;
  try {
    const lpar = system.lpars[0];
    await lpar.boot();
    const after = await shutdownCount(system);
    let recordsChecked = 0, flushedBytesLost = 0;
    // The last 255: the record after the last flushed one may be in the 256th's slot.
    for (let n = Math.max(0, flushedThrough - SLOTS + 2); n <= flushedThrough; n++) {
      const got = await lpar.read("region0", SLOT_AT(n), 64);
      const want = record(n);
      recordsChecked++;
      for (let i = 0; i < 64; i++) if (got[i] !== want[i]) flushedBytesLost++;
    }
    // The lines stored since the last flush, as far as the child said so.
    const m = /^(store|stored) (\d+)$/.exec(last);
    let linesLost = 0;
    let known = last.startsWith("flushed") || last === "ready";
    if (m && m[1] === "stored") {
      known = true;
      const n = Number(m[2]);
      if (!same(await lpar.read("region0", SLOT_AT(n), 64), record(n))) linesLost++;
      if (!same(await lpar.read("region0", SCRATCH_AT(n), 64), scratch(n))) linesLost++;
    }
    const raised = after - count;
    let verdict: Round["verdict"] = "ok";
    if (flushedBytesLost > 0 || raised < 0 || raised > 1) verdict = "WRONG";
    else if (known && linesLost > 0 && raised !== 1) verdict = "WRONG";
    else if (known && linesLost === 0 && raised === 1) {
      // Nothing lost, count raised: wrong; inside a flush it is named apart (the old conservative case).
      verdict = m?.[1] === "stored" ? "conservative" : "WRONG";
    }
    round = {
      kill,
      delayMs,
      last,
      flushedThrough,
      recordsChecked,
      flushedBytesLost,
      linesLost,
      countBefore: count,
      countAfter: after,
      verdict,
    };
    count = after;
  } finally {
    await system.stop();
  }
  rounds.push(round);
  // The next run starts after the last record flushed (one stored but lost is written again).
  from = flushedThrough + 1;
  if (!json) {
    console.log(
      `kill ${String(kill).padStart(3)} after ${String(delayMs).padStart(3)} ms: last "${last}", ` +
        `flushed through ${flushedThrough}, ${round.recordsChecked} records checked, ` +
        `${round.flushedBytesLost} flushed bytes lost, ${round.linesLost} unflushed lines lost, ` +
        `count ${round.countBefore} -> ${round.countAfter}: ${round.verdict}`,
    );
  }
}
const summary = {
  kills,
  seed,
  runtime,
  seconds: Math.round((performance.now() - started) / 100) / 10,
  recordsFlushed: flushedThrough + 1,
  recordsChecked: rounds.reduce((n, r) => n + r.recordsChecked, 0),
  flushedBytesLost: rounds.reduce((n, r) => n + r.flushedBytesLost, 0),
  killsWithLoss: rounds.filter((r) => r.linesLost > 0).length,
  countRaises: rounds.filter((r) => r.countAfter > r.countBefore).length,
  killsBetweenSteps: rounds.filter((r) => r.last.startsWith("flushed")).length,
  killsAmbiguous: rounds.filter((r) => r.last.startsWith("store ")).length,
  killsInFlushNothingLost: rounds.filter((r) => r.last.startsWith("stored") && r.linesLost === 0)
    .length,
  conservative: rounds.filter((r) => r.verdict === "conservative").length,
  wrong: rounds.filter((r) => r.verdict === "WRONG").length,
  finalCount: count,
};
Deno.removeSync(dir, { recursive: true });
if (json) console.log(JSON.stringify({ ...summary, rounds }, null, 2));
else {
  console.log(
    `${summary.kills} kills (${runtime}) in ${summary.seconds} s: ${summary.recordsFlushed} records flushed, ` +
      `${summary.recordsChecked} record checks, ${summary.flushedBytesLost} flushed bytes lost; ` +
      `${summary.killsWithLoss} kills lost unflushed lines and the count rose ${summary.countRaises} ` +
      `times (final ${summary.finalCount}); ${summary.killsBetweenSteps} kills between steps ` +
      `(nothing unflushed: count must stay), ${summary.killsInFlushNothingLost} inside a flush ` +
      `with nothing lost (count must stay), ${summary.killsAmbiguous} while storing (unknown), ` +
      `${summary.conservative} conservative raises (must be 0), ${summary.wrong} wrong`,
  );
}
if (summary.wrong > 0 || summary.conservative > 0 || summary.flushedBytesLost > 0) {
  Deno.exitCode = 1;
}
