/**
 * Issue 12 item 5: a CLI that says what it does. Per-command help,
 * `--version`, and one test per bug the issue listed, each run the way the
 * issue found it.
 */
import assert from "node:assert/strict";
import { main } from "../cli/main.ts";
import { commandHelp, COMMANDS, VERSION } from "../cli/help.ts";
import { ManagedSystem } from "../actors/managed_system.ts";
import { KERNEL_VERSIONS } from "../guest/papr_scm/mod.ts";
import { workerTest } from "./worker_test.ts";

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { print: (t) => out.push(t), error: (t) => err.push(t) });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

const SIM = ["--runtime", "sim"];

Deno.test("cli says: <command> --help, -h and help <command> print that command's help", async () => {
  for (const command of ["scenario", "show", "matrix", "demo", "swarm", "powerloss", "crash"]) {
    const expected = commandHelp(command);
    for (const args of [[command, "--help"], [command, "-h"], ["help", command]]) {
      const r = await cli(...args);
      assert.equal(r.code, 0, args.join(" "));
      assert.equal(r.out, expected, args.join(" "));
    }
    // Each names the permissions it needs, so Deno's prompt never hangs a worker.
    assert.match(expected, /^usage: deno run --allow-read=\. (--allow-write=\. )?mod\.ts /);
  }
  assert.match(commandHelp("scenario"), /scenario run <file\.json>/);
  assert.match(commandHelp("show"), /Options may come before or after the view/);
  assert.deepEqual([...COMMANDS].sort(), [
    "crash",
    "demo",
    "help",
    "matrix",
    "powerloss",
    "scenario",
    "show",
    "swarm",
  ]);
  const unknown = await cli("help", "nosuch");
  assert.equal(unknown.code, 2);
  assert.equal(
    unknown.err,
    'error: help: unknown command "nosuch"; accepted: demo, scenario, matrix, show, powerloss, ' +
      "crash, swarm, help",
  );
  // `help` alone, and with -h, is the overview, which names every command's permissions.
  for (const args of [["help"], ["help", "-h"], []]) {
    const r = await cli(...args);
    assert.equal(r.code, 0);
    assert.match(r.out, /^usage: deno run --allow-read=\. mod\.ts <command>/m);
    assert.match(r.out, /deno run --allow-read=\. --allow-write=\. mod\.ts swarm/);
  }
});

Deno.test("cli says: --version prints deno.json's version", async () => {
  const config = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url)));
  assert.equal(VERSION, config.version);
  const r = await cli("--version");
  assert.equal(r.code, 0);
  assert.equal(r.out, `papr-scm-sim ${config.version} (${config.name})`);
});

Deno.test("cli fix: scenario kexec --lpar nosuch is refused, not run on the first LPAR", async () => {
  const seed = await cli("scenario", "kexec", "--lpar", "nosuch", ...SIM);
  assert.equal(seed.code, 2);
  assert.equal(
    seed.err,
    'error: lpar "nosuch": no such LPAR; without --config the story has: lpar1',
  );
  assert.equal(seed.out, "");
  const config = await cli(
    "scenario",
    "kexec",
    "--config",
    "examples/shared-drc.json",
    "--lpar",
    "nosuch",
    ...SIM,
  );
  assert.equal(config.code, 2);
  assert.match(config.err, /^error: lpar "nosuch": no such LPAR; the configuration has: \w+/);
});

Deno.test("cli fix: demo --kernel runs that kernel only, --hypervisor is honoured", async () => {
  const one = await cli("demo", "--kernel", "5.3", ...SIM);
  assert.equal(one.code, 0);
  assert.deepEqual(one.out.match(/^=== .* ===$/gm), [
    "=== papr_scm 5.3 on powervm: kexec into 5.3 ===",
  ]);
  const qemu = await cli("demo", "--kernel", "5.4", "--hypervisor", "qemu", "--json", ...SIM);
  assert.equal(qemu.code, 0);
  const reports = JSON.parse(qemu.out);
  assert.equal(reports.length, 1);
  assert.equal(reports[0].hypervisor, "qemu");
  assert.equal(reports[0].kernel, "5.4");
});

Deno.test("cli fix: demo refuses arguments and options it does not take", async () => {
  const cases: [string[], string][] = [
    [["demo", "foo", "bar"], 'error: demo: unexpected argument "foo"'],
    [
      ["demo", "--lpar", "lpar1"],
      "error: demo does not take --lpar; it takes: --kernel, --hypervisor, --json, --runtime, --seed",
    ],
    [
      ["demo", "--kernel", "6.0"],
      `error: unknown kernel version "6.0"; accepted: ${KERNEL_VERSIONS.join(", ")}`,
    ],
    [["demo", "--hypervisor", "kvm"], 'error: --hypervisor "kvm": accepted: powervm, qemu'],
  ];
  for (const [args, message] of cases) {
    const r = await cli(...args);
    assert.equal(r.code, 2, args.join(" "));
    assert.equal(r.err, message);
    assert.equal(r.out, "");
  }
});

Deno.test("cli fix: scenario list --json prints JSON", async () => {
  const r = await cli("scenario", "list", "--json");
  assert.equal(r.code, 0);
  const list = JSON.parse(r.out);
  const kexec = list.find((s: { name: string }) => s.name === "kexec");
  assert.ok(kexec.summary.length > 0);
  assert.ok(kexec.options.includes("kernel"));
  const text = await cli("scenario", "list");
  assert.match(text.out, /^contention +N LPARs/m);
  const extra = await cli("scenario", "list", "more");
  assert.equal(extra.code, 2);
  assert.equal(extra.err, 'error: scenario list: unexpected argument "more"');
});

