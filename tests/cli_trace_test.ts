/**
 * The CLI's trace outputs: `--trace` and `--ftrace` files, `show trace`,
 * `--report` (and where it is refused), and the progress bar's line.
 */
import assert from "node:assert/strict";
import { main } from "../cli/main.ts";
import { ProgressBar, type ProgressSink, showsProgress } from "../cli/progress.ts";
import { checkFlows, checkNesting, checkTrace } from "./trace_check.ts";
import { workerTest } from "./worker_test.ts";

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { print: (t) => out.push(t), error: (t) => err.push(t) });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

/** A scratch directory inside the repository (the tests may write only there), removed after. */
async function scratch<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ dir: ".", prefix: ".trace-test-" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

workerTest("cli: --trace and --ftrace write files; one seed, the same bytes", async () => {
  await scratch(async (dir) => {
    const run = (n: number) =>
      cli(
        "scenario",
        "kexec",
        "--kernel",
        "5.3",
        "--runtime",
        "sim",
        "--seed",
        "4",
        "--trace",
        `${dir}/${n}.json`,
        "--ftrace",
        `${dir}/${n}.txt`,
      );
    const first = await run(1);
    assert.equal(first.code, 0);
    assert.equal(first.err, "");
    assert.equal((await run(2)).code, 0);
    const a = await Deno.readTextFile(`${dir}/1.json`);
    assert.equal(a, await Deno.readTextFile(`${dir}/2.json`));
    const events = checkTrace(a);
    checkNesting(events);
    assert.ok(checkFlows(events) > 5);
    const ftrace = await Deno.readTextFile(`${dir}/1.txt`);
    assert.match(ftrace, /hcall_exit: opcode=1004 retval=18446744073709551548$/m);
  });
});

workerTest("cli: --trace on matrix keeps one process per story", async () => {
  await scratch(async (dir) => {
    const r = await cli(
      "matrix",
      "--runtime",
      "sim",
      "--kernel",
      "5.2",
      "--hypervisor",
      "powervm",
      "--trace",
      `${dir}/m.json`,
    );
    assert.equal(r.code, 0);
    const events = checkTrace(await Deno.readTextFile(`${dir}/m.json`));
    const hypervisors = events.filter((e) =>
      e.name === "process_name" && /hypervisor/.test(e.args.name)
    );
    assert.deepEqual(hypervisors.map((e) => e.args.name), [
      "5.2 powervm kexec: hypervisor (powervm)",
      "5.2 powervm panic+kdump: hypervisor (powervm)",
      "5.2 powervm clean reboot: hypervisor (powervm)",
      "5.2 powervm shutdown+activate: hypervisor (powervm)",
    ]);
    checkNesting(events);
    checkFlows(events);
  });
});

workerTest("cli: show trace prints the LPAR's hcall tracepoints", async () => {
  const r = await cli("show", "--runtime", "sim", "--kernel", "5.2", "--then", "kexec", "trace");
  assert.equal(r.code, 0);
  const lines = r.out.split("\n");
  assert.equal(lines[0], "# tracer: nop (lpar1)");
  // 5.2 binds, then after the kexec meets H_OVERLAP and gives up.
  assert.match(
    lines.at(-1)!,
    /lpar1-1 +\[000\] \.\.\.\. +\d+\.\d{6}: hcall_exit: opcode=1004 retval=18446744073709551548$/,
  );
  const json = await cli("show", "--runtime", "sim", "--json", "trace");
  assert.equal(json.code, 0);
  assert.ok(Array.isArray(JSON.parse(json.out)));
});

workerTest("cli: --report is refused where there is no table, and written for matrix", async () => {
  const bad = await cli("scenario", "kexec", "--runtime", "sim", "--report", "x.html");
  assert.equal(bad.code, 2);
  assert.match(bad.err, /--report goes with matrix or swarm, not scenario/);
  // A run that never started a system writes no (empty) trace file, and says so.
  const none = await cli("scenario", "kexec", "--kernel", "9.9", "--trace", "never.json");
  assert.equal(none.code, 2);
  assert.match(none.err, /trace: no system ran; no trace file written/);
  await assert.rejects(Deno.stat("never.json"), Deno.errors.NotFound);
  await scratch(async (dir) => {
    const r = await cli(
      "matrix",
      "--runtime",
      "sim",
      "--kernel",
      "5.3",
      "--report",
      `${dir}/r.html`,
    );
    assert.equal(r.code, 0);
    const html = await Deno.readTextFile(`${dir}/r.html`);
    assert.doesNotMatch(html, /(src|href)="https?:/, "nothing from the network");
    assert.equal(html.match(/<svg /g)?.length, 8, "a timeline per story");
    assert.match(html, /data-rc="H_OVERLAP"/);
    assert.match(html, /data-op="kexec"/);
    assert.match(html, /data-op="panic"/);
    const s = await cli("swarm", "--seeds", "1..2", "--report", `${dir}/s.html`);
    assert.equal(s.code, 0);
    const swarm = await Deno.readTextFile(`${dir}/s.html`);
    assert.match(swarm, /<a href="#seed-1">1<\/a>/);
    assert.equal(swarm.match(/<section class="story"/g)?.length, 2);
  });
});

Deno.test("progress: a bar with counts and an estimate, drawn only where asked", () => {
  const written: string[] = [];
  let now = 0;
  const sink: ProgressSink = { write: (t) => written.push(t), now: () => now };
  const bar = new ProgressBar("matrix", 40, sink);
  now = 2000;
  bar.tick();
  now = 20_000;
  bar.tick("", 10);
  assert.equal(
    written.at(-1),
    "\r\x1b[Kmatrix [######..................] 10/40  25%  ~1m00s left",
  );
  bar.tick("1 failed", 40);
  assert.match(written.at(-1)!, /40\/40 {2}100% {2}1 failed$/);
  bar.clear();
  assert.equal(written.at(-1), "\r\x1b[K");
  const silent = new ProgressBar("swarm", 3);
  silent.tick();
  silent.clear();
  assert.equal(showsProgress(true), false, "--json: nothing extra");
});
