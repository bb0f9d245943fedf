/**
 * Streaming replies vs JSON replies: text.prompt -> first assistant.audio.chunk for the same 80-word,
 * 4-sentence reply from a backend that thinks 300 ms then writes 40 tokens/s (bench/streaming-backend.ts,
 * its own process), answered as an SSE stream or as JSON once complete. The service runs as its own
 * process; this process is the load generator (and hosts the ElevenLabs emulator for `elevenlabs`).
 * Also: first audio chunk - the moment the backend finished writing the first sentence.
 * Goals: streaming/JSON median ratio <= 0.3; first audio within 300 ms of the first complete sentence.
 *   node dist/bench/streaming-reply.js [turns=20] [local|elevenlabs|both]
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startElevenLabsEmulator } from '@apps/elevenlabs-emulator';
import { VoiceTestClient } from '@app/testing';
import { formatMs, freePort, playedAll, startService, summarize } from './lib.js';

const turns = Number(process.argv[2] ?? 20);
const which = process.argv[3] ?? 'both';
const providers = which === 'both' ? (['local', 'elevenlabs'] as const) : ([which === 'elevenlabs' ? 'elevenlabs' : 'local'] as const);

const backendPort = await freePort();
const backendUrl = `http://127.0.0.1:${backendPort}`;
const backend = spawn(process.execPath, [fileURLToPath(new URL('./streaming-backend.js', import.meta.url))], {
  env: { PATH: process.env['PATH'] ?? '', PORT: String(backendPort) },
  stdio: ['ignore', 'pipe', 'inherit'],
});
await new Promise<void>((resolve) => backend.stdout.once('data', () => resolve()));

let failed = false;
try {
  for (const provider of providers) {
    const emulator = provider === 'elevenlabs' ? await startElevenLabsEmulator() : undefined;
    const service = await startService({
      BACKEND_BASE_URL: backendUrl,
      STT_WORKERS: '1', // speech input is not measured here; fewer workers boot faster
      ...(emulator ? { ELEVENLABS_API_KEY: 'bench', ELEVENLABS_BASE_URL: emulator.baseUrl } : {}),
    }, 120_000);
    try {
      const session = async (registration: 'json' | 'stream') => {
        const client = await VoiceTestClient.connect(service.wsUrl);
        await client.expect('session.ready');
        client.send({ type: 'session.configure', session_id: `bench-${provider}-${registration}`, backend: { registration_id: registration }, tts: { output_format: 'pcm_24000' } });
        await client.expect('session.configured');
        return client;
      };
      const clients = { json: await session('json'), stream: await session('stream') };
      const firstAudio = { json: [] as number[], stream: [] as number[] };
      const afterFirstSentence: number[] = [];
      for (let i = 0; i < turns + 2; i++) {
        for (const mode of ['stream', 'json'] as const) {
          const client = clients[mode];
          const started = performance.now();
          client.send({ type: 'text.prompt', text: 'plan my weekend' });
          await client.nextOf('assistant.audio.chunk', { timeoutMs: 30_000 });
          const first = performance.now();
          const firstWall = Date.now();
          const end = await client.nextOf('assistant.audio.end', { timeoutMs: 30_000 });
          client.send(playedAll(end.turn_id));
          if (i < 2) continue; // warm-up
          firstAudio[mode].push(first - started);
          if (mode === 'stream') {
            const timings = (await (await fetch(`${backendUrl}/timings?session=bench-${provider}-stream`)).json()) as { firstSentenceAt: number | null };
            if (timings.firstSentenceAt !== null) afterFirstSentence.push(firstWall - timings.firstSentenceAt);
          }
        }
      }
      await clients.json.close();
      await clients.stream.close();
      const stream = summarize(firstAudio.stream);
      const json = summarize(firstAudio.json);
      const after = summarize(afterFirstSentence);
      const ratio = stream.median / json.median;
      const ratioP95 = stream.p95 / json.p95;
      console.log(`\n${provider === 'elevenlabs' ? 'ElevenLabs provider against the emulator' : 'embedded flite TTS'}, pcm_24000, ${turns} turns each (after 2 warm-up)`);
      console.log(`  text.prompt -> first audio, streaming: ${formatMs(stream)}`);
      console.log(`  text.prompt -> first audio, JSON:      ${formatMs(json)}`);
      console.log(`  ratio streaming/JSON: median ${ratio.toFixed(2)}, p95 ${ratioP95.toFixed(2)}   (goal <= 0.30: ${ratio <= 0.3 ? 'met' : 'NOT met'})`);
      console.log(`  first complete sentence written -> first audio: ${formatMs(after)}   (goal <= 300 ms at p95: ${after.p95 <= 300 ? 'met' : 'NOT met'})`);
      if (ratio > 0.3 || after.p95 > 300) failed = true;
    } finally {
      await service.stop();
      await emulator?.close();
    }
  }
} finally {
  backend.kill('SIGTERM');
}
process.exitCode = failed ? 1 : 0;
