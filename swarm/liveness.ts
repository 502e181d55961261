/**
 * The liveness phase that ends every case: faults off (no flush failures,
 * a panic point no kernel reaches), every LPAR that is not running boots;
 * each boot must return with the kernel running, its probes done, within a
 * bound of virtual time.
 * @module
 */
import { checkInvariants } from "./invariants.ts";
import { msg, NO_PANIC, Violation, type World } from "./world.ts";

/** Most virtual time a boot may take in the liveness phase: 10 s. */
export const LIVENESS_BOUND_NS = 10e9;

/**
 * Runs the liveness phase, then the invariant checks once more.
 * @example
 * ```ts ignore
 * await liveness(world); // throws a Violation("liveness", ...) when a boot does not finish
 * ```
 */
export async function liveness(world: World): Promise<void> {
  const { system } = world;
  for (const drc of world.flushFailing) await system.setFlushFailure(drc, false);
  world.flushFailing.clear();
  const down = system.lpars.filter((l) => l.state !== "running");
  const boots = down.map(async (lpar) => {
    const from = lpar.state, t0 = system.clock();
    try {
      await lpar.boot({ panicAt: NO_PANIC });
    } catch (error) {
      throw new Violation("liveness", `${lpar.name} (${from}) did not boot: ${msg(error)}`);
    }
    const took = system.clock() - t0;
    if (lpar.state !== "running") {
      throw new Violation("liveness", `${lpar.name} (${from}) is ${lpar.state} after its boot`);
    }
    if (took > LIVENESS_BOUND_NS) {
      throw new Violation(
        "liveness",
        `${lpar.name} (${from}) took ${took / 1e6} ms of virtual time to boot and probe; ` +
          `at most ${LIVENESS_BOUND_NS / 1e6} ms`,
      );
    }
    world.armed.delete(lpar.name);
  });
  const results = await Promise.allSettled(boots);
  for (const r of results) if (r.status === "rejected") throw r.reason;
  world.snapshot = await checkInvariants(world, { hypervisor: true });
}
