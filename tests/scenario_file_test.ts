/**
 * Issue 12 item 4: scenario files. The shipped files pass; each expectation
 * kind can fail and says why; each validation error names the field, the
 * value and what is accepted; the CLI's exit codes; registering a scenario.
 */
import assert from "node:assert/strict";
import { main } from "../cli/main.ts";
import { KERNEL_VERSIONS } from "../guest/papr_scm/mod.ts";
import {
  fileScenario,
  formatScenarioRun,
  getScenario,
  loadScenarioFile,
  MAX_SCENARIO_STEPS,
  parseScenario,
  registerScenario,
  runScenario,
  ScenarioError,
  type ScenarioStep,
} from "../mod.ts";
import { workerTest } from "./worker_test.ts";

const SIM = { runtime: "sim" as const };
const DIR = "scenarios/files";

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { print: (t) => out.push(t), error: (t) => err.push(t) });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

/** The seed's system: lpar1 (5.4) with 0x44100002, 8 blocks; lpar2 (5.3) with 0x44100003. */
const CONFIG = {
  lpars: [
    { name: "lpar1", kernel: "5.4", nvdimms: [{ drc: "0x44100002", blocks: 8 }] },
    { name: "lpar2", kernel: "5.3", nvdimms: [{ drc: "0x44100003", blocks: 4 }] },
  ],
};

function scenario(steps: unknown[], extra: Record<string, unknown> = {}) {
  return parseScenario({ name: "test", config: CONFIG, steps, ...extra }, "test.json");
}

Deno.test("scenario files: every shipped file passes on the sim runtime", async (t) => {
  const files = [...Deno.readDirSync(DIR)].map((e) => e.name).filter((n) => n.endsWith(".json"))
    .sort();
  assert.ok(files.length >= 8, files.join(", "));
  for (const file of files) {
    await t.step(file, async () => {
      const run = await runScenario(await loadScenarioFile(`${DIR}/${file}`), SIM);
      assert.ok(run.ok, formatScenarioRun(run));
    });
  }
});

workerTest("scenario files: one runs on the threads runtime too, and the CLI exits 0", async () => {
  const r = await cli("scenario", "run", `${DIR}/kexec-5.3.json`);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /^scenario: kexec on 5\.3.*threads runtime\)$/m);
  assert.match(r.out, /^ok: all 10 steps passed$/m);
});

Deno.test("scenario files: the CLI prints JSON, and the file's runtime yields to --runtime", async () => {
  const r = await cli("scenario", "run", `${DIR}/kexec-5.2.json`, "--runtime", "sim", "--json");
  assert.equal(r.code, 0);
  const run = JSON.parse(r.out);
  assert.equal(run.runtime, "sim");
  assert.equal(run.seed, 1);
  assert.equal(run.ok, true);
  assert.equal(run.steps[0].title, "boot lpar1");
  const bad = await cli("scenario", "run", `${DIR}/kexec-5.2.json`, "--kernel", "5.3");
  assert.equal(bad.code, 2);
  assert.equal(
    bad.err,
    "error: scenario run does not take --kernel; it takes: --json, --runtime, --seed",
  );
  const two = await cli("scenario", "run", "a.json", "b.json");
  assert.equal(two.code, 2);
  assert.match(two.err, /scenario run: one file, got 2; usage: scenario run <file\.json>/);
});

/** Runs steps on the sim runtime; the outcome of the step at `index`. */
async function outcome(steps: unknown[], index = steps.length - 1) {
  const run = await runScenario(scenario(steps), SIM);
  return { run, step: run.steps[index] };
}

const BOOT = { do: "boot", lpar: "lpar1" };

