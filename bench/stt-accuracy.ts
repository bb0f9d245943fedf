/**
 * Word error rate of the embedded recogniser at 16 kHz and at 8 kHz on the same audio.
 *
 * Audio: a fixed list of 24 sentences spoken by the embedded flite voices slt, rms, awb and kal16
 * (the first `perVoice` sentences per voice), plus the shared human recordings. rms, awb and kal16
 * are the voices the 8 kHz narrowband map was fitted on (bench/narrowband-train.ts); slt and the
 * recordings are held out, and reported as their own rows. Each utterance (0.3 s of silence, the
 * speech, 1 s of silence) goes to LocalSttPool directly, as pcm_16000, as ulaw_8000 and as
 * pcm_8000, as fast as the pool takes it. Each format runs on its own one-worker pool through one
 * stream, utterance after utterance in a fixed order with a manual commit after each, so its
 * decoder carries its live cepstral mean from one utterance to the next as in the service, and
 * the figures do not depend on `threads` (how many formats run at once).
 *   npm run build && node dist/bench/stt-accuracy.js [perVoice=24] [threads=2] [formats=pcm_16000,ulaw_8000,pcm_8000]
 */
import { FliteSynthesizer, LocalSttPool, type LocalSttStreamConfig } from '@app/engines';
import { readSharedRecording, resamplePcmBuffer, SHARED_RECORDINGS, silence, toMulaw, wordErrorRate } from '@app/testing';

const SENTENCES = [
  'what is the weather like in paris today',
  'thank you very much',
  'please book a table for two at seven tonight',
  'can you tell me the time in new york',
  'i would like to speak to a manager',
  'turn off the lights in the kitchen',
  'how far is it to the nearest train station',
  'my account number is four five six seven',
  'play some music by the beatles',
  'remind me to call my mother tomorrow morning',
  'what time does the store close on sunday',
  'i need to change my flight to london',
  'is it going to rain this afternoon',
  'set an alarm for six thirty',
  'where is the closest pharmacy',
  'i want to cancel my subscription',
  'how much does it cost to send a letter',
  'read me the latest news',
  'what is the capital of spain',
  'send a message to john saying i am late',
  'the meeting starts at nine in the morning',
  'do you have any rooms available next week',
  'my credit card was stolen yesterday',
  'could you repeat that please',
];
const VOICES = ['slt', 'rms', 'awb', 'kal16'] as const;
/** The voices bench/narrowband-train.ts fits the 8 kHz map on. */
const TRAINING_VOICES = new Set<string>(['rms', 'awb', 'kal16']);
const LEAD_S = 0.3;
const TRAIL_S = 1.0;

const perVoice = Math.min(SENTENCES.length, Number(process.argv[2] ?? SENTENCES.length));
const threads = Number(process.argv[3] ?? 2);
const FORMATS = {
  pcm_16000: { codec: 'pcm', sampleRate: 16000 },
  ulaw_8000: { codec: 'ulaw', sampleRate: 8000 },
  pcm_8000: { codec: 'pcm', sampleRate: 8000 },
} as const;
type Format = keyof typeof FORMATS;
const formats = (process.argv[4] ?? 'pcm_16000,ulaw_8000,pcm_8000').split(',') as Format[];
for (const f of formats) if (!(f in FORMATS)) throw new Error(`unknown format ${f} (${Object.keys(FORMATS).join(', ')})`);

interface Utterance {
  set: string;
  reference: string;
  /** 16 kHz PCM16, padded. */
  pcm: Buffer;
}

const started = performance.now();
const utterances: Utterance[] = [];
const flite = new FliteSynthesizer({ threads });
for (const voice of VOICES) {
  const texts = SENTENCES.slice(0, perVoice);
  const audio = await Promise.all(texts.map((text) => flite.synthesize({ text, voice, sampleRate: 16000, speed: 1 })));
  texts.forEach((reference, i) => utterances.push({ set: voice, reference, pcm: Buffer.from(audio[i]!.pcm) }));
}
await flite.close();
for (const [name, reference] of Object.entries(SHARED_RECORDINGS)) {
  utterances.push({ set: 'recordings', reference, pcm: readSharedRecording(name) });
}
for (const u of utterances) u.pcm = Buffer.concat([silence(LEAD_S), u.pcm, silence(TRAIL_S)]);
const audioSeconds = utterances.reduce((s, u) => s + u.pcm.length / 32000, 0);
const synthSeconds = (performance.now() - started) / 1000;

async function encode(pcm: Buffer, format: Format): Promise<Buffer> {
  if (format === 'pcm_16000') return pcm;
  const narrow = await resamplePcmBuffer(pcm, 16000, 8000);
  return format === 'ulaw_8000' ? toMulaw(narrow) : narrow;
}

