import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, before, beforeEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ElevenLabsClient } from '@elevenlabs/elevenlabs-js';
import { FliteSynthesizer } from '@app/engines';
import { decodeMp3, startsLikeMp3 } from '@app/testing';
import { emulatorVoiceFor, startElevenLabsEmulator, type ElevenLabsEmulator, type TtsChunkInfo } from './index.js';

const VOICE_ID = 'JBFqnCBsd6RMkjVDRZzb';
const TEXT = 'Hello there. This is the ElevenLabs emulator speaking. It streams one sentence at a time.';

interface Answer {
  status: number;
  headers: Headers;
  body: Buffer;
  /** ms from the request to each body read. */
  reads: number[];
}

describe('ElevenLabs emulator: POST /v1/text-to-speech/{voice_id}/stream', () => {
  let emulator: ElevenLabsEmulator;
  let flite: FliteSynthesizer;

  before(async () => {
    emulator = await startElevenLabsEmulator();
    flite = new FliteSynthesizer({ threads: 1 });
  });
  beforeEach(() => emulator.reset());
  after(async () => {
    await emulator.close();
    await flite.close();
  });

  async function post(query: string, body: unknown, headers: Record<string, string> = { 'xi-api-key': 'any-key' }, signal?: AbortSignal): Promise<Answer> {
    const started = performance.now();
    const response = await fetch(`${emulator.baseUrl}/v1/text-to-speech/${VOICE_ID}/stream${query}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
      signal,
    });
    const parts: Buffer[] = [];
    const reads: number[] = [];
    for await (const part of response.body!) {
      parts.push(Buffer.from(part));
      reads.push(performance.now() - started);
    }
    return { status: response.status, headers: response.headers, body: Buffer.concat(parts), reads };
  }

  async function fliteAudio(text: string, sampleRate: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    for await (const pcm of flite.speak(text, { voice: emulatorVoiceFor(VOICE_ID), sampleRate, speed: 1 }, new AbortController().signal)) parts.push(pcm);
    return Buffer.concat(parts);
  }

  it('maps voice ids to flite voices deterministically', () => {
    assert.equal(emulatorVoiceFor('awb'), 'awb');
    assert.equal(emulatorVoiceFor(VOICE_ID), emulatorVoiceFor(VOICE_ID));
    assert.ok(['slt', 'awb', 'rms', 'kal16'].includes(emulatorVoiceFor('21m00Tcm4TlvDq8ikWAM')));
  });

  it('streams pcm_24000 sentence by sentence: the same samples flite renders, in several reads', async () => {
    const answer = await post('?output_format=pcm_24000', { text: TEXT, model_id: 'eleven_flash_v2_5' });
    assert.equal(answer.status, 200);
    assert.equal(answer.headers.get('content-type'), 'audio/pcm');
    assert.equal(answer.headers.get('transfer-encoding'), 'chunked');
    assert.ok(answer.headers.get('request-id'));
    assert.equal(answer.headers.get('character-cost'), String(TEXT.length));
    assert.ok(answer.body.equals(await fliteAudio(TEXT, 24000)), 'byte-identical to flite at 24 kHz');
    assert.ok(answer.reads.length >= 3, `arrived in ${answer.reads.length} reads`);
    assert.ok(answer.reads[0]! < answer.reads.at(-1)!, 'the first sentence arrived before the last');
  });

  it('speaks load-test stand-ins: `silence` is digital silence, `noise` loud bursts, both 60 ms per character', async () => {
    for (const ttsSpeech of ['silence', 'noise'] as const) {
      const standIn = await startElevenLabsEmulator({ ttsSpeech });
      try {
        const response = await fetch(`${standIn.baseUrl}/v1/text-to-speech/${VOICE_ID}/stream?output_format=pcm_16000`, { method: 'POST', headers: { 'content-type': 'application/json', 'xi-api-key': 'k' }, body: JSON.stringify({ text: 'One two three. Four five.' }) });
        const pcm = Buffer.from(await response.arrayBuffer());
        assert.equal(response.status, 200);
        assert.equal(pcm.length / 2, Math.round((14 * 60 * 16000) / 1000) + Math.round((10 * 60 * 16000) / 1000), `${ttsSpeech}: 60 ms per character of each sentence`);
        let sum = 0;
        for (let i = 0; i < pcm.length; i += 2) sum += pcm.readInt16LE(i) ** 2;
        const dbfs = 10 * Math.log10(sum / (pcm.length / 2) / 32768 ** 2);
        if (ttsSpeech === 'silence') assert.equal(sum, 0);
        else assert.ok(dbfs > -25 && dbfs < -10, `noise at ${dbfs.toFixed(1)} dBFS`);
      } finally {
        await standIn.close();
      }
    }
  });

  it('encodes ulaw_8000 and alaw_8000 at one byte per sample', async () => {
    const samples = (await fliteAudio(TEXT, 8000)).length / 2;
    for (const format of ['ulaw_8000', 'alaw_8000']) {
      const answer = await post(`?output_format=${format}`, { text: TEXT });
      assert.equal(answer.status, 200);
      assert.equal(answer.body.length, samples, format);
    }
  });

  for (const [format, rate, kbps] of [['mp3_44100_128', 44100, 128], ['mp3_22050_32', 22050, 32]] as const) {
    it(`encodes ${format} as MPEG audio that decodes to the speech's length`, async () => {
      const answer = await post(`?output_format=${format}`, { text: TEXT });
      assert.equal(answer.headers.get('content-type'), 'audio/mpeg');
      assert.ok(startsLikeMp3(answer.body));
      const decoded = await decodeMp3(answer.body);
      const expected = (await fliteAudio(TEXT, rate)).length / 2;
      assert.equal(decoded.sampleRate, rate);
      assert.equal(decoded.errors, 0);
      assert.ok(Math.abs(decoded.samples - expected) / expected < 0.1, `${decoded.samples} samples vs ${expected}`);
      const expectedBytes = ((kbps * 1000) / 8) * (expected / rate);
      assert.ok(Math.abs(answer.body.length - expectedBytes) / expectedBytes < 0.15, `${answer.body.length} bytes at ${kbps} kbps`);
    });
  }

  it('defaults to mp3_44100_128 like the real API', async () => {
    const answer = await post('', { text: 'Hi.' });
    assert.equal(answer.headers.get('content-type'), 'audio/mpeg');
    assert.equal((await decodeMp3(answer.body)).sampleRate, 44100);
  });

  it('answers 401 invalid_api_key without a key, with a wrong one, under rejectAuth; 401 quota_exceeded on demand', async () => {
    const keyed = await startElevenLabsEmulator({ apiKey: 'right-key' });
    try {
      const wrong = await fetch(`${keyed.baseUrl}/v1/text-to-speech/${VOICE_ID}/stream`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'xi-api-key': 'wrong-key' },
        body: JSON.stringify({ text: 'Hi.' }),
      });
      assert.equal(wrong.status, 401);
      assert.deepEqual(await wrong.json(), { detail: { status: 'invalid_api_key', message: 'Invalid API key' } });
    } finally {
      await keyed.close();
    }
    const missing = await post('', { text: 'Hi.' }, {});
    assert.equal(missing.status, 401);
    emulator.faults.rejectAuth = true;
    const rejected = await post('', { text: 'Hi.' });
    assert.equal(rejected.status, 401);
    assert.equal(JSON.parse(rejected.body.toString()).detail.status, 'invalid_api_key');
    Object.assign(emulator.faults, { rejectAuth: false, quotaExceeded: true });
    const broke = await post('', { text: 'Hi.' });
    assert.equal(broke.status, 401);
    assert.equal(JSON.parse(broke.body.toString()).detail.status, 'quota_exceeded');
  });

  it('answers bad input with FastAPI 422 bodies listing every problem', async () => {
    const answer = await post('?output_format=wav&optimize_streaming_latency=9', { voice_settings: { stability: 3 }, seed: -1 });
    assert.equal(answer.status, 422);
    const { detail } = JSON.parse(answer.body.toString()) as { detail: Array<{ type: string; loc: unknown[]; msg: string }> };
    assert.deepEqual(
      detail.map((item) => [item.type, item.loc.join('.')]),
      [
        ['enum', 'query.output_format'],
        ['less_than_equal', 'query.optimize_streaming_latency'],
        ['missing', 'body.text'],
        ['less_than_equal', 'body.voice_settings.stability'],
        ['greater_than_equal', 'body.seed'],
      ],
    );
    for (const item of detail) assert.equal(typeof item.msg, 'string');
    const notJson = await post('', '{"text":');
    assert.equal(notJson.status, 422);
    assert.equal(JSON.parse(notJson.body.toString()).detail[0].type, 'json_invalid');
  });

  it('tolerates every documented body field and query parameter', async () => {
    const answer = await post('?output_format=pcm_16000&optimize_streaming_latency=2&enable_logging=false', {
      text: 'Hi.',
      model_id: 'eleven_multilingual_v2',
      language_code: 'en',
      voice_settings: { stability: 0.5, similarity_boost: 0.75, style: 0, use_speaker_boost: true, speed: 1.1 },
      pronunciation_dictionary_locators: [{ pronunciation_dictionary_id: 'abc', version_id: 'v1' }],
      seed: 42,
      previous_text: 'Before.',
      next_text: 'After.',
      previous_request_ids: ['r1'],
      next_request_ids: [],
      apply_text_normalization: 'auto',
      apply_language_text_normalization: false,
      some_future_field: true,
    });
    assert.equal(answer.status, 200);
    assert.ok(answer.body.length > 0);
  });

  it('records each request with its key, query, body and how it ended', async () => {
    await post('?output_format=pcm_16000', { text: 'Hi.' });
    const [record] = emulator.requests;
    assert.equal(emulator.requests.length, 1);
    assert.equal(record!.method, 'POST');
    assert.equal(record!.path, `/v1/text-to-speech/${VOICE_ID}/stream`);
    assert.deepEqual(record!.query, { output_format: 'pcm_16000' });
    assert.deepEqual(record!.body, { text: 'Hi.' });
    assert.equal(record!.apiKey, 'any-key');
    assert.equal(await record!.settled, 'completed');
    assert.equal(record!.status, 200);
  });

  it('answers 429 with Retry-After, then 500, as many times as asked, then audio', async () => {
    Object.assign(emulator.faults, { rateLimited: 2, retryAfterSeconds: 3, serverErrors: 1 });
    const statuses: Array<[number, string | null]> = [];
    for (let i = 0; i < 4; i++) {
      const answer = await post('?output_format=pcm_16000', { text: 'Hi.' });
      statuses.push([answer.status, answer.headers.get('retry-after')]);
      if (answer.status === 429) assert.equal(JSON.parse(answer.body.toString()).detail.status, 'system_busy');
    }
    assert.deepEqual(statuses, [[429, '3'], [429, '3'], [500, null], [200, null]]);
  });

  it('delays the first byte, paces chunks, and limits concurrent streams', async () => {
    emulator.faults.firstByteDelayMs = 300;
    const delayed = await post('?output_format=pcm_16000', { text: 'Hi.' });
    assert.ok(delayed.reads[0]! >= 300, `first byte after ${delayed.reads[0]} ms`);

    Object.assign(emulator.faults, { firstByteDelayMs: 0, chunkDelayMs: 200 });
    const paced = await post('?output_format=pcm_16000', { text: 'One. Two. Three.' });
    assert.ok(paced.reads.at(-1)! - paced.reads[0]! >= 400, 'two gaps of 200 ms');

    Object.assign(emulator.faults, { chunkDelayMs: 0, stall: true, concurrencyLimit: 1 });
    const controller = new AbortController();
    const open = fetch(`${emulator.baseUrl}/v1/text-to-speech/${VOICE_ID}/stream`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'xi-api-key': 'k' },
      body: JSON.stringify({ text: 'Hi.' }),
      signal: controller.signal,
    });
    assert.equal((await open).status, 200);
    const second = await post('', { text: 'Hi.' });
    assert.equal(second.status, 429);
    assert.equal(JSON.parse(second.body.toString()).detail.status, 'too_many_concurrent_requests');
    controller.abort();
    assert.equal(await emulator.requests[2]!.settled, 'aborted');
  });

  it('stalls after the headers until the client gives up, and records the abort', async () => {
    emulator.faults.stall = true;
    const response = await fetch(`${emulator.baseUrl}/v1/text-to-speech/${VOICE_ID}/stream`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'xi-api-key': 'k' },
      body: JSON.stringify({ text: 'Hi.' }),
      signal: AbortSignal.timeout(500),
    });
    assert.equal(response.status, 200);
    await assert.rejects(response.arrayBuffer(), /aborted|timeout/i);
    assert.equal(await emulator.requests[0]!.settled, 'aborted');
  });

  it('serves the official SDK (textToSpeech.stream) unchanged', async () => {
    const client = new ElevenLabsClient({ apiKey: 'sdk-key', baseUrl: emulator.baseUrl, maxRetries: 0 });
    const stream = await client.textToSpeech.stream(VOICE_ID, {
      text: TEXT,
      modelId: 'eleven_flash_v2_5',
      outputFormat: 'pcm_22050',
      voiceSettings: { stability: 0.4, useSpeakerBoost: true },
    });
    const parts: Buffer[] = [];
    for await (const part of stream) parts.push(Buffer.from(part));
    assert.ok(Buffer.concat(parts).equals(await fliteAudio(TEXT, 22050)));
    const [record] = emulator.requests;
    assert.equal(record!.apiKey, 'sdk-key');
    assert.deepEqual(record!.body, { text: TEXT, model_id: 'eleven_flash_v2_5', voice_settings: { stability: 0.4, use_speaker_boost: true } });
  });
});

