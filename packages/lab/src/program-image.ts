/**
 * From a microprogram source (examples/programs/*.java) to the controller's template image: the
 * SDK compiles it, and the image's DATA region (the @Data statics' initial values) becomes the
 * `data` bytes of the API's ProgramImage (code and data base64, entries name → offset).
 */
import type { ProgramImage as ApiProgramImage } from '@capsule/api';
import { compile, formatDiagnostic } from '@capsule/sdk';
import { LabError } from './errors';

/** Compiles `source` and returns the image in the form `POST /api/v1/templates` takes. */
export function compileTemplateImage(source: string, file = 'program.java'): ApiProgramImage {
  const result = compile(source);
  if (!result.image)
    throw new LabError(
      'LAB_BAD_USE_CASE',
      `${file} does not compile:\n${result.diagnostics.map((d) => formatDiagnostic(d, file)).join('\n')}`,
    );
  const image = result.image;
  const data = new Uint8Array(image.regions.dataBytes);
  for (const entry of image.data)
    if (entry.region === 'DATA' && entry.initial) data.set(Buffer.from(entry.initial, 'hex'), entry.offset);
  return {
    code: Buffer.from(image.code).toString('base64'),
    entries: Object.fromEntries(image.entries.map((entry) => [entry.name, entry.offset])),
    dataSize: image.regions.dataBytes,
    ...(data.length > 0 && { data: Buffer.from(data).toString('base64') }),
  };
}
