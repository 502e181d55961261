/**
 * What every hcall handler receives, whatever the personality.
 * @module
 */
import type { TokenStreams } from "./tokens.ts";
import type { ScmState } from "./state.ts";
import type { CoreEnv, HcallResult, LparId, PowerVmOptions, QemuOptions } from "./types.ts";

/** State, tunables and the injected environment, handed to each handler. */
export interface CoreContext {
  state: ScmState;
  /** `powervm` tunables. */
  options: PowerVmOptions;
  /** `qemu` tunables. */
  qemu: QemuOptions;
  /** How long a flush runs before it completes (ns of `env.now()`). */
  flushLatencyNs: bigint;
  env: CoreEnv;
  /** Continue-tokens, a stream per LPAR. */
  tokens: TokenStreams;
  /** Hypervisor time (ns) the hcall being answered took; the runtime takes it after each call. */
  elapsedNs: bigint;
}

/** An hcall handler: the caller and registers r4..r12 in, a result out. */
export type Handler = (ctx: CoreContext, lpar: LparId, args: readonly bigint[]) => HcallResult;

/** A personality's handlers by opcode, as QEMU registers them. */
export type HandlerTable = ReadonlyMap<number, Handler>;
