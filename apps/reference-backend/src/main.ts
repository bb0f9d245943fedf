import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { createReferenceBackend } from './index.js';

/**
 * Reference chat backend: `/v1/register` and `/v1/chat` with a deterministic local responder, or a
 * relay to an OpenAI-compatible API when a registration names one.
 * Env: REFERENCE_BACKEND_PORT (8100), REFERENCE_BACKEND_HOST (0.0.0.0), REFERENCE_BACKEND_API_KEY,
 * LOCAL_RESPONDER_STREAM_MS_PER_WORD (0: local replies whole; >0: streamed word by word at that pace).
 */
async function main(): Promise<void> {
  const port = Number(process.env['REFERENCE_BACKEND_PORT'] ?? 8100);
  const host = process.env['REFERENCE_BACKEND_HOST'] ?? '0.0.0.0';
  const app = await createReferenceBackend({
    apiKey: process.env['REFERENCE_BACKEND_API_KEY'] || undefined,
    localStreamMsPerWord: Number(process.env['LOCAL_RESPONDER_STREAM_MS_PER_WORD'] ?? 0) || 0,
  });
  await app.listen(port, host);
  Logger.log(`reference chat backend listening on ${await app.getUrl()}`, 'ReferenceBackend');
}

main().catch((error: unknown) => {
  console.error('reference backend failed to start:', error instanceof Error ? error.message : error);
  process.exit(1);
});
