/** Baseline: the least a JSON endpoint can do on Bun.serve: read a JSON body, answer JSON. */
const server = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  async fetch(request) {
    if (request.method !== "POST") return Response.json({ status: "ok" });
    const body = await request.json() as Record<string, unknown>;
    return Response.json({ status: typeof body === "object" ? "ok" : "error", deposit_id: crypto.randomUUID() });
  },
});
console.log(`Baseline server listening on 127.0.0.1:${server.port}`);
