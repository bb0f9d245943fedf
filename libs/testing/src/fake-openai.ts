import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedCompletion {
  authorization?: string;
  body: { model: string; messages: Array<{ role: string; content: string }>; stream?: boolean };
}

/**
 * An OpenAI-compatible `/v1/chat/completions` endpoint on loopback that answers
 * `The model heard: <last user message>` and records each request. With `stream: true` it answers
 * SSE `chat.completion.chunk`s, one per word (`streamDelayMs` apart), then `data: [DONE]`.
 */
export class FakeOpenAi {
  private constructor(
    private readonly server: Server,
    readonly baseUrl: string,
    /** Every request received, in order. */
    readonly requests: RecordedCompletion[],
  ) {}

  /** Pause between streamed chunks. */
  static streamDelayMs = 5;

  static async start(): Promise<FakeOpenAi> {
    const requests: RecordedCompletion[] = [];
    const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
      if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
        res.writeHead(404).end();
        return;
      }
      const body = JSON.parse(await readBody(req)) as RecordedCompletion['body'];
      requests.push({ authorization: req.headers.authorization, body });
      const last = [...body.messages].reverse().find((m) => m.role === 'user')?.content ?? '';
      if (body.stream) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        const chunk = (delta: Record<string, string>, finish: string | null = null) =>
          `data: ${JSON.stringify({ id: 'chatcmpl-fake', object: 'chat.completion.chunk', model: body.model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
        res.write(chunk({ role: 'assistant', content: '' }));
        for (const word of `The model heard: ${last}`.split(/(?<= )/)) {
          await new Promise((resolve) => setTimeout(resolve, FakeOpenAi.streamDelayMs));
          if (res.destroyed) return;
          res.write(chunk({ content: word }));
        }
        res.write(chunk({}, 'stop'));
        res.end('data: [DONE]\n\n');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ model: body.model, choices: [{ message: { role: 'assistant', content: `The model heard: ${last}` } }], usage: { total_tokens: 7 } }));
    };
    const server = createServer((req, res) => {
      handle(req, res).catch(() => res.writeHead(500).end());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    return new FakeOpenAi(server, `http://127.0.0.1:${port}/v1`, requests);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

async function readBody(req: IncomingMessage): Promise<string> {
  const parts: Buffer[] = [];
  for await (const part of req) parts.push(part as Buffer);
  return Buffer.concat(parts).toString('utf8');
}
