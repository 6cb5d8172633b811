import { access, constants, stat } from 'node:fs/promises';
import { describeError, isAgentError } from '../util/errors.js';
import { SvcBinaryMissing } from './errors.js';

/** Throws EA_SVC_BINARY_MISSING unless `path` is an executable regular file. */
export async function checkBinary(path: string): Promise<void> {
  try {
    const st = await stat(path);
    if (!st.isFile()) throw SvcBinaryMissing(path, 'not a regular file');
    await access(path, constants.X_OK);
  } catch (err) {
    if (isAgentError(err)) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw SvcBinaryMissing(path, code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'not executable' : describeError(err));
  }
}
