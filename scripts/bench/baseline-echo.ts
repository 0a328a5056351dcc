/**
 * Baselines: the least a JSON endpoint can do on Bun.serve: read a JSON body, answer JSON.
 * `baseline-echo.ts FILE` is the least a durable one can do: also append each body to FILE with group
 * commit (one write + one fdatasync per batch) and answer once its batch is on disk. No checks, no
 * index: the ceiling for any server that acknowledges only what is on disk.
 */
import { open } from "node:fs/promises";

const file = process.argv[2] ? await open(process.argv[2], "a") : null;
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

const server = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  async fetch(request) {
    if (request.method !== "POST") return Response.json({ status: "ok" });
    const body = await request.json() as Record<string, unknown>;
    const id = crypto.randomUUID();
    if (file) {
      await new Promise<void>((resolve) => {
        pending.push({ line: `${JSON.stringify({ id, body })}\n`, resolve });
        if (!committing) void commit(file);
      });
    }
    return Response.json({ status: typeof body === "object" ? "ok" : "error", deposit_id: id });
  },
});
console.log(`Baseline server listening on 127.0.0.1:${server.port}`);
