import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root (this file lives in `<root>/test/helpers/`). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The CLI entry point, `bin/kfk.js`. */
export const KFK_BIN = path.join(REPO_ROOT, 'bin', 'kfk.js');

/** Golden fixtures. */
export const FIXTURES_DIR = path.join(REPO_ROOT, 'test', 'fixtures');

/** The Debian Python, which is the only one that can import kafka-python and confluent-kafka. */
export const SYSTEM_PYTHON = '/usr/bin/python3';
