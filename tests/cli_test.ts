/**
 * The command line through `main(args, out)`: every command, and bad
 * arguments giving exit code 2 with a message saying what is accepted.
 */
import assert from "node:assert/strict";
import { main } from "../cli/main.ts";
import { KERNEL_VERSIONS } from "../guest/papr_scm/mod.ts";
import { workerTest } from "./worker_test.ts";

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { print: (t) => out.push(t), error: (t) => err.push(t) });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

workerTest("cli: help and scenario list", async () => {
  const help = await cli("help");
  assert.equal(help.code, 0);
  assert.match(help.out, /show \[options\] <view>/);
  assert.match(help.out, /matrix \[options\]/);
  const list = await cli("scenario", "list");
  assert.equal(list.code, 0);
  for (const name of ["kexec", "panic", "panic-mid-bind", "reboot", "shutdown", "contention"]) {
    assert.match(list.out, new RegExp(`^${name} `, "m"));
  }
});

workerTest("cli: scenario with --kernel, --hypervisor, --config and --json", async () => {
  const text = await cli("scenario", "kexec", "--kernel", "5.3");
  assert.equal(text.code, 0);
  assert.match(text.out, /=== papr_scm 5\.3 on powervm: kexec into 5\.3 ===/);
  assert.match(text.out, /Retrying bind after unbinding/);
  const json = await cli("scenario", "reboot", "--config", "examples/seed.json", "--json");
  assert.equal(json.code, 0);
  const report = JSON.parse(json.out);
  assert.equal(report.mode, "reboot");
  assert.equal(report.kernel, "5.4");
  assert.equal(report.pattern, "intact");
  const qemu = await cli("scenario", "shutdown", "--hypervisor", "qemu", "--json");
  assert.equal(JSON.parse(qemu.out).hypervisor, "qemu");
});

workerTest("cli: show ndctl, sysfs, dmesg, bindings, events", async () => {
  const rdh = await cli(
    "show",
    "--config",
    "examples/seed.json",
    "--lpar",
    "lpar1",
    "ndctl",
    "-RDH",
  );
  assert.equal(rdh.code, 0);
  const value = JSON.parse(rdh.out);
  assert.deepEqual(Object.keys(value), ["dimms", "regions"]);
  assert.deepEqual(value.regions[0].mappings[0], {
    dimm: "nmem0",
    offset: 0,
    length: 10737418240,
    position: 0,
  });
  const ns = await cli("show", "ndctl", "list", "-N");
  assert.deepEqual(JSON.parse(ns.out), [{
    dev: "namespace0.0",
    mode: "raw",
    size: 1073741824,
    sector_size: 512,
    blockdev: "pmem0",
  }]);
  const size = await cli("show", "sysfs", "region0/size");
  assert.equal(size.out, "1073741824");
  const dir = await cli("show", "sysfs");
  assert.deepEqual(dir.out.split("\n"), ["namespace0.0/", "ndbus0/", "nmem0/", "region0/"]);
  const dmesg = await cli("show", "--kernel", "5.3", "--then", "kexec", "dmesg");
  assert.match(dmesg.out, /Linux version 5\.3\.0/);
  assert.match(dmesg.out, /Retrying bind after unbinding/);
  const bindings = await cli("show", "bindings");
  assert.match(bindings.out, /^drc 0x44100002 block 0: bound to lpar1 at 0x/);
  const events = await cli("show", "--config", "examples/unhealthy.json", "events");
  assert.match(events.out, /flaky: kernel panicked; restart budget spent/);
});

workerTest(
  "cli: matrix prints one table with a row per kernel, personality and scenario",
  async () => {
    const { code, out } = await cli("matrix");
    assert.equal(code, 0);
    const lines = out.split("\n");
    assert.match(
      lines[0],
      /^kernel +hypervisor +scenario +region back +address reused +data +hcalls/,
    );
    assert.equal(lines.length, 2 + KERNEL_VERSIONS.length * 2 * 4);
    assert.match(out, /^5\.2 +powervm +kexec +no +no +lost +1 +bind err: -68$/m);
    assert.match(out, /^5\.4 +powervm +kexec +yes +yes +intact +3 +\(none\)$/m);
    const json = await cli("matrix", "--kernel", "5.3", "--hypervisor", "powervm", "--json");
    const { rows } = JSON.parse(json.out);
    assert.deepEqual(rows.map((r: { mode: string }) => r.mode), [
      "kexec",
      "panic",
      "reboot",
      "shutdown",
    ]);
    assert.ok(rows.every((r: { ok: boolean }) => r.ok));
  },
);

workerTest("cli: bad arguments exit with 2 and say what is accepted", async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [["frobnicate"], /unknown command "frobnicate"; accepted: demo, scenario, matrix, show, help/],
    [["scenario", "kexec", "--frob"], /Unknown option '--frob'.*accepted options: --kernel/],
    [["scenario", "nope"], /unknown scenario "nope"; known: kexec, panic/],
    [["scenario", "kexec", "--kernel", "4.19"], /unknown kernel version "4\.19"; accepted: 5\.2/],
    [["scenario", "kexec", "--hypervisor", "kvm"], /--hypervisor "kvm": accepted: powervm, qemu/],
    [["scenario", "kexec", "--lpars", "3"], /scenario kexec does not take --lpars; it takes:/],
    [["scenario", "contention", "--lpars", "0"], /--lpars 0: expected an integer from 1 to 256/],
    [["scenario", "kexec", "extra"], /unexpected argument "extra"/],
    [
      ["scenario", "kexec", "--config", "missing.json"],
      /missing\.json: cannot read the configuration file: no such file/,
    ],
    [
      ["scenario", "kexec", "--config", "tests/fixtures/bad_json.txt"],
      /not valid JSON at line 4, column 5/,
    ],
    [["matrix", "--lpar", "x"], /matrix does not take --lpar/],
    [["show"], /show: no view given; accepted: ndctl, sysfs, dmesg, bindings, events/],
    [["show", "top"], /unknown view "top"/],
    [["show", "ndctl", "-X"], /unsupported option "-X"; accepted: -R, -D, -H, -N/],
    [
      ["show", "--then", "dance", "dmesg"],
      /--then "dance": accepted: kexec, panic, reboot, shutdown/,
    ],
    [["show", "--lpar", "nope", "dmesg"], /no LPAR "nope"; this system has: lpar1/],
    [["show", "sysfs", "nmem9"], /\/sys\/bus\/nd\/devices\/nmem9: no such file or directory/],
  ];
  for (const [args, message] of cases) {
    await t.step(args.join(" "), async () => {
      const r = await cli(...args);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.err}`);
      assert.match(r.err, message);
      assert.match(r.err, /^error: /);
    });
  }
});
