/**
 * Embedded speech input, measured against the built service running as its own process:
 *  - end of speech -> transcript.committed, beyond the configured silence window (median, p95)
 *  - end of speech -> first assistant audio chunk (median, p95)
 *  - partial cadence while speaking
 *  - real-time factor of the recogniser (worker CPU per second of audio, one stream, as fast as possible)
 *  - concurrent real-time sessions two cores sustain (commit latency stays under 1 s beyond the window)
 *   node dist/bench/voice-input.js [turns=12] [maxSessions=24]
 */
import { FliteSynthesizer } from '@app/engines';
import { silence, streamAudio, synthesizeSpeech, VoiceTestClient } from '@app/testing';
import { formatMs, startService, summarize } from './lib.js';

const turns = Number(process.argv[2] ?? 12);
const maxSessions = Number(process.argv[3] ?? 24);
const WINDOW_S = 0.8;
const LEAD_S = 0.3;

const flite = new FliteSynthesizer({ threads: 1 });
const speech = await synthesizeSpeech(flite, 'what is the weather like in paris today', 16000);
await flite.close();
const speechSeconds = speech.length / 32000;
const utterance = Buffer.concat([silence(LEAD_S), speech, silence(WINDOW_S + 1.2)]);
// flite pads its output with quiet samples: the end of speech is the last sample above -36 dBFS.
let lastLoud = 0;
for (let i = 0; i < speech.length / 2; i++) if (Math.abs(speech.readInt16LE(i * 2)) > 500) lastLoud = i;
const speechEndOffsetMs = (LEAD_S + lastLoud / 16000) * 1000;

const service = await startService({ STT_WORKERS: '2', TTS_WORKERS: '2' });

async function session(): Promise<VoiceTestClient> {
  const client = await VoiceTestClient.connect(service.wsUrl);
  await client.expect('session.ready');
  client.send({ type: 'session.configure', stt: { commit_strategy: 'vad', vad_silence_threshold_secs: WINDOW_S } });
  await client.expect('session.configured');
  await client.expect('stt.session_started');
  return client;
}

/** One spoken turn at real-time pace; times relative to when the last speech sample was sent. */
async function turn(client: VoiceTestClient): Promise<{ commitMs: number; firstAudioMs: number; partialGaps: number[] }> {
  const started = performance.now();
  const sending = streamAudio(client, utterance, { bytesPerSecond: 32000 });
  const partialTimes: number[] = [];
  let committedAt = 0;
  for (;;) {
    const event = await client.next({ timeoutMs: 20_000 });
    if (event.type === 'transcript.partial') partialTimes.push(performance.now());
    if (event.type === 'transcript.committed') committedAt = performance.now();
    if (event.type === 'assistant.audio.chunk') break;
  }
  const firstAudioAt = performance.now();
  await client.nextOf('assistant.audio.end', { timeoutMs: 20_000 });
  await sending;
  const speechEnd = started + speechEndOffsetMs;
  return {
    commitMs: committedAt - speechEnd - WINDOW_S * 1000,
    firstAudioMs: firstAudioAt - speechEnd - WINDOW_S * 1000,
    partialGaps: partialTimes.slice(1).map((t, i) => t - partialTimes[i]!),
  };
}

try {
  const client = await session();
  const commit: number[] = [];
  const firstAudio: number[] = [];
  const gaps: number[] = [];
  for (let i = 0; i < turns + 1; i++) {
    const result = await turn(client);
    if (i === 0) continue;
    commit.push(result.commitMs);
    firstAudio.push(result.firstAudioMs);
    gaps.push(...result.partialGaps);
  }
  console.log(`one session, ${turns} spoken turns (${speechSeconds.toFixed(2)} s of speech each), vad_silence_threshold_secs ${WINDOW_S}`);
  console.log(`end of speech -> transcript.committed, beyond the window: ${formatMs(summarize(commit))}`);
  console.log(`end of speech -> first assistant audio, beyond the window: ${formatMs(summarize(firstAudio))}`);
  console.log(`partial cadence (gap between transcript.partial events):  ${formatMs(summarize(gaps))}`);

  // Recogniser speed: push 20 s of speech as fast as possible, manual commit, time to the final.
  client.send({ type: 'text.prompt', text: 'x' });
  await client.nextOf('assistant.audio.end', { timeoutMs: 20_000 });
  const manual = await VoiceTestClient.connect(service.wsUrl);
  await manual.expect('session.ready');
  manual.send({ type: 'session.configure', stt: { commit_strategy: 'manual' } });
  await manual.nextOf('stt.session_started');
  const long = Buffer.concat(Array.from({ length: 8 }, () => speech));
  const t0 = performance.now();
  await streamAudio(manual, long, { bytesPerSecond: 32000, speed: 0, chunkMs: 1000 });
  manual.send({ type: 'audio.commit' });
  await manual.nextOf('transcript.committed', { timeoutMs: 60_000 });
  const elapsed = performance.now() - t0;
  console.log(`recogniser real-time factor, one stream: ${(elapsed / 1000 / (long.length / 32000)).toFixed(3)} (${(long.length / 32000).toFixed(1)} s of speech in ${(elapsed / 1000).toFixed(2)} s)`);
  await manual.close();
  await client.close();

  // Concurrency: N sessions speaking at once, staggered; sustained while p95 commit latency < 1 s beyond the window.
  let sustained = 0;
  for (let n = 2; n <= maxSessions; n += 2) {
    const clients = await Promise.all(Array.from({ length: n }, () => session()));
    const results = await Promise.all(
      clients.map(async (c, i) => {
        await new Promise((resolve) => setTimeout(resolve, (i * 1000) / n));
        return turn(c);
      }),
    );
    await Promise.all(clients.map((c) => c.close()));
    const stats = summarize(results.map((r) => r.commitMs));
    console.log(`${n} concurrent real-time sessions: commit beyond window ${formatMs(stats)}`);
    if (stats.p95 > 1000) break;
    sustained = n;
  }
  console.log(`concurrent real-time speaking sessions sustained on this machine: ${sustained} (p95 commit latency < 1 s beyond the window)`);
} finally {
  await service.stop();
}
