/**
 * Configuration checking: every error names the field, the bad value and
 * what is accepted; the file loader reports unreadable files and JSON
 * syntax errors with line and column, and loses nothing.
 */
import assert from "node:assert/strict";
import { ConfigError, loadConfigFile, parseConfigText, resolveConfig } from "../actors/config.ts";

const nv = (extra: Record<string, unknown> = {}) => ({ drc: "0x44100002", blocks: 4, ...extra });
const lpar = (extra: Record<string, unknown> = {}) => ({
  name: "lpar1",
  nvdimms: [nv()],
  ...extra,
});

/** Asserts resolveConfig rejects `config` with a message holding every fragment. */
function rejects(config: unknown, ...fragments: string[]): void {
  assert.throws(() => resolveConfig(config), (error: unknown) => {
    assert.ok(error instanceof ConfigError, `not a ConfigError: ${error}`);
    for (const f of fragments) {
      assert.ok(error.message.includes(f), `"${error.message}" lacks "${f}"`);
    }
    return true;
  });
}

Deno.test("config errors", async (t) => {
  await t.step("unknown keys, at every level, list the accepted keys", () => {
    rejects({ lpars: [lpar()], colour: 1 }, "config:", `unknown key "colour"`, "accepted keys:");
    rejects({ hypervisor: { speed: 1 }, lpars: [lpar()] }, "config.hypervisor", `"speed"`);
    rejects({ lpars: [lpar({ cpus: 2 })] }, "config.lpars[0]", `"cpus"`, "nvdimms, faults");
    rejects(
      { lpars: [lpar({ nvdimms: [nv({ size: 1 })] })] },
      "config.lpars[0].nvdimms[0]",
      `unknown key "size"`,
      "blocks, blockSize",
    );
    rejects(
      { lpars: [lpar({ faults: { crash: true } })] },
      "faults",
      `"crash"`,
      "panicAt, ignoreDlparRemove",
    );
    rejects(
      { lpars: [lpar({ supervision: { policy: "x" } })] },
      "supervision",
      `"policy"`,
      "onPanic, maxRestarts, windowSeconds",
    );
  });

  await t.step("wrong types name the field, the value and the type accepted", () => {
    rejects("lpars", "config", `"lpars" is not valid`, "an object");
    rejects({ lpars: [] }, "config.lpars", "[]", "a non-empty array of LPARs");
    rejects({ lpars: [lpar({ name: 5 })] }, "config.lpars[0].name", "5", "letters, digits");
    rejects({ lpars: [lpar({ paprScm: "yes" })] }, "paprScm", `"yes"`, "true or false");
    rejects({ lpars: [lpar({ nvdimms: {} })] }, "config.lpars[0].nvdimms", "{}", "an array");
    rejects(
      { lpars: [lpar({ nvdimms: [nv({ blocks: "4" })] })] },
      "config.lpars[0].nvdimms[0].blocks",
      `"4"`,
      "a positive integer",
    );
    rejects(
      { lpars: [lpar({ nvdimms: [nv({ hcallFlushRequired: "true" })] })] },
      "hcallFlushRequired",
      `"true"`,
      "true or false",
    );
    rejects(
      { lpars: [lpar({ nvdimms: [nv({ drc: "44100002" })] })] },
      "nvdimms[0].drc",
      `"44100002"`,
      'hex string like "0x44100002"',
    );
    rejects(
      { lpars: [lpar({ nvdimms: [nv({ health: "SHUTDOWN_DIRTY" })] })] },
      "nvdimms[0].health",
      `"SHUTDOWN_DIRTY"`,
      "an array of health bit names",
    );
    rejects(
      { lpars: [lpar({ nvdimms: [nv({ persistenceFailedCount: -1 })] })] },
      "persistenceFailedCount",
      "-1",
      "a non-negative integer",
    );
    rejects({ description: 7, lpars: [lpar()] }, "config.description", "7", "a string");
    rejects(
      { lpars: [lpar({ faults: { ignoreDlparRemove: 1 } })] },
      "faults.ignoreDlparRemove",
      "1",
      "true or false",
    );
  });

  await t.step("sizes: block size a multiple of 4096, total within the limit", () => {
    rejects(
      { lpars: [lpar({ nvdimms: [nv({ blockSize: 5000 })] })] },
      "nvdimms[0].blockSize",
      "5000",
      "a multiple of 4096",
    );
    rejects(
      { lpars: [lpar({ nvdimms: [nv({ blocks: 65 })] })] },
      "nvdimms[0].blocks",
      "65",
      "blocks × blockSize of at most 17179869184 bytes",
    );
  });

  await t.step("the same DRC twice in one LPAR", () => {
    rejects(
      { lpars: [lpar({ nvdimms: [nv(), nv()] })] },
      "config.lpars[0].nvdimms[1].drc",
      `"0x44100002"`,
      "a DRC index not already given to this LPAR",
    );
  });

  await t.step("a DRC shared by LPARs but described differently", () => {
    rejects(
      { lpars: [lpar(), { name: "lpar2", nvdimms: [nv({ blocks: 8 })] }] },
      "config.lpars[1].nvdimms[0]",
      "drc 0x44100002",
      "config.lpars[0].nvdimms[0]",
      "must be described identically",
    );
    // Described identically, it is accepted.
    resolveConfig({ lpars: [lpar(), { name: "lpar2", nvdimms: [nv()] }] });
  });

  await t.step("a label area under 128 KiB", () => {
    rejects(
      { lpars: [lpar({ nvdimms: [nv({ metadataSize: 65536 })] })] },
      "nvdimms[0].metadataSize",
      "65536",
      "at least 131072 (128 KiB)",
    );
    rejects(
      { lpars: [lpar({ nvdimms: [nv({ metadataSize: 2 ** 40 })] })] },
      "nvdimms[0].metadataSize",
      "1099511627776",
      "at most 16777216 (16 MiB)",
    );
  });

  await t.step("unknown kernel, unknown personality, bad enum values", () => {
    rejects(
      { lpars: [lpar({ kernel: "4.19" })] },
      "config.lpars[0].kernel",
      `"4.19"`,
      "one of 5.2, 5.3, 5.4",
    );
    rejects(
      { hypervisor: { personality: "kvm" }, lpars: [lpar()] },
      "config.hypervisor.personality",
      `"kvm"`,
      '"powervm" or "qemu"',
    );
    rejects(
      { hypervisor: { unbindContinue: "sleep" }, lpars: [lpar()] },
      "unbindContinue",
      `"sleep"`,
      '"long-busy" or "busy"',
    );
    rejects(
      { hypervisor: { flushLatencyMs: -1 }, lpars: [lpar()] },
      "config.hypervisor.flushLatencyMs",
      "-1",
      "a number of milliseconds from 0 to 60000",
    );
    rejects(
      { lpars: [lpar({ supervision: { onPanic: "retry" } })] },
      "supervision.onPanic",
      `"retry"`,
      '"kdump", "reboot", "stay-down"',
    );
    rejects(
      { lpars: [lpar({ supervision: { maxRestarts: -1 } })] },
      "supervision.maxRestarts",
      "-1",
      "an integer from 0 to 100",
    );
  });

  await t.step("a bad uuid", () => {
    rejects(
      { lpars: [lpar({ nvdimms: [nv({ uuid: "not-a-uuid" })] })] },
      "nvdimms[0].uuid",
      `"not-a-uuid"`,
      "a UUID such as",
    );
  });

  await t.step("an unknown health bit", () => {
    rejects(
      { lpars: [lpar({ nvdimms: [nv({ health: ["SHUTDOWN_DIRTY", "ON_FIRE"] })] })] },
      "nvdimms[0].health",
      `"ON_FIRE"`,
      "accepted: UNARMED, SHUTDOWN_DIRTY",
    );
  });

  await t.step("faults: an unknown hcall, a bad call number", () => {
    rejects(
      { lpars: [lpar({ faults: { panicAt: { hcall: "H_SCM_BIND", nth: 1 } } })] },
      "faults.panicAt.hcall",
      `"H_SCM_BIND"`,
      "H_SCM_BIND_MEM",
    );
    rejects(
      { lpars: [lpar({ faults: { panicAt: { hcall: "H_SCM_BIND_MEM", nth: 0 } } })] },
      "faults.panicAt.nth",
      "0",
      "a positive integer",
    );
  });
});

