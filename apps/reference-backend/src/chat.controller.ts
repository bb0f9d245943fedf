import {
  Body,
  Controller,
  HttpCode,
  HttpException,
  HttpStatus,
  Inject,
  Post,
  UseGuards,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import { ChatEngine, ChatEngineError, type ChatResponse, type RegisterResponse } from '@app/chat';
import { ChatBody, RegisterBody } from './dto.js';

export const REFERENCE_BACKEND_OPTIONS = Symbol('REFERENCE_BACKEND_OPTIONS');

export interface ReferenceBackendOptions {
  /** When set, requests must carry `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  llmTimeoutMs?: number;
}

class BearerGuard implements CanActivate {
  constructor(@Inject(REFERENCE_BACKEND_OPTIONS) private readonly options: ReferenceBackendOptions) {}

  canActivate(context: ExecutionContext): boolean {
    if (!this.options.apiKey) return true;
    const header = context.switchToHttp().getRequest<{ headers: Record<string, string | undefined> }>().headers['authorization'];
    if (header === `Bearer ${this.options.apiKey}`) return true;
    throw new HttpException({ error: 'unauthorized', message: 'missing or wrong bearer token' }, HttpStatus.UNAUTHORIZED);
  }
}

const STATUS_BY_CODE = {
  invalid_registration: HttpStatus.UNPROCESSABLE_ENTITY,
  unknown_registration: HttpStatus.NOT_FOUND,
  llm_failed: HttpStatus.BAD_GATEWAY,
} as const;

/** The chat backend contract: register once, then chat per session. */
@Controller('v1')
@UseGuards(BearerGuard)
export class ChatController {
  constructor(@Inject(ChatEngine) private readonly engine: ChatEngine) {}

  @Post('register')
  @HttpCode(HttpStatus.OK)
  register(@Body() body: RegisterBody): RegisterResponse {
    return { registration_id: this.call(() => this.engine.register(body)) };
  }

  @Post('chat')
  @HttpCode(HttpStatus.OK)
  async chat(@Body() body: ChatBody): Promise<ChatResponse> {
    try {
      const reply = await this.engine.chat(body);
      return { response: reply.text, metadata: reply.metadata };
    } catch (error) {
      throw toHttp(error);
    }
  }

  private call<T>(fn: () => T): T {
    try {
      return fn();
    } catch (error) {
      throw toHttp(error);
    }
  }
}

function toHttp(error: unknown): unknown {
  if (!(error instanceof ChatEngineError)) return error;
  return new HttpException({ error: error.code, message: error.message }, STATUS_BY_CODE[error.code]);
}
