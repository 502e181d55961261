/**
 * Timeline traces: the Perfetto trace-event JSON has the fields the format
 * requires, slices nest per track, every flow joins one LPAR hcall to one
 * hypervisor slice, the sim gives the same bytes for the same seed, limits
 * end in a truncation marker, and the ftrace lines print as the kernel's
 * powerpc hcall tracepoints do.
 */
import assert from "node:assert/strict";
import { ManagedSystem } from "../actors/managed_system.ts";
import { runKexecStory } from "../scenarios/kexec.ts";
import { MAX_TRACE_SYSTEMS, openSystemTrace, TraceSession } from "../trace/session.ts";
import { ftraceSeconds, unsignedRetval } from "../trace/ftrace.ts";
import { BoundedLog } from "../runtime/trace_buffer.ts";
import { workerTest } from "./worker_test.ts";
import { checkFlows, checkNesting, checkTrace } from "./trace_check.ts";

async function kexecTrace(seed: number, runtime: "sim" | "threads" = "sim") {
  const trace = new TraceSession();
  await runKexecStory({
    kernel: "5.3",
    start: { runtime, seed: runtime === "sim" ? seed : undefined, trace },
  });
  return trace;
}

workerTest(
  "trace: a sim kexec story's Perfetto trace, its tracks, slices, flows, counters",
  async (t) => {
    const trace = await kexecTrace(7);
    const events = checkTrace(trace.perfetto());
    await t.step("a process for the hypervisor and one per LPAR, with named tracks", () => {
      const names = events.filter((e) => e.name === "process_name").map((e) => e.args.name);
      assert.deepEqual(names, ["hypervisor (powervm)", "lpar1"]);
      const threads = events.filter((e) => e.name === "thread_name").map((e) => e.args.name);
      assert.deepEqual(threads.sort(), ["hcalls", "kernel", "serving lpar1"]);
    });
    await t.step("hcalls are slices named by the hcall, with registers and rc by name", () => {
      const hcalls = events.filter((e) => e.ph === "X" && e.cat === "hcall");
      assert.ok(hcalls.length > 5);
      for (const h of hcalls) {
        assert.match(h.name, /^H_SCM_/);
        assert.match(h.args.rc, /^H_/);
        assert.match(h.args.in.r4, /^0x[0-9a-f]+$/);
        assert.equal(Object.keys(h.args.out).length, 9);
      }
      const overlap = hcalls.find((h) => h.args.rc === "H_OVERLAP");
      assert.ok(overlap, "5.3 meets H_OVERLAP after the kexec");
      assert.equal(overlap.name, "H_SCM_BIND_MEM");
      assert.equal(overlap.args["rc value"], -68);
      assert.match(overlap.args["continue-token in"], /^0x/);
      assert.ok(hcalls.some((h) => h.name === "H_SCM_UNBIND_ALL"));
    });
    await t.step("every slice nests on its track; every hcall has its flow", () => {
      checkNesting(events);
      const flows = checkFlows(events);
      const hcalls = events.filter((e) => e.ph === "X" && e.cat === "hcall").length;
      const served = events.filter((e) => e.ph === "X" && e.cat === "hypervisor").length;
      assert.equal(flows, hcalls);
      assert.equal(served, hcalls);
    });
    await t.step("life-cycle operations are slices on the kernel track", () => {
      const ops = events.filter((e) => e.cat === "lifecycle");
      assert.deepEqual(ops.map((e) => e.name), [
        "boot",
        "kexec",
        "probe 0x44100002",
        "probe 0x44100002",
      ]);
      // Each kernel's probe runs inside the operation that started the kernel.
      const [boot, kexec, firstProbe, secondProbe] = ops;
      const inside = (inner: typeof boot, outer: typeof boot) =>
        outer.ts <= inner.ts && inner.ts + inner.dur <= outer.ts + outer.dur;
      assert.ok(inside(firstProbe, boot) && inside(secondProbe, kexec));
      assert.equal(secondProbe.args.outcome, "ok", "5.3 retried after unbinding: probed");
    });
    await t.step(
      "counters: bound blocks fall to 0 slice by slice at the unbind-all, then come back",
      () => {
        const bound = events.filter((e) => e.name === "0x44100002 bound blocks").map((e) =>
          e.args.value
        );
        // Bound and unbound a slice of 16 blocks at a time (powervm's default slices).
        assert.deepEqual(bound, [0, 16, 32, 40, 24, 8, 0, 16, 32, 40]);
        assert.ok(events.some((e) => e.name === "0x44100002 health" && e.args.UNARMED === 0));
        assert.ok(events.some((e) => e.name === "0x44100002 persistence-failed count"));
      },
    );
    assert.deepEqual(trace.truncation(), []);
  },
);