Deno.test("scenario files: each expectation kind fails, saying what it found", async (t) => {
  const cases: [string, unknown[], RegExp][] = [
    [
      "regions count",
      [BOOT, { expect: "regions", lpar: "lpar1", count: 2 }],
      /^1 regions \(region0\), not 2$/,
    ],
    [
      "regions devs",
      [BOOT, { expect: "regions", lpar: "lpar1", devs: ["region1"] }],
      /^regions region0, not region1$/,
    ],
    [
      "regions drcs",
      [BOOT, { expect: "regions", lpar: "lpar1", drcs: ["0x44100003"] }],
      /^drcs 0x44100002, not 0x44100003$/,
    ],
    [
      "dmesg contains",
      [BOOT, { expect: "dmesg", lpar: "lpar1", contains: ["bind err"] }],
      /^no line has "bind err"$/,
    ],
    [
      "dmesg absent",
      [BOOT, { expect: "dmesg", lpar: "lpar1", absent: ["Linux version"] }],
      /^a line has "Linux version": \[.*\] Linux version 5\.4/,
    ],
    [
      "hcalls in order",
      [BOOT, { expect: "hcalls", sequence: [{ hcall: "H_SCM_BIND_MEM", rc: "H_OVERLAP" }] }],
      /^the last action's hcalls do not contain, in order, the sequence$/,
    ],
    [
      "hcalls exactly",
      [BOOT, { expect: "hcalls", exact: true, sequence: [] }],
      /^the last action's hcalls do not equal the sequence$/,
    ],
    [
      "state",
      [BOOT, { expect: "state", lpar: "lpar1", is: "panicked" }],
      /^lpar1 is running, not panicked$/,
    ],
    [
      "bindings",
      [BOOT, { expect: "bindings", drc: "0x44100002", blocks: 3 }],
      /^8 blocks bound, not 3$/,
    ],
    [
      "read matches",
      [BOOT, { do: "write", lpar: "lpar1", region: "region0", pattern: "a" }, {
        do: "read",
        lpar: "lpar1",
        region: "region0",
        pattern: "b",
      }],
      /^the bytes differ from the pattern from byte 0 \(read 0x[0-9a-f]+, pattern 0x[0-9a-f]+\)$/,
    ],
    [
      "read matches: false",
      [BOOT, { do: "write", lpar: "lpar1", region: 0x44100002, pattern: "a", length: 16 }, {
        do: "read",
        lpar: "lpar1",
        region: "0x44100002",
        pattern: "a",
        length: 16,
        matches: false,
      }],
      /^the bytes read are the pattern; expected other bytes$/,
    ],
    [
      "hcall rc",
      [BOOT, {
        do: "hcall",
        lpar: "lpar1",
        hcall: "H_SCM_QUERY_BLOCK_MEM_BINDING",
        args: ["0x44100002", 99],
        rc: "H_SUCCESS",
      }],
      /^returned H_P2, not H_SUCCESS$/,
    ],
    [
      "fails, but it worked",
      [{ ...BOOT, fails: "no" }],
      /^it succeeded; expected it to fail with "no"$/,
    ],
    [
      "fails otherwise",
      [BOOT, { do: "kdump", lpar: "lpar1", fails: "something else" }],
      /^it failed with "lpar1 is running; kdump needs a panicked kernel", not "something else"$/,
    ],
  ];
  for (const [name, steps, message] of cases) {
    await t.step(name, async () => {
      const { run, step } = await outcome(steps);
      assert.equal(run.ok, false);
      assert.equal(step.verdict, "failed", formatScenarioRun(run));
      assert.match(step.details[0], message);
    });
  }
});

Deno.test("scenario files: the invariants expectation holds and is reported", async () => {
  // A broken invariant needs a broken hypervisor: the guests cannot reach its state.
  const { run, step } = await outcome([BOOT, { expect: "invariants" }]);
  assert.ok(run.ok);
  assert.equal(step.title, "expect the hypervisor's invariants to hold");
});

