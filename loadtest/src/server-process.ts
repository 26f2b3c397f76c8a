/** Starts `soundstorm serve` as a child process on a free port, for benchmarks that must own the server. */
import { spawn, type ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export interface ServerProcess {
  readonly port: number;
  readonly url: string;
  readonly child: ChildProcess;
  rssBytes(): Promise<number>;
  stop(): Promise<number | null>;
}

const BIN = resolve(dirname(fileURLToPath(import.meta.url)), "../../../bin/soundstorm.js");

export async function startServerProcess(env: Record<string, string> = {}, args: string[] = []): Promise<ServerProcess> {
  const child = spawn(process.execPath, [BIN, "serve", "--port", "0", "--host", "127.0.0.1", ...args], {
    stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, ...env },
  });
  let log = "";
  child.stderr!.on("data", (d) => { log += d; });
  let signal: NodeJS.Signals | null = null;
  const exited = new Promise<number | null>((res) => child.on("exit", (c, sig) => { signal = sig; res(c); }));
  let port = 0;
  for (let i = 0; i < 1200 && !port; i++) {
    await new Promise((r) => setTimeout(r, 50));
    if (child.exitCode !== null) throw new Error(`server exited: ${log}`);
    port = Number(/listening on [^:]+:(\d+)/.exec(log)?.[1] ?? 0);
  }
  if (!port) throw new Error(`server did not start: ${log}`);
  let stopping = false;
  // a server that dies under load must say why, not just stop answering
  // (kept in a file too: a bench's output is often discarded, and such deaths are rare)
  void exited.then((code) => {
    if (stopping) return;
    const file = join(tmpdir(), `soundstorm-server-died-${Date.now()}.log`);
    const head = `server exited unexpectedly (code ${code}, signal ${signal}) at ${new Date().toISOString()}`;
    try { writeFileSync(file, `${head}\n${log.slice(-200_000)}`); } catch { /* the message below still says why */ }
    process.stderr.write(`${head}; its log: ${file}\n${log.slice(-4000)}\n`);
  });
  const base = `http://127.0.0.1:${port}`;
  return {
    port, url: `ws://127.0.0.1:${port}/v1/stream`, child,
    async rssBytes() {
      const body = await (await fetch(`${base}/metrics`)).text();
      return Number(/^soundstorm_process_resident_memory_bytes (\S+)$/m.exec(body)?.[1] ?? NaN);
    },
    async stop() {
      stopping = true;
      child.kill("SIGTERM");
      return exited;
    },
  };
}
