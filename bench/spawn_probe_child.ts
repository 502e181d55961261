/**
 * A bare worker for bench/spawn_probe.ts: echoes on the port it is handed
 * (spawned by a spawner), or on its own scope (spawned by the main thread).
 * @module
 */

/// <reference lib="deno.worker" />

self.onmessage = (event: MessageEvent) => {
  const port = event.ports[0];
  if (port) {
    port.onmessage = (e: MessageEvent) => port.postMessage(e.data);
    port.postMessage("ready");
  } else self.postMessage(event.data);
};
