import { Module } from '@nestjs/common';
import { LocalSttProvider } from './local-stt.provider.js';
import { STT_PROVIDERS, type SttProvider } from './stt-provider.js';
import { SttService } from './stt.service.js';

@Module({
  providers: [
    LocalSttProvider,
    { provide: STT_PROVIDERS, inject: [LocalSttProvider], useFactory: (...providers: SttProvider[]) => providers },
    SttService,
  ],
  exports: [SttService],
})
export class SttModule {}
