/**
 * `deno run mod.ts powerloss`: the dirty-shutdown chain end to end. It
 * boots a system (on `--state DIR`, or in memory), shows `ndctl list -DH`,
 * stores one record and flushes it and stores a second without a flush,
 * loses power (`--loss`, else the seed chooses), powers on again on the
 * same durable state and shows `ndctl list -DH` and both records.
 * @module
 */
import type { SystemConfig } from "../actors/config.ts";
import { ManagedSystem, type StartOptions } from "../actors/managed_system.ts";
import { formatNdctl, type Json } from "../guest/ndctl.ts";
import { toJsonText } from "../scenarios/json.ts";
import { MemoryStore } from "./memory_store.ts";
import { parsePowerLossMode, type PowerLossMode } from "./power_loss.ts";

/** What `powerloss` boots when no --config is given. */
export const POWERLOSS_DEFAULT: SystemConfig = {
  lpars: [{ name: "lpar1", kernel: "mainline", nvdimms: [{ drc: "0x44100002", blocks: 4 }] }],
};

const FLUSHED = "flushed record";
const UNFLUSHED = "unflushed record";

/** Runs the story; returns what it printed as data. */
export async function runPowerLoss(options: {
  config?: SystemConfig;
  start: StartOptions;
  mode?: string;
  print?: (text: string) => void;
}): Promise<Record<string, Json>> {
  const mode: PowerLossMode | undefined = options.mode === undefined
    ? undefined
    : parsePowerLossMode(options.mode);
  const config = options.config ?? POWERLOSS_DEFAULT;
  const start: StartOptions = { ...options.start, runtime: options.start.runtime ?? "sim" };
  if (!config.storage && !start.store && start.runtime === "sim") start.store = new MemoryStore();
  const print = options.print ?? (() => {});
  const ndctl = async (system: ManagedSystem) =>
    await system.lpars[0].ndctlJson({ dimms: true, health: true });
  let before: Json, report;
  {
    const system = await ManagedSystem.start(config, start);
    try {
      const lpar = system.lpars[0];
      for (const l of system.lpars) await l.boot();
      before = await ndctl(system);
      print(`# ndctl list -DH (${lpar.name}), before the power loss\n${formatNdctl(before)}`);
      const region = (await lpar.regions())[0]?.dev;
      if (!region) throw new Error(`${lpar.name} has no region to write to`);
      await lpar.write(region, 0, new TextEncoder().encode(FLUSHED));
      await lpar.flush(region);
      await lpar.write(region, 4096, new TextEncoder().encode(UNFLUSHED));
      report = await system.powerLoss(mode);
    } finally {
      await system.stop();
    }
  }
  const lost = report.drcs.map((d) =>
    `drc 0x${d.drc.toString(16)}: ${d.unflushedLines} unflushed lines, ${d.lostLines} lost`
  );
  print(`# power lost (mode ${report.mode}): ${lost.join("; ")}`);
  const system = await ManagedSystem.start(config, start);
  try {
    const lpar = system.lpars[0];
    for (const l of system.lpars) await l.boot();
    const after = await ndctl(system);
    print(`# ndctl list -DH (${lpar.name}), after the power-on\n${formatNdctl(after)}`);
    const region = (await lpar.regions())[0].dev;
    const decode = (b: Uint8Array) => new TextDecoder().decode(b).replace(/\0/g, ".");
    const flushed = decode(await lpar.read(region, 0, FLUSHED.length));
    const unflushed = decode(await lpar.read(region, 4096, UNFLUSHED.length));
    print(`# read back: at 0 "${flushed}", at 4096 "${unflushed}"`);
    return {
      before,
      powerLoss: {
        mode: report.mode,
        drcs: report.drcs.map((d) => ({ ...d, drc: `0x${d.drc.toString(16)}` })),
      },
      after,
      readBack: { flushed, unflushed },
    };
  } finally {
    await system.stop();
  }
}

/** The command: prints text, or one JSON object with `--json`. */
export async function powerLossCommand(
  config: SystemConfig | undefined,
  start: StartOptions,
  mode: string | undefined,
  json: boolean,
  print: (text: string) => void,
): Promise<number> {
  const result = await runPowerLoss({
    config,
    start,
    mode,
    print: json ? undefined : print,
  });
  if (json) print(toJsonText(result));
  return 0;
}
