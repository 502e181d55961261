/**
 * Durable state in a directory (`storage: { dir }`, `--state DIR`): per
 * nvdimm `drc-<index>.scm` (its SCM, a sparse file: only pages written take
 * disk space), `drc-<index>.label` (the label area), `drc-<index>.json`
 * (the hypervisor's facts: uuid, geometry, health, persistence-failed count,
 * the power-on epoch) and `drc-<index>.unflushed` (the mark, one 4 KiB page:
 * the epoch in which the cache began to hold unflushed stores, or clear; see
 * storage/flush_intent.ts). A write returns once the OS has it (`write(2)`),
 * so a killed process loses nothing that was durable; facts are replaced by
 * rename, so a kill mid-update leaves the old or the new facts. Setting and
 * clearing the mark is one small write at offset 0, which a kill cannot
 * tear; it counts only when it names the current epoch, and the power-on
 * that counts a loss moves to the next epoch in the same rename as the
 * count, so a kill at any moment counts a loss once, never twice (the JSON's
 * own `unflushed` field only says what the mark said when the facts were
 * last written).
 *
 * A flush that leaves the device holding nothing volatile first turns the
 * mark into a flush intent (the lines and their content, at most
 * `INTENT_MAX_LINES` = 56 of them); the power-on after a kill inside that
 * flush compares them with the SCM file and counts a loss only when one did
 * not reach it, so a kill that lost nothing leaves the count alone. A larger
 * flush keeps the plain mark: a kill after its last line and before the
 * clear is counted, conservatively. No fsync: a crash of the host's own OS
 * is not modelled.
 *
 * This is a runtime adapter: the machine is handed it as a `DurableStore`.
 * @module
 */
import {
  type DrcFacts,
  type DrcGeometry,
  type DurableDrc,
  type DurableStore,
  factsProblem,
  freshFacts,
  geometryMismatch,
  StorageError,
  StorageIoError,
} from "./types.ts";
import {
  clearRecord,
  intentRecord,
  MARK_BYTES,
  markPage,
  markRecord,
  markSizeProblem,
  parseMark,
} from "./flush_intent.ts";
import { LINE_BYTES } from "./cpu_cache.ts";

function reason(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * One operation on a running device's file: what the OS throws (`EIO`,
 * `ENOSPC`, a closed descriptor) becomes a StorageIoError naming the file
 * and the operation, the asker's error and not the machine's; a RangeError,
 * TypeError or ReferenceError is a bad call (a bug) and is thrown as it is.
 */
function io<T>(path: string, what: string, operation: () => T): T {
  try {
    return operation();
  } catch (error) {
    // The engine's own errors are a bad call, a bug: not the host's disk.
    if (error instanceof StorageIoError || error instanceof RangeError) throw error;
    if (error instanceof TypeError || error instanceof ReferenceError) throw error;
    throw new StorageIoError(`${path}: ${what}: ${reason(error)}`, {
      cause: error,
      guestText: `${what}: ${osError(error)}`,
    });
  }
}

/** The OS's words for an I/O error, up to its code: Deno appends the path after them. */
function osError(error: unknown): string {
  const words = reason(error).match(/^[^:]*?\(os error \d+\)/)?.[0];
  return words ?? (error instanceof Error ? error.name : "I/O error");
}

/** Reads exactly `length` bytes at `offset` (zeros past the end of the file). */
function readAt(file: Deno.FsFile, offset: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  file.seekSync(offset, Deno.SeekMode.Start);
  for (let done = 0; done < length;) {
    const n = file.readSync(out.subarray(done));
    if (n === null || n === 0) break;
    done += n;
  }
  return out;
}

function writeAt(file: Deno.FsFile, offset: number, bytes: Uint8Array): void {
  file.seekSync(offset, Deno.SeekMode.Start);
  for (let done = 0; done < bytes.length;) done += file.writeSync(bytes.subarray(done));
}

