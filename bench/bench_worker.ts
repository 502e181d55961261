/**
 * Worker used by the benchmark and the stress test. One instance plays one of
 * these roles, all driven over comlink (control plane only):
 *
 * - an LPAR that issues hcalls through its real channel in a tight loop
 *   ({@link BenchWorker.hammer}) or a scripted, checkable sequence
 *   ({@link BenchWorker.stress});
 * - the comlink baseline: a pure hypervisor core answering hcalls as comlink
 *   calls ({@link BenchWorker.coreHcall});
 * - the postMessage baseline: an echo on a transferred port;
 * - the Atomics.wait/notify baseline, with no spinning on either side.
 * @module
 */
import * as Comlink from "comlink";
import { BIND_ANY_ADDR, H, OP } from "../abi/hcalls.ts";
import { GuestPort } from "../channel/guest_port.ts";
import { ANSWERED, channelViews, REQ, RESP } from "../channel/layout.ts";
import { HypervisorCore, seededEnv } from "../core/hypervisor.ts";
import {
  CTL_GO,
  CTL_READY,
  CTL_STOP,
  type HammerResult,
  type StressPlan,
  type StressResult,
} from "./protocol.ts";

const ATOM_REQ = 0, ATOM_RESP = 1, ATOM_STOP = 2, ATOM_VALUE = 3;

/** The worker's comlink-exposed object. */
export class BenchWorker {
  #port?: GuestPort;
  #header?: Int32Array;
  #control?: Int32Array;
  #core?: HypervisorCore;
  #echo?: MessagePort;

  /** Connects to an LPAR channel and the shared control words. */
  init(channel: SharedArrayBuffer, doorbell: SharedArrayBuffer, control: SharedArrayBuffer): void {
    this.#port = new GuestPort(channel, doorbell);
    this.#header = channelViews(channel).header;
    this.#control = new Int32Array(control);
  }

