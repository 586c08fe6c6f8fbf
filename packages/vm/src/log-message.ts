/**
 * What a program's LOG message says, for people: the SDK's `Services.log(int)` passes the int's 4
 * bytes (little-endian, as the machine stores it), so a 4-byte message is that int
 * (`Services.log(257)` → `257`, not the bytes `01 01 00 00`); another message is its text when it
 * is printable UTF-8, else its bytes in hex. Never throws.
 */

/** A decoded LOG message. */
export interface LogMessage {
  /** The message as printed: the int, the text, or `0x` and hex. */
  readonly text: string;
  /** The int of a 4-byte message (signed 32-bit). */
  readonly value?: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Decodes a LOG message (the bytes are read now, not kept). */
export function decodeLogMessage(bytes: Uint8Array): LogMessage {
  if (bytes.length === 4) {
    const value = bytes[0]! | (bytes[1]! << 8) | (bytes[2]! << 16) | (bytes[3]! << 24) | 0;
    return { text: String(value), value };
  }
  if (bytes.length > 0) {
    try {
      const text = utf8.decode(bytes);
      if (isPrintable(text)) return { text };
    } catch {
      // Not UTF-8: hex below.
    }
  }
  let hex = '0x';
  for (const byte of bytes) hex += byte.toString(16).padStart(2, '0');
  return { text: hex };
}

/** No control characters (C0 but tab, DEL, C1). */
function isPrintable(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if ((code < 0x20 && code !== 0x09) || (code >= 0x7f && code <= 0x9f)) return false;
  }
  return true;
}