workerTest("trace: the same seed gives a byte-identical trace", async () => {
  const a = (await kexecTrace(11)).perfetto();
  const b = (await kexecTrace(11)).perfetto();
  assert.equal(a, b);
  const c = new TraceSession();
  {
    await using system = await ManagedSystem.start({
      lpars: ["a", "b", "c"].map((name) => ({
        name,
        kernel: "5.4",
        nvdimms: [{ drc: "0x44200000", blocks: 8 }],
      })),
    }, { runtime: "sim", seed: 5, trace: c });
    await Promise.all(system.lpars.map((l) => l.boot()));
  }
  const d = new TraceSession();
  {
    await using system = await ManagedSystem.start({
      lpars: ["a", "b", "c"].map((name) => ({
        name,
        kernel: "5.4",
        nvdimms: [{ drc: "0x44200000", blocks: 8 }],
      })),
    }, { runtime: "sim", seed: 5, trace: d });
    await Promise.all(system.lpars.map((l) => l.boot()));
  }
  const contended = c.perfetto();
  assert.equal(contended, d.perfetto());
  const events = checkTrace(contended);
  checkNesting(events);
  checkFlows(events);
});

workerTest("trace: threads runtime, one shared clock: nesting and flows hold", async () => {
  const trace = await kexecTrace(1, "threads");
  const events = checkTrace(trace.perfetto());
  checkNesting(events);
  const flows = checkFlows(events);
  assert.equal(flows, events.filter((e) => e.ph === "X" && e.cat === "hcall").length);
  // Each hcall the guest issued is paired with the hypervisor's serving of it, in order.
  // (No check of the times against each other: each thread reads the shared clock itself.)
  const system = trace.systems[0];
  assert.equal(system.runtime, "threads");
  const guest = system.guests.get(1)!.spans;
  assert.equal(guest.length, system.hypervisor.spans.length);
  assert.deepEqual(guest.map((g) => g.opcode), system.hypervisor.spans.map((h) => h.opcode));
  assert.ok(guest.some((g) => g.rc === -68), "5.3 meets H_OVERLAP after the kexec");
});

workerTest("trace: limits end in a clear truncation marker, not growth", async (t) => {
  const trace = new TraceSession({ maxHcalls: 3 });
  await runKexecStory({ kernel: "5.3", start: { runtime: "sim", trace } });
  const json = trace.perfetto();
  const events = checkTrace(json);
  assert.equal(events.filter((e) => e.ph === "X" && e.cat === "hcall").length, 3);
  const marker = events.find((e) => e.ph === "i");
  assert.match(
    marker!.name,
    /^TRACE TRUNCATED: .*hcall records dropped \(at most 3 kept per side\)/,
  );
  assert.deepEqual(JSON.parse(json).otherData.truncated, trace.truncation());
  await t.step("bad limits are refused, naming what is accepted", () => {
    assert.throws(
      () => new TraceSession({ maxHcalls: 0 }),
      /maxHcalls 0: expected a whole number from 1/,
    );
    assert.throws(() => new TraceSession({ maxHcalls: 1.5 }), RangeError);
    assert.throws(() => new BoundedLog(-1), /trace limit -1: expected a whole number from 0/);
  });
  await t.step("past MAX_TRACE_SYSTEMS systems run untraced, and the trace says so", () => {
    const s = new TraceSession();
    for (let i = 0; i < MAX_TRACE_SYSTEMS; i++) {
      openSystemTrace(s, undefined, "sim", "powervm", () => 0)!.finish();
    }
    assert.equal(openSystemTrace(s, undefined, "sim", "powervm", () => 0), undefined);
    assert.equal(s.untraced, 1);
    assert.match(s.truncation().at(-1)!, /1 systems ran untraced \(at most 1000 per trace\)/);
  });
});

