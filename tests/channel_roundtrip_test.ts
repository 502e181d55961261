/**
 * The real GuestPort and the real Dispatcher over one channel, on one thread:
 * the guest's wait for RESP runs the dispatcher's passes (`Atomics.load` is
 * stood in for, as in guest_spin_test.ts), so every interleaving here is one
 * the two threads can make, and replays. Each side writes a zero only over a
 * register that is not zero (channel/registers.ts), so what a side reads must
 * never depend on what an earlier call left: the handler must see exactly the
 * honest guest's arguments and the guest exactly the handler's answer, after
 * answers of every width, requests of every kind (hcalls and DAX requests),
 * garbage the guest wrote into its own registers between calls, a detach and
 * re-attach of the same channel, a new GuestPort over a used one, and a
 * hostile neighbour scribbling over its own channel between passes.
 */
import assert from "node:assert/strict";
import { Dispatcher } from "../channel/dispatcher.ts";
import { GuestPort } from "../channel/guest_port.ts";
import {
  channelViews,
  createChannel,
  createDoorbell,
  DAX_READ,
  DAX_WRITE,
  DAX_WRITEBACK,
  HEADER_WORDS,
  KIND,
  KIND_HCALL,
  REG_COUNT,
  REQ,
  RESP,
  STOP,
} from "../channel/layout.ts";
import type { HcallResult } from "../core/types.ts";
import { withClock } from "./virtual_clock.ts";

const HONEST = 1, HOSTILE = 2;
const CALLS = 3_000;

/** xorshift32: reproducible. */
function random(seed: number) {
  let x = seed >>> 0 || 1;
  const next = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
  return {
    next,
    below: (n: number) => next() % n,
    /** A register value: zero half the time, else one with a zero half now and then. */
    value: (): bigint => {
      switch (next() % 8) {
        case 0:
        case 1:
        case 2:
        case 3:
          return 0n;
        case 4:
          return BigInt(next()); // high word zero
        case 5:
          return BigInt((next() | 1) >>> 0) << 32n; // low word zero
        case 6:
          return [1n << 63n, (1n << 64n) - 1n, 1n][next() % 3];
        default:
          return (BigInt(next()) << 32n) | BigInt(next());
      }
    },
  };
}

/** `values` padded with zeros to nine registers. */
const nine = (values: readonly bigint[]) => [...values, ...new Array(9 - values.length).fill(0n)];

