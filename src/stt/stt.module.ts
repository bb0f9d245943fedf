import { Module } from '@nestjs/common';
import { ElevenLabsSttProvider } from './elevenlabs-stt.provider.js';
import { LocalSttProvider } from './local-stt.provider.js';
import { STT_PROVIDERS, type SttProvider } from './stt-provider.js';
import { SttService } from './stt.service.js';

@Module({
  providers: [
    LocalSttProvider,
    ElevenLabsSttProvider,
    { provide: STT_PROVIDERS, inject: [LocalSttProvider, ElevenLabsSttProvider], useFactory: (...providers: SttProvider[]) => providers },
    SttService,
  ],
  exports: [SttService],
})
export class SttModule {}
