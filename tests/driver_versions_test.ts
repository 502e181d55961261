/**
 * Behaviours that tell the driver versions apart: 5.2's bind loop, mainline's
 * `papr/flags` text and 5.3's unbind scope.
 */
import assert from "node:assert/strict";
import { H, OP } from "../abi/hcalls.ts";
import { pmemNode } from "../guest/device_tree.ts";
import { Libnvdimm } from "../guest/libnvdimm.ts";
import type { KernelServices, PlatformDevice, PlparResult } from "../guest/papr_scm/services.ts";
import { compute, done, msleep, runSync } from "../guest/task.ts";
import { ENXIO } from "../guest/papr_scm/services.ts";
import { PaprScm52 } from "../guest/papr_scm/v5_2.ts";
import { PaprScm514 } from "../guest/papr_scm/v5_14.ts";
import { PaprScm518 } from "../guest/papr_scm/v5_18.ts";
import { startSim, workerTest } from "./worker_test.ts";

const MiB = 1 << 20;
const DRC = 0x44100002;
const PREFIX = "papr_scm ibm,persistent-memory:ibm,pmemory@44100002: ";

/** A kernel whose hcalls answer from a script, recording every call and log line. */
function stubKernel(answers: PlparResult[]) {
  const calls: Array<{ opcode: number; args: bigint[] }> = [];
  const log: string[] = [];
  const kernel: KernelServices = {
    hcall(opcode, ...args) {
      calls.push({ opcode, args });
      const answer = answers.shift();
      if (!answer) throw new Error(`unscripted hcall 0x${opcode.toString(16)}`);
      return done(answer);
    },
    log: (level, text) => log.push(`${level}: ${text}`),
    msleep,
    compute,
    registerNsPerGiB: 0,
    libnvdimm: new Libnvdimm(),
    now: () => 0,
    oops: (lines) => {
      throw new Error(`oops: ${lines.join("; ")}`);
    },
  };
  return { kernel, calls, log };
}

function device(): PlatformDevice {
  const node = pmemNode({
    drcIndex: DRC,
    blockSize: BigInt(MiB),
    blocks: 4,
    metadataSize: 128 * 1024,
    uuid: "0b9a9a3e-8a7a-4e2b-9d7e-44100002aaaa",
  });
  return {
    node,
    path: `/ibm,persistent-memory/${node.name}`,
    name: `ibm,persistent-memory:${node.name}`,
  };
}

const rets = (...values: bigint[]) => [...values, ...new Array<bigint>(9 - values.length).fill(0n)];
const ADDR = 0x100_0000_0000n;
/** Runs driver code whose hcalls the stub kernel answers (they never reach here). */
const run = <T>(task: Parameters<typeof runSync<T>>[0]) =>
  runSync(task, () => {
    throw new Error("hcalls are answered by the stub kernel");
  });

Deno.test("5.2: long busy from BIND_MEM fails the probe after one call; H_BUSY is retried with r4's token", () => {
  // Long busy: 5.2's drc_pmem_bind loops only on H_BUSY, so it gives up at once.
  const longBusy = stubKernel([
    { rc: H.LONG_BUSY_ORDER_1_MSEC, rets: rets(0x77n) },
    { rc: H.SUCCESS, rets: rets(0n, ADDR) },
  ]);
  const failing = new PaprScm52(longBusy.kernel, device());
  assert.equal(run(failing.probe()), -ENXIO);
  assert.deepEqual(longBusy.calls.map((c) => c.opcode), [OP.H_SCM_BIND_MEM]);
  assert.ok(longBusy.log.some((l) => l.endsWith(": bind err: 9900")), longBusy.log.join("\n"));
  assert.deepEqual(longBusy.kernel.libnvdimm.regions, []);

  // Plain H_BUSY: called again with the continue-token the hypervisor put in r4.
  const token = 0x1234_5678n;
  const busy = stubKernel([
    { rc: H.BUSY, rets: rets(token, ADDR) },
    { rc: H.SUCCESS, rets: rets(0n, 0n) },
  ]);
  const driver = new PaprScm52(busy.kernel, device());
  assert.equal(run(driver.probe()), 0);
  assert.deepEqual(busy.calls.map((c) => c.opcode), [OP.H_SCM_BIND_MEM, OP.H_SCM_BIND_MEM]);
  assert.equal(busy.calls[0].args[4], 0n, "the first call has no token");
  assert.equal(busy.calls[1].args[4], token, "the retry passes r4's token");
  assert.ok(!busy.log.some((l) => l.includes("bind err")), busy.log.join("\n"));
  // The first non-zero address is the one kept.
  assert.equal(busy.kernel.libnvdimm.regions[0].start, ADDR);
});

