/**
 * Baselines: the least a JSON endpoint can do: read a JSON body, answer JSON. `baseline-echo.ts FILE`
 * is the least a durable one can do: also append each body to FILE with group commit (one write + one
 * fdatasync per batch) and answer once its batch is on disk. No checks, no index: the ceiling for any
 * server that acknowledges only what is on disk.
 *
 * Under Bun it serves with Bun.serve. Under Deno it serves with node:http, as the relay's Deno adapter
 * does (lib/runtime/node-http.ts), or with Deno.serve when given `--deno-serve`: the two Deno figures
 * side by side are what node:http costs.
 */
import { open } from "node:fs/promises";
import { createServer } from "node:http";

const args = process.argv.slice(2);
const path = args.find((arg) => !arg.startsWith("--"));
const file = path ? await open(path, "a") : null;
let pending: { line: string; resolve(): void }[] = [];
let committing = false;

/** Writes and syncs batches until none is waiting. */
async function commit(durableFile: NonNullable<typeof file>): Promise<void> {
  committing = true;
  while (pending.length > 0) {
    const batch = pending;
    pending = [];
    await durableFile.write(batch.map((item) => item.line).join(""));
    await durableFile.datasync();
    for (const item of batch) item.resolve();
  }
  committing = false;
}

/** The answer to a parsed body, once it is on disk when there is a FILE. */
async function store(body: unknown): Promise<{ status: string; deposit_id: string }> {
  const id = crypto.randomUUID();
  if (file) {
    await new Promise<void>((resolve) => {
      pending.push({ line: `${JSON.stringify({ id, body })}\n`, resolve });
      if (!committing) void commit(file);
    });
  }
  return { status: typeof body === "object" ? "ok" : "error", deposit_id: id };
}

/** The web-standard handler (Bun.serve, Deno.serve). */
async function fetchHandler(request: Request): Promise<Response> {
  if (request.method !== "POST") return Response.json({ status: "ok" });
  return Response.json(await store(await request.json()));
}

const deno = (globalThis as { Deno?: { serve(options: object, handler: typeof fetchHandler): { addr: { port: number } } } }).Deno;
let port: number;
if (!deno) {
  port = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: fetchHandler }).port!;
} else if (args.includes("--deno-serve")) {
  port = deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, fetchHandler).addr.port;
} else {
  const server = createServer((incoming, outgoing) => {
    const chunks: Buffer[] = [];
    incoming.on("data", (chunk: Buffer) => chunks.push(chunk));
    incoming.on("end", async () => {
      const answer = incoming.method === "POST" ? await store(JSON.parse(Buffer.concat(chunks).toString())) : { status: "ok" };
      const text = JSON.stringify(answer);
      outgoing.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
      outgoing.end(text);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as { port: number }).port;
}
console.log(`Baseline server listening on 127.0.0.1:${port}`);
