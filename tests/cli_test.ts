/**
 * The command line through `main(args, out)`: every command, and bad
 * arguments giving exit code 2 with a message saying what is accepted.
 */
import assert from "node:assert/strict";
import { main } from "../cli/main.ts";
import { KERNEL_VERSIONS } from "../guest/papr_scm/mod.ts";
import { workerTest } from "./worker_test.ts";

/** Runs a command line as given (threads runtime unless it says otherwise). */
async function cliAsGiven(
  ...args: string[]
): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { print: (t) => out.push(t), error: (t) => err.push(t) });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

/** Runs a command on the sim runtime: protocol behaviour, deterministic and quick. */
function cli(command: string, ...rest: string[]) {
  return cliAsGiven(command, "--runtime", "sim", ...rest);
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
  // Empty labels: no namespace ("ndctl list -N" prints nothing); the seed shows with -i.
  const ns = await cli("show", "ndctl", "list", "-N");
  assert.equal(ns.out, "");
  const idle = await cli("show", "ndctl", "list", "-Ni");
  assert.equal(JSON.parse(idle.out)[0].state, "disabled");
  const created = await cli("show", "ndctl", "create-namespace", "-s", "512M", "-m", "raw");
  assert.equal(created.code, 0);
  assert.equal(JSON.parse(created.out).size, 536870912);
  const full = await cli("show", "ndctl", "create-namespace", "-s", "2G");
  assert.equal(full.code, 1);
  assert.match(full.out, /failed to create namespace: No space left on device/);
  const size = await cli("show", "sysfs", "region0/size");
  assert.equal(size.out, "1073741824");
  const dir = await cli("show", "sysfs");
  assert.deepEqual(dir.out.split("\n"), ["namespace0.0/", "ndbus0/", "nmem0/", "region0/"]);
  assert.equal((await cli("show", "sysfs", "namespace0.0/size")).out, "0", "the seed");
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
    // 3 bind hcalls, then the dimm probe's 64 label reads.
    assert.match(out, /^5\.4 +powervm +kexec +yes +yes +intact +67 +\(none\)$/m);
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
    [
      ["scenario", "kexec", "--frob"],
      /^error: unknown option "--frob"; accepted options: --kernel/,
    ],
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
    [["show", "ndctl", "-X"], /unsupported option "-X"; accepted: -R -D -H -N -B -i -u -M -F -v/],
    [["show", "ndctl", "frob"], /show ndctl: unknown command "frob"; accepted: list, init-labels/],
    [
      ["show", "--then", "dance", "dmesg"],
      /--then "dance": accepted: kexec, panic, reboot, shutdown/,
    ],
    [["show", "--lpar", "nope", "dmesg"], /no LPAR "nope"; this system has: lpar1/],
    [["show", "sysfs", "nmem9"], /\/sys\/bus\/nd\/devices\/nmem9: no such file or directory/],
  ];
  for (const [args, message] of cases) {
    await t.step(args.join(" "), async () => {
      const r = await cliAsGiven(...args);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.err}`);
      assert.match(r.err, message);
      assert.match(r.err, /^error: /);
    });
  }
});

workerTest("cli: --runtime sim with a --seed prints the same bytes every time", async () => {
  const run = () =>
    cliAsGiven("scenario", "kexec", "--kernel", "5.3", "--runtime", "sim", "--seed", "9");
  const [a, b] = [await run(), await run()];
  assert.equal(a.code, 0);
  assert.equal(a.out, b.out);
  assert.match(a.out, /virtual time from the kexec to the end of boot: \d+\.\d{3} s/);
  const json = await cliAsGiven("matrix", "--kernel", "5.4", "--runtime", "sim", "--json");
  assert.equal(
    json.out,
    (await cliAsGiven("matrix", "--kernel", "5.4", "--runtime", "sim", "--json")).out,
  );
});

workerTest("cli: --runtime and --seed are checked", async () => {
  const bad = await cliAsGiven("scenario", "kexec", "--runtime", "fibers");
  assert.equal(bad.code, 2);
  assert.match(bad.err, /unknown runtime "fibers"; accepted: threads, sim/);
  const unseeded = await cliAsGiven("scenario", "kexec", "--seed", "3");
  assert.equal(unseeded.code, 2);
  assert.match(unseeded.err, /--seed goes with --runtime sim/);
  const notNumber = await cliAsGiven("scenario", "kexec", "--runtime", "sim", "--seed", "1e3");
  assert.equal(notNumber.code, 2);
  assert.match(notNumber.err, /--seed "1e3": expected a whole number from 0/);
});

workerTest(
  "examples/kexec-70g.json: the 2019 story's cost, 5.3 about 301 s, 5.4 about 5 s",
  async () => {
    const story = async (kernel: string) => {
      const r = await cli(
        "scenario",
        "kexec",
        "--config",
        "examples/kexec-70g.json",
        "--kernel",
        kernel,
        "--json",
      );
      assert.equal(r.code, 0, r.err);
      return JSON.parse(r.out);
    };
    const slow = await story("5.3"), quick = await story("5.4");
    // Faa6d21153fd's dmesg: the second device retried at 301.5 s; the kernel booted on at 340 s.
    assert.ok(Math.abs(slow.virtualSeconds - 301) / 301 <= 0.2, `5.3: ${slow.virtualSeconds} s`);
    assert.ok(Math.abs(quick.virtualSeconds - 5) / 5 <= 0.2, `5.4: ${quick.virtualSeconds} s`);
    const second = slow.dmesg.find((l: string) => l.includes("@44108001: Retrying bind"));
    const at = Number(/^\[\s*([\d.]+)\]/.exec(second)![1]);
    assert.ok(Math.abs(at - 301.5) / 301.5 <= 0.05, `second device retried at ${at} s`);
    assert.equal(slow.pattern, "intact");
    assert.equal(quick.pattern, "intact");
    // Costs are virtual time, and 60 GiB is more than a SharedArrayBuffer of the threads runtime.
    const threads = await cliAsGiven(
      "scenario",
      "kexec",
      "--config",
      "examples/kexec-70g.json",
      "--runtime",
      "threads",
    );
    assert.equal(threads.code, 2);
    assert.match(
      threads.err,
      /config\.hypervisor\.costs: costs are virtual time, spent only on the sim runtime; run with --runtime sim/,
    );
  },
);

workerTest(
  "cli: every command on --runtime sim prints the same bytes for the same seed",
  async () => {
    const commands = [
      ["demo"],
      ["scenario", "contention", "--lpars", "6"],
      ["scenario", "panic-mid-bind", "--kernel", "5.3"],
      ["show", "--then", "kexec", "dmesg"],
      ["show", "--config", "examples/shared-drc.json", "bindings"],
      ["show", "--config", "examples/unhealthy.json", "events"],
    ];
    for (const [command, ...rest] of commands) {
      const run = () => cliAsGiven(command, "--runtime", "sim", "--seed", "5", ...rest);
      const first = await run();
      assert.equal(first.code, 0, `${command} ${rest.join(" ")}: ${first.err}`);
      assert.equal((await run()).out, first.out, `${command} ${rest.join(" ")}`);
    }
  },
);
