import type { ServerEvent } from '@app/protocol';

/** Concatenates the decoded audio of streamed chunk events, checking their indices run 1..n. */
export function joinAudioChunks(events: ServerEvent[]): Buffer {
  const chunks = events.filter((e) => e.type === 'assistant.audio.chunk');
  chunks.forEach((chunk, i) => {
    if (chunk.chunk_index !== i + 1) throw new Error(`chunk_index ${chunk.chunk_index} at position ${i + 1}`);
  });
  return Buffer.concat(chunks.map((chunk) => Buffer.from(chunk.audio, 'base64')));
}
