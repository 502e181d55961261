/**
 * The child of the kill benchmark (bench/kill_bench.ts): a write-and-flush
 * workload on the sim runtime with durable state in `--state DIR`. For each
 * sequence number it says what it is about to do and what it did, on
 * stdout, one line each (written before the next step starts, so the
 * parent knows at least that much when it kills this process):
 *   `store N`   about to store record N (and scratch line N)
 *   `stored N`  both are stored (in the modelled cache, not durable)
 *   `flushed N` the region's flush returned: both are durable
 * Records go to 256 slots of 64 bytes (record N in slot N % 256), scratch
 * lines to 1,024 lines from 1 MiB. It runs until killed.
 *
 * Usage: deno run --allow-read --allow-write bench/kill_workload.ts --state DIR --from N
 *        [--runtime sim|threads]
 * @module
 */
import { ManagedSystem } from "../actors/managed_system.ts";
import { KILL_CONFIG, record, scratch, SCRATCH_AT, SLOT_AT } from "./kill_layout.ts";

const args = Deno.args;
const dir = args[args.indexOf("--state") + 1];
const from = Number(args[args.indexOf("--from") + 1] ?? 0);
const runtime = args.includes("--runtime") ? args[args.indexOf("--runtime") + 1] : "sim";
if (
  !dir || !Number.isSafeInteger(from) || from < 0 || (runtime !== "sim" && runtime !== "threads")
) {
  console.error("usage: kill_workload.ts --state DIR --from N [--runtime sim|threads]");
  Deno.exit(2);
}
const encoder = new TextEncoder();
const say = (line: string) => {
  const bytes = encoder.encode(line + "\n");
  for (let done = 0; done < bytes.length;) done += Deno.stdout.writeSync(bytes.subarray(done));
};

const system = await ManagedSystem.start(KILL_CONFIG(dir), { runtime });
const lpar = system.lpars[0];
await lpar.boot();
say("ready");
for (let n = from;; n++) {
  say(`store ${n}`);
  await lpar.write("region0", SLOT_AT(n), record(n));
  await lpar.write("region0", SCRATCH_AT(n), scratch(n));
  say(`stored ${n}`);
  await lpar.flush("region0");
  say(`flushed ${n}`);
}
