/**
 * The scenarios the CLI offers.
 * @module
 */
import { type Personality } from "../core/types.ts";
import { KERNEL_VERSIONS, parseKernelVersion } from "../guest/papr_scm/mod.ts";
import { formatKexecStory, type KexecMode, runKexecStory } from "./kexec.ts";
import { registerScenario, type ScenarioOptions } from "./registry.ts";

function personality(value: unknown): Personality {
  if (value === undefined) return "powervm";
  if (value === "powervm" || value === "qemu") return value;
  throw new RangeError(`--hypervisor ${JSON.stringify(value)}: accepted: powervm, qemu`);
}

function story(mode: KexecMode, summary: string) {
  return {
    name: mode,
    summary,
    options: ["kernel", "next-kernel", "hypervisor"],
    async run(options: ScenarioOptions) {
      const kernel = parseKernelVersion(options.kernel ?? "5.4");
      const next = options["next-kernel"];
      const report = await runKexecStory({
        kernel,
        nextKernel: next === undefined ? undefined : parseKernelVersion(next),
        hypervisor: personality(options.hypervisor),
        mode,
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
