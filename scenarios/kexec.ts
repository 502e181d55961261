/**
 * The seed story: a kernel with a bound SCM region is replaced by kexec (or
 * panics and is replaced by a kdump kernel) without unbinding, and the new
 * kernel's papr_scm has to bind the region again.
 * @module
 */
import { ManagedSystem, type StartOptions } from "../actors/managed_system.ts";
import type { HcallTrace } from "../actors/managed_system.ts";
import type { SystemConfig } from "../actors/config.ts";
import type { Personality } from "../core/types.ts";
import type { Json } from "../guest/ndctl.ts";
import { formatNdctl } from "../guest/ndctl.ts";
import type { KernelVersion } from "../guest/papr_scm/mod.ts";

/** The nvdimm of the original bug report. */
export const SEED_DRC = 0x44100002;

/**
 * How the old kernel goes away: `kexec` (nothing unbound), `panic` (then a
 * kdump kernel by kexec), `panic-mid-bind`, `reboot` (the kernel stops with no
 * unbind; the firmware's partition restart releases the bindings) or
 * `shutdown` (the hypervisor releases every binding, then the partition is
 * activated again).
 */
export type KexecMode = "kexec" | "panic" | "panic-mid-bind" | "reboot" | "shutdown";

/** Every mode, in the order the matrix shows them. */
export const KEXEC_MODES: readonly KexecMode[] = [
  "kexec",
  "panic",
  "panic-mid-bind",
  "reboot",
  "shutdown",
];

/** Options of one run of the story. */
export interface KexecStoryOptions {
  /** Kernel version (default: the configuration's, else 5.4). */
  kernel?: KernelVersion;
  /** Kernel version after the kexec (default: the same). */
  nextKernel?: KernelVersion;
  /** Hypervisor personality (default: the configuration's, else powervm). */
  hypervisor?: Personality;
  /** How the old kernel ends (default "kexec"). */
  mode?: KexecMode;
  /** Blocks of the seed nvdimm (default 40: three bind slices of 16). */
  blocks?: number;
  /**
   * Run on this system instead of the seed's: its LPAR `lpar` (default the
   * first) and that LPAR's first nvdimm. `kernel` and `hypervisor`, when
   * given, override the configuration's.
   */
  config?: SystemConfig;
  /** LPAR of `config` to use (default its first). */
  lpar?: string;
  /** Which runtime, and its seed (default: threads). */
  start?: StartOptions;
}

/** Whether the data written before came back after. */
export type PatternOutcome = "intact" | "corrupted" | "lost" | "not written" | "unreachable";

/** What one run of the story shows. */
export interface KexecStoryReport {
  /** Kernel version that ran before. */
  kernel: KernelVersion;
  /** Kernel version that runs after. */
  nextKernel: KernelVersion;
  /** Hypervisor personality it ran on. */
  hypervisor: Personality;
  /** How the old kernel went away. */
  mode: KexecMode;
  /** `ndctl list -R` before the kexec. */
  regionsBefore: Json;
  /** `ndctl list -R` of the new kernel. */
  regionsAfter: Json;
  /** What the old kernel logged last (its panic, if it panicked). */
  oldKernelTail: string[];
  /** What the new kernel logged. */
  dmesg: string[];
  /** Every hcall issued after the kexec. */
  hcalls: HcallTrace[];
  /** Whether the pattern written before came back after. */
  pattern: PatternOutcome;
  /** Whether the region came back at the address it had before. */
  addressReused: boolean;
  /** Whether the new kernel has a region for the nvdimm. */
  regionBack: boolean;
  /** Hcalls issued by the new kernel (and the partition restart), `hcalls.length`. */
  hcallCount: number;
  /**
   * The papr_scm messages the new kernel logged (without timestamps and
   * device prefix), and its oops and panic lines if it died.
   */
  messages: string[];
  /** The runtime it ran on. */
  runtime: "threads" | "sim";
  /**
   * Seconds of machine time from the kexec (reboot, activation) until the new
   * kernel finished booting: virtual time on the sim runtime, with the
   * configuration's costs; wall time on threads, where costs are not waited for.
   */
  virtualSeconds: number;
}

/** A recognisable pattern: the position, the kernel version and a tag. */
function pattern(length: number, seed: string): Uint8Array {
  const bytes = new Uint8Array(length);
  const tag = new TextEncoder().encode(seed);
  for (let i = 0; i < length; i++) bytes[i] = (i * 31 + tag[i % tag.length]) & 0xFF;
  return bytes;
}

/**
 * Runs the story once on a fresh system and reports what happened.
 *
 * @example
 * ```ts
 * import { formatKexecStory, runKexecStory } from "./kexec.ts";
 * const report = await runKexecStory({ kernel: "5.3", hypervisor: "powervm", mode: "kexec" });
 * console.log(formatKexecStory(report));
 * ```
 */
