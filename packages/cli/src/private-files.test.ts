/**
 * Private directories and files: made 0700/0600, refused when other users may read them, when
 * another user owns them or when they are symbolic links; created once under a race.
 */
import { chmodSync, chownSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  createPrivateFileOnce,
  preparePrivateDirectory,
  readPrivateFile,
  writePrivateFile,
} from './private-files';

describe('private files', () => {
  const root = mkdtempSync(join(tmpdir(), 'capsule-private-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const mode = (path: string) => statSync(path).mode & 0o777;

  it('makes a data dir (and missing parents) 0700 and files 0600, whatever the umask', () => {
    const previous = process.umask(0o000);
    try {
      const dir = join(root, 'a', 'b');
      preparePrivateDirectory(dir);
      expect(mode(dir)).toBe(0o700);
      expect(mode(join(root, 'a'))).toBe(0o700);
      writePrivateFile(join(dir, 'f'), 'one');
      expect(mode(join(dir, 'f'))).toBe(0o600);
      writePrivateFile(join(dir, 'f'), 'two');
      expect(readPrivateFile(join(dir, 'f'))).toBe('two');
      expect(createPrivateFileOnce(join(dir, 'g'), 'first')).toBe('first');
      expect(createPrivateFileOnce(join(dir, 'g'), 'second')).toBe('first');
      expect(mode(join(dir, 'g'))).toBe(0o600);
      expect(readPrivateFile(join(dir, 'missing'))).toBeUndefined();
    } finally {
      process.umask(previous);
    }
  });

  it('refuses a data dir or file that group or others may read, with the chmod that fixes it', () => {
    const dir = join(root, 'open');
    preparePrivateDirectory(dir);
    for (const bits of [0o750, 0o705, 0o755, 0o701, 0o710, 0o777]) {
      chmodSync(dir, bits);
      expect(() => preparePrivateDirectory(dir)).toThrow(/CLI_INSECURE_PERMISSIONS|chmod 700/);
      try {
        preparePrivateDirectory(dir);
      } catch (error) {
        expect((error as { code: string }).code).toBe('CLI_INSECURE_PERMISSIONS');
        expect((error as Error).message).toContain(`chmod 700 ${dir}`);
      }
    }
    chmodSync(dir, 0o700);
    const file = join(dir, 'key.pem');
    writePrivateFile(file, 'secret');
    for (const bits of [0o640, 0o604, 0o644, 0o660, 0o606, 0o666]) {
      chmodSync(file, bits);
      expect(() => readPrivateFile(file)).toThrow(
        expect.objectContaining({ code: 'CLI_INSECURE_PERMISSIONS' }),
      );
      expect(() => createPrivateFileOnce(file, 'other')).toThrow(
        expect.objectContaining({ code: 'CLI_INSECURE_PERMISSIONS' }),
      );
    }
    chmodSync(file, 0o400);
    expect(readPrivateFile(file)).toBe('secret');
  });

  it('refuses symbolic links, non-files and another user’s files', () => {
    const dir = join(root, 'links');
    preparePrivateDirectory(dir);
    const target = join(dir, 'target');
    writePrivateFile(target, 'x');
    symlinkSync(target, join(dir, 'link'));
    expect(() => readPrivateFile(join(dir, 'link'))).toThrow(
      expect.objectContaining({ code: 'CLI_BAD_FILE' }),
    );
    symlinkSync(dir, join(root, 'dir-link'));
    expect(() => preparePrivateDirectory(join(root, 'dir-link'))).toThrow(
      expect.objectContaining({ code: 'CLI_BAD_FILE' }),
    );
    expect(() => readPrivateFile(dir)).toThrow(expect.objectContaining({ code: 'CLI_BAD_FILE' }));
    writeFileSync(join(root, 'plain'), 'x');
    expect(() => preparePrivateDirectory(join(root, 'plain'))).toThrow(
      expect.objectContaining({ code: 'CLI_BAD_FILE' }),
    );
    if (process.getuid?.() === 0) {
      chownSync(target, 65534, 65534);
      expect(() => readPrivateFile(target)).toThrow(/belongs to user 65534/);
      const foreign = join(root, 'foreign');
      preparePrivateDirectory(foreign);
      chownSync(foreign, 65534, 65534);
      expect(() => preparePrivateDirectory(foreign)).toThrow(
        expect.objectContaining({ code: 'CLI_INSECURE_PERMISSIONS' }),
      );
    }
  });

  it("a second creator of the file reads the first one's content", async () => {
    const dir = join(root, 'race');
    preparePrivateDirectory(dir);
    const path = join(dir, 'once');
    const results = await Promise.all(
      Array.from({ length: 16 }, (_, i) =>
        Promise.resolve().then(() => createPrivateFileOnce(path, `writer ${i}`)),
      ),
    );
    expect(new Set(results).size).toBe(1);
    expect(readPrivateFile(path)).toBe(results[0]);
  });
});