describe('ElevenLabs emulator: onTtsEmit', () => {
  it('reports each TTS chunk, in order, before the client reads it', async () => {
    const emitted: Array<{ chunk: TtsChunkInfo; at: number }> = [];
    const emulator = await startElevenLabsEmulator({ onTtsEmit: (chunk, at) => emitted.push({ chunk, at }) });
    try {
      const response = await fetch(`${emulator.baseUrl}/v1/text-to-speech/${VOICE_ID}/stream?output_format=ulaw_8000`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'xi-api-key': 'k' },
        body: JSON.stringify({ text: TEXT }),
      });
      const reads: Array<{ bytes: number; at: number }> = [];
      for await (const part of response.body!) reads.push({ bytes: part.byteLength, at: performance.timeOrigin + performance.now() });
      const total = reads.reduce((sum, read) => sum + read.bytes, 0);

      assert.ok(emitted.length >= 3, `one chunk per sentence, got ${emitted.length}`);
      let offset = 0;
      emitted.forEach(({ chunk }, i) => {
        assert.deepEqual(chunk, { text: TEXT, voiceId: VOICE_ID, outputFormat: 'ulaw_8000', chunkIndex: i, offset, bytes: chunk.bytes });
        offset += chunk.bytes;
      });
      assert.equal(offset, total, 'the chunks add up to the body');
      assert.ok(emitted[0]!.at <= reads[0]!.at, 'the first chunk is reported before the client reads it');
      assert.ok(emitted.every(({ at }, i) => i === 0 || at >= emitted[i - 1]!.at), 'timestamps in order');
    } finally {
      await emulator.close();
    }
  });
});

describe('ElevenLabs emulator run on its own', () => {
  it('takes faults from flags and the environment', async () => {
    const main = fileURLToPath(new URL('./main.js', import.meta.url));
    const child = spawn(process.execPath, [main, '--port', '0', '--rate-limited', '1'], {
      env: { PATH: process.env['PATH'] ?? '', ELEVENLABS_EMULATOR_RETRY_AFTER: '7' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      let output = '';
      const baseUrl = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (data: Buffer) => {
          output += data.toString();
          const match = /listening on (http:\/\/\S+)/.exec(output);
          if (match) resolve(match[1]!);
        });
        child.once('exit', (code) => reject(new Error(`exited with ${code}: ${output}`)));
      });
      assert.match(output, /rateLimited=1, retryAfterSeconds=7/);
      const response = await fetch(`${baseUrl}/v1/text-to-speech/${VOICE_ID}/stream`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'xi-api-key': 'k' },
        body: JSON.stringify({ text: 'Hi.' }),
      });
      assert.equal(response.status, 429);
      assert.equal(response.headers.get('retry-after'), '7');
    } finally {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
  });
});