for (const seed of [1, 0xC0FFEE, 0x5EED_1234]) {
  Deno.test(`channel round trip (seed ${seed}): each side reads exactly what the other wrote`, () => {
    const rng = random(seed);
    const doorbell = createDoorbell();
    const channel = createChannel();
    const honest = channelViews(channel);
    const hostile = channelViews(createChannel());
    const hostileWords = [
      new Int32Array(hostile.header.buffer, hostile.header.byteOffset, HEADER_WORDS),
      new Int32Array(hostile.regs.buffer, hostile.regs.byteOffset, REG_COUNT * 2),
    ];
    /** What the honest guest asked for, checked by the handler; what it answered. */
    let expected: { kind: number; opcode: number; args: bigint[] } | undefined;
    let answer: HcallResult = { rc: 0, rets: [] };
    let honestAnswers = 0, hostileAnswers = 0;
    const serve = (lpar: number, kind: number, opcode: number, args: readonly bigint[]) => {
      if (lpar === HOSTILE) {
        hostileAnswers++;
        return { rc: -rng.below(5), rets: nine([rng.value(), rng.value()]) };
      }
      assert.equal(lpar, HONEST);
      assert.ok(expected, "the honest LPAR was answered without asking");
      assert.equal(kind, expected.kind, "request kind");
      if (kind === KIND_HCALL) assert.equal(opcode, expected.opcode, "opcode");
      assert.deepEqual([...args], nine(expected.args), "arguments");
      expected = undefined;
      honestAnswers++;
      return answer;
    };
    /** A hypervisor thread serving both channels. */
    const newDispatcher = () => {
      const d = new Dispatcher(
        doorbell,
        (lpar, opcode, args) => serve(lpar, KIND_HCALL, opcode, args),
        (lpar, kind, args) => serve(lpar, kind, -1, args),
        { maxActive: 4 },
      );
      d.attach(HONEST, channel);
      d.attach(HOSTILE, hostile.header.buffer as SharedArrayBuffer);
      return d;
    };
    let dispatcher = newDispatcher();

    /** The hostile neighbour: random words in its own header and registers, and requests. */
    const scribble = () => {
      const words = hostileWords[rng.below(2)];
      const at = rng.below(words.length);
      if (words === hostileWords[0] && at === STOP) return; // it would only stop itself
      Atomics.store(words, at, rng.next() | 0);
      if (rng.below(4) === 0) {
        Atomics.store(hostile.header, REQ, (hostile.header[RESP] + 1) | 0);
      }
    };

    const { load } = Atomics;
    let serving = false;
    withClock((clock) => {
      try {
        Atomics.load = ((array: Int32Array, index: number) => {
          if (array.buffer === channel && index === RESP && !serving) {
            serving = true;
            try {
              for (let pass = 0; honest.header[RESP] !== honest.header[REQ]; pass++) {
                assert.ok(pass < 1_000, "the honest LPAR was not answered");
                scribble();
                dispatcher.serveOnce(true);
                clock.now += 0.001;
              }
            } finally {
              serving = false;
            }
          }
          return load(array, index);
        }) as typeof Atomics.load;
        let port = new GuestPort(channel, doorbell);
        const rets = nine([]);
        for (let call = 0; call < CALLS; call++) {
          clock.now += rng.below(16) === 0 ? 250 : 0.01; // now and then the channel cools
          // Garbage the guest left in its own registers (the misbehave path).
          if (rng.below(8) === 0) honest.regs[rng.below(REG_COUNT)] = rng.value() | 1n;
          // The channel served anew (detach and re-attach), or a new port over it.
          if (rng.below(64) === 0) {
            dispatcher.detach(HONEST);
            dispatcher.attach(HONEST, channel);
          }
          if (rng.below(64) === 0) port = new GuestPort(channel, doorbell);
          if (rng.below(128) === 0) {
            // A new hypervisor thread over the same channels.
            dispatcher = newDispatcher();
          }
          const args = Array.from({ length: rng.below(10) }, () => rng.value());
          const rcs = [0, -4, -68, 2 ** 31 - 1, -(2 ** 31), 2 ** 31, 2 ** 32 - 1, rng.next() | 0];
          answer = {
            rc: rcs[rng.below(rcs.length)],
            rets: Array.from({ length: rng.below(10) }, () => rng.value()),
          };
          // Last call's outputs, so a register read as zero without being written shows.
          rets.fill(0xDEADn);
          const kinds = [KIND_HCALL, KIND_HCALL, DAX_READ, DAX_WRITE, DAX_WRITEBACK];
          const kind = kinds[rng.below(kinds.length)];
          let rc: number;
          if (kind === KIND_HCALL) {
            const opcode = rng.below(4) === 0 ? rng.next() : 0x3E4 + 4 * rng.below(26);
            expected = { kind, opcode, args };
            rc = port.call(opcode, args, rets);
          } else {
            expected = { kind, opcode: 0, args };
            rc = port.request(kind, args, rets);
            assert.equal(honest.header[KIND], KIND_HCALL, "KIND cleared after a request");
          }
          assert.equal(expected, undefined, `call ${call} was not answered by the handler`);
          assert.equal(rc, answer.rc, `call ${call}: r3`);
          assert.deepEqual(rets, nine(answer.rets), `call ${call}: r4..r12`);
        }
      } finally {
        Atomics.load = load;
      }
    });
    assert.equal(honestAnswers, CALLS);
    assert.ok(hostileAnswers > CALLS / 8, `the neighbour was answered ${hostileAnswers} times`);
  });
}
