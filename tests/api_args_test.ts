/**
 * Every API argument is checked like the configuration is: a bad one is an
 * error naming the argument, the value and what is accepted, and nothing is done.
 */
import assert from "node:assert/strict";
import { ManagedSystem } from "../actors/managed_system.ts";
import type { LparBootOptions } from "../actors/lpar.ts";
import { startSim, workerTest } from "./worker_test.ts";

const DRC = 0x44100002;

// deno-lint-ignore no-explicit-any
type Loose = any;

workerTest(
  "api: bad arguments are refused with what is accepted, and nothing is done",
  async () => {
    await using system = await startSim({
      lpars: [{ name: "l", kernel: "mainline", nvdimms: [{ drc: DRC, blocks: 2 }] }],
    });
    const lpar = system.lpars[0];
    await lpar.boot();
    const cases: Array<[string, () => Promise<unknown>, RegExp]> = [
      [
        "write of a string",
        () => lpar.write("region0", 0, "HELLO" as Loose),
        /write: data: "HELLO" is not valid; expected a Uint8Array/,
      ],
      [
        "read at 1.5",
        () => lpar.read("region0", 1.5, 2),
        /read: offset: 1\.5 is not valid; expected a whole number from 0/,
      ],
      ["read of -1 bytes", () => lpar.read("region0", 0, -1), /read: length: -1 is not valid/],
      [
        "read of region null",
        () => lpar.read(null as Loose, 0, 1),
        /read: region: null is not valid; expected a name such as "region0" or a DRC index/,
      ],
      [
        "sysfs(123)",
        () => lpar.sysfs(123 as Loose),
        /sysfs path: 123 is not valid; expected a string/,
      ],
      [
        "writeLabel of a string",
        () => lpar.writeLabel("nmem0", 0, "x" as Loose),
        /writeLabel: data: "x" is not valid; expected a Uint8Array/,
      ],
      [
        "ndctl(null)",
        () => lpar.ndctl(null as Loose),
        /ndctl flags: null is not valid; expected an object of flags \(regions, dimms, health, namespaces, buses, idle, human, mediaErrors, firmware\)/,
      ],
      [
        "ndctl({ regoins })",
        () => lpar.ndctl({ regoins: true } as Loose),
        /unknown flag "regoins"/,
      ],
      ["papr(nmem0, 7)", () => lpar.papr("nmem0", 7 as Loose), /papr: attribute: 7 is not valid/],
      [
        "hcall ''",
        () => lpar.hcall("H_SCM_HEALTH", "" as Loose),
        /hcall argument r4: "" is not valid; expected an integer/,
      ],
      [
        "hcall []",
        () => lpar.hcall("H_SCM_HEALTH", [] as Loose),
        /hcall argument r4: an array of 0 is not valid/,
      ],
      [
        "hcall true",
        () => lpar.hcall("H_SCM_HEALTH", true as Loose),
        /hcall argument r4: true is not valid/,
      ],
      ["hcall 1.5", () => lpar.hcall("H_SCM_HEALTH", 1.5), /hcall argument r4: 1\.5 is not valid/],
      ["hcall 2^64", () => lpar.hcall("H_SCM_HEALTH", 1n << 64n), /fits 64 bits/],
      [
        "hcall with ten registers",
        () => lpar.hcall("H_SCM_HEALTH", ...new Array(10).fill(0)),
        /hcall: 10 arguments; an hcall takes at most 9 \(r4\.\.r12\)/,
      ],
      [
        "panicAt nth 0",
        () => lpar.kexec({ panicAt: { hcall: "H_SCM_BIND_MEM", nth: 0 } }),
        /boot options: panicAt\.nth: 0 is not valid; expected a positive integer/,
      ],
      [
        "an unknown kernel",
        () => lpar.kexec({ kernel: "4.19" as Loose }),
        /unknown kernel version "4\.19"; accepted: 5\.2, 5\.3, 5\.4, 5\.5, 5\.7, .*, 5\.19-rc1, 5\.19, mainline/,
      ],
      [
        "an unknown boot option",
        () => lpar.reboot({ kernal: "5.4" } as LparBootOptions),
        /boot options: unknown key "kernal"; accepted: kernel, paprScm, panicAt/,
      ],
      [
        "media of an unknown DRC",
        () => system.media(0x999),
        /media: no drc 0x999; this system has: 0x44100002/,
      ],
      ["setHealth of an unknown DRC", () => system.setHealth(0x999, []), /setHealth: no drc 0x999/],
      [
        "setFlushFailure('yes')",
        () => system.setFlushFailure(DRC, "yes" as Loose),
        /failing: expected true or false/,
      ],
    ];
    for (const [what, call, message] of cases) {
      await assert.rejects(call(), message, what);
    }
    // Nothing was done: the kernel that ran still runs, its region holds what it held.
    assert.equal(lpar.state, "running");
    assert.equal(lpar.kernel, "mainline");
    assert.deepEqual(await lpar.read("region0", 0, 4), new Uint8Array(4));
  },
);

workerTest("api: after stop, calls say the system was stopped", async () => {
  const system = await ManagedSystem.start({
    lpars: [{ name: "l", nvdimms: [{ drc: DRC, blocks: 2 }] }],
  });
  const lpar = system.lpars[0];
  await lpar.boot();
  await system.stop();
  await assert.rejects(lpar.dmesg(), /LPAR l was stopped/);
  await assert.rejects(system.bindings(), /the managed system was stopped/);
  await assert.rejects(system.media(DRC), /the managed system was stopped/);
});

workerTest("api: a shut-down or never-activated LPAR issues no raw hcall", async () => {
  await using system = await startSim({
    lpars: [{ name: "l", nvdimms: [{ drc: DRC, blocks: 2 }] }],
  });
  const lpar = system.lpars[0];
  await assert.rejects(
    lpar.hcall("H_SCM_BIND_MEM", DRC, 0, 2, -1, 0),
    /LPAR l is not activated; raw hcalls need an activated partition/,
  );
  await lpar.boot();
  await lpar.shutdown();
  await assert.rejects(lpar.hcall("H_SCM_HEALTH", DRC), /LPAR l is shut down/);
  assert.deepEqual(await system.bindings(), []);
});
