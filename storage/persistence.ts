/**
 * The machine's persistence: for every nvdimm, its durable state in a store
 * (`DurableStore`), its SCM seen through the cache model (`CachedScm`), and
 * the dirty-shutdown chain's first link: at power-on, a device whose
 * previous power-off lost data (its `unflushed` mark was still set) gets its
 * `ibm,persistence-failed-count` incremented and the SHUTDOWN_DIRTY health
 * bit; a clean power-on clears the bit and keeps the count. The count
 * changes only here: a kexec or a reboot of a partition is no power-on.
 * With a `FileStore` the mark is exact under a kill inside a settling flush
 * of up to 56 lines: the store judges the flush intent the mark then holds
 * against the media when it opens the device (storage/flush_intent.ts), and
 * reports `unflushed` only when a line did not arrive.
 *
 * Used by the sim runtime (the machine stays pure: it is handed a store).
 * @module
 */
import { H, OP } from "../abi/hcalls.ts";
import { HEALTH } from "../abi/health.ts";
import type { SeededRandom } from "../runtime/sim/random.ts";
import { CachedScm, type CacheEvents, CpuCache, LINE_BYTES } from "./cpu_cache.ts";
import { lineAfterLoss, POWER_LOSS_MODES, type PowerLossMode } from "./power_loss.ts";
import { type DrcGeometry, type DurableStore, StorageIoError } from "./types.ts";
import { FaultyDrc, type StorageFault } from "./io_fault.ts";

/** What a power-on found for one nvdimm. */
export interface PoweredOn {
  /** Its SCM through the cache model. */
  memory: CachedScm;
  /** The durable label area. */
  label: Uint8Array;
  /** Health after power-on. */
  health: bigint;
  /** `ibm,persistence-failed-count` after power-on. */
  persistenceFailedCount: number;
  /** Whether this power-on found data lost (the count went up). */
  dirtyShutdown: boolean;
}

/** What a power loss did to one nvdimm. */
export interface DrcLoss {
  /** DRC index. */
  drc: number;
  /** Lines that were not durable. */
  unflushedLines: number;
  /** Of those, lines whose cached content did not all reach the media. */
  lostLines: number;
}

/** What a power loss did. */
export interface PowerLossReport {
  /** How the survivors were chosen. */
  mode: PowerLossMode;
  /** Per nvdimm. */
  drcs: DrcLoss[];
}

/** Someone watching every durable event (crash exploration's recorder). */
export interface PersistenceRecorder {
  /** A store changed a cached line. */
  stored(drc: number, line: number, bytes: Uint8Array): void;
  /** A line became durable. */
  durable(drc: number, line: number, bytes: Uint8Array): void;
  /** Label bytes became durable (WRITE_METADATA returned). */
  label(drc: number, offset: number, bytes: Uint8Array): void;
}

/** The persistence of one machine's nvdimms. */
export class Persistence {
  readonly store: DurableStore;
  readonly cache: CpuCache;
  readonly #drcs = new Map<number, CachedScm>();
  /** Each nvdimm's fault injector, in front of its store (storage/io_fault.ts). */
  readonly #faults = new Map<number, FaultyDrc>();
  readonly #recorder?: PersistenceRecorder;
  #ended = false;

  constructor(
    store: DurableStore,
    options: { cacheLines?: number; recorder?: PersistenceRecorder } = {},
  ) {
    this.store = store;
    this.cache = new CpuCache(options.cacheLines);
    this.#recorder = options.recorder;
  }

  /** Powers an nvdimm on: its durable state, the count and health updated as above. */
  powerOn(g: DrcGeometry & { hcallFlushRequired?: boolean }): PoweredOn {
    if (this.#drcs.has(g.index)) throw new RangeError(`drc 0x${g.index.toString(16)} is on`);
    // Behind a fault injector (storage/io_fault.ts), which does nothing until asked.
    const durable = new FaultyDrc(
      this.store.open(g),
      `drc 0x${g.index.toString(16)} (${this.store.where})`,
    );
    const facts = durable.facts();
    const dirtyShutdown = facts.unflushed;
    let health = BigInt(`0x${facts.health}`);
    if (dirtyShutdown) {
      facts.persistenceFailedCount++;
      health |= HEALTH.SHUTDOWN_DIRTY;
    } else {
      health &= ~HEALTH.SHUTDOWN_DIRTY;
    }
    facts.health = health.toString(16);
    facts.unflushed = false;
    durable.saveFacts(facts);
    const memory = new CachedScm(
      g.index,
      durable,
      g.hcallFlushRequired ?? false,
      this.cache,
      {
        holding: (drc, holding) => this.#mark(drc, holding),
        stored: (drc, line, bytes) => this.#recorder?.stored(drc, line, bytes),
        durable: (drc, line, bytes) => this.#recorder?.durable(drc, line, bytes),
      } satisfies CacheEvents,
    );
    this.#drcs.set(g.index, memory);
    this.#faults.set(g.index, durable);
    return {
      memory,
      label: durable.label(),
      health,
      persistenceFailedCount: facts.persistenceFailedCount,
      dirtyShutdown,
    };
  }

  /** The unflushed mark is durable before the first volatile store lands, cleared after the last. */
  #mark(drc: number, holding: boolean): void {
    const durable = this.#drcs.get(drc)?.durable;
    if (!durable) return;
    const facts = durable.facts();
    if (facts.unflushed === holding) return;
    facts.unflushed = holding;
    durable.saveFacts(facts);
  }

