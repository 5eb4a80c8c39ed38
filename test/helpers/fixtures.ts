import fs from 'node:fs';
import path from 'node:path';
import { FIXTURES_DIR } from './paths.js';

export const FRAMES_DIR = path.join(FIXTURES_DIR, 'frames');

export interface FrameFixture {
  file: string;
  apiKey: number;
  apiName: string | null;
  apiVersion: number;
  correlationId: number;
  clientId: string | null;
  size: number;
  sha256: string;
  /** Which client produced it: 'kcat', 'kafka-python', 'kafkajs', 'platformatic', 'confluent-kafka'. */
  client: string;
  clientVersion: string;
}

interface Manifest {
  clients: Record<string, { version: string; files: Omit<FrameFixture, 'client' | 'clientVersion'>[] }>;
}

/** All captured golden request frames (see test/fixtures/frames/README.md). */
export function listFrameFixtures(): FrameFixture[] {
  const manifest = JSON.parse(fs.readFileSync(path.join(FRAMES_DIR, 'manifest.json'), 'utf8')) as Manifest;
  return Object.entries(manifest.clients).flatMap(([client, c]) =>
    c.files.map((f) => ({ ...f, client, clientVersion: c.version })),
  );
}

/** The exact bytes of a captured frame, size prefix included, e.g. `loadFrame('kcat-apiversions-v3.bin')`. */
export function loadFrame(file: string): Buffer {
  return fs.readFileSync(path.join(FRAMES_DIR, file));
}