Deno.test("scenario files: an action that throws ends the run; the rest are skipped", async () => {
  const { run } = await outcome([
    BOOT,
    { do: "kexec", lpar: "lpar2" },
    { expect: "state", lpar: "lpar1", is: "running" },
  ]);
  assert.deepEqual(run.steps.map((s) => s.verdict), ["ok", "error", "skipped"]);
  assert.equal(
    run.steps[1].details[0],
    "LPAR lpar2 is not activated; kexec needs a running or panicked kernel; " +
      "the steps after it are skipped",
  );
  assert.match(formatScenarioRun(run), /FAILED: 1 ok, 0 failed, 1 errors, 1 skipped, of 3 steps$/);
  // A failed expectation does not stop the run: later steps still run.
  const going = await outcome([BOOT, { expect: "state", lpar: "lpar1", is: "halted" }, {
    expect: "state",
    lpar: "lpar1",
    is: "running",
  }]);
  assert.deepEqual(going.run.steps.map((s) => s.verdict), ["ok", "failed", "ok"]);
});

Deno.test("scenario files: every action runs (DLPAR, set-health, raw hcall, panic at a point)", async () => {
  const { run } = await outcome([
    { do: "boot", lpar: "lpar1", panicAt: { hcall: "H_SCM_BIND_MEM", nth: 1 } },
    { expect: "state", lpar: "lpar1", is: "panicked" },
    { do: "kdump", lpar: "lpar1", kernel: "5.3" },
    { do: "reboot", lpar: "lpar1", kernel: "5.4" },
    { do: "boot", lpar: "lpar2" },
    { do: "dlpar-add", lpar: "lpar1", nvdimm: { drc: "0x44100004", blocks: 2 } },
    { expect: "regions", lpar: "lpar1", drcs: ["0x44100002", "0x44100004"] },
    { do: "dlpar-remove", lpar: "lpar1", drc: "0x44100004" },
    { do: "dlpar-move", drc: "0x44100003", from: "lpar2", to: "lpar1" },
    { expect: "regions", lpar: "lpar1", count: 2 },
    { expect: "regions", lpar: "lpar2", count: 0 },
    { do: "set-health", drc: "0x44100002", bits: ["HEALTH_FATAL"] },
    { do: "hcall", lpar: "lpar1", hcall: "H_SCM_HEALTH", args: ["0x44100002"], rc: "H_SUCCESS" },
    { do: "hcall", lpar: "lpar1", hcall: 0x3F4, args: [0x44100002, 0], rc: "H_SUCCESS" },
    { do: "panic", lpar: "lpar1" },
    { do: "shutdown", lpar: "lpar1" },
    { expect: "bindings", lpar: "lpar1", blocks: 0 },
  ]);
  assert.ok(run.ok, formatScenarioRun(run));
  assert.match(run.steps[12].details[0], /^H_SUCCESS; r4\.\.: 0x[0-9a-f]+/);
});

