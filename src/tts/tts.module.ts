import { Module } from '@nestjs/common';
import { ElevenLabsTtsProvider } from './elevenlabs-tts.provider.js';
import { LocalTtsProvider } from './local-tts.provider.js';
import { TTS_PROVIDERS, type TtsProvider } from './tts-provider.js';
import { TtsService } from './tts.service.js';

@Module({
  providers: [
    LocalTtsProvider,
    ElevenLabsTtsProvider,
    { provide: TTS_PROVIDERS, inject: [LocalTtsProvider, ElevenLabsTtsProvider], useFactory: (...providers: TtsProvider[]) => providers },
    TtsService,
  ],
  exports: [TtsService],
})
export class TtsModule {}
