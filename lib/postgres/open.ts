/** Opening the relay's state on PostgreSQL: the store (schema created or migrated), the relay key check, the shared state. */
import type { Logger } from "../log.ts";
import type { SharedState } from "../shared-state.ts";
import { openPostgresStore, type PostgresMessageStore, type PostgresStoreOptions } from "./message-store.ts";
import { agreeOnRelayKey } from "./database-users.ts";
import { missingRights } from "./role-rights.ts";

export { ServingRefused } from "./database-users.ts";
import { postgresState } from "./shared-state.ts";

/**
 * Opens the store at `options.url` and checks that its role has the rights a relay needs (an Error
 * naming the missing ones otherwise), that no copy into it is unfinished and that this relay serves the
 * key the others on the database serve (ServingRefused otherwise); the store is closed again when any fails.
 */
export async function openPostgres(options: PostgresStoreOptions & { log: Logger }, relayPubkey: string): Promise<{ store: PostgresMessageStore; shared: SharedState }> {
  const store = await openPostgresStore(options);
  try {
    const missing = await store.engine.run("rights", missingRights);
    if (missing.length) throw new Error(`the database role lacks ${missing.join(", ")}: grant what docs/scale-out.md lists`);
    await agreeOnRelayKey(store.engine, relayPubkey);
  } catch (error) {
    await store.close();
    throw error;
  }
  return { store, shared: postgresState(store.engine) };
}