Deno.test("scenario files: each validation error names the path, the value and what is accepted", async (t) => {
  const good = { do: "boot", lpar: "lpar1" };
  const cases: [string, unknown, string][] = [
    ["not an object", [], "scenario: [] is not valid; expected an object"],
    [
      "unknown key",
      { name: "n", config: CONFIG, steps: [good], extra: 1 },
      'scenario: unknown key "extra"; accepted: name, description, config, runtime, seed, steps',
    ],
    [
      "no name",
      { config: CONFIG, steps: [good] },
      "name: undefined is not valid; expected a string of 1 to 1000 characters",
    ],
    [
      "runtime",
      { name: "n", config: CONFIG, steps: [good], runtime: "vm" },
      'runtime: "vm" is not valid; expected one of threads, sim',
    ],
    [
      "seed",
      { name: "n", config: CONFIG, steps: [good], seed: -1 },
      "seed: -1 is not valid; expected an integer from 0 to 9007199254740991",
    ],
    [
      "config path inline",
      { name: "n", config: "seed.json", steps: [good] },
      'config: a path ("seed.json") needs a file to be relative to; use loadScenarioFile, or give the configuration inline',
    ],
    [
      "bad config",
      { name: "n", config: { lpars: [{ name: "a", kernel: "6.1" }] }, steps: [good] },
      'config.lpars[0].kernel: "6.1" is not valid',
    ],
    [
      "no steps",
      { name: "n", config: CONFIG, steps: [] },
      "steps: [] is not valid; expected an array of 1 to 1000 entries",
    ],
  ];
  const step = (s: unknown) => ({ name: "n", config: CONFIG, steps: [good, s] });
  const steps: [string, unknown, string][] = [
    [
      "do and expect",
      { do: "boot", expect: "state" },
      'steps[1]: a step has either "do" (boot, kexec, reboot, kdump, panic, shutdown, dlpar-add, dlpar-remove, dlpar-move, write, read, hcall, set-health) or "expect" (regions, dmesg, hcalls, state, bindings, invariants), not both',
    ],
    ["neither", { lpar: "lpar1" }, 'steps[1]: a step has either "do"'],
    [
      "unknown action",
      { do: "dance", lpar: "lpar1" },
      'steps[1].do: "dance" is not valid; expected one of boot, kexec',
    ],
    [
      "unknown key",
      { do: "boot", lpar: "lpar1", kernl: "5.3" },
      'steps[1]: unknown key "kernl"; accepted: do, note, fails, lpar, kernel, panicAt',
    ],
    [
      "no such LPAR",
      { do: "boot", lpar: "lpar9" },
      'steps[1].lpar: "lpar9" is not valid; expected an LPAR of the configuration: lpar1, lpar2',
    ],
    [
      "missing LPAR",
      { do: "shutdown" },
      "steps[1].lpar: undefined is not valid; expected an LPAR of the configuration: lpar1, lpar2",
    ],
    [
      "kernel",
      { do: "kexec", lpar: "lpar1", kernel: "4.19" },
      `steps[1].kernel: "4.19" is not valid; expected one of ${KERNEL_VERSIONS.join(", ")}`,
    ],
    [
      "panicAt",
      { do: "boot", lpar: "lpar1", panicAt: { hcall: "H_NOPE", nth: 1 } },
      'steps[1].panicAt.hcall: "H_NOPE" is not valid; expected an hcall name',
    ],
    [
      "note",
      { do: "boot", lpar: "lpar1", note: "" },
      'steps[1].note: "" is not valid; expected a string of 1 to 1000 characters',
    ],
    [
      "fails",
      { do: "boot", lpar: "lpar1", fails: 3 },
      "steps[1].fails: 3 is not valid; expected a string",
    ],
    [
      "nvdimm",
      { do: "dlpar-add", lpar: "lpar1", nvdimm: { drc: "0x1" } },
      "steps[1].nvdimm.blocks: undefined is not valid",
    ],
    [
      "drc",
      { do: "dlpar-remove", lpar: "lpar1", drc: "44100002" },
      'steps[1].drc: "44100002" is not valid; expected a 32-bit DRC index',
    ],
    [
      "move to itself",
      { do: "dlpar-move", drc: 1, from: "lpar1", to: "lpar1" },
      'steps[1].to: "lpar1" is not valid; expected an LPAR other than "from"',
    ],
    [
      "move without to",
      { do: "dlpar-move", drc: 1, from: "lpar1" },
      "steps[1].to: undefined is not valid; expected an LPAR of the configuration",
    ],
    [
      "region",
      { do: "write", lpar: "lpar1", region: "pmem0", pattern: "p" },
      'steps[1].region: "pmem0" is not valid; expected a region name ("region0") or a DRC index',
    ],
    [
      "length",
      { do: "read", lpar: "lpar1", region: "region0", pattern: "p", length: 2 ** 21 },
      "steps[1].length: 2097152 is not valid; expected an integer from 1 to 1048576",
    ],
    [
      "offset",
      { do: "read", lpar: "lpar1", region: "region0", pattern: "p", offset: -1 },
      "steps[1].offset: -1 is not valid; expected an integer from 0",
    ],
    [
      "pattern",
      { do: "write", lpar: "lpar1", region: "region0" },
      "steps[1].pattern: undefined is not valid; expected a string",
    ],
    [
      "matches",
      { do: "read", lpar: "lpar1", region: "region0", pattern: "p", matches: "yes" },
      'steps[1].matches: "yes" is not valid; expected true or false',
    ],
    [
      "hcall",
      { do: "hcall", lpar: "lpar1", hcall: "H_BOGUS" },
      'steps[1].hcall: "H_BOGUS" is not valid; expected an hcall name (H_SCM_READ_METADATA',
    ],
    [
      "args count",
      { do: "hcall", lpar: "lpar1", hcall: 1, args: new Array(10).fill(0) },
      "steps[1].args: [0,0,0,0,0,0,0,0,0,0] is not valid; expected at most 9 arguments (r4..r12)",
    ],
    [
      "arg",
      { do: "hcall", lpar: "lpar1", hcall: 1, args: ["0xZZ"] },
      'steps[1].args[0]: "0xZZ" is not valid; expected an integer from 0, or a 64-bit value as a string',
    ],
    [
      "arg too big",
      { do: "hcall", lpar: "lpar1", hcall: 1, args: ["18446744073709551616"] },
      'steps[1].args[0]: "18446744073709551616" is not valid',
    ],
    [
      "rc",
      { do: "hcall", lpar: "lpar1", hcall: 1, rc: "SUCCESS" },
      'steps[1].rc: "SUCCESS" is not valid; expected one of H_SUCCESS, H_BUSY',
    ],
    [
      "health bits",
      { do: "set-health", drc: 1, bits: ["ON_FIRE"] },
      'steps[1].bits[0]: "ON_FIRE" is not valid; expected one of UNARMED',
    ],
    [
      "unknown expectation",
      { expect: "weather" },
      'steps[1].expect: "weather" is not valid; expected one of regions, dmesg, hcalls, state, bindings, invariants',
    ],
    [
      "regions needs",
      { expect: "regions", lpar: "lpar1" },
      "steps[1]: expect regions needs count, devs or drcs",
    ],
    [
      "regions count",
      { expect: "regions", lpar: "lpar1", count: 1.5 },
      "steps[1].count: 1.5 is not valid; expected an integer from 0 to 1000",
    ],
    [
      "regions drcs",
      { expect: "regions", lpar: "lpar1", drcs: [true] },
      "steps[1].drcs[0]: true is not valid; expected a 32-bit DRC index",
    ],
    [
      "dmesg needs",
      { expect: "dmesg", lpar: "lpar1" },
      "steps[1]: expect dmesg needs contains or absent",
    ],
    [
      "dmesg empty",
      { expect: "dmesg", lpar: "lpar1", contains: [] },
      "steps[1].contains: [] is not valid; expected an array of 1 to 1000 entries",
    ],
    [
      "dmesg line",
      { expect: "dmesg", lpar: "lpar1", absent: [7] },
      "steps[1].absent[0]: 7 is not valid; expected a string",
    ],
    [
      "hcalls pattern",
      { expect: "hcalls", sequence: ["H_SCM_BIND"] },
      'steps[1].sequence[0]: "H_SCM_BIND" is not valid; expected one of H_SCM_READ_METADATA',
    ],
    [
      "hcalls rc",
      { expect: "hcalls", sequence: [{ hcall: "H_SCM_BIND_MEM", rc: "OVERLAP" }] },
      'steps[1].sequence[0].rc: "OVERLAP" is not valid',
    ],
    [
      "hcalls key",
      { expect: "hcalls", sequence: [{ hcall: "H_SCM_BIND_MEM", ret: 1 }] },
      'steps[1].sequence[0]: unknown key "ret"; accepted: hcall, rc',
    ],
    [
      "hcalls exact",
      { expect: "hcalls", sequence: [], exact: 1 },
      "steps[1].exact: 1 is not valid; expected true or false",
    ],
    [
      "state",
      { expect: "state", lpar: "lpar1", is: "asleep" },
      'steps[1].is: "asleep" is not valid; expected one of not activated, running',
    ],
    [
      "bindings",
      { expect: "bindings" },
      "steps[1].blocks: undefined is not valid; expected an integer from 0",
    ],
    [
      "invariants key",
      { expect: "invariants", lpar: "lpar1" },
      'steps[1]: unknown key "lpar"; accepted: expect, note',
    ],
  ];
  for (
    const [name, value, message] of [
      ...cases,
      ...steps.map(([n, s, m]) => [n, step(s), m] as [string, unknown, string]),
    ]
  ) {
    await t.step(name, () => {
      assert.throws(() => parseScenario(value, "my.json"), (error: Error) => {
        assert.ok(error instanceof ScenarioError, `${error.name}: ${error.message}`);
        assert.ok(error.message.startsWith(`my.json: ${message}`), error.message);
        return true;
      });
    });
  }
  await t.step("too many steps", () => {
    assert.throws(
      () =>
        parseScenario({
          name: "n",
          config: CONFIG,
          steps: new Array(MAX_SCENARIO_STEPS + 1).fill(good),
        }, "my.json"),
      /steps: \[.* is not valid; expected an array of 1 to 1000 entries/,
    );
  });
});

Deno.test("scenario files: file errors name the file; a config path is read beside it", async () => {
  const dir = await Deno.makeTempDir({ dir: "." });
  try {
    const write = (name: string, text: string) => Deno.writeTextFile(`${dir}/${name}`, text);
    await write("config.json", JSON.stringify(CONFIG));
    await write("ok.json", JSON.stringify({ name: "n", config: "config.json", steps: [BOOT] }));
    const loaded = await loadScenarioFile(`${dir}/ok.json`);
    assert.equal(loaded.configPath, `${dir}/config.json`);
    assert.deepEqual(loaded.config, CONFIG);
    await write("bad.json", "{ name: 1 }");
    await write("noconfig.json", JSON.stringify({ name: "n", config: "gone.json", steps: [BOOT] }));
    const cases: [string, RegExp][] = [
      ["nosuch.json", /nosuch\.json: cannot read the scenario file: no such file$/],
      ["bad.json", /bad\.json: not valid JSON: /],
      [
        "noconfig.json",
        /noconfig\.json: config: .*gone\.json: cannot read the configuration file: no such file/,
      ],
    ];
    for (const [name, message] of cases) {
      await assert.rejects(loadScenarioFile(`${dir}/${name}`), message);
      const r = await cli("scenario", "run", `${dir}/${name}`);
      assert.equal(r.code, 2, `${name}: a bad file is a usage error`);
      assert.match(r.err, message);
    }
    await write(
      "fail.json",
      JSON.stringify({
        name: "n",
        config: "config.json",
        runtime: "sim",
        steps: [BOOT, { expect: "state", lpar: "lpar1", is: "halted" }],
      }),
    );
    const failed = await cli("scenario", "run", `${dir}/fail.json`);
    assert.equal(failed.code, 1, "a failed expectation exits 1");
    assert.match(failed.out, /^ {2}FAIL +2 {2}expect lpar1 halted$/m);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("scenario registry: a TypeScript user registers a scenario file; bad ones are refused", async () => {
  const loaded = scenario([BOOT, { expect: "state", lpar: "lpar1", is: "panicked" }], {
    runtime: "sim",
  });
  registerScenario(fileScenario("my-regression", loaded));
  assert.equal(getScenario("my-regression").summary, "test");
  const r = await cli("scenario", "my-regression");
  assert.equal(r.code, 1, "its failed expectation is the exit code");
  assert.match(r.out, /FAIL +2 {2}expect lpar1 panicked/);
  assert.throws(
    () => registerScenario(fileScenario("my-regression", loaded)),
    /"my-regression" is already registered/,
  );
  assert.throws(
    () => registerScenario(fileScenario("has space", loaded)),
    /name "has space": expected 1 to 64 letters, digits or dashes/,
  );
  assert.throws(
    () => registerScenario({ name: "x", summary: "", options: "kernel" } as never),
    /"x" needs run\(\) and an options array/,
  );
});

Deno.test("scenario files: types accept what the runner runs", () => {
  const step: ScenarioStep = { do: "kexec", lpar: "lpar1", kernel: "5.3" };
  assert.equal(scenario([step]).steps.length, 1);
});