const vad = { vadThreshold: 0.5, vadSilenceThresholdSecs: 1, minSpeechDurationMs: 100, minSilenceDurationMs: 100 };

interface Result {
  errors: number;
  words: number;
  exact: number;
  count: number;
  ms: number;
  audioS: number;
}
const results = new Map<string, Result>(); // `${format} ${set}`

/**
 * One format: its own single-worker pool and one stream, utterance after utterance, each streamed in
 * 100 ms chunks and committed by hand before the next is pushed.
 */
async function runFormat(format: Format): Promise<void> {
  const pool = await LocalSttPool.start({ threads: 1 });
  const config: LocalSttStreamConfig = { ...FORMATS[format], commitStrategy: 'manual', vad };
  let pending: { resolve: (text: string) => void; reject: (error: Error) => void } | undefined;
  const stream = pool.openStream(config, {
    speechStart() {},
    partial() {},
    committed(text) {
      pending?.resolve(text);
    },
    failed(message) {
      pending?.reject(new Error(message));
    },
  });
  const chunk = (config.sampleRate * (config.codec === 'pcm' ? 2 : 1)) / 10;
  for (const u of utterances) {
    const bytes = await encode(u.pcm, format);
    const t0 = performance.now();
    const committed = new Promise<string>((resolve, reject) => (pending = { resolve, reject }));
    for (let i = 0; i < bytes.length; i += chunk) stream.push(bytes.subarray(i, i + chunk));
    stream.commit();
    const text = await committed;
    const ms = performance.now() - t0;
    const words = u.reference.split(' ').length;
    const wer = wordErrorRate(u.reference, text);
    const heldOut = !TRAINING_VOICES.has(u.set);
    for (const key of [u.set, 'all', heldOut ? 'held-out' : 'training']) {
      const r = results.get(`${format} ${key}`) ?? { errors: 0, words: 0, exact: 0, count: 0, ms: 0, audioS: 0 };
      r.errors += Math.round(wer * words);
      r.words += words;
      r.exact += wer === 0 ? 1 : 0;
      r.count += 1;
      r.ms += ms;
      r.audioS += u.pcm.length / 32000;
      results.set(`${format} ${key}`, r);
    }
    if (process.env['VERBOSE']) console.log(`${format} ${u.set.padEnd(10)} ${wer.toFixed(2)}  ${u.reference}  ->  ${text}`);
  }
  stream.close();
  await pool.close();
}

const decodeStarted = performance.now();
let next = 0;
await Promise.all(
  Array.from({ length: Math.min(threads, formats.length) }, async () => {
    while (next < formats.length) await runFormat(formats[next++]!);
  }),
);
const decodeSeconds = (performance.now() - decodeStarted) / 1000;

const sets = [
  ...VOICES.map((v) => ({ key: v, label: `${v}${TRAINING_VOICES.has(v) ? ' (map training voice)' : ' (held out)'}` })),
  { key: 'recordings', label: 'recordings (held out, human)' },
  { key: 'held-out', label: 'held out (slt + recordings)' },
  { key: 'training', label: 'training voices' },
  { key: 'all', label: 'all' },
];
const cell = (r: Result | undefined) => (r ? `${(r.errors / r.words).toFixed(3)} | ${r.exact}/${r.count}` : '- | -');
console.log(`\nEmbedded recogniser word error rate (${perVoice} sentences per voice, ${Object.keys(SHARED_RECORDINGS).length} recordings; ${threads} threads)\n`);
console.log(`| set | utterances | words | ${formats.map((f) => `${f} WER | exact`).join(' | ')} |`);
console.log(`| --- | --- | --- | ${formats.map(() => '--- | ---').join(' | ')} |`);
for (const { key, label } of sets) {
  const first = results.get(`${formats[0]} ${key}`);
  if (!first) continue;
  console.log(`| ${label} | ${first.count} | ${first.words} | ${formats.map((f) => cell(results.get(`${f} ${key}`))).join(' | ')} |`);
}
console.log('\nReal-time factor (first byte pushed to commit, per second of audio; one stream on one worker):');
for (const f of formats) {
  const r = results.get(`${f} all`)!;
  console.log(`  ${f.padEnd(10)} ${(r.ms / 1000 / r.audioS).toFixed(3)}  (${r.audioS.toFixed(0)} s of audio)`);
}
console.log(
  `\nSynthesis and setup ${synthSeconds.toFixed(1)} s; recognition ${decodeSeconds.toFixed(1)} s wall for ${(audioSeconds * formats.length).toFixed(0)} s of audio on ${threads} threads; total ${((performance.now() - started) / 1000).toFixed(1)} s.`,
);
