import {
  Body,
  Controller,
  HttpCode,
  HttpException,
  HttpStatus,
  Inject,
  Post,
  Req,
  Res,
  UseGuards,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ChatEngine, ChatEngineError, isReplyStream, type ChatResponse, type ChatStreamPiece, type RegisterResponse } from '@app/chat';
import { ChatBody, RegisterBody } from './dto.js';

export const REFERENCE_BACKEND_OPTIONS = Symbol('REFERENCE_BACKEND_OPTIONS');

export interface ReferenceBackendOptions {
  /** When set, requests must carry `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  llmTimeoutMs?: number;
  /** Stream local replies word by word at this pace to callers that accept SSE (0 = whole replies). */
  localStreamMsPerWord?: number;
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

  /**
   * JSON `{response, metadata}`, or, when the caller accepts `text/event-stream` and the reply is
   * written over time (LLM relay, paced local responder), an SSE stream of `{"delta"}` events, then
   * `{"metadata"}` and `[DONE]`; a failure after the stream began is sent as `{"error": {"message"}}`.
   * The LLM call is aborted when the caller goes away.
   */
  @Post('chat')
  @HttpCode(HttpStatus.OK)
  async chat(@Body() body: ChatBody, @Req() req: IncomingMessage, @Res({ passthrough: true }) res: ServerResponse): Promise<ChatResponse | undefined> {
    const gone = new AbortController();
    res.once('close', () => gone.abort());
    const wantsStream = /\btext\/event-stream\b/i.test(req.headers.accept ?? '');
    let first: IteratorResult<ChatStreamPiece> | undefined;
    let pieces: AsyncIterator<ChatStreamPiece> | undefined;
    try {
      const answer = await this.engine.answer(body, gone.signal, { stream: wantsStream });
      if (!isReplyStream(answer)) return { response: answer.text, metadata: answer.metadata };
      pieces = answer.pieces[Symbol.asyncIterator]();
      first = await pieces.next(); // failures before the first piece still get an HTTP status
    } catch (error) {
      throw toHttp(error);
    }
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' });
    const send = (data: unknown) => res.write(`data: ${JSON.stringify(data)}\n\n`);
    try {
      for (let next = first; !next.done; next = await pieces.next()) send(next.value);
      res.end('data: [DONE]\n\n');
    } catch (error) {
      if (!gone.signal.aborted) send({ error: { message: error instanceof ChatEngineError ? error.message : 'the chat backend failed' } });
      res.end();
    }
    return undefined;
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