  #start(): Int32Array {
    const control = this.#control!;
    Atomics.add(control, CTL_READY, 1);
    Atomics.notify(control, CTL_READY);
    while (Atomics.load(control, CTL_GO) === 0) Atomics.wait(control, CTL_GO, 0, 20);
    return control;
  }

  /**
   * Issues `opcode(args)` in batches of `batch` until the stop word is set,
   * timing each batch (performance.now() is too coarse for one call).
   */
  hammer(opcode: number, args: bigint[], batch: number, expectRc: number): HammerResult {
    const port = this.#port!, rets = new Array<bigint>(9).fill(0n), errors: string[] = [];
    const control = this.#start();
    const batchNs: number[] = [];
    let calls = 0;
    const start = performance.now();
    while (Atomics.load(control, CTL_STOP) === 0) {
      const t0 = performance.now();
      for (let i = 0; i < batch; i++) {
        const rc = port.call(opcode, args, rets);
        if (rc !== expectRc && errors.length < 5) errors.push(`call ${calls + i}: rc ${rc}`);
      }
      batchNs.push(((performance.now() - t0) * 1e6) / batch);
      calls += batch;
    }
    const elapsedMs = performance.now() - start;
    return { calls, elapsedMs, batchNs, answered: Atomics.load(this.#header!, ANSWERED), errors };
  }

  /**
   * Runs a script whose every answer is predictable, until the stop word is
   * set, then leaves `finalBlocks` blocks bound. Checks each answer in order
   * and that the channel answered each request exactly once.
   */
  stress(plan: StressPlan): StressResult {
    const port = this.#port!, header = this.#header!, rets = new Array<bigint>(9).fill(0n);
    const errors: string[] = [];
    const drc = BigInt(plan.drc), n = BigInt(plan.blocks);
    let calls = 0;
    const expect = (what: string, opcode: number, args: bigint[], rc: number, r?: bigint[]) => {
      const before = Atomics.load(header, ANSWERED);
      const got = port.call(opcode, args, rets);
      calls++;
      const after = Atomics.load(header, ANSWERED);
      const bad = got !== rc
        ? `rc ${got}, expected ${rc}`
        : r?.some((v, i) => rets[i] !== v)
        ? `rets ${rets.slice(0, r.length)}, expected ${r}`
        : (after - before) !== 1
        ? `ANSWERED moved by ${after - before}`
        : Atomics.load(header, RESP) !== Atomics.load(header, REQ)
        ? "RESP differs from REQ"
        : "";
      if (bad && errors.length < 5) errors.push(`call ${calls} ${what}: ${bad}`);
    };
    const control = this.#start();
    let cycles = 0;
    const base = plan.logicalBase;
    while (Atomics.load(control, CTL_STOP) === 0) {
      expect("health", OP.H_SCM_HEALTH, [drc], H.SUCCESS, [plan.health]);
      expect("unknown opcode", 0x1234, [drc], H.FUNCTION);
      expect("foreign health", OP.H_SCM_HEALTH, [BigInt(plan.foreignDrc)], H.PARAMETER);
      expect("bind", OP.H_SCM_BIND_MEM, [drc, 0n, n, BIND_ANY_ADDR, 0n], H.SUCCESS, [
        0n,
        base,
        n,
      ]);
      expect("query", OP.H_SCM_QUERY_BLOCK_MEM_BINDING, [drc, n - 1n], H.SUCCESS, [
        base + (n - 1n) * plan.blockSize,
      ]);
      expect("bind again", OP.H_SCM_BIND_MEM, [drc, 0n, n, BIND_ANY_ADDR, 0n], H.OVERLAP);
      expect("unbind", OP.H_SCM_UNBIND_MEM, [drc, base, n, 0n], H.SUCCESS, [0n, n]);
      expect("query unbound", OP.H_SCM_QUERY_BLOCK_MEM_BINDING, [drc, 0n], H.NOT_FOUND);
      cycles++;
    }
    if (plan.finalBlocks > 0) {
      const f = BigInt(plan.finalBlocks);
      expect("final bind", OP.H_SCM_BIND_MEM, [drc, 0n, f, BIND_ANY_ADDR, 0n], H.SUCCESS, [
        0n,
        base,
        f,
      ]);
    }
    return { calls, cycles, answered: Atomics.load(header, ANSWERED), errors };
  }

  /** Comlink baseline: one hcall answered by a pure core in this worker. */
  coreHcall(opcode: number, args: bigint[]): { rc: number; rets: bigint[] } {
    if (!this.#core) {
      this.#core = new HypervisorCore({ personality: "powervm", env: seededEnv() });
      this.#core.addDrc({
        index: 0x44100001,
        blockSize: 1n << 20n,
        blocks: 4,
        metadataSize: 128 * 1024,
        uuid: "44100001-5ca1-4e00-8000-441000010000",
      });
      this.#core.assign(0x44100001, 1);
    }
    return this.#core.hcall(1, opcode, args);
  }

  /** postMessage baseline: echoes every message on `port` back to the sender. */
  echoOn(port: MessagePort): void {
    this.#echo = port;
    port.onmessage = (event) => port.postMessage(event.data);
  }

  /** Closes the echo port. */
  closeEcho(): void {
    this.#echo?.close();
  }

  /** Floor of the machine, server side: answers by spinning (no wait, no work). */
  spinServe(buffer: SharedArrayBuffer): number {
    const words = new Int32Array(buffer);
    let served = 0, seen = 0;
    for (;;) {
      let req: number;
      while ((req = Atomics.load(words, ATOM_REQ)) === seen) { /* spin */ }
      if (Atomics.load(words, ATOM_STOP) !== 0) return served;
      seen = req;
      Atomics.store(words, ATOM_RESP, req);
      served++;
    }
  }

  /** Floor of the machine, client side: `batches` batches of `batch` spinning round trips. */
  spinClient(buffer: SharedArrayBuffer, batches: number, batch: number): number[] {
    const words = new Int32Array(buffer), ns: number[] = [];
    let seq = 0;
    for (let b = 0; b < batches; b++) {
      const t0 = performance.now();
      for (let i = 0; i < batch; i++) {
        Atomics.store(words, ATOM_REQ, ++seq);
        while (Atomics.load(words, ATOM_RESP) !== seq) { /* spin */ }
      }
      ns.push(((performance.now() - t0) * 1e6) / batch);
    }
    Atomics.store(words, ATOM_STOP, 1);
    Atomics.store(words, ATOM_REQ, ++seq);
    return ns;
  }

  /** Atomics baseline, server side: waits (no spin) for each request and answers it. */
  atomicsServe(buffer: SharedArrayBuffer): number {
    const words = new Int32Array(buffer);
    let served = 0, seen = 0;
    for (;;) {
      Atomics.wait(words, ATOM_REQ, seen, 100);
      if (Atomics.load(words, ATOM_STOP) !== 0) return served;
      const req = Atomics.load(words, ATOM_REQ);
      if (req === seen) continue;
      seen = req;
      words[ATOM_VALUE] = words[ATOM_VALUE] + 1;
      Atomics.store(words, ATOM_RESP, req);
      Atomics.notify(words, ATOM_RESP);
      served++;
    }
  }

  /** Atomics baseline, client side: `count` round trips, each timed; then stops the server. */
  atomicsClient(buffer: SharedArrayBuffer, count: number): number[] {
    const words = new Int32Array(buffer), ns: number[] = [];
    for (let i = 1; i <= count; i++) {
      const t0 = performance.now();
      Atomics.store(words, ATOM_REQ, i);
      Atomics.notify(words, ATOM_REQ);
      while (Atomics.load(words, ATOM_RESP) !== i) Atomics.wait(words, ATOM_RESP, i - 1);
      ns.push((performance.now() - t0) * 1e6);
    }
    Atomics.store(words, ATOM_STOP, 1);
    Atomics.add(words, ATOM_REQ, 1);
    Atomics.notify(words, ATOM_REQ);
    return ns;
  }
}

Comlink.expose(new BenchWorker());
