/**
 * Baseline: the least a durable JSON endpoint can do on Bun.serve: read a JSON body, append it to a
 * file with group commit (one write + one fdatasync per batch), answer JSON once the batch is on disk.
 * No checks, no index: the ceiling for any relay that acknowledges only what is on disk.
 */
import { open } from "node:fs/promises";

const file = await open(process.argv[2], "a");
let pending: { line: string; resolve(): void }[] = [];
let committing = false;

async function commit(): Promise<void> {
  committing = true;
  while (pending.length > 0) {
    const batch = pending;
    pending = [];
    await file.write(batch.map((item) => item.line).join(""));
    await file.datasync();
    for (const item of batch) item.resolve();
  }
  committing = false;
}

const server = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  async fetch(request) {
    if (request.method !== "POST") return Response.json({ status: "ok" });
    const body = await request.json() as Record<string, unknown>;
    const id = crypto.randomUUID();
    await new Promise<void>((resolve) => {
      pending.push({ line: `${JSON.stringify({ id, body })}\n`, resolve });
      if (!committing) void commit();
    });
    return Response.json({ status: "ok", deposit_id: id });
  },
});
console.log(`Baseline server listening on 127.0.0.1:${server.port}`);
