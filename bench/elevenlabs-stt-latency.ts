/**
 * The gateway's added latency on the ElevenLabs realtime STT path: time from the emulator sending a
 * `partial_transcript` to the client receiving the matching `transcript.partial` (median, p99), at
 * 1, 50 and 200 concurrent sessions streaming 16 kHz PCM in real time (100 ms chunks).
 *
 * The emulator runs in this process with its `echo` transcriber (a partial per audio chunk, no
 * recogniser), so PocketSphinx is not the bottleneck and every latency is the gateway's own work
 * plus two loopback hops; the service runs as its own process. Both read the same wall clock
 * (performance.timeOrigin + now()).
 *   node dist/bench/elevenlabs-stt-latency.js [seconds=5] [levels=1,50,200]
 */
import { startElevenLabsEmulator } from '@apps/elevenlabs-emulator';
import { silence, streamAudio, VoiceTestClient } from '@app/testing';
import { startService, summarize } from './lib.js';

const seconds = Number(process.argv[2] ?? 5);
const levels = (process.argv[3] ?? '1,50,200').split(',').map(Number);

const emitted = new Map<string, number>();
const emulator = await startElevenLabsEmulator({
  transcriber: 'echo',
  onSttEmit: (message, at) => {
    if (message.message_type === 'partial_transcript') emitted.set(String(message.text), at);
  },
});
const service = await startService({ ELEVENLABS_API_KEY: 'bench', ELEVENLABS_BASE_URL: emulator.baseUrl, STT_WORKERS: '1', TTS_WORKERS: '1' });

async function session(delays: number[]): Promise<VoiceTestClient> {
  const client = await VoiceTestClient.connect(service.wsUrl);
  await client.expect('session.ready', { timeoutMs: 30_000 });
  client.send({ type: 'session.configure', stt: { provider: 'elevenlabs', commit_strategy: 'manual' } });
  await client.expect('session.configured', { timeoutMs: 30_000 });
  await client.expect('stt.session_started', { timeoutMs: 30_000 });
  client.socket.on('message', (data, isBinary) => {
    if (isBinary) return;
    const event = JSON.parse(data.toString()) as { type: string; text?: string };
    if (event.type !== 'transcript.partial') return;
    const at = performance.timeOrigin + performance.now();
    const sent = emitted.get(event.text ?? '');
    if (sent !== undefined) delays.push(at - sent);
  });
  return client;
}

try {
  for (const sessions of levels) {
    emitted.clear();
    const delays: number[] = [];
    const clients = await Promise.all(Array.from({ length: sessions }, () => session(delays)));
    await Promise.all(clients.map((client, i) => new Promise((r) => setTimeout(r, (i * 100) / sessions)).then(() => streamAudio(client, silence(seconds), { bytesPerSecond: 32000 }))));
    await new Promise((resolve) => setTimeout(resolve, 500));
    const stats = summarize(delays);
    const expected = sessions * seconds * 10;
    console.log(
      `${String(sessions).padStart(3)} sessions: emulator partial -> client transcript.partial median ${stats.median.toFixed(2)} ms, p99 ${stats.p99.toFixed(2)} ms, max ${stats.max.toFixed(2)} ms (${stats.n}/${expected} partials)`,
    );
    await Promise.all(clients.map((client) => client.close()));
  }
} finally {
  await service.stop();
  await emulator.close();
}
