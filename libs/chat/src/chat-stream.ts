import { createParser, type EventSourceMessage } from 'eventsource-parser';
import type { ChatReply } from './chat-contract.js';

/**
 * Streamed chat replies (optional part of the chat backend contract, see README.md). A backend may
 * answer `/v1/chat` with `text/event-stream` (SSE) or `application/x-ndjson`; each event (line) is one
 * JSON object: `{"delta": "text"}`, `{"metadata": {...}}` (with a delta or alone), `{"error":
 * {"message": "..."}}`, or an OpenAI `chat.completion.chunk` (`choices[0].delta.content`). SSE
 * `data: [DONE]`, or the end of the body, ends the reply.
 */

/** One piece of a streamed reply. */
export interface ChatStreamPiece {
  delta?: string;
  metadata?: Record<string, unknown>;
}

/** A reply still being written: its pieces in order; iterating throws when the stream fails. */
export interface ChatReplyStream {
  streaming: true;
  pieces: AsyncIterable<ChatStreamPiece>;
}

/** What a chat call answers: a whole reply (JSON) or a stream. */
export type ChatAnswer = ChatReply | ChatReplyStream;

export function isReplyStream(answer: ChatAnswer): answer is ChatReplyStream {
  return (answer as Partial<ChatReplyStream>).streaming === true;
}

export type ChatStreamErrorCode = 'malformed' | 'backend_error' | 'too_large';

/** A stream that cannot go on: malformed data, the backend's own error event, or an oversized event. */
export class ChatStreamError extends Error {
  constructor(
    readonly code: ChatStreamErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ChatStreamError';
  }
}

/** Longest SSE event or NDJSON line accepted (characters). */
export const MAX_STREAM_EVENT_CHARS = 256 * 1024;
/** Longest backend error message passed on to clients. */
const MAX_ERROR_MESSAGE_CHARS = 300;

export type ChatStreamFormat = 'sse' | 'ndjson';

/** The stream format a response `Content-Type` names, or undefined for anything else (JSON). */
export function chatStreamFormat(contentType: string | undefined): ChatStreamFormat | undefined {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === 'text/event-stream') return 'sse';
  if (type === 'application/x-ndjson' || type === 'application/jsonl' || type === 'application/jsonlines') return 'ndjson';
  return undefined;
}

/** Reads a streamed reply body (bytes) as pieces; ends at `[DONE]` or the end of the body. */
export async function* readChatStream(body: AsyncIterable<Uint8Array | string>, format: ChatStreamFormat): AsyncGenerator<ChatStreamPiece> {
  const decoder = new TextDecoder();
  const ready: Array<ChatStreamPiece | 'done'> = [];
  let failure: Error | undefined;
  const take = (data: string) => {
    if (failure) return;
    try {
      const piece = parseStreamData(data);
      if (piece) ready.push(piece);
    } catch (error) {
      failure = error as Error;
    }
  };
  let feed: (text: string) => void;
  let flush: () => void;
  if (format === 'sse') {
    const parser = createParser({
      maxBufferSize: MAX_STREAM_EVENT_CHARS,
      onEvent: (event: EventSourceMessage) => take(event.data),
      onError: (error) => {
        if (error.type === 'max-buffer-size-exceeded') failure ??= new ChatStreamError('too_large', `a streamed event is longer than ${MAX_STREAM_EVENT_CHARS} characters`);
      },
    });
    feed = (text) => parser.feed(text);
    flush = () => parser.feed('\n\n');
  } else {
    let line = '';
    feed = (text) => {
      const parts = `${line}${text}`.split('\n');
      line = parts.pop()!;
      for (const part of parts) if (part.trim()) take(part);
      if (line.length > MAX_STREAM_EVENT_CHARS) failure ??= new ChatStreamError('too_large', `a streamed line is longer than ${MAX_STREAM_EVENT_CHARS} characters`);
    };
    flush = () => {
      if (line.trim()) take(line);
      line = '';
    };
  }
  const drain = function* (): Generator<ChatStreamPiece, boolean> {
    for (let next = ready.shift(); next !== undefined; next = ready.shift()) {
      if (next === 'done') return true;
      yield next;
    }
    if (failure) throw failure;
    return false;
  };
  for await (const chunk of body) {
    feed(typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true }));
    if (yield* drain()) return;
  }
  feed(decoder.decode());
  flush();
  yield* drain();

  /** One event's data: a piece, nothing (ignorable), or 'done'. */
  function parseStreamData(data: string): ChatStreamPiece | 'done' | undefined {
    const trimmed = data.trim();
    if (trimmed === '[DONE]') return 'done';
    if (!trimmed) return undefined;
    let value: unknown;
    try {
      value = JSON.parse(trimmed);
    } catch {
      throw new ChatStreamError('malformed', 'a streamed event is not valid JSON');
    }
    return streamPiece(value);
  }
}

/** Interprets one streamed JSON object. Objects without a known field are ignored. */
export function streamPiece(value: unknown): ChatStreamPiece | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ChatStreamError('malformed', 'a streamed event is not a JSON object');
  const record = value as Record<string, unknown>;
  if ('error' in record && record['error'] !== null && record['error'] !== undefined) {
    const error = record['error'];
    const raw = typeof error === 'string' ? error : (error as { message?: unknown }).message;
    const message = typeof raw === 'string' && raw.trim() ? raw.trim().slice(0, MAX_ERROR_MESSAGE_CHARS) : 'the backend reported an error without a message';
    throw new ChatStreamError('backend_error', message);
  }
  const piece: ChatStreamPiece = {};
  const delta = record['delta'];
  if (typeof delta === 'string') piece.delta = delta;
  else if (delta !== undefined && delta !== null) throw new ChatStreamError('malformed', '`delta` in a streamed event is not a string');
  const choices = record['choices'];
  if (Array.isArray(choices)) {
    const content = (choices[0] as { delta?: { content?: unknown } } | undefined)?.delta?.content;
    if (typeof content === 'string') piece.delta = (piece.delta ?? '') + content;
  }
  const metadata = record['metadata'];
  if (typeof metadata === 'object' && metadata !== null && !Array.isArray(metadata)) piece.metadata = metadata as Record<string, unknown>;
  return piece.delta !== undefined || piece.metadata ? piece : undefined;
}