Deno.test("defaults are filled in; faults and supervision resolved", () => {
  const r = resolveConfig({
    lpars: [lpar({
      faults: { panicAt: { hcall: "H_SCM_BIND_MEM", nth: 2 } },
      supervision: { onPanic: "kdump" },
    })],
  });
  assert.deepEqual(r.lpars[0].faults, { panicAt: { hcall: "H_SCM_BIND_MEM", nth: 2 } });
  assert.deepEqual(r.lpars[0].supervision, { onPanic: "kdump", maxRestarts: 3, windowSeconds: 60 });
  assert.equal(r.lpars[0].nvdimms[0].blockSize, 256n * 1024n * 1024n);
  assert.equal(r.lpars[0].nvdimms[0].metadataSize, 128 * 1024);
  assert.equal(r.hypervisor.personality, "powervm");
});

Deno.test("loadConfigFile", async (t) => {
  await t.step("a missing file", async () => {
    await assert.rejects(
      loadConfigFile("tests/fixtures/missing.json"),
      (e: Error) =>
        e instanceof ConfigError &&
        e.message ===
          "tests/fixtures/missing.json: cannot read the configuration file: no such file",
    );
  });

  await t.step("a directory", async () => {
    await assert.rejects(
      loadConfigFile("tests/fixtures"),
      /tests\/fixtures: cannot read the configuration file: it is a directory/,
    );
  });

  await t.step("bad JSON: the file, line and column", async () => {
    await assert.rejects(
      loadConfigFile("tests/fixtures/bad_json.txt"),
      /^ConfigError: tests\/fixtures\/bad_json\.txt: not valid JSON at line 4, column 5: Expected ','/,
    );
    assert.throws(
      () => parseConfigText('{"lpars": [}', "inline"),
      /inline: not valid JSON at line 1, column 12: Unexpected token '}'/,
    );
    assert.throws(
      () => parseConfigText('{\n  "lpars": [\n', "cut.json"),
      /cut\.json: not valid JSON at line 3, column 1 \(end of file\)/,
    );
  });

  await t.step("a checking error names the file and the field", async () => {
    await assert.rejects(
      loadConfigFile("tests/fixtures/unknown_key.json"),
      /tests\/fixtures\/unknown_key\.json: config\.lpars\[0\]\.nvdimms\[0\]: unknown key "colour"/,
    );
  });

  await t.step("every example loads, and loses nothing", async () => {
    for await (const entry of Deno.readDir("examples")) {
      if (!entry.name.endsWith(".json")) continue;
      const path = `examples/${entry.name}`;
      const loaded = await loadConfigFile(path);
      assert.deepEqual(loaded, JSON.parse(await Deno.readTextFile(path)), path);
      // Examples are checked as the sim runtime takes them (it holds the 60 GiB story).
      assert.deepEqual(
        resolveConfig(loaded, "sim"),
        resolveConfig(JSON.parse(await Deno.readTextFile(path)), "sim"),
      );
      assert.equal(typeof loaded.description, "string", `${path} says what it is for`);
    }
  });
});
