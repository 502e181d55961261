/**
 * The seed story: a kernel with a bound SCM region is replaced by kexec (or
 * panics and is replaced by a kdump kernel) without unbinding, and the new
 * kernel's papr_scm has to bind the region again.
 * @module
 */
import { ManagedSystem } from "../actors/managed_system.ts";
import type { HcallTrace } from "../actors/managed_system.ts";
import type { Personality } from "../core/types.ts";
import type { Json } from "../guest/ndctl.ts";
import { formatNdctl } from "../guest/ndctl.ts";
import type { KernelVersion } from "../guest/papr_scm/mod.ts";

/** The nvdimm of the original bug report. */
export const SEED_DRC = 0x44100002;

/** How the old kernel goes away. */
export type KexecMode = "kexec" | "panic" | "panic-mid-bind";

/** Options of one run of the story. */
export interface KexecStoryOptions {
  kernel: KernelVersion;
  /** Kernel version after the kexec (default: the same). */
  nextKernel?: KernelVersion;
  hypervisor?: Personality;
  mode?: KexecMode;
  /** Blocks of the seed nvdimm (default 40: three bind slices of 16). */
  blocks?: number;
}

/** Whether the data written before came back after. */
export type PatternOutcome = "intact" | "corrupted" | "lost" | "not written";

/** What one run of the story shows. */
export interface KexecStoryReport {
  kernel: KernelVersion;
  nextKernel: KernelVersion;
  hypervisor: Personality;
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
  pattern: PatternOutcome;
  /** Whether the region came back at the address it had before. */
  addressReused: boolean;
}

/** A recognisable pattern: the position, the kernel version and a tag. */
function pattern(length: number, seed: string): Uint8Array {
  const bytes = new Uint8Array(length);
  const tag = new TextEncoder().encode(seed);
  for (let i = 0; i < length; i++) bytes[i] = (i * 31 + tag[i % tag.length]) & 0xFF;
  return bytes;
}

/** Runs the story once on a fresh system and reports what happened. */
export async function runKexecStory(options: KexecStoryOptions): Promise<KexecStoryReport> {
  const { kernel, mode = "kexec", hypervisor = "powervm", blocks = 40 } = options;
  const nextKernel = options.nextKernel ?? kernel;
  await using system = await ManagedSystem.start({
    hypervisor: { personality: hypervisor },
    lpars: [{ name: "lpar1", kernel, nvdimms: [{ drc: SEED_DRC, blocks }] }],
  });
  const lpar = system.lpar("lpar1");
  const data = pattern(4096, `papr_scm ${kernel}`);
  let written = false;
  if (mode === "panic-mid-bind") {
    // The first kernel panics after the second slice of its probe's bind.
    await lpar.boot({ panicAt: { hcall: "H_SCM_BIND_MEM", nth: 2 } });
  } else {
    await lpar.boot();
  }
  const regionsBefore = await lpar.ndctlJson();
  const before = await lpar.regions();
  if (before.length > 0) {
    await lpar.write(before[0].dev, 0, data);
    written = true;
  }
  if (mode === "panic") await lpar.panic();
  const oldKernelTail = (await lpar.dmesg()).slice(-2);
  await system.traceStart();
  const report = await lpar.kexec({ kernel: nextKernel });
  const hcalls = await system.traceTake();
  const after = await lpar.regions();
  let outcome: PatternOutcome = written ? "lost" : "not written";
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
    regionsAfter: await lpar.ndctlJson(),
    oldKernelTail,
    dmesg: report.dmesg,
    hcalls,
    pattern: outcome,
    addressReused: before.length > 0 && after.length > 0 && before[0].start === after[0].start,
  };
}

/** The story as a person reads it. */
export function formatKexecStory(r: KexecStoryReport): string {
  const how = r.mode === "kexec"
    ? `kexec into ${r.nextKernel}`
    : r.mode === "panic"
    ? `panic, then kdump kernel ${r.nextKernel} by kexec`
    : `panic in the middle of the probe's bind, then kdump kernel ${r.nextKernel}`;
  const lines = [
    `=== papr_scm ${r.kernel} on ${r.hypervisor}: ${how} ===`,
    "$ ndctl list -R            # before",
    formatNdctl(r.regionsBefore) || "(prints nothing: no regions)",
    r.pattern === "not written"
      ? "(no region: no pattern written)"
      : "wrote a 4 KiB pattern at region offset 0",
  ];
  if (r.mode !== "kexec") lines.push(...r.oldKernelTail.map((l) => `old kernel: ${l}`));
  lines.push(
    `# ${r.mode === "kexec" ? "kexec -e" : "kdump: kexec -p"} (nothing was unbound)`,
    "$ dmesg                    # the new kernel",
    ...r.dmesg.map((l) => `  ${l}`),
    "$ ndctl list -R            # after",
    formatNdctl(r.regionsAfter) || "(prints nothing: no regions)",
    `hcalls after the kexec: ${r.hcalls.map((h) => `${h.hcall}→${h.rc}`).join(", ") || "none"}`,
    `pattern: ${r.pattern}; address reused: ${r.addressReused ? "yes" : "no"}`,
    "",
  );
  return lines.join("\n");
}
