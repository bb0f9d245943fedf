import { randomUUID } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { Body, Controller, HttpStatus, Inject, Param, Post, Query, Res, UseGuards } from '@nestjs/common';
import type { Response } from 'express';
import { ApiKeyGuard } from '../api-key.guard.js';
import { EMULATOR_STATE, type EmulatorState, type TtsChunkInfo, type TtsEmitHook } from '../emulator-state.js';
import { splitSentences } from '@app/engines';
import { DEFAULT_OUTPUT_FORMAT, EMULATED_FORMATS, type EmulatedFormat } from '../output-formats.js';
import { EmulatorSpeech } from '../speech/emulator-speech.js';
import type { UpstreamErrorDetail } from '../upstream-errors.js';
import { timedPieces, timestampsLine, truncatePiece, type SpokenUnit, type TimedPiece } from './alignment.js';
import { parseTextToSpeechRequest } from './text-to-speech.dto.js';

/**
 * `POST /v1/text-to-speech/{voice_id}/stream`: chunked audio, sentence by sentence, as ElevenLabs
 * streams it; `.../stream/with-timestamps`: the same audio as newline-delimited JSON, base64 beside
 * each character's start and end time (alignment.ts). Both answer the same faults.
 */
@Controller('v1/text-to-speech')
@UseGuards(ApiKeyGuard)
export class TextToSpeechController {
  constructor(
    @Inject(EMULATOR_STATE) private readonly state: EmulatorState,
    private readonly speech: EmulatorSpeech,
  ) {}

  @Post(':voice_id/stream')
  async stream(
    @Param('voice_id') voiceId: string,
    @Query() rawQuery: unknown,
    @Body() rawBody: unknown,
    @Res() res: Response,
  ): Promise<void> {
    await this.respond(voiceId, rawQuery, rawBody, res, false);
  }

  @Post(':voice_id/stream/with-timestamps')
  async streamWithTimestamps(
    @Param('voice_id') voiceId: string,
    @Query() rawQuery: unknown,
    @Body() rawBody: unknown,
    @Res() res: Response,
  ): Promise<void> {
    await this.respond(voiceId, rawQuery, rawBody, res, true);
  }

  private async respond(voiceId: string, rawQuery: unknown, rawBody: unknown, res: Response, timestamps: boolean): Promise<void> {
    const { query, body } = parseTextToSpeechRequest(rawQuery, rawBody);
    const failure = this.plannedFailure(body.text);
    if (failure) {
      res.status(failure.status).set(failure.headers).json({ detail: failure.detail });
      return;
    }
    const { faults } = this.state;
    const outputFormat = query.output_format ?? DEFAULT_OUTPUT_FORMAT;
    const format = EMULATED_FORMATS.get(outputFormat)!;
    const client = new AbortController();
    this.state.streamsInFlight++;
    res.once('close', () => {
      this.state.streamsInFlight--;
      client.abort();
    });
    try {
      await sleep(faults.firstByteDelayMs, undefined, { signal: client.signal });
      res.writeHead(HttpStatus.OK, {
        'content-type': timestamps ? 'application/json' : format.contentType,
        'request-id': randomUUID().replaceAll('-', ''),
        'history-item-id': randomUUID().replaceAll('-', '').slice(0, 20),
        'character-cost': String(body.text.length),
        'current-concurrent-requests': String(this.state.streamsInFlight),
        ...(Number.isFinite(faults.concurrencyLimit) ? { 'maximum-concurrent-requests': String(faults.concurrencyLimit) } : {}),
        'access-control-expose-headers': 'request-id, history-item-id, character-cost, current-concurrent-requests, maximum-concurrent-requests',
      });
      res.flushHeaders();
      // A stalled upstream keeps the request open and silent until the client gives up.
      if (faults.stall) return;
      const units = this.state.ttsSpeech !== 'flite' && format.codec !== 'mp3' ? silentUnits(body.text, format, this.state.ttsSpeech === 'noise') : this.speech.speakUnits(body.text, voiceId, body.voice_settings?.speed ?? 1, format, client.signal);
      const { onTtsEmit } = this.state;
      const report = <T>(items: AsyncIterable<T>, audioOf: (item: T) => Buffer) => (onTtsEmit ? reported(items, audioOf, onTtsEmit, { text: body.text, voiceId, outputFormat }) : items);
      if (timestamps) {
        const pieces = paced(timedPieces(units, body.text, format), (p) => p.audio, truncatePiece, faults.chunkDelayMs, client.signal, faults.dropAfterBytes);
        await pipeline(lines(report(pieces, (p) => p.audio)), res);
      } else {
        const audio = paced(audioOf(units), (b) => b, (b, bytes) => b.subarray(0, bytes), faults.chunkDelayMs, client.signal, faults.dropAfterBytes);
        await pipeline(report(audio, (b) => b), res);
      }
    } catch (error) {
      // The client leaving ends the stream; anything else cuts it short (pipeline destroyed `res`).
      if (!client.signal.aborted) res.destroy(error as Error);
    }
  }

