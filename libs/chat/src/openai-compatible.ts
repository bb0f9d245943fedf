import { chatStreamFormat, readChatStream, type ChatStreamPiece } from './chat-stream.js';

/** Minimal client for an OpenAI-compatible `POST {base_url}/chat/completions`. */

export interface ChatTurn {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface CompletionRequest {
  baseUrl: string;
  apiKey?: string;
  model: string;
  messages: ChatTurn[];
  timeoutMs: number;
  signal?: AbortSignal;
  /** The HTTP client to use (default: global fetch); the voice layer passes an SSRF-guarded one for client-chosen URLs. */
  fetchImpl?: (url: string, init: { method: string; redirect?: 'error'; signal: AbortSignal; headers: Record<string, string>; body: string }) => Promise<Response>;
}

export class CompletionError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'CompletionError';
  }
}

/** POSTs `/chat/completions` (the whole call bounded by `timeoutMs`); a non-2xx answer throws with its status only. */
async function postCompletion(request: CompletionRequest, stream: boolean): Promise<Response> {
  const url = `${request.baseUrl.replace(/\/+$/, '')}/chat/completions`;
  const signals = [AbortSignal.timeout(request.timeoutMs), ...(request.signal ? [request.signal] : [])];
  const response = await (request.fetchImpl ?? fetch)(url, {
    method: 'POST',
    redirect: 'error',
    signal: AbortSignal.any(signals),
    headers: {
      'content-type': 'application/json',
      ...(stream ? { accept: 'text/event-stream, application/json;q=0.9' } : {}),
      ...(request.apiKey ? { authorization: `Bearer ${request.apiKey}` } : {}),
    },
    body: JSON.stringify({ model: request.model, messages: request.messages, ...(stream ? { stream: true } : {}) }),
  });
  if (!response.ok) {
    await response.body?.cancel();
    // The upstream body may echo request details; keep only the status.
    throw new CompletionError(`LLM provider answered HTTP ${response.status}`, response.status);
  }
  return response;
}

/** The reply text of a whole (non-streamed) completion body. */
function completionContent(body: { choices?: Array<{ message?: { content?: unknown } }> }): string {
  const content = body.choices?.[0]?.message?.content;
  if (typeof content !== 'string') throw new CompletionError('LLM provider answered without message content');
  return content;
}

export async function createChatCompletion(request: CompletionRequest): Promise<{ text: string; model: string; usage?: unknown }> {
  const response = await postCompletion(request, false);
  const body = (await response.json()) as { model?: string; usage?: unknown; choices?: Array<{ message?: { content?: unknown } }> };
  return { text: completionContent(body), model: body.model ?? request.model, usage: body.usage };
}

/**
 * The same call with `stream: true`: yields the reply's deltas as the provider writes them (SSE
 * `chat.completion.chunk`s), then `{metadata: {model}}`. A provider that answers JSON anyway gives
 * one delta. `timeoutMs` bounds the whole call.
 */
export async function* streamChatCompletion(request: CompletionRequest): AsyncGenerator<ChatStreamPiece> {
  const response = await postCompletion(request, true);
  if (chatStreamFormat(response.headers.get('content-type') ?? undefined) !== 'sse' || !response.body) {
    const body = (await response.json()) as { model?: string; choices?: Array<{ message?: { content?: unknown } }> };
    yield { delta: completionContent(body) };
    yield { metadata: { model: body.model ?? request.model } };
    return;
  }
  let model: string | undefined;
  // The SSE reader only sees bytes; a chunk's `model` is read here from the raw events' JSON.
  for await (const piece of readChatStream(tap(response.body, (m) => (model ??= m)), 'sse')) {
    if (piece.delta) yield { delta: piece.delta };
  }
  yield { metadata: { model: model ?? request.model } };
}

/** Passes bytes through, noting the first `"model":"..."` seen. */
async function* tap(body: AsyncIterable<Uint8Array>, onModel: (model: string) => void): AsyncGenerator<Uint8Array> {
  const decoder = new TextDecoder();
  let seen = false;
  for await (const chunk of body) {
    if (!seen) {
      const match = /"model"\s*:\s*"([^"\\]{1,200})"/.exec(decoder.decode(chunk, { stream: true }));
      if (match?.[1]) {
        seen = true;
        onModel(match[1]);
      }
    }
    yield chunk;
  }
}
