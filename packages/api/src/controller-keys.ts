/**
 * The controller keys a node trusts, from the registration or keep-alive answer: each key checked
 * (a raw Ed25519 key, its key id the one the key hashes to, a readable end of validity) before a
 * node uses it to verify certificates and authorizations. Never throws on input.
 */
import { importControllerPublicKey, type TrustedControllerKey } from '@capsule/identity';
import type { ControllerKeyInfo } from './schemas';

/** The outcome of `trustedControllerKeysOf`. */
export type TrustedControllerKeysResult =
  | { readonly ok: true; readonly keys: readonly TrustedControllerKey[] }
  | { readonly ok: false; readonly problem: string };

/**
 * The trusted keys of an answer: `controllerKeys` when given (a registration answer's must hold
 * `controllerPublicKey`, the key the controller signs with now; a keep-alive answer has no
 * `controllerPublicKey`), else `controllerPublicKey` alone (a controller before rotation existed).
 */
export function trustedControllerKeysOf(answer: {
  readonly controllerPublicKey?: string | undefined;
  readonly controllerKeys?: readonly ControllerKeyInfo[] | undefined;
}): TrustedControllerKeysResult {
  const current =
    answer.controllerPublicKey === undefined ? undefined : importRaw(answer.controllerPublicKey);
  if (answer.controllerPublicKey !== undefined && current === undefined)
    return { ok: false, problem: 'controllerPublicKey is not a raw Ed25519 key' };
  if (answer.controllerKeys === undefined)
    return current === undefined
      ? { ok: false, problem: 'no controller key given' }
      : { ok: true, keys: [current] };
  if (answer.controllerKeys.length === 0) return { ok: false, problem: 'controllerKeys is empty' };
  const keys: TrustedControllerKey[] = [];
  for (const [index, info] of answer.controllerKeys.entries()) {
    const key = importRaw(info.publicKey);
    if (key === undefined) return { ok: false, problem: `controllerKeys[${index}] is not a raw Ed25519 key` };
    if (key.keyId !== info.keyId)
      return {
        ok: false,
        problem: `controllerKeys[${index}] names key id ${info.keyId}, its key has ${key.keyId}`,
      };
    if (keys.some((other) => other.keyId === key.keyId))
      return { ok: false, problem: `controllerKeys[${index}]: key id ${key.keyId} twice` };
    let notAfter: number | undefined;
    if (info.notAfter !== null) {
      const ms = Date.parse(info.notAfter);
      if (!Number.isFinite(ms))
        return { ok: false, problem: `controllerKeys[${index}].notAfter is not a time` };
      notAfter = Math.floor(ms / 1000);
    }
    keys.push(notAfter === undefined ? key : { ...key, notAfter });
  }
  if (
    current !== undefined &&
    !keys.some((key) => key.keyId === current.keyId && key.publicKey.equals(current.publicKey))
  )
    return { ok: false, problem: 'controllerKeys does not hold controllerPublicKey' };
  return { ok: true, keys };
}

function importRaw(base64: string): TrustedControllerKey | undefined {
  const raw = Buffer.from(base64, 'base64');
  if (raw.length !== 32 || raw.toString('base64') !== base64) return undefined;
  try {
    return importControllerPublicKey(new Uint8Array(raw));
  } catch {
    return undefined;
  }
}