workerTest("trace: panic, kdump, DLPAR and health show as slices and counters", async () => {
  const trace = new TraceSession();
  {
    await using system = await ManagedSystem.start({
      lpars: [{
        name: "lpar1",
        kernel: "5.4",
        nvdimms: [{ drc: "0x44100002", blocks: 4 }],
        supervision: { onPanic: "kdump" },
      }],
    }, { runtime: "sim", seed: 2, trace });
    const lpar = system.lpar("lpar1");
    await lpar.boot();
    await lpar.panic();
    await system.dlparAdd("lpar1", { drc: "0x44100003", blocks: 2 });
    await system.setHealth(0x44100003, ["SHUTDOWN_DIRTY"]);
    await system.dlparRemove("lpar1", 0x44100003);
    await lpar.shutdown();
  }
  const events = checkTrace(trace.perfetto());
  checkNesting(events);
  const ops = events.filter((e) => e.cat === "lifecycle").map((e) => e.name);
  assert.deepEqual(ops.sort(), [
    "DLPAR add",
    "DLPAR remove",
    "boot",
    "kdump (supervisor)",
    "panic",
    "probe 0x44100002",
    "probe 0x44100002",
    "probe 0x44100003",
    "shutdown",
  ]);
  assert.ok(events.some((e) => e.name === "0x44100003 health" && e.args.SHUTDOWN_DIRTY === 1));
  const bound = events.filter((e) => e.name === "0x44100002 bound blocks").map((e) => e.args.value);
  assert.equal(bound.at(-1), 0, "shutdown releases every block");
});

workerTest(
  "ftrace: hcall_entry and hcall_exit lines as the powerpc tracepoints print them",
  async () => {
    const trace = await kexecTrace(7);
    const lines = trace.ftrace().split("\n");
    assert.match(lines[0], /^# tracer: nop \(lpar1\)$/);
    const events = lines.filter((l) => !l.startsWith("#"));
    for (const line of events) {
      assert.match(
        line,
        /^ +lpar1-1 +\[000\] \.\.\.\. +\d+\.\d{6}: hcall_(entry: opcode=\d+|exit: opcode=\d+ retval=\d+)$/,
      );
    }
    assert.ok(
      events.some((l) => l.endsWith("hcall_exit: opcode=1004 retval=18446744073709551548")),
    );
    assert.ok(
      events.some((l) => l.endsWith("hcall_entry: opcode=1020")),
      "H_SCM_UNBIND_ALL is 0x3FC",
    );
    assert.equal(events.length % 2, 0);
    assert.equal(trace.ftrace({ lpar: "nosuch" }), "");
    assert.equal(unsignedRetval(-68), "18446744073709551548");
    assert.equal(unsignedRetval(9900), "9900");
    assert.equal(ftraceSeconds(5_114_000_123), "5.114000");
  },
);

workerTest("trace: recording a trace does not change a sim run (same trace hash)", async () => {
  const run = async (trace?: TraceSession) => {
    await using system = await ManagedSystem.start({
      lpars: ["a", "b"].map((name) => ({
        name,
        kernel: "5.3",
        nvdimms: [{ drc: "0x44200000", blocks: 8 }],
      })),
    }, { runtime: "sim", seed: 9, trace });
    await Promise.all(system.lpars.map((l) => l.boot()));
    await system.lpar("a").kexec();
    return system.simulation()!.traceHash;
  };
  const traced = new TraceSession();
  assert.equal(await run(traced), await run());
  assert.equal(traced.systems.length, 1);
});
