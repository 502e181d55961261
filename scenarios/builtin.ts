/**
 * The scenarios the CLI offers.
 * @module
 */
import type { SystemConfig } from "../actors/config.ts";
import type { StartOptions } from "../actors/managed_system.ts";
import { type Personality } from "../core/types.ts";
import { KERNEL_VERSIONS, parseKernelVersion } from "../guest/papr_scm/mod.ts";
import { formatKexecStory, type KexecMode, runKexecStory } from "./kexec.ts";
import { registerScenario, type ScenarioOptions } from "./registry.ts";

/** Checks a `--hypervisor` value; undefined stays undefined (the configuration decides). */
export function parsePersonality(value: unknown): Personality | undefined {
  if (value === undefined) return undefined;
  if (value === "powervm" || value === "qemu") return value;
  throw new RangeError(`--hypervisor ${JSON.stringify(value)}: accepted: powervm, qemu`);
}

function story(mode: KexecMode, summary: string) {
  return {
    name: mode,
    summary,
    options: ["kernel", "next-kernel", "hypervisor", "config", "lpar", "runtime", "seed"],
    async run(options: ScenarioOptions) {
      const next = options["next-kernel"];
      const report = await runKexecStory({
        kernel: options.kernel === undefined ? undefined : parseKernelVersion(options.kernel),
        nextKernel: next === undefined ? undefined : parseKernelVersion(next),
        hypervisor: parsePersonality(options.hypervisor),
        mode,
        config: options.config as SystemConfig | undefined,
        lpar: options.lpar as string | undefined,
        start: options.start as StartOptions | undefined,
      });
      return { text: formatKexecStory(report), json: report };
    },
  };
}

registerScenario(story(
  "kexec",
  `boot, write a pattern, kexec without unbinding; --kernel ${KERNEL_VERSIONS.join("|")}`,
));
registerScenario(story("panic", "boot, write a pattern, panic, then a kdump kernel by kexec"));
registerScenario(story(
  "panic-mid-bind",
  "panic in the middle of the probe's sliced bind, then a kdump kernel by kexec",
));
registerScenario(story("reboot", "boot, write a pattern, clean reboot (the driver unbinds)"));
registerScenario(story(
  "shutdown",
  "boot, write a pattern, shut down (the hypervisor releases), activate again",
));

/** What scenarios/contention.ts (engineer C's) exports. */
interface ContentionModule {
  runContention(options: Record<string, unknown>): Promise<unknown>;
  formatContention(report: unknown): string;
}

registerScenario({
  name: "contention",
  summary: "N LPARs share DRCs and bind at once; --lpars N",
  options: ["lpars", "kernel", "hypervisor", "config", "runtime", "seed"],
  async run(options: ScenarioOptions) {
    // Loaded when run, so the other scenarios work without it.
    const specifier = "./contention.ts";
    let mod: ContentionModule;
    try {
      mod = await import(specifier) as ContentionModule;
    } catch (error) {
      throw new Error(
        `the contention scenario is not available: ${(error as Error).message.split("\n")[0]}`,
      );
    }
    const report = await mod.runContention({
      lpars: options.lpars,
      kernel: options.kernel === undefined ? undefined : parseKernelVersion(options.kernel),
      hypervisor: parsePersonality(options.hypervisor),
      config: options.config,
      start: options.start,
      onBooted: options.progress,
    });
    return { text: mod.formatContention(report), json: report };
  },
});
