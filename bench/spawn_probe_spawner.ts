/**
 * A spawner for bench/spawn_probe.ts: creates bare workers when asked, hands
 * each one end of a new MessageChannel and the main thread the other, and
 * ends them all (one at a time, a macrotask apart) when asked.
 * @module
 */

/// <reference lib="deno.worker" />

const children: Worker[] = [];
const child = new URL("./spawn_probe_child.ts", import.meta.url);

self.onmessage = async (event: MessageEvent) => {
  const msg = event.data as { spawn?: number; end?: boolean };
  if (msg.spawn !== undefined) {
    let newWorkerMs = 0;
    for (let i = 0; i < msg.spawn; i++) {
      const t = performance.now();
      const worker = new Worker(child, { type: "module" });
      newWorkerMs += performance.now() - t;
      children.push(worker);
      const { port1, port2 } = new MessageChannel();
      worker.postMessage(null, [port1]);
      self.postMessage({ port: port2 }, [port2]);
      // A macrotask apart, so the ports go out as workers are made.
      await new Promise((r) => setTimeout(r, 0));
    }
    self.postMessage({ spawned: msg.spawn, newWorkerMs });
  } else if (msg.end) {
    const t = performance.now();
    for (let w; (w = children.pop());) {
      w.terminate();
      await new Promise((r) => setTimeout(r, 0));
    }
    self.postMessage({ ended: true, endMs: performance.now() - t });
  }
};
