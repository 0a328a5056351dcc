/**
 * Baseline for the relay on PostgreSQL: the least a durable JSON endpoint on PostgreSQL can do, one
 * INSERT (and so one commit) per request, no checks. `baseline-insert.ts URL` on Bun.serve.
 */
import postgres from "postgres";

const sql = postgres(process.argv[2], { max: 10, onnotice: () => {} });
await sql`CREATE TABLE IF NOT EXISTS baseline_messages (id uuid PRIMARY KEY, body text NOT NULL)`;

const server = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  async fetch(request) {
    if (request.method !== "POST") return Response.json({ status: "ok" });
    const body = await request.text();
    const id = crypto.randomUUID();
    await sql`INSERT INTO baseline_messages (id, body) VALUES (${id}, ${body})`;
    return Response.json({ status: "ok", deposit_id: id });
  },
});
console.log(`Baseline server listening on 127.0.0.1:${server.port}`);