export async function runKexecStory(options: KexecStoryOptions): Promise<KexecStoryReport> {
  const { mode = "kexec", blocks = 40 } = options;
  const config: SystemConfig = options.config ?? {
    lpars: [{ name: "lpar1", kernel: options.kernel, nvdimms: [{ drc: SEED_DRC, blocks }] }],
  };
  const hypervisor = options.hypervisor ?? config.hypervisor?.personality ?? "powervm";
  const lparName = options.lpar ?? config.lpars[0]?.name;
  const lparConfig = config.lpars.find((l) => l.name === lparName);
  if (!lparConfig) {
    // Never another LPAR than the one asked for.
    throw new RangeError(
      `lpar ${JSON.stringify(options.lpar)}: no such LPAR; ${
        options.config ? "the configuration has" : "without --config the story has"
      }: ${config.lpars.map((l) => l.name).join(", ")}`,
    );
  }
  const kernel = options.kernel ?? lparConfig?.kernel ?? "5.4";
  const nextKernel = options.nextKernel ?? kernel;
  await using system = await ManagedSystem.start({
    ...config,
    hypervisor: { ...config.hypervisor, personality: hypervisor },
    // The story drives the LPAR itself: no supervisor reacts to its panic.
    lpars: config.lpars.map((l) => (l === lparConfig ? { ...l, kernel, supervision: {} } : l)),
  }, options.start);
  const lpar = system.lpar(lparConfig.name);
  const data = pattern(4096, `papr_scm ${kernel}`);
  let written = false;
  if (mode === "panic-mid-bind") {
    // The first kernel panics after the second slice of its probe's bind.
    await lpar.boot({ panicAt: { hcall: "H_SCM_BIND_MEM", nth: 2 } });
  } else {
    await lpar.boot();
  }
  const regionsBefore = await lpar.ndctlJson({ regions: true });
  // A first kernel that died in its probe (5.19-rc1 without statistics) has nothing to write to.
  const before = lpar.state === "running" ? await lpar.regions() : [];
  if (before.length > 0) {
    await lpar.write(before[0].dev, 0, data);
    written = true;
  }
  if (mode === "panic") await lpar.panic();
  const oldKernelTail = (await lpar.dmesg()).slice(-2);
  await system.traceStart();
  const startedAt = system.clock();
  let report;
  if (mode === "reboot") {
    report = await lpar.reboot({ kernel: nextKernel });
  } else if (mode === "shutdown") {
    await lpar.shutdown();
    report = await lpar.boot({ kernel: nextKernel });
  } else {
    report = await lpar.kexec({ kernel: nextKernel });
  }
  const virtualSeconds = (system.clock() - startedAt) / 1e9;
  const hcalls = await system.traceTake();
  const drc = lparConfig.nvdimms?.[0]?.drc;
  const drcHex = typeof drc === "number" ? drc.toString(16) : String(drc).replace(/^0x/i, "");
  // A new kernel that died (an oops in its probe) gives its user no region.
  const alive = report.state === "running";
  const after = alive ? await lpar.regions() : [];
  let outcome: PatternOutcome = written ? (alive ? "lost" : "unreachable") : "not written";
  if (written && after.length > 0) {
    const back = await lpar.read(after[0].dev, 0, data.length);
    outcome = back.every((b, i) => b === data[i]) ? "intact" : "corrupted";
  }
  return {
    kernel,
    nextKernel,
    hypervisor,
    mode,
    regionsBefore,
    regionsAfter: await lpar.ndctlJson({ regions: true }),
    oldKernelTail,
    dmesg: report.dmesg,
    hcalls,
    pattern: outcome,
    addressReused: before.length > 0 && after.length > 0 && before[0].start === after[0].start,
    regionBack: after.length > 0,
    hcallCount: hcalls.length,
    messages: report.dmesg
      .map((l) => l.replace(/^\[[ \d.]+\] /, ""))
      .filter((l) =>
        (l.startsWith("papr_scm ") && l.includes(`@${drcHex.toLowerCase()}:`)) ||
        l.startsWith("BUG: ") || l.startsWith("Kernel panic - ")
      )
      .map((l) => l.replace(/^papr_scm [^ ]+: /, "")),
    runtime: system.runtime,
    virtualSeconds,
  };
}

/** The story as a person reads it. */
export function formatKexecStory(r: KexecStoryReport): string {
  const how = r.mode === "kexec"
    ? `kexec into ${r.nextKernel}`
    : r.mode === "panic"
    ? `panic, then kdump kernel ${r.nextKernel} by kexec`
    : r.mode === "reboot"
    ? `clean reboot into ${r.nextKernel}`
    : r.mode === "shutdown"
    ? `shutdown, then activate ${r.nextKernel}`
    : `panic in the middle of the probe's bind, then kdump kernel ${r.nextKernel}`;
  const action = r.mode === "kexec"
    ? "kexec -e (nothing was unbound)"
    : r.mode === "reboot"
    ? "reboot (device_shutdown unbinds nothing; the partition restart releases the bindings)"
    : r.mode === "shutdown"
    ? "shutdown (the hypervisor releases the bindings), then activate"
    : "kdump: kexec -p (nothing was unbound)";
  const lines = [
    `=== papr_scm ${r.kernel} on ${r.hypervisor}: ${how} ===`,
    "$ ndctl list -R            # before",
    formatNdctl(r.regionsBefore) || "(prints nothing: no regions)",
    r.pattern === "not written"
      ? "(no region: no pattern written)"
      : "wrote a 4 KiB pattern at region offset 0",
  ];
  if (r.mode.startsWith("panic")) lines.push(...r.oldKernelTail.map((l) => `old kernel: ${l}`));
  lines.push(
    `# ${action}`,
    "$ dmesg                    # the new kernel",
    ...r.dmesg.map((l) => `  ${l}`),
    "$ ndctl list -R            # after",
    formatNdctl(r.regionsAfter) || "(prints nothing: no regions)",
    `hcalls after the ${r.mode === "kexec" || r.mode.startsWith("panic") ? "kexec" : r.mode}: ${
      r.hcalls.map((h) => `${h.hcall}→${h.rc}`).join(", ") || "none"
    }`,
    `pattern: ${r.pattern}; address reused: ${r.addressReused ? "yes" : "no"}`,
    r.runtime === "sim"
      ? `virtual time from the ${
        r.mode === "shutdown" ? "activation" : r.mode
      } to the end of boot: ` +
        `${r.virtualSeconds.toFixed(3)} s`
      : "",
    "",
  );
  return lines.join("\n");
}
