/**
 * The hypervisor actor: owns the SCM (one SharedArrayBuffer per DRC), the
 * pure core and the hcall dispatcher, and answers control messages from the
 * managed system between serving stretches. It runs in its own worker.
 * @module
 */
import { createChannel, createDoorbell } from "../channel/layout.ts";
import { Dispatcher, type DispatcherOptions, stopDoorbell } from "../channel/dispatcher.ts";
import { createPageTable, writePageTable } from "../channel/page_table.ts";
import { HypervisorCore, seededEnv } from "../core/hypervisor.ts";
import type {
  BlockBinding,
  DrcSpec,
  HcallResult,
  LparId,
  Personality,
  PowerVmOptions,
} from "../core/types.ts";

/** How to start the hypervisor. */
export interface HypervisorConfig {
  personality: Personality;
  powervm?: Partial<PowerVmOptions>;
  dispatcher?: Partial<DispatcherOptions>;
  /** Seed for continue-tokens. */
  seed?: number;
}

/** What an LPAR's worker needs to issue hcalls. */
export interface LparChannels {
  channel: SharedArrayBuffer;
  doorbell: SharedArrayBuffer;
  pageTable: SharedArrayBuffer;
}

/** One traced hcall. */
export interface TraceRecord {
  lpar: LparId;
  opcode: number;
  rc: number;
}

interface LparSlot {
  channels: LparChannels;
  mapVersion: number;
}

/** The hypervisor actor's state and control plane. */
export class HypervisorActor {
  readonly core: HypervisorCore;
  readonly #doorbell = createDoorbell();
  readonly #dispatcher: Dispatcher;
  readonly #scm = new Map<number, SharedArrayBuffer>();
  readonly #lpars = new Map<LparId, LparSlot>();
  #trace?: TraceRecord[];
  #failure?: Error;
  #running?: Promise<void>;

  constructor(config: HypervisorConfig) {
    const env = seededEnv(BigInt(config.seed ?? 1));
    const origin = performance.now();
    this.core = new HypervisorCore({
      personality: config.personality,
      powervm: config.powervm,
      env: {
        now: () => BigInt(Math.round((performance.now() - origin) * 1e6)),
        random64: env.random64,
      },
    });
    this.#dispatcher = new Dispatcher(
      this.#doorbell,
      (l, o, a) => this.#hcall(l, o, a),
      config.dispatcher,
    );
  }

  /** Starts serving hcalls (returns at once; the loop runs until stop()). */
  start(): void {
    this.#running ??= this.#dispatcher.run().catch((error) => this.#fail(error));
  }

  #hcall(lpar: LparId, opcode: number, args: readonly bigint[]): HcallResult {
    const result = this.core.hcall(lpar, opcode, args);
    this.#trace?.push({ lpar, opcode, rc: result.rc });
    const slot = this.#lpars.get(lpar);
    if (slot && slot.mapVersion !== this.core.mapVersion(lpar)) this.#refreshPageTable(lpar, slot);
    return result;
  }

  #refreshPageTable(lpar: LparId, slot: LparSlot): void {
    slot.mapVersion = this.core.mapVersion(lpar);
    writePageTable(slot.channels.pageTable, this.core.mappings(lpar));
  }

  #fail(error: unknown): void {
    this.#failure = error instanceof Error ? error : new Error(String(error));
    stopDoorbell(this.#doorbell);
  }

  #check(): void {
    if (this.#failure) throw new Error(`hypervisor failed: ${this.#failure.message}`);
  }

  /** Creates an nvdimm and its SCM memory. */
  createDrc(spec: DrcSpec): void {
    this.#check();
    this.core.addDrc(spec);
    this.#scm.set(spec.index, new SharedArrayBuffer(Number(spec.blockSize) * spec.blocks));
  }

  /** Opens a channel for an LPAR. */
  attachLpar(lpar: LparId): LparChannels {
    this.#check();
    const channels = {
      channel: createChannel(),
      doorbell: this.#doorbell,
      pageTable: createPageTable(),
    };
    this.#dispatcher.attach(lpar, channels.channel);
    this.#lpars.set(lpar, { channels, mapVersion: 0 });
    return channels;
  }

  /** Assigns a DRC to an LPAR and hands over its SCM memory (to that LPAR only). */
  assign(drc: number, lpar: LparId): SharedArrayBuffer {
    this.#check();
    this.core.assign(drc, lpar);
    return this.#scm.get(drc)!;
  }

  /** Takes a DRC from an LPAR, releasing its bindings there. */
  unassign(drc: number, lpar: LparId): number {
    this.#check();
    const released = this.core.unassign(drc, lpar);
    this.#afterControl(lpar);
    return released;
  }

  /** Partition shutdown: every binding of the LPAR is released. */
  releaseLpar(lpar: LparId): number {
    this.#check();
    const released = this.core.releaseLpar(lpar);
    this.#afterControl(lpar);
    return released;
  }

  #afterControl(lpar: LparId): void {
    const slot = this.#lpars.get(lpar);
    if (slot) this.#refreshPageTable(lpar, slot);
  }

  /** Sets a DRC's health bitmap. */
  setHealth(drc: number, bitmap: bigint): void {
    this.#check();
    this.core.setHealth(drc, bitmap);
  }

  /** The binding table. */
  bindings(): BlockBinding[] {
    return this.core.bindings();
  }

  /** Invariant violations (none expected). */
  invariants(): string[] {
    return this.core.invariants();
  }

  /** Starts recording every hcall (lpar, opcode, rc), dropping earlier records. */
  traceStart(): void {
    this.#trace = [];
  }

  /** Stops recording and returns what was recorded. */
  traceTake(): TraceRecord[] {
    const records = this.#trace ?? [];
    this.#trace = undefined;
    return records;
  }

  /** Stops the serve loop; returns once it has ended. */
  async stop(): Promise<void> {
    stopDoorbell(this.#doorbell);
    await this.#running;
  }

  /** Why the hypervisor failed, if it did. */
  failure(): string | undefined {
    return this.#failure?.message;
  }
}
