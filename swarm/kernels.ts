/**
 * The kernel versions swarm cases draw from: every version but 5.19-rc1,
 * whose probe panics by design wherever the hypervisor gives no performance
 * statistics (QEMU, or PowerVM with collection off); its regression has its
 * own tests (tests/versions_test.ts).
 * @module
 */
import { KERNEL_VERSIONS, type KernelVersion } from "../guest/papr_scm/mod.ts";

/** Kernel versions a swarm case may run. */
export const SWARM_KERNELS: readonly KernelVersion[] = KERNEL_VERSIONS.filter((v) =>
  v !== "5.19-rc1"
);
