/** Opening the relay's state on PostgreSQL: the store (schema created or migrated), the relay key check, the shared state. */
import type { Logger } from "../log.ts";
import type { SharedState } from "../shared-state.ts";
import { unfinishedCopyFrom } from "./copy-marker.ts";
import { openPostgresStore, type PostgresMessageStore, type PostgresStoreOptions } from "./message-store.ts";
import { agreeOnRelayKey } from "./relay-key.ts";
import { missingRights } from "./role-rights.ts";

export { RelayKeyMismatch } from "./relay-key.ts";
import { postgresState } from "./shared-state.ts";

/**
 * Opens the store at `options.url` and checks that its role has the rights a relay needs (an Error
 * naming the missing ones otherwise), that no copy into it is unfinished (an Error saying so), and that
 * this relay serves the key the others on the database serve (RelayKeyMismatch otherwise); the store is
 * closed again when any fails.
 */
export async function openPostgres(options: PostgresStoreOptions & { log: Logger }, relayPubkey: string): Promise<{ store: PostgresMessageStore; shared: SharedState }> {
  const store = await openPostgresStore(options);
  try {
    const missing = await store.engine.run("rights", missingRights);
    if (missing.length) throw new Error(`the database role lacks ${missing.join(", ")}: grant what docs/scale-out.md lists`);
    // Before the key is recorded: a relay started on part of a copy would keep the copy from being run again.
    const copiedFrom = await unfinishedCopyFrom(store.engine);
    if (copiedFrom !== null) {
      throw new Error(
        `the database holds part of a copy from ${copiedFrom} that did not finish: run the copy again (it skips what is there), ` +
          "or DELETE FROM rendezvous_facts WHERE name = 'copy_unfinished' to serve only what it holds",
      );
    }
    await agreeOnRelayKey(store.engine, relayPubkey);
  } catch (error) {
    await store.close();
    throw error;
  }
  return { store, shared: postgresState(store.engine) };
}
