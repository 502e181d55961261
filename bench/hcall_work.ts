/**
 * The CPU work of one hcall on the channel, both sides in one thread, with no
 * second thread and so no cache line passed between cores: what a round trip
 * costs beyond the spin ping-pong floor (`deno task bench`), which passes a
 * line each way and does no work. Run by `deno task bench:work`.
 *
 * The guest's side writes and reads the registers as `GuestPort.call` does
 * (channel/guest_port.ts), without its spin and sleep, which need a second
 * thread; the hypervisor's side is the real `Dispatcher` pass over the
 * channel and the real PowerVM core answering H_SCM_HEALTH, as the
 * hypervisor actor has them. Each figure is the median of five runs of
 * 500,000 calls (min and max beside it), after a warm-up.
 * @module
 */
import { H, OP, RET_COUNT } from "../abi/hcalls.ts";
import { Dispatcher } from "../channel/dispatcher.ts";
import { channelViews, createChannel, createDoorbell, REQ, RESP } from "../channel/layout.ts";
import { readAnswer, registerFile, writeRequest } from "../channel/registers.ts";
import { HypervisorCore, seededEnv } from "../core/hypervisor.ts";
import { type Spread, spread } from "./spread.ts";

const DRC = 0x44100001, LPAR = 1, CALLS = 500_000, RUNS = 5;

/** ns per call of `body`: the spread of RUNS runs of `calls` calls. */
function time(body: () => void, calls = CALLS): Spread {
  for (let i = 0; i < calls / 5; i++) body(); // warm up: the JIT, not the figure
  const runs: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const start = performance.now();
    for (let i = 0; i < calls; i++) body();
    runs.push(((performance.now() - start) * 1e6) / calls);
  }
  return spread(runs);
}

/**
 * A channel with its hypervisor side (the real Dispatcher and PowerVM core)
 * in this thread, and the guest's side as GuestPort.call writes and reads it.
 */
function workRig() {
  const core = new HypervisorCore({ personality: "powervm", env: seededEnv() });
  core.addDrc({
    index: DRC,
    blockSize: 1n << 20n,
    blocks: 4,
    metadataSize: 128 * 1024,
    uuid: "44100001-5ca1-4e00-8000-441000010000",
  });
  core.assign(DRC, LPAR);
  const channel = createChannel();
  const dispatcher = new Dispatcher(
    createDoorbell(),
    (lpar, opcode, args) => core.hcallRegisters(lpar, opcode, args),
    () => ({ rc: H.FUNCTION, rets: new Array(RET_COUNT).fill(0n) }),
  );
  dispatcher.attach(LPAR, channel);
  const views = channelViews(channel), header = views.header;
  const registers = registerFile(views);
  const args: readonly bigint[] = [BigInt(DRC)];
  const rets = new Array<bigint>(RET_COUNT).fill(0n);
  /** The guest's writes of one call, as GuestPort.call makes them. */
  const ask = () => {
    writeRequest(registers, OP.H_SCM_HEALTH, args);
    Atomics.store(header, REQ, (header[REQ] + 1) | 0);
  };
  /** The guest's reads of its answer, as GuestPort.call makes them; returns r3. */
  const take = () => readAnswer(registers, rets);
  // The channel's first request makes it hot (a guest rings COLD_BELL for
  // it; a full pass looks at the cold channels whatever the bell says).
  ask();
  dispatcher.serveOnce(true);
  if (take() !== H.SUCCESS) throw new Error("hcall work: the first call was not answered");
  /** One whole hcall: the guest's writes, a pass that answers, the guest's reads. */
  const hcall = () => {
    ask();
    dispatcher.serveOnce();
    return take();
  };
  return { core, dispatcher, header, ask, take, hcall };
}

/**
 * A timer of whole hcalls' work in this thread: each call of the function
 * returned times `calls` hcalls and returns ns per hcall. What the machine's
 * speed is doing now, beside runs that pass hcalls between threads.
 */
export function hcallWorkTimer(): (calls: number) => number {
  const { hcall } = workRig();
  return (calls) => {
    let failures = 0;
    const start = performance.now();
    for (let i = 0; i < calls; i++) if (hcall() !== H.SUCCESS) failures++;
    const ns = ((performance.now() - start) * 1e6) / calls;
    if (failures > 0) throw new Error(`hcall work: ${failures} calls did not succeed`);
    return ns;
  };
}

/** Measures and returns the lines to print. */
export function measureHcallWork(): string[] {
  const { core, dispatcher, header, ask, take, hcall } = workRig();
  let failures = 0;
  const coreArgs = [BigInt(DRC), 0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n];
  const figures = {
    "whole hcall (guest writes, a pass answers, guest reads)": time(() => {
      if (hcall() !== H.SUCCESS) failures++;
    }),
    "  guest: registers and REQ out, answer in": time(() => {
      ask();
      Atomics.store(header, RESP, header[REQ]); // answered by hand, r3 as asked
      take();
    }),
    "  core alone (HypervisorCore.hcallRegisters)": time(() => {
      if (core.hcallRegisters(LPAR, OP.H_SCM_HEALTH, coreArgs).rc !== H.SUCCESS) failures++;
    }),
    "  a pass that finds nothing": time(() => dispatcher.serveOnce()),
  };
  if (failures > 0) throw new Error(`hcall work: ${failures} calls did not succeed`);
  if (header[RESP] !== header[REQ]) {
    throw new Error("hcall work: the last request was not answered");
  }
  const f = (x: number) => x.toFixed(0).padStart(4);
  return Object.entries(figures).map(([name, t]) =>
    `${name.padEnd(56)} ${f(t.median)} ns (${f(t.min)} to ${f(t.max)})`
  );
}

if (import.meta.main) {
  console.log(`ns per call, median of ${RUNS} runs of ${CALLS} (least to most), one thread:`);
  for (const line of measureHcallWork()) console.log(line);
}
