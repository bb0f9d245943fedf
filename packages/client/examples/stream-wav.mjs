#!/usr/bin/env node
// Streams a WAV file (PCM16 mono, 8/16/22.05/24/44.1/48 kHz) to a Voice Layer service as the user's
// speech, prints the transcript and the reply, and saves the spoken reply as a WAV file.
//
//   node stream-wav.mjs ws://localhost:3000/v1/voice/ws question.wav reply.wav [--token JWT]
import { Buffer } from 'node:buffer';
import { readFileSync, writeFileSync } from 'node:fs';
import { VoiceClient } from '@voice-layer/client/node';

const [url, input, output] = process.argv.slice(2);
const tokenAt = process.argv.indexOf('--token');
const token = tokenAt > 0 ? process.argv[tokenAt + 1] : undefined;
if (!url || !input || !output) {
  console.error('usage: node stream-wav.mjs <ws-url> <input.wav> <reply.wav> [--token JWT]');
  process.exit(2);
}

/** The PCM16 samples and rate of a mono WAV file. */
function readWav(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let rate, channels, bits;
  for (let offset = 12; offset + 8 <= bytes.length; ) {
    const id = String.fromCharCode(...bytes.subarray(offset, offset + 4));
    const size = view.getUint32(offset + 4, true);
    if (id === 'fmt ') {
      channels = view.getUint16(offset + 10, true);
      rate = view.getUint32(offset + 12, true);
      bits = view.getUint16(offset + 22, true);
    } else if (id === 'data') {
      if (channels !== 1 || bits !== 16) throw new Error(`${input}: need 16-bit mono PCM, got ${bits}-bit with ${channels} channels`);
      return { rate, pcm: bytes.subarray(offset + 8, offset + 8 + size) };
    }
    offset += 8 + size + (size % 2);
  }
  throw new Error(`${input}: no data chunk`);
}

function wavFile(pcm, rate) {
  const header = Buffer.alloc(44);
  header.write('RIFF', 0);
  header.writeUInt32LE(36 + pcm.length, 4);
  header.write('WAVEfmt ', 8);
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(1, 22);
  header.writeUInt32LE(rate, 24);
  header.writeUInt32LE(rate * 2, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36);
  header.writeUInt32LE(pcm.length, 40);
  return Buffer.concat([header, pcm]);
}

const { rate, pcm } = readWav(readFileSync(input));
const client = new VoiceClient({ reconnect: false });
client.on('state', ({ state }) => console.log(`state: ${state}`));
client.on('transcript.committed', (e) => e.text && console.log(`you: ${e.text}`));
client.on('assistant.message', (e) => console.log(`assistant: ${e.text}`));
client.on('error', (e) => console.error(`error ${e.code}: ${e.message}`));

const reply = [];
let replyFormat;
const done = new Promise((resolve) => {
  client.on('assistant.audio.chunk', (e) => {
    replyFormat = e.output_format;
    reply.push(Buffer.from(e.audio, 'base64'));
  });
  client.on('assistant.audio.end', resolve);
  client.on('assistant.interrupted', resolve);
});

await client.connect(url, token ? { token } : {});
await client.configure({ stt: { sample_rate: rate, audio_format: `pcm_${rate}` }, tts: { output_format: 'pcm_24000' } });
// 100 ms frames in real time, as a microphone would send them; then end the turn.
const frame = (rate / 10) * 2;
for (let offset = 0; offset < pcm.length; offset += frame) {
  client.sendAudio(pcm.subarray(offset, offset + frame));
  await new Promise((resolve) => setTimeout(resolve, 100));
}
client.commit();
await done;
const replyRate = Number(/^pcm_(\d+)$/.exec(replyFormat ?? '')?.[1] ?? 24000);
writeFileSync(output, wavFile(Buffer.concat(reply), replyRate));
console.log(`saved ${output}: ${(Buffer.concat(reply).length / 2 / replyRate).toFixed(2)} s of ${replyFormat}`);
client.close();
