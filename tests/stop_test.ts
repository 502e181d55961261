/** Nothing hangs at stop: calls in flight settle with a clear error. */
import assert from "node:assert/strict";
import { ManagedSystem } from "../actors/managed_system.ts";
import { workerTest } from "./worker_test.ts";

for (const runtime of ["threads", "sim"] as const) {
  workerTest(
    `stop (${runtime}): hypervisor and LPAR calls in flight settle with a clear error`,
    async () => {
      const system = await ManagedSystem.start({
        lpars: [{ name: "l", nvdimms: [{ drc: 0x44100002, blocks: 2 }] }],
      }, { runtime });
      const lpar = system.lpars[0];
      await lpar.boot();
      const calls = [
        system.bindings(),
        system.invariants(),
        system.media(0x44100002),
        lpar.regions(),
        lpar.dmesg(),
      ].map((p) => p.then(() => "settled", (e: Error) => e.message));
      await system.stop();
      for (const outcome of await Promise.all(calls)) {
        assert.match(outcome, /was stopped/);
      }
      await assert.rejects(system.media(0x44100002), /the managed system was stopped/);
    },
  );
}
