/**
 * The chat backend of bench/streaming-reply.ts, run as its own process: every reply is the same
 * 80-word, 4-sentence text, "generated" like an LLM would: nothing for 300 ms, then ~4-character
 * tokens at 40 tokens/s. Registration `stream` gets them as SSE deltas as they are generated;
 * `json` gets the whole reply as JSON once the last token is generated. GET /timings?session=S
 * returns when (Date.now()) the first sentence of the session's last reply was complete. Registration
 * `parrot` streams the request's message back at the same pace (bench/barge-in.ts).
 *   PORT=... node dist/bench/streaming-backend.js
 */
import { createServer } from 'node:http';

export const REPLY =
  'Sure, I can help you plan a relaxing weekend trip to the coast. ' +
  'The drive takes about two and a half hours, so leaving early on Saturday morning means you will arrive before lunch and miss most of the traffic. ' +
  'There is a family hotel near the harbour that costs $129.50 a night, including breakfast and free parking for guests. ' +
  'Pack a warm jacket, because the wind off the sea gets cold after sunset, even in the middle of summer.';
const FIRST_SENTENCE_CHARS = REPLY.indexOf('.') + 1;
const THINK_MS = 300;
const TOKENS_PER_SECOND = 40;
/** ~4 characters per token (OpenAI's rule of thumb). */
const TOKENS = REPLY.match(/.{1,4}/gs) ?? [];

const firstSentenceAt = new Map<string, number>();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const server = createServer((req, res) => {
  void (async () => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method === 'GET' && url.pathname === '/timings') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ firstSentenceAt: firstSentenceAt.get(url.searchParams.get('session') ?? '') ?? null }));
      return;
    }
    if (req.method !== 'POST' || url.pathname !== '/v1/chat') {
      res.writeHead(req.method === 'GET' ? 200 : 404).end();
      return;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { registration_id: string; session_id: string };
    // Registration `parrot` streams the request's own message back as the reply (the barge-in bench picks its replies).
    if (body.registration_id === 'parrot') {
      const { message: said } = body as { message?: unknown };
      const message = typeof said === 'string' ? said : '';
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (const token of message.match(/.{1,4}/gs) ?? []) {
        await sleep(1000 / TOKENS_PER_SECOND);
        if (res.destroyed) return;
        res.write(`data: ${JSON.stringify({ delta: token })}\n\n`);
      }
      res.end('data: [DONE]\n\n');
      return;
    }
    const streaming = body.registration_id === 'stream';
    const start = Date.now();
    await sleep(THINK_MS);
    if (streaming) res.writeHead(200, { 'content-type': 'text/event-stream' });
    let written = 0;
    for (const [i, token] of TOKENS.entries()) {
      // Paced against the start, so timer drift does not accumulate.
      const due = start + THINK_MS + ((i + 1) * 1000) / TOKENS_PER_SECOND;
      await sleep(Math.max(0, due - Date.now()));
      if (res.destroyed) return;
      if (streaming) res.write(`data: ${JSON.stringify({ delta: token })}\n\n`);
      written += token.length;
      if (written >= FIRST_SENTENCE_CHARS && !firstSentenceAt.has(`${body.session_id}#${start}`)) {
        firstSentenceAt.set(`${body.session_id}#${start}`, Date.now());
        firstSentenceAt.set(body.session_id, Date.now());
      }
    }
    if (streaming) res.end('data: [DONE]\n\n');
    else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ response: REPLY, metadata: {} }));
  })().catch(() => res.destroy());
});

if (process.argv[1]?.endsWith('streaming-backend.js')) {
  server.listen(Number(process.env['PORT'] ?? 8200), '127.0.0.1', () => console.log('streaming bench backend ready'));
}
