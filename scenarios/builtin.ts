/**
 * The scenarios the CLI offers.
 * @module
 */
import type { SystemConfig } from "../actors/config.ts";
import type { StartOptions } from "../actors/managed_system.ts";
import { type Personality } from "../core/types.ts";
import { KERNEL_VERSIONS, parseKernelVersion } from "../guest/papr_scm/mod.ts";
import { formatKexecStory, type KexecMode, runKexecStory } from "./kexec.ts";
import { formatContention, runContention } from "./contention.ts";
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

registerScenario({
  name: "contention",
  summary: "N LPARs share DRCs and bind at once; --lpars N (default 8)",
  // Its own system of N LPARs on PowerVM: no --config, --lpar or --hypervisor.
  options: ["lpars", "kernel", "runtime", "seed"],
  async run(options: ScenarioOptions) {
    const report = await runContention({
      lpars: options.lpars ?? 8,
      kernel: options.kernel === undefined ? undefined : parseKernelVersion(options.kernel),
      start: options.start as StartOptions | undefined,
      onBooted: options.progress as ((done: number, total: number) => void) | undefined,
    });
    return { text: formatContention(report), json: report };
  },
});
