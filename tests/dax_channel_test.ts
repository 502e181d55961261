/**
 * DAX over the channel (threads) agrees with DAX in one thread (sim): the
 * same accesses count the same cache lines, and addresses outside 64 bits
 * fault on both, whatever the guest puts in its registers.
 */
import assert from "node:assert/strict";
import { ManagedSystem } from "../actors/managed_system.ts";
import { ChannelDax } from "../channel/guest_dax.ts";
import type { GuestPort } from "../channel/guest_port.ts";
import { DAX_BUFFER_BYTES } from "../channel/layout.ts";
import { MachineCheck } from "../core/dax.ts";
import { workerTest } from "./worker_test.ts";

const DRC = 0x44100002;

for (const runtime of ["sim", "threads"] as const) {
  workerTest(
    `dax (${runtime}): an access's cache lines are counted once, however it is cut`,
    async () => {
      await using system = await ManagedSystem.start({
        lpars: [{ name: "a", kernel: "5.4", nvdimms: [{ drc: DRC, blocks: 4 }] }],
      }, { runtime });
      const [a] = system.lpars;
      await a.boot();
      const cases = [
        { at: 30, length: 3 * 65536 + 5 }, // misaligned start, several chunks
        { at: 64, length: 65536 }, // aligned, exactly one bounce buffer
        { at: 65535, length: 2 }, // two lines across a chunk-sized boundary
        { at: 7, length: 0 }, // nothing moves, nothing counts
      ];
      for (const { at, length } of cases) {
        const lines = length === 0
          ? 0
          : Math.floor((at + length - 1) / 64) - Math.floor(at / 64) + 1;
        const before = await system.media(DRC);
        await a.write("region0", at, new Uint8Array(length).fill(1));
        await a.read("region0", at, length);
        const after = await system.media(DRC);
        assert.equal(after.writes - before.writes, BigInt(lines), `writes of ${at}+${length}`);
        assert.equal(after.reads - before.reads, BigInt(lines), `reads of ${at}+${length}`);
      }
    },
  );
}

Deno.test("dax (threads): an address outside 64 bits faults before any request", () => {
  let requests = 0;
  const port = { request: () => (requests++, 0) } as unknown as GuestPort;
  const dax = new ChannelDax(port, new SharedArrayBuffer(DAX_BUFFER_BYTES));
  for (const address of [-1n, 1n << 64n, (1n << 64n) - 8n, -(1n << 64n)]) {
    assert.throws(() => dax.read(address, 16), MachineCheck, `read at ${address}`);
    assert.throws(() => dax.write(address, new Uint8Array(16)), MachineCheck);
  }
  assert.equal(requests, 0);
  // The last 16 bytes below 2^64 are a valid address range: the hypervisor decides.
  dax.read((1n << 64n) - 16n, 16);
  assert.equal(requests, 1);
});
