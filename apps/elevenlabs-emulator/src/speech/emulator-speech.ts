import { createHash } from 'node:crypto';
import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import alawmulaw from 'alawmulaw';
import { Piscina } from 'piscina';
import { pcm16Samples } from '@app/audio';
import { FliteSynthesizer, isFliteVoice, splitSentences, type FliteVoice } from '@app/engines';
import type { EmulatedFormat } from '../output-formats.js';
import { silentEdges, type SpokenUnit } from '../text-to-speech/alignment.js';
import type { Mp3Job } from './mp3.worker.js';

/** flite voices that stand in for ElevenLabs voice ids (the 16 kHz ones). */
const STAND_IN_VOICES: readonly FliteVoice[] = ['slt', 'awb', 'rms', 'kal16'];

/**
 * The flite voice the emulator speaks for an ElevenLabs `voice_id`: the voice itself when the id
 * names a flite voice, else one picked by a hash of the id, so the same id always sounds the same.
 */
export function emulatorVoiceFor(voiceId: string): FliteVoice {
  if (isFliteVoice(voiceId)) return voiceId;
  return STAND_IN_VOICES[createHash('sha256').update(voiceId).digest()[0]! % STAND_IN_VOICES.length]!;
}

export const EMULATOR_WORKERS = Symbol('EMULATOR_WORKERS');

/**
 * Speech for the emulator: flite sentence by sentence (FliteSynthesizer.speak) in worker threads,
 * then encoded to the requested format. MP3 is encoded per sentence in its own worker pool, so each
 * piece is a self-contained run of MPEG frames and can be sent as soon as it is ready.
 */
@Injectable()
export class EmulatorSpeech implements OnModuleInit, OnApplicationShutdown {
  private readonly flite: FliteSynthesizer;
  private readonly mp3: Piscina<Mp3Job, Uint8Array>;

  constructor(@Inject(EMULATOR_WORKERS) workers: number) {
    this.flite = new FliteSynthesizer({ threads: workers });
    this.mp3 = new Piscina({ filename: new URL('./mp3.worker.js', import.meta.url).href, minThreads: 1, maxThreads: workers });
  }

  async onModuleInit(): Promise<void> {
    await this.flite.warmUp();
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all([this.flite.close(), this.mp3.close({ force: true })]);
  }

  async *speak(text: string, voiceId: string, speed: number, format: EmulatedFormat, signal: AbortSignal): AsyncGenerator<Buffer> {
    for await (const unit of this.speakUnits(text, voiceId, speed, format, signal)) yield unit.audio;
  }

  /** As `speak`, with each unit's text, length and silent edges (for the with-timestamps route). */
  async *speakUnits(text: string, voiceId: string, speed: number, format: EmulatedFormat, signal: AbortSignal): AsyncGenerator<SpokenUnit> {
    const voice = { voice: emulatorVoiceFor(voiceId), sampleRate: format.sampleRate, speed };
    for await (const { text: unitText, pcm } of this.flite.speakUnits(splitSentences(text), voice, signal)) {
      yield { text: unitText, audio: await this.encode(pcm, format), samples: pcm.length >> 1, ...silentEdges(pcm) };
    }
  }

  private async encode(pcm: Buffer, format: EmulatedFormat): Promise<Buffer> {
    switch (format.codec) {
      case 'pcm':
        return pcm;
      case 'ulaw':
        return Buffer.from(alawmulaw.mulaw.encode(pcm16Samples(pcm)));
      case 'alaw':
        return Buffer.from(alawmulaw.alaw.encode(pcm16Samples(pcm)));
      case 'mp3':
        return Buffer.from(await this.mp3.run({ pcm, sampleRate: format.sampleRate, kbps: format.kbps }));
    }
  }
}