  /**
   * Fault injection: the nvdimm's store fails its I/O as `fault` says
   * (storage/io_fault.ts) until set to `none`.
   */
  setFault(drc: number, fault: StorageFault): void {
    const faulty = this.#faults.get(drc);
    if (!faulty) throw new RangeError(`drc 0x${drc.toString(16)} is not powered on`);
    faulty.fault = fault;
  }

  #clearFaults(): void {
    for (const faulty of this.#faults.values()) faulty.fault = "none";
  }

  /** An nvdimm's SCM, or undefined. */
  memory(drc: number): CachedScm | undefined {
    return this.#drcs.get(drc);
  }

  /**
   * Sees an hcall's answer and gives the one to send: WRITE_METADATA that
   * succeeded made its bytes durable (read from the hypervisor's label
   * area); H_SCM_FLUSH that completed made the written-back lines durable.
   * When the host cannot write them (a StorageIoError) the answer is
   * `H_HARDWARE`, as QEMU answers a flush whose `fdatasync` of the backing
   * file failed (hw/ppc/spapr_nvdimm.c `flush_worker_cb`); a flush's lines
   * stay pending for the next one, a label write's bytes stay in the
   * hypervisor's label area but not in the store. Other errors are bugs and
   * are thrown.
   */
  afterHcall(
    opcode: number,
    args: readonly bigint[],
    rc: number,
    labelArea: (drc: number) => Uint8Array | undefined,
  ): number {
    if (rc !== H.SUCCESS || this.#ended) return rc;
    try {
      if (opcode === OP.H_SCM_WRITE_METADATA) {
        const drc = Number(args[0] & 0xFFFF_FFFFn);
        const area = labelArea(drc);
        const durable = this.#drcs.get(drc)?.durable;
        if (!area || !durable) return rc;
        const offset = Number(args[1]), length = Number(args[3]);
        const bytes = area.slice(offset, offset + length);
        durable.writeLabel(offset, bytes);
        this.#recorder?.label(drc, offset, bytes);
      } else if (opcode === OP.H_SCM_FLUSH) {
        this.#drcs.get(Number(args[0] & 0xFFFF_FFFFn))?.commit();
      }
    } catch (error) {
      if (error instanceof StorageIoError) return H.HARDWARE;
      throw error;
    }
    return rc;
  }

  /** Makes health durable (control-plane fault injection). */
  setHealth(drc: number, bitmap: bigint): void {
    const durable = this.#drcs.get(drc)?.durable;
    if (!durable) return;
    const facts = durable.facts();
    facts.health = bitmap.toString(16);
    durable.saveFacts(facts);
  }

  /**
   * An orderly power-off: caches are written back and buffers flushed;
   * nothing is lost. A device whose store fails (a StorageIoError) loses
   * what it could not write, as at a kill: its mark stays set and the next
   * power-on counts it; the others power off as usual. The failures' messages.
   */
  powerOff(): string[] {
    if (this.#ended) return [];
    const failures: string[] = [];
    for (const memory of this.#drcs.values()) {
      try {
        memory.writeBack();
        memory.commit();
      } catch (error) {
        if (!(error instanceof StorageIoError)) throw error;
        memory.drop();
        failures.push(
          `${error.message}: what it held was lost (the next power-on counts a dirty shutdown)`,
        );
      }
    }
    this.#end();
    return failures;
  }

  /**
   * A power loss: every line not durable survives or not as `mode` says
   * (chosen by `random` when not given); a device that lost anything keeps
   * its unflushed mark, so the next power-on counts it.
   */
  powerLoss(random: SeededRandom, mode?: PowerLossMode): PowerLossReport {
    if (this.#ended) throw new Error("the machine is already powered off");
    const chosen = mode ?? POWER_LOSS_MODES[random.below(POWER_LOSS_MODES.length)];
    // What survives is the model's choice, not the host's I/O.
    this.#clearFaults();
    const drcs: DrcLoss[] = [];
    for (const memory of this.#drcs.values()) {
      const lines = memory.volatileLines();
      let lost = 0;
      for (const [line, cached] of lines) {
        const old = memory.durable.read(line * LINE_BYTES, LINE_BYTES);
        const fate = lineAfterLoss(chosen, random, old, cached);
        if (fate.lost) lost++;
        memory.durable.write(line * LINE_BYTES, fate.bytes);
      }
      memory.drop();
      const facts = memory.durable.facts();
      facts.unflushed = lost > 0;
      memory.durable.saveFacts(facts);
      drcs.push({ drc: memory.index, unflushedLines: lines.size, lostLines: lost });
    }
    this.#end();
    return { mode: chosen, drcs };
  }

  /** The process dies now (a hypervisor kill): the cache is gone, the marks stay. */
  kill(): void {
    if (this.#ended) return;
    for (const memory of this.#drcs.values()) memory.drop();
    this.#end();
  }

  #end(): void {
    this.#ended = true;
    for (const memory of this.#drcs.values()) memory.durable.close();
    this.store.close?.();
  }

  /** Whether it was powered off (or lost power). */
  get ended(): boolean {
    return this.#ended;
  }
}