/** The facts as the file holds them: the shared ones and the power-on epoch. */
type StoredFacts = DrcFacts & { epoch: number };

const sameFacts = (a: DrcFacts, b: DrcFacts) =>
  a.uuid === b.uuid && a.blockSize === b.blockSize && a.blocks === b.blocks &&
  a.metadataSize === b.metadataSize && a.health === b.health &&
  a.persistenceFailedCount === b.persistenceFailedCount;

class FileDrc implements DurableDrc {
  readonly size: number;
  readonly #scmPath: string;
  readonly #labelPath: string;
  readonly #markPath: string;
  readonly #factsPath: string;
  readonly #scm: Deno.FsFile;
  readonly #label: Deno.FsFile;
  readonly #mark: Deno.FsFile;
  #facts: StoredFacts;
  /** The plain mark's record for an epoch, and the page intents are built in (no allocation per flush). */
  #plain: { epoch: number; record: Uint8Array } = { epoch: 0, record: new Uint8Array(0) };
  readonly #page = new Uint8Array(MARK_BYTES);
  constructor(
    paths: { scm: string; label: string; facts: string; mark: string },
    files: { scm: Deno.FsFile; label: Deno.FsFile; mark: Deno.FsFile },
    size: number,
    facts: StoredFacts,
  ) {
    this.size = size;
    this.#scmPath = paths.scm;
    this.#labelPath = paths.label;
    this.#markPath = paths.mark;
    this.#factsPath = paths.facts;
    this.#scm = files.scm;
    this.#label = files.label;
    this.#mark = files.mark;
    this.#facts = facts;
  }
  facts(): DrcFacts {
    const { epoch: _, ...facts } = this.#facts;
    return facts;
  }
  saveFacts(facts: DrcFacts): void {
    const was = this.#facts;
    if (!sameFacts(was, facts)) {
      // The power-on that counts a loss leaves its epoch in the same rename as the count.
      const epoch = was.unflushed && !facts.unflushed ? was.epoch + 1 : was.epoch;
      const next: StoredFacts = { ...facts, epoch };
      io(this.#factsPath, "replace", () => writeFacts(this.#factsPath, next));
      this.#facts = next;
      // A new epoch already clears the mark; an unchanged one keeps what it says.
      if (epoch !== was.epoch) return this.#setMark(facts.unflushed);
    }
    if (facts.unflushed !== was.unflushed) this.#setMark(facts.unflushed);
  }
  #setMark(on: boolean): void {
    if (on && this.#plain.epoch !== this.#facts.epoch) {
      this.#plain = { epoch: this.#facts.epoch, record: markRecord(this.#facts.epoch) };
    }
    const record = on ? this.#plain.record : CLEAR;
    io(this.#markPath, on ? "set" : "clear", () => writeAt(this.#mark, 0, record));
    this.#facts = { ...this.#facts, unflushed: on };
  }
  intendFlush(lines: ReadonlyMap<number, Uint8Array>): void {
    // None: the batch failed, its intent is withdrawn (the plain mark again).
    if (lines.size === 0) return this.#setMark(true);
    // Too many lines for one page: the plain mark stays (a kill inside is counted).
    const record = intentRecord(this.#facts.epoch, lines, this.#page);
    if (!record) return;
    io(this.#markPath, "write a flush intent", () => writeAt(this.#mark, 0, record));
    this.#facts = { ...this.#facts, unflushed: true };
  }
  read(offset: number, length: number): Uint8Array {
    return io(
      this.#scmPath,
      `read ${length} bytes at ${offset}`,
      () => readAt(this.#scm, offset, length),
    );
  }
  write(offset: number, bytes: Uint8Array): void {
    io(
      this.#scmPath,
      `write ${bytes.length} bytes at ${offset}`,
      () => writeAt(this.#scm, offset, bytes),
    );
  }
  label(): Uint8Array {
    return io(this.#labelPath, "read", () => readAt(this.#label, 0, this.#facts.metadataSize));
  }
  writeLabel(offset: number, bytes: Uint8Array): void {
    io(
      this.#labelPath,
      `write ${bytes.length} bytes at ${offset}`,
      () => writeAt(this.#label, offset, bytes),
    );
  }
  usedBytes(): number {
    return (Deno.statSync(this.#scmPath).blocks ?? 0) * 512;
  }
  close(): void {
    this.#scm.close();
    this.#label.close();
    this.#mark.close();
  }
}

const CLEAR = clearRecord();

function writeFacts(path: string, facts: DrcFacts): void {
  const temporary = `${path}.tmp`;
  Deno.writeTextFileSync(temporary, JSON.stringify(facts, null, 2) + "\n");
  Deno.renameSync(temporary, path);
}

/**
 * Nvdimms' durable state in a directory, created if missing (its parent
 * must exist).
 *
 * @example
 * ```ts ignore
 * import { FileStore } from "./file_store.ts";
 * const store = FileStore.open("./state");
 * ```
 */
export class FileStore implements DurableStore {
  readonly where: string;
  readonly #lock: Deno.FsFile;
  private constructor(dir: string, lock: Deno.FsFile) {
    this.where = dir;
    this.#lock = lock;
  }

  /** Releases the directory's lock (the files of its DRCs are closed by their owner). */
  close(): void {
    try {
      this.#lock.close();
    } catch {
      // Closed already.
    }
  }

  /**
   * Checks (or creates) the directory and locks it (`flock` on `lock`: a
   * second system on it, in this process or another, is refused; a killed
   * process's lock goes with it). A clear StorageError naming the directory
   * when it cannot be used.
   */
  static open(dir: string): FileStore {
    if (typeof dir !== "string" || dir === "") {
      throw new StorageError(
        `storage directory ${JSON.stringify(dir)}: expected a path to a directory`,
      );
    }
    let info: Deno.FileInfo | undefined;
    try {
      info = Deno.statSync(dir);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) {
        throw new StorageError(`storage directory ${dir}: cannot be read: ${reason(error)}`);
      }
    }
    if (info && !info.isDirectory) {
      throw new StorageError(`storage directory ${dir}: exists but is not a directory`);
    }
    if (!info) {
      try {
        Deno.mkdirSync(dir);
      } catch (error) {
        throw new StorageError(
          `storage directory ${dir}: cannot be created (its parent must exist and be ` +
            `writable): ${reason(error)}`,
        );
      }
    }
    // Writable? Find out now, not at the first flush.
    let lock: Deno.FsFile;
    try {
      lock = Deno.openSync(`${dir}/lock`, { read: true, write: true, create: true });
    } catch (error) {
      throw new StorageError(`storage directory ${dir}: is not writable: ${reason(error)}`);
    }
    if (!lock.tryLockSync(true)) {
      lock.close();
      throw new StorageError(
        `storage directory ${dir}: in use by another running system (${dir}/lock is held); ` +
          `stop that system or use another directory`,
      );
    }
    return new FileStore(dir, lock);
  }

  open(g: DrcGeometry): DurableDrc {
    const base = `${this.where}/drc-${g.index.toString(16)}`;
    const paths = {
      scm: `${base}.scm`,
      label: `${base}.label`,
      facts: `${base}.json`,
      mark: `${base}.unflushed`,
    };
    const size = Number(g.blockSize) * g.blocks;
    let facts: StoredFacts;
    let text: string | undefined;
    try {
      text = Deno.readTextFileSync(paths.facts);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) {
        throw new StorageError(`${paths.facts}: cannot be read: ${reason(error)}`);
      }
    }
    if (text === undefined) {
      // A new device: its files, the SCM sparse at full size.
      facts = { ...freshFacts(g), epoch: 1 };
      try {
        const scm = Deno.openSync(paths.scm, { read: true, write: true, create: true });
        scm.truncateSync(size);
        scm.close();
        const label = Deno.openSync(paths.label, { read: true, write: true, create: true });
        label.truncateSync(g.metadataSize);
        label.close();
        Deno.writeFileSync(paths.mark, markPage(clearRecord()));
        // Last: a device exists once its facts do.
        writeFacts(paths.facts, facts);
      } catch (error) {
        throw new StorageError(`${base}.*: cannot be created: ${reason(error)}`);
      }
    } else {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch (error) {
        throw new StorageError(
          `${paths.facts}: is not valid JSON (${reason(error)}); it is corrupt or truncated: ` +
            `restore it or start on another directory`,
        );
      }
      const problem = factsProblem(parsed) ??
        (Number.isSafeInteger((parsed as StoredFacts).epoch) &&
            (parsed as StoredFacts).epoch > 0 && (parsed as StoredFacts).epoch < 2 ** 32
          ? undefined
          : `field epoch is ${
            JSON.stringify((parsed as StoredFacts).epoch)
          }; expected an integer from 1`);
      if (problem) throw new StorageError(`${paths.facts}: ${problem}`);
      facts = parsed as StoredFacts;
      const mismatch = geometryMismatch(facts, g);
      if (mismatch) throw new StorageError(`${paths.facts}: ${mismatch}`);
      // The mark's size and shape are checked when it is read (judgeMark).
      const sizes = [[paths.scm, size], [paths.label, g.metadataSize], [paths.mark, null]] as const;
      for (const [path, want] of sizes) {
        let length: number;
        try {
          length = Deno.statSync(path).size;
        } catch (error) {
          throw new StorageError(`${path}: missing beside ${paths.facts}: ${reason(error)}`);
        }
        if (want !== null && length !== want) {
          throw new StorageError(
            `${path}: is ${length} bytes, expected ${want}; it is truncated or not this ` +
              `device's: restore it or start on another directory`,
          );
        }
      }
    }
    const opened: Deno.FsFile[] = [];
    try {
      const open = (path: string) => {
        const file = Deno.openSync(path, { read: true, write: true });
        opened.push(file);
        return file;
      };
      const scm = open(paths.scm), label = open(paths.label), mark = open(paths.mark);
      const unflushed = judgeMark(
        paths.mark,
        mark,
        scm,
        Math.floor(size / LINE_BYTES),
        facts.epoch,
      );
      facts = { ...facts, unflushed };
      return new FileDrc(paths, { scm, label, mark }, size, facts);
    } catch (error) {
      for (const file of opened) file.close();
      if (error instanceof StorageError) throw error;
      throw new StorageError(`${base}.*: cannot be opened: ${reason(error)}`);
    }
  }
}

/**
 * Whether the mark says data of this epoch was lost; it counts only when it
 * names this epoch (an older one was already counted). A flush intent is
 * judged by the SCM file: every listed line there means nothing was lost,
 * and the mark is cleared. A mark in the older 4-byte format is rewritten as
 * a page (one write that extends the file). A file that is no mark is a
 * StorageError naming it.
 */
function judgeMark(
  path: string,
  mark: Deno.FsFile,
  scm: Deno.FsFile,
  deviceLines: number,
  epoch: number,
): boolean {
  const length = mark.statSync().size;
  const found = markSizeProblem(length) ?? parseMark(readAt(mark, 0, length), deviceLines);
  if (typeof found === "string") {
    throw new StorageError(
      `${path}: ${found}; it is not an unflushed mark: restore it or start on another directory`,
    );
  }
  let lost = found.kind !== "clear" && found.epoch === epoch;
  if (lost && found.kind === "intent") {
    lost = found.lines.some(({ line, bytes }) => {
      const media = readAt(scm, line * LINE_BYTES, LINE_BYTES);
      return media.some((value, i) => value !== bytes[i]);
    });
  }
  if (length !== MARK_BYTES) {
    writeAt(mark, 0, markPage(lost ? markRecord(epoch) : clearRecord()));
  } else if (!lost && found.kind !== "clear") writeAt(mark, 0, clearRecord());
  return lost;
}
