/** `retrieve`: collect this key's mailbox, open each message, acknowledge what was shown. */
import { open, type Opened } from "./envelope.ts";
import { RelayClient } from "./http.ts";
import { loadIdentity } from "./identity.ts";
import { keyFingerprint } from "./keys.ts";
import { envelopeOf } from "./messages.ts";

const BATCH = 100;

/** Where retrieve reports: one line per opened message, and notes on the side (who signed it, what failed). */
export interface RetrieveOutput {
  message(line: string): void;
  note(line: string): void;
}

/**
 * Prints each message's inner plaintext, noting before it who signed it (or why it cannot be
 * opened), and resolves with how many could not be opened. Unless `keep`, collected messages are acknowledged, unopenable ones too
 * (a message this key cannot open now it never will), once the notes have given them as the relay did: sealed, for another tool.
 */
export async function retrieve(
  options: { url: string; privatePem: string; keep: boolean },
  output: RetrieveOutput,
): Promise<number> {
  const relay = new RelayClient(options.url);
  const identity = await loadIdentity(options.privatePem);
  const relayPem = await relay.pubkey();
  let failures = 0;
  let shown = 0;
  const show = async (payload: string, label: string) => {
    shown++;
    let opened: Opened;
    try {
      opened = await open(envelopeOf(payload), { privatePem: options.privatePem });
    } catch (error) {
      failures++;
      output.note(`! ${label} could not be opened: ${(error as Error).message}; as the relay gave it:`);
      return output.note(payload);
    }
    output.note(`${label}: ${signatureNote(opened)}`);
    output.message(opened.plaintext);
  };
  for (;;) {
    const batch = await relay.collect(await identity.prove(relayPem), BATCH);
    if (!batch) {
      // An original relay: /retrieve is all it has, and it deletes as it answers.
      if (options.keep) throw new Error("this relay has no /collect, so --keep cannot leave messages there");
      output.note("this relay has no /collect: retrieving with /retrieve, which deletes the messages as it answers");
      const payloads = await relay.retrieve(await identity.prove(relayPem));
      for (const [index, payload] of payloads.entries()) {
        try {
          await show(payload, `message ${index + 1}`);
        } catch (error) {
          // Deleted already: the last place left for what could not be written is the notes.
          output.note(`the relay deleted these messages as it answered: the ${payloads.length - index} not written follow, as the relay gave them`);
          payloads.slice(index).forEach((unwritten) => output.note(unwritten));
          throw error;
        }
      }
      break;
    }
    // A message is acknowledged only once its line is written: a failed write (a full disk) leaves the batch at the relay.
    let acknowledging = false;
    try {
      for (const message of batch.messages) await show(message.payload, `message ${message.deposit_id}`);
      acknowledging = !options.keep && batch.messages.length > 0;
      if (acknowledging) await relay.ack(await identity.prove(relayPem), batch.messages.map((m) => m.deposit_id));
    } catch (error) {
      const [these, them] = batch.messages.length === 1 ? ["this message", "it"] : [`these ${batch.messages.length} messages`, "them"];
      if (acknowledging) output.note(`the acknowledgement failed: unless it reached the relay, it gives ${these} again next time`);
      else if (!options.keep) output.note(`not acknowledged: the relay keeps ${these} and gives ${them} again next time`);
      throw error;
    }
    if (options.keep && batch.more) output.note(`more messages are waiting; --keep shows only the first ${BATCH}`);
    if (options.keep || !batch.more) break;
  }
  if (!shown) output.note(`no messages waiting for ${keyFingerprint(identity.publicPem)}`);
  return failures;
}

function signatureNote(opened: Opened): string {
  if (opened.signature === "verified") return `signed by ${keyFingerprint(opened.senderPem)}`;
  if (opened.signature === "unsigned") return "not signed";
  return "signed, but it names no sender key to check the signature with";
}
