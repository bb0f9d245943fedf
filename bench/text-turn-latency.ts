/**
 * text.prompt -> first assistant.audio.chunk latency on the embedded defaults (in-process chat
 * responder, flite TTS), against the built service running as its own process. With `elevenlabs`,
 * speech comes from the ElevenLabs provider talking to the emulator (same flite voice behind it), so
 * the difference is what the provider path (HTTP, SDK, streaming) adds.
 *   node dist/bench/text-turn-latency.js [turns=40] [local|elevenlabs]
 */
import { startElevenLabsEmulator } from '@apps/elevenlabs-emulator';
import { VoiceTestClient } from '@app/testing';
import { formatMs, playedAll, startService, summarize } from './lib.js';

const turns = Number(process.argv[2] ?? 40);
const provider = process.argv[3] === 'elevenlabs' ? 'elevenlabs' : 'local';
const prompts = ['hello', 'what is the weather like in paris today', 'thank you', 'tell me about the ocean', 'who are you'];

const emulator = provider === 'elevenlabs' ? await startElevenLabsEmulator() : undefined;
const service = await startService(emulator ? { ELEVENLABS_API_KEY: 'bench', ELEVENLABS_BASE_URL: emulator.baseUrl } : {});
try {
  const client = await VoiceTestClient.connect(service.wsUrl);
  await client.expect('session.ready');
  client.send({ type: 'session.configure', tts: { output_format: 'pcm_24000' } });
  await client.expect('session.configured');
  const toMessage: number[] = [];
  const toFirstChunk: number[] = [];
  const toEnd: number[] = [];
  for (let i = 0; i < turns + 3; i++) {
    const started = performance.now();
    client.send({ type: 'text.prompt', text: prompts[i % prompts.length]! });
    await client.nextOf('assistant.message');
    const message = performance.now();
    await client.nextOf('assistant.audio.chunk');
    const firstChunk = performance.now();
    const end = await client.nextOf('assistant.audio.end');
    client.send(playedAll(end.turn_id));
    if (i < 3) continue; // warm-up
    toMessage.push(message - started);
    toFirstChunk.push(firstChunk - started);
    toEnd.push(performance.now() - started);
  }
  await client.close();
  console.log(`${provider === 'elevenlabs' ? 'ElevenLabs provider against the emulator' : 'embedded defaults'}, pcm_24000, one session, sequential turns`);
  console.log(`text.prompt -> assistant.message:      ${formatMs(summarize(toMessage))}`);
  console.log(`text.prompt -> first audio chunk:      ${formatMs(summarize(toFirstChunk))}`);
  console.log(`text.prompt -> assistant.audio.end:    ${formatMs(summarize(toEnd))}`);
} finally {
  await service.stop();
  await emulator?.close();
}
