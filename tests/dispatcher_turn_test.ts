/**
 * A turn is bounded in time as well as in answers: an LPAR whose every hcall
 * is expensive, and which asks again while each answer is computed, cannot
 * keep the hypervisor for `maxLead` answers of its choosing while another
 * LPAR waits (found by an attack on the dispatcher).
 */
import assert from "node:assert/strict";
import { Dispatcher } from "../channel/dispatcher.ts";
import { channelViews, createChannel, createDoorbell, REQ, RESP } from "../channel/layout.ts";
import type { HcallResult } from "../core/types.ts";

const HOSTILE = 1, VICTIM = 2;
const NO_RETS = new Array(9).fill(0n);

Deno.test("dispatcher: an LPAR of costly hcalls gives its turn up to one that waits", () => {
  const hostile = channelViews(createChannel());
  const victim = channelViews(createChannel());
  let hostileAnswers = 0;
  const handle = (lpar: number): HcallResult => {
    if (lpar === HOSTILE) {
      hostileAnswers++;
      // Half a millisecond of hypervisor work, and the guest asks again at once.
      const until = performance.now() + 0.5;
      while (performance.now() < until) { /* the costly hcall */ }
      hostile.header[REQ] = (hostile.header[RESP] + 2) | 0;
    }
    return { rc: 0, rets: NO_RETS };
  };
  const dispatcher = new Dispatcher(createDoorbell(), handle, () => ({ rc: -2, rets: NO_RETS }), {
    maxActive: 1,
  });
  dispatcher.attach(HOSTILE, hostile.header.buffer as SharedArrayBuffer);
  dispatcher.attach(VICTIM, victim.header.buffer as SharedArrayBuffer);
  hostile.header[REQ] = 1;
  dispatcher.serveOnce(); // the hostile LPAR takes the one turn
  victim.header[REQ] = 1;
  for (let pass = 0; victim.header[RESP] !== 1; pass++) {
    assert.ok(pass < 20_000, "the victim was never answered");
    dispatcher.serveOnce();
  }
  // 16,384 answers (8 s of hypervisor time) without a time bound; now about
  // 25 ms of turn plus the passes before the victim is seen: far fewer.
  assert.ok(hostileAnswers < 2_000, `the hostile LPAR got ${hostileAnswers} answers first`);
});
