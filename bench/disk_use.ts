/**
 * Disk use of durable state (`deno task bench:disk`): a 16 GiB nvdimm (64
 * blocks of 256 MiB) with 1 MiB written and flushed, in a fresh directory;
 * prints the file's size and the space it takes (`du`: its blocks).
 * @module
 */
import { ManagedSystem } from "../actors/managed_system.ts";

const dir = Deno.makeTempDirSync({ prefix: "disk-use-" });
try {
  const system = await ManagedSystem.start({
    storage: { dir },
    lpars: [{
      name: "lpar1",
      kernel: "mainline",
      nvdimms: [{ drc: "0x44100002", blocks: 64, blockSize: 256 << 20 }],
    }],
  }, { runtime: "sim" });
  const lpar = system.lpars[0];
  await lpar.boot();
  await lpar.write("region0", 5 << 30, new Uint8Array(1 << 20).fill(0xA5));
  await lpar.flush("region0");
  await system.stop();
  for (const entry of Deno.readDirSync(dir)) {
    const info = Deno.statSync(`${dir}/${entry.name}`);
    const used = (info.blocks ?? 0) * 512;
    console.log(
      `${entry.name.padEnd(20)} size ${String(info.size).padStart(12)} bytes, ` +
        `on disk ${String(used).padStart(8)} bytes (${(used / 1024 ** 2).toFixed(2)} MiB)`,
    );
  }
} finally {
  Deno.removeSync(dir, { recursive: true });
}
