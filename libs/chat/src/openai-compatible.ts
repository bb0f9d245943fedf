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

export async function createChatCompletion(request: CompletionRequest): Promise<{ text: string; model: string; usage?: unknown }> {
  const url = `${request.baseUrl.replace(/\/+$/, '')}/chat/completions`;
  const signals = [AbortSignal.timeout(request.timeoutMs), ...(request.signal ? [request.signal] : [])];
  const response = await (request.fetchImpl ?? fetch)(url, {
    method: 'POST',
    redirect: 'error',
    signal: AbortSignal.any(signals),
    headers: {
      'content-type': 'application/json',
      ...(request.apiKey ? { authorization: `Bearer ${request.apiKey}` } : {}),
    },
    body: JSON.stringify({ model: request.model, messages: request.messages }),
  });
  if (!response.ok) {
    // The upstream body may echo request details; keep only the status.
    throw new CompletionError(`LLM provider answered HTTP ${response.status}`, response.status);
  }
  const body = (await response.json()) as {
    model?: string;
    usage?: unknown;
    choices?: Array<{ message?: { content?: unknown } }>;
  };
  const content = body.choices?.[0]?.message?.content;
  if (typeof content !== 'string') throw new CompletionError('LLM provider answered without message content');
  return { text: content, model: body.model ?? request.model, usage: body.usage };
}
