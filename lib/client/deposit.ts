/** `deposit`: seal a text for a recipient and leave it at the relay. */
import { seal } from "./envelope.ts";
import { RelayClient } from "./http.ts";
import { loadIdentity } from "./identity.ts";
import { intercomMessage, speakMessage } from "./messages.ts";

/** What a deposit needs, already read from files and checked. */
export interface DepositOptions {
  url: string;
  /** The recipient's public key PEM, the exact text its fingerprint is computed over. */
  recipientPem: string;
  /** When given, the envelope is signed and the deposit carries a depositor proof. */
  senderPrivatePem?: string;
  ttl?: number;
  text: string;
}

/** Deposits `text` as a speak message; resolves with the relay's deposit id. */
export async function deposit(options: DepositOptions): Promise<string> {
  const relay = new RelayClient(options.url);
  const { recipientPem, senderPrivatePem } = options;
  const envelope = await seal(speakMessage(options.text), { recipientPem, senderPrivatePem });
  const request: Record<string, unknown> = { payload: intercomMessage(envelope, recipientPem), target_pubkey: recipientPem };
  if (options.ttl !== undefined) request.ttl = options.ttl;
  if (senderPrivatePem) {
    const identity = await loadIdentity(senderPrivatePem);
    const proof = await identity.prove(await relay.pubkey());
    request.depositor_pubkey = proof.pubkey;
    request.depositor_timestamp = proof.timestamp;
    request.depositor_signature = proof.signature;
  }
  return await relay.deposit(request);
}
