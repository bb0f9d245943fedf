import { Module, type DynamicModule, type MiddlewareConsumer, type NestModule } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { EMULATOR_STATE, type EmulatorState } from './emulator-state.js';
import { JsonBodyFilter } from './json-body.filter.js';
import { RequestRecorder } from './request-recorder.middleware.js';
import { RealtimeSttServer } from './speech-to-text/realtime.server.js';
import { EMULATOR_WORKERS, EmulatorSpeech } from './speech/emulator-speech.js';
import { TextToSpeechController } from './text-to-speech/text-to-speech.controller.js';

@Module({})
export class ElevenLabsEmulatorModule implements NestModule {
  static forRoot(state: EmulatorState, workers: number): DynamicModule {
    return {
      module: ElevenLabsEmulatorModule,
      controllers: [TextToSpeechController],
      providers: [
        { provide: EMULATOR_STATE, useValue: state },
        { provide: EMULATOR_WORKERS, useValue: workers },
        { provide: APP_FILTER, useClass: JsonBodyFilter },
        EmulatorSpeech,
        RealtimeSttServer,
      ],
    };
  }

  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(RequestRecorder).forRoutes(TextToSpeechController);
  }
}