workerTest("cli fix: options after a show view are options, not the view's arguments", async () => {
  const after = await cli("show", "dmesg", "--lpar", "lpar1", ...SIM);
  const before = await cli("show", "--lpar", "lpar1", ...SIM, "dmesg");
  assert.equal(after.code, 0, after.err);
  assert.equal(after.out, before.out);
  // An option after the view is checked as an option: the message names the LPAR, not a view.
  const nosuch = await cli("show", "dmesg", "--lpar", "x", ...SIM);
  assert.equal(nosuch.code, 2);
  assert.equal(nosuch.err, 'error: no LPAR "x"; this system has: lpar1');
  // ndctl's own flags still belong to the view, before or after options.
  const ndctl = await cli("show", "ndctl", "-R", "--then", "kexec", ...SIM);
  assert.equal(ndctl.code, 0, ndctl.err);
  assert.match(ndctl.out, /"dev":"region0"/);
  const sysfs = await cli("show", "sysfs", "region0/size", "--json", ...SIM);
  assert.equal(JSON.parse(sysfs.out).path, "region0/size");
});

Deno.test("cli fix: unknown and malformed options are named plainly, quotes balanced", async () => {
  const known = "--kernel, --next-kernel, --hypervisor, --config, --lpar, --lpars, --then, " +
    "--json, --runtime, --seed, --seeds, --check-determinism, --record, --replay, " +
    "--shrink-to, --merge, --trace, --ftrace, --report, --state, --loss, --workload, " +
    "--max-states, --help, --version, -h";
  const cases: [string[], string][] = [
    [["--bogus"], `error: unknown option "--bogus"; accepted options: ${known}`],
    [["demo", "-x"], `error: unknown option "-x"; accepted options: ${known}`],
    [
      ["scenario", "kexec", "--kernel"],
      'error: --kernel needs a value (--kernel <value>; a value starting with "-" as --kernel=<value>)',
    ],
    [
      ["scenario", "kexec", "--kernel", "--json"],
      'error: --kernel needs a value (--kernel <value>; a value starting with "-" as --kernel=<value>)',
    ],
    [["demo", "--json=yes"], "error: --json takes no value"],
  ];
  for (const [args, message] of cases) {
    const r = await cli(...args);
    assert.equal(r.code, 2, args.join(" "));
    assert.equal(r.err, message);
    // No advice about `--`, and every quote closed.
    assert.doesNotMatch(r.err, /after '--'/);
    assert.equal((r.err.match(/"/g) ?? []).length % 2, 0, r.err);
  }
});

workerTest(
  "cli fix: a kernel that is not running says so instead of a blank or stale view",
  async () => {
    const cases: [string[], string][] = [
      [["--then", "shutdown", "ndctl"], "(lpar1 is shut down: no running kernel to answer ndctl)"],
      [["--then", "shutdown", "sysfs"], "(lpar1 is shut down: no running kernel to answer sysfs)"],
      [
        ["--then", "panic", "ndctl", "-R"],
        "(lpar1 is panicked: no running kernel to answer ndctl; the dmesg view shows its log)",
      ],
      [
        ["--then", "panic", "sysfs"],
        "(lpar1 is panicked: no running kernel to answer sysfs; the dmesg view shows its log)",
      ],
    ];
    for (const [args, line] of cases) {
      const r = await cli("show", ...args, ...SIM);
      assert.equal(r.code, 0, r.err);
      assert.equal(r.out, line);
    }
    const json = await cli("show", "--then", "shutdown", "ndctl", "--json", ...SIM);
    assert.deepEqual(JSON.parse(json.out), { lpar: "lpar1", state: "shut down", ndctl: null });
    // The log of the last kernel is still there to read.
    const dmesg = await cli("show", "--then", "panic", "dmesg", ...SIM);
    assert.match(dmesg.out, /Kernel panic - not syncing/);
  },
);

Deno.test("cli fix: lpar.ndctl() and show ndctl list the same (namespaces, as ndctl list)", async () => {
  const shown = await cli("show", "ndctl", ...SIM);
  assert.equal(shown.code, 0);
  await using system = await ManagedSystem.start({
    lpars: [{ name: "lpar1", kernel: "5.4", nvdimms: [{ drc: "0x44100002", blocks: 4 }] }],
  }, { runtime: "sim" });
  const lpar = system.lpar("lpar1");
  await lpar.boot();
  // Empty labels: no namespace, and ndctl list prints nothing, in both.
  assert.equal(await lpar.ndctl(), shown.out);
  assert.equal(shown.out, "");
  // -R is asked for by name, in both.
  const regions = await cli("show", "ndctl", "-R", ...SIM);
  assert.equal(await lpar.ndctl({ regions: true }), regions.out);
  const created = await lpar.ndctlRun(["create-namespace", "--mode", "raw"]);
  assert.equal(created.rc, 0, created.stderr);
  assert.match(await lpar.ndctl(), /"dev":"namespace0\.0"/);
  assert.deepEqual(await lpar.ndctlJson(), await lpar.ndctlJson({ namespaces: true }));
});
