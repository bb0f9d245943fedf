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
import { parseTextToSpeechRequest } from './text-to-speech.dto.js';

/** `POST /v1/text-to-speech/{voice_id}/stream`: chunked audio, sentence by sentence, as ElevenLabs streams it. */
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
        'content-type': format.contentType,
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
      const speech = this.state.ttsSpeech === 'silence' && format.codec !== 'mp3' ? silentSpeech(body.text, format) : this.speech.speak(body.text, voiceId, body.voice_settings?.speed ?? 1, format, client.signal);
      const audio = paced(speech, faults.chunkDelayMs, client.signal, faults.dropAfterBytes);
      const { onTtsEmit } = this.state;
      await pipeline(onTtsEmit ? reported(audio, onTtsEmit, { text: body.text, voiceId, outputFormat }) : audio, res);
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

async function* silentSpeech(text: string, format: EmulatedFormat): AsyncGenerator<Buffer> {
  const bytesPerSample = format.codec === 'pcm' ? 2 : 1;
  // Silence: zero PCM, 0xFF mu-law, 0xD5 A-law.
  const fill = format.codec === 'pcm' ? 0 : format.codec === 'ulaw' ? 0xff : 0xd5;
  for (const sentence of splitSentences(text)) {
    const samples = Math.round((sentence.length * SILENT_MS_PER_CHAR * format.sampleRate) / 1000);
    yield Buffer.alloc(samples * bytesPerSample, fill);
    await Promise.resolve();
  }
}

async function* paced(audio: AsyncIterable<Buffer>, delayMs: number, signal: AbortSignal, dropAfterBytes = 0): AsyncGenerator<Buffer> {
  let sent = 0;
  for await (const chunk of audio) {
    if (sent > 0 && delayMs > 0) await sleep(delayMs, undefined, { signal });
    if (dropAfterBytes > 0 && sent + chunk.length >= dropAfterBytes) {
      yield chunk.subarray(0, dropAfterBytes - sent);
      await sleep(50, undefined, { signal }); // the bytes before the cut reach the client
      throw new Error('emulated upstream drop');
    }
    sent += chunk.length;
    yield chunk;
  }
}

/** Tells `hook` about each chunk just before it goes to the response (only wired in when a hook is set). */
async function* reported(
  audio: AsyncIterable<Buffer>,
  hook: TtsEmitHook,
  request: Pick<TtsChunkInfo, 'text' | 'voiceId' | 'outputFormat'>,
): AsyncGenerator<Buffer> {
  let chunkIndex = 0;
  let offset = 0;
  for await (const chunk of audio) {
    hook({ ...request, chunkIndex: chunkIndex++, offset, bytes: chunk.byteLength }, performance.timeOrigin + performance.now());
    offset += chunk.byteLength;
    yield chunk;
  }
}