  /** The 401s, 429s and 500s that the fault knobs ask for, answered before any audio. */
  private plannedFailure(text: string): UpstreamFailure | undefined {
    const { faults, streamsInFlight } = this.state;
    if (faults.quotaExceeded) {
      return {
        status: HttpStatus.UNAUTHORIZED,
        headers: {},
        detail: {
          status: 'quota_exceeded',
          message: `This request exceeds your quota of 10000. You have 0 credits remaining, while ${text.length} credits are required for this request.`,
        },
      };
    }
    if (faults.rateLimited > 0) {
      faults.rateLimited--;
      return {
        status: HttpStatus.TOO_MANY_REQUESTS,
        headers: { 'retry-after': String(faults.retryAfterSeconds) },
        detail: { status: 'system_busy', message: 'Our services are experiencing high levels of traffic and your request could not be processed. Please try again.' },
      };
    }
    if (faults.serverErrors > 0) {
      faults.serverErrors--;
      return {
        status: HttpStatus.INTERNAL_SERVER_ERROR,
        headers: {},
        detail: { status: 'internal_error', message: 'We are sorry, something went wrong. You are not charged for this request.' },
      };
    }
    if (streamsInFlight >= faults.concurrencyLimit) {
      return {
        status: HttpStatus.TOO_MANY_REQUESTS,
        headers: {},
        detail: {
          status: 'too_many_concurrent_requests',
          message: `Too many concurrent requests. Your current subscription is associated with a maximum of ${faults.concurrencyLimit} concurrent requests (running in parallel).`,
        },
      };
    }
    return undefined;
  }
}

interface UpstreamFailure {
  status: HttpStatus;
  headers: Record<string, string>;
  detail: UpstreamErrorDetail;
}

/** 60 ms of audio per character, sentence by sentence: the `silence` speech of load tests. */
const SILENT_MS_PER_CHAR = 60;

async function* silentUnits(text: string, format: EmulatedFormat, noise = false): AsyncGenerator<SpokenUnit> {
  const bytesPerSample = format.codec === 'pcm' ? 2 : 1;
  // Silence: zero PCM, 0xFF mu-law, 0xD5 A-law.
  const fill = format.codec === 'pcm' ? 0 : format.codec === 'ulaw' ? 0xff : 0xd5;
  for (const sentence of splitSentences(text)) {
    const samples = Math.round((sentence.length * SILENT_MS_PER_CHAR * format.sampleRate) / 1000);
    const audio = Buffer.alloc(samples * bytesPerSample, fill);
    if (noise && format.codec === 'pcm') fillNoise(audio, format.sampleRate);
    yield { text: sentence, audio, samples, leadSamples: 0, trailSamples: 0 };
    await Promise.resolve();
  }
}

/** PCM16 noise at about -16 dBFS in 200 ms bursts with 50 ms gaps (a cheap stand-in for speech's level). */
function fillNoise(pcm: Buffer, sampleRate: number): void {
  let seed = 0x2545f491;
  const burst = Math.round(sampleRate * 0.25);
  for (let i = 0; i + 1 < pcm.length; i += 2) {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    const loud = (i / 2) % burst < burst * 0.8;
    pcm.writeInt16LE(loud ? (seed % 10000) : 0, i);
  }
}

async function* audioOf(units: AsyncIterable<SpokenUnit>): AsyncGenerator<Buffer> {
  for await (const unit of units) yield unit.audio;
}

async function* lines(pieces: AsyncIterable<TimedPiece>): AsyncGenerator<Buffer> {
  for await (const piece of pieces) yield timestampsLine(piece);
}

/**
 * Items of audio with `delayMs` between them, cut (`truncate`) and failed after `dropAfterBytes`
 * bytes of audio when set.
 */
async function* paced<T>(
  items: AsyncIterable<T>,
  audioOf: (item: T) => Buffer,
  truncate: (item: T, bytes: number) => T,
  delayMs: number,
  signal: AbortSignal,
  dropAfterBytes = 0,
): AsyncGenerator<T> {
  let sent = 0;
  for await (const item of items) {
    const length = audioOf(item).length;
    if (sent > 0 && delayMs > 0) await sleep(delayMs, undefined, { signal });
    if (dropAfterBytes > 0 && sent + length >= dropAfterBytes) {
      yield truncate(item, dropAfterBytes - sent);
      await sleep(50, undefined, { signal }); // the bytes before the cut reach the client
      throw new Error('emulated upstream drop');
    }
    sent += length;
    yield item;
  }
}

/** Tells `hook` about each chunk of audio just before it goes to the response (only wired in when a hook is set). */
async function* reported<T>(
  items: AsyncIterable<T>,
  audioOf: (item: T) => Buffer,
  hook: TtsEmitHook,
  request: Pick<TtsChunkInfo, 'text' | 'voiceId' | 'outputFormat'>,
): AsyncGenerator<T> {
  let chunkIndex = 0;
  let offset = 0;
  for await (const item of items) {
    const bytes = audioOf(item).byteLength;
    hook({ ...request, chunkIndex: chunkIndex++, offset, bytes }, performance.timeOrigin + performance.now());
    offset += bytes;
    yield item;
  }
}
