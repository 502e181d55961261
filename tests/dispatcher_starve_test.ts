/**
 * An idle hypervisor's first millisecond of sleep is synchronous
 * (`Atomics.wait`): a wake-up there must not let the serve loop go on
 * without the event loop ever running, or control messages (stop, attach,
 * detach) wait as long as any guest keeps ringing the shared doorbell. A
 * hostile guest can ring it at will (found by an attack on the dispatcher).
 */
import assert from "node:assert/strict";
import { Dispatcher } from "../channel/dispatcher.ts";
import { BELL, createDoorbell } from "../channel/layout.ts";

const NO_RETS = new Array(9).fill(0n);
/** How long (ms) the ringer rings at most if the control message never gets in. */
const RINGER_CAP_MS = 5_000;
/**
 * Ringers: the hypervisor's event loop runs when none of them has run for a
 * millisecond, which on a loaded machine one alone often fails to prevent.
 */
const RINGERS = 3;

const RINGER = `self.onmessage = (e) => {
  const [bellBuffer, controlBuffer, bellWord, capMs] = e.data;
  const bell = new Int32Array(bellBuffer), control = new Int32Array(controlBuffer);
  const until = performance.now() + capMs;
  Atomics.store(control, 1, 1);
  Atomics.notify(control, 1);
  // Ring without end: change the word, and wake whoever waits on it.
  while (Atomics.load(control, 0) === 0 && performance.now() < until) {
    Atomics.add(bell, bellWord, 1);
    Atomics.notify(bell, bellWord);
  }
  postMessage("done");
};`;

Deno.test("dispatcher: a guest ringing the doorbell without end does not keep control messages out", async () => {
  const doorbell = createDoorbell();
  const control = new Int32Array(new SharedArrayBuffer(8)); // [0] stop ringing, [1] started
  const url = URL.createObjectURL(new Blob([RINGER], { type: "text/javascript" }));
  const ringers = Array.from({ length: RINGERS }, () => new Worker(url, { type: "module" }));
  const rang = Promise.all(ringers.map((r) => new Promise((resolve) => r.onmessage = resolve)));
  const dispatcher = new Dispatcher(
    doorbell,
    () => ({ rc: 0, rets: NO_RETS }),
    () => ({ rc: 0, rets: NO_RETS }),
    { idleMinMs: 0.05, idleMaxMs: 0.1, sliceMs: 5 },
  );
  try {
    for (const r of ringers) r.postMessage([doorbell, control.buffer, BELL, RINGER_CAP_MS]);
    Atomics.wait(control, 1, 0); // a ringer rings from now on
    const running = dispatcher.run();
    // A control message: a macrotask, as comlink's are.
    let sleepsBefore = -1;
    const { port1, port2 } = new MessageChannel();
    port1.onmessage = () => {
      port1.close();
      sleepsBefore = dispatcher.idle.sleeps;
      dispatcher.stop();
    };
    port2.postMessage(0);
    await running;
    // With the event loop given a turn at least every sliceMs, only a few
    // hundred sleeps fit before the message (each follows an idle window of
    // at least idleMinMs); without it, thousands per second for as long as
    // the guest rings.
    assert.ok(sleepsBefore >= 0, "the control message never ran");
    assert.ok(sleepsBefore < 2_000, `${sleepsBefore} sleeps before a control message got in`);
  } finally {
    Atomics.store(control, 0, 1);
    await rang;
    for (const r of ringers) r.terminate();
    URL.revokeObjectURL(url);
  }
});