workerTest(
  "mainline: papr/flags lists every word in kernel order, each with a trailing space",
  async () => {
    await using system = await startSim({
      lpars: [{
        name: "a",
        kernel: "mainline",
        nvdimms: [{
          drc: DRC,
          blocks: 2,
          blockSize: MiB,
          health: [
            "UNARMED",
            "SHUTDOWN_DIRTY",
            "EMPTY",
            "ENCRYPTED",
            "HEALTH_CRITICAL",
            "SCRUBBED_AND_LOCKED",
          ],
        }],
      }],
    });
    const lpar = system.lpar("a");
    await lpar.boot();
    // papr_flags_show: each word followed by a space, then one newline when any was printed.
    assert.equal(
      await lpar.papr("nmem0", "flags"),
      "not_armed flush_fail restore_fail encrypted smart_notify scrubbed locked \n",
    );
  },
);

workerTest(
  "5.3: after kexec each nvdimm unbinds only its own DRC (scope DRC, not ALL)",
  async () => {
    const drcs = [0x44100002, 0x44100003];
    await using system = await startSim({
      lpars: [{
        name: "a",
        kernel: "5.3",
        nvdimms: drcs.map((drc) => ({ drc, blocks: 4, blockSize: MiB })),
      }],
    });
    const lpar = system.lpar("a");
    await lpar.boot();
    assert.equal((await lpar.regions()).length, 2);
    await system.traceStart();
    const report = await lpar.kexec();
    const trace = (await system.traceTake()).map((t) => `${t.hcall}:${t.rc}`);
    // With scope ALL the first unbind would also free the second nvdimm, whose bind
    // would then succeed at once: one H_OVERLAP and one retry instead of two.
    assert.equal(trace.filter((t) => t === "H_SCM_BIND_MEM:H_OVERLAP").length, 2, trace.join(", "));
    const retries = report.dmesg.filter((l) => l.endsWith("Retrying bind after unbinding"));
    assert.equal(retries.length, 2, report.dmesg.join("\n"));
    const regions = await lpar.regions();
    assert.deepEqual(regions.map((r) => r.drc).sort(), drcs);
    regions.forEach((r) => assert.equal(r.size, 4n * BigInt(MiB)));
  },
);

Deno.test("5.18: H_FUNCTION from H_SCM_HEALTH is an empty bitmap, said once; before, an error", () => {
  // Bind, then the probe's stats size query (H_FUNCTION, as on a hypervisor without
  // statistics) and health (H_FUNCTION); 5.18 then registers no PMU.
  const answers = () => [
    { rc: H.SUCCESS, rets: rets(0n, ADDR) },
    { rc: H.FUNCTION, rets: rets() },
    { rc: H.FUNCTION, rets: rets() },
  ];
  const old = stubKernel(answers());
  assert.equal(run(new PaprScm514(old.kernel, device()).probe()), 0);
  assert.ok(
    old.log.includes(`err: ${PREFIX}Failed to query health information, Err:-2`),
    old.log.join("\n"),
  );

  const now = stubKernel(answers());
  const driver = new PaprScm518(now.kernel, device());
  assert.equal(run(driver.probe()), 0);
  const said = `info: ${PREFIX}Hcall H_SCM_HEALTH not implemented, assuming empty health bitmap`;
  assert.deepEqual(now.log.filter((l) => !l.startsWith("debug")), [
    `err: ${PREFIX}Failed to query performance stats, Err:-2`,
    said,
    `info: ${PREFIX}nvdimm pmu didn't register rc=-2`,
  ]);
  // A second query (flags, after the cache is dropped) does not say it again.
  now.kernel.hcall = () => done({ rc: H.FUNCTION, rets: rets() });
  driver.smartInject({});
  assert.equal(run(driver.flagsText()), "");
  assert.equal(now.log.filter((l) => l === said).length, 1);
});
