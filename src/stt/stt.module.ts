import { Module } from '@nestjs/common';
import { STT_PROVIDERS } from './stt-provider.js';
import { SttService } from './stt.service.js';

@Module({
  providers: [{ provide: STT_PROVIDERS, useValue: [] }, SttService],
  exports: [SttService],
})
export class SttModule {}
