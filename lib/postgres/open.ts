/** Opening the relay's state on PostgreSQL: the store (schema created or migrated), the relay key check, the shared state. */
import type { Logger } from "../log.ts";
import type { SharedState } from "../shared-state.ts";
import { openPostgresStore, type PostgresMessageStore, type PostgresStoreOptions } from "./message-store.ts";
import { agreeOnRelayKey } from "./relay-key.ts";

export { RelayKeyMismatch } from "./relay-key.ts";
export { isLoginRefused } from "./engine.ts";
import { postgresState } from "./shared-state.ts";

/**
 * Opens the store at `options.url` and checks that this relay serves the key the others on the
 * database serve (RelayKeyMismatch otherwise, the store closed again).
 */
export async function openPostgres(options: PostgresStoreOptions & { log: Logger }, relayPubkey: string): Promise<{ store: PostgresMessageStore; shared: SharedState }> {
  const store = await openPostgresStore(options);
  try {
    await agreeOnRelayKey(store.engine, relayPubkey);
  } catch (error) {
    await store.close();
    throw error;
  }
  return { store, shared: postgresState(store.engine) };
}
