import { Body, Controller, Headers, HttpCode, HttpException, HttpStatus, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOkResponse, ApiOperation, ApiProperty, ApiPropertyOptional, ApiResponse, ApiTags } from '@nestjs/swagger';
import { DEFAULT_TOKEN_TTL_SECONDS, MAX_TOKEN_TTL_SECONDS, WsAuthService } from './ws-auth.service.js';

const ID = /^[A-Za-z0-9_.:@-]{1,200}$/;

export class MintTokenRequest {
  @ApiPropertyOptional({ description: 'Token lifetime in seconds (a new connection needs an unexpired token; an open session is not cut).', default: DEFAULT_TOKEN_TTL_SECONDS, minimum: 10, maximum: MAX_TOKEN_TTL_SECONDS })
  ttl_seconds?: number;
  @ApiPropertyOptional({ description: 'The principal (user id); appears in the service logs.', example: 'user-42' })
  sub?: string;
  @ApiPropertyOptional({ description: 'Binds the session to this chat backend registration; a client `backend` section that differs is refused.' })
  registration_id?: string;
  @ApiPropertyOptional({ description: 'Binds the conversation id the chat backend sees; a different client `session_id` is refused.' })
  session_id?: string;
}

export class MintTokenResponse {
  @ApiProperty({ description: 'HS256 JWT for the voice WebSocket handshake.' }) token!: string;
  @ApiProperty({ description: 'Expiry, seconds since the epoch.' }) expires_at!: number;
}

/**
 * `POST /v1/voice/tokens`: a customer backend (holding SERVICE_API_KEY) mints a short-lived token for
 * one of its users, who opens the voice socket with it (README "Security").
 */
@ApiTags('voice')
@Controller('v1/voice')
export class TokensController {
  constructor(private readonly auth: WsAuthService) {}

  @Post('tokens')
  @HttpCode(HttpStatus.OK)
  @ApiBearerAuth()
  @ApiOperation({ summary: 'Mint a short-lived HS256 token for the voice WebSocket (server-side callers, `Authorization: Bearer $SERVICE_API_KEY`).' })
  @ApiBody({ type: MintTokenRequest, required: false })
  @ApiOkResponse({ type: MintTokenResponse })
  @ApiResponse({ status: 400, description: 'A field is invalid; the message says which.' })
  @ApiResponse({ status: 401, description: 'Missing or wrong service key.' })
  @ApiResponse({ status: 404, description: 'Minting is off: SERVICE_API_KEY and WS_AUTH_SECRET must both be set.' })
  async mint(@Headers('authorization') authorization: string | undefined, @Body() body: unknown): Promise<MintTokenResponse> {
    if (!this.auth.canMint) {
      throw new HttpException({ error: 'not_found', message: 'Token minting is off: set SERVICE_API_KEY and WS_AUTH_SECRET.' }, HttpStatus.NOT_FOUND);
    }
    if (!this.auth.serviceKeyMatches(authorization)) {
      throw new HttpException({ error: 'unauthorized', message: 'Send Authorization: Bearer <SERVICE_API_KEY>.' }, HttpStatus.UNAUTHORIZED);
    }
    const request = parseMintRequest(body);
    const { token, expiresAt } = await this.auth.mint({
      ttlSeconds: request.ttl_seconds ?? DEFAULT_TOKEN_TTL_SECONDS,
      sub: request.sub,
      registrationId: request.registration_id,
      sessionId: request.session_id,
    });
    return { token, expires_at: expiresAt };
  }
}

function parseMintRequest(body: unknown): MintTokenRequest {
  const raw = body ?? {};
  const bad = (message: string) => new HttpException({ error: 'invalid_request', message }, HttpStatus.BAD_REQUEST);
  if (typeof raw !== 'object' || Array.isArray(raw)) throw bad('The body must be a JSON object.');
  const fields = raw as Record<string, unknown>;
  const known = ['ttl_seconds', 'sub', 'registration_id', 'session_id'];
  const unknown = Object.keys(fields).filter((key) => !known.includes(key));
  if (unknown.length > 0) throw bad(`Unknown field ${unknown[0]!.slice(0, 40)}; allowed: ${known.join(', ')}.`);
  const ttl = fields['ttl_seconds'];
  if (ttl !== undefined && (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl < 10 || ttl > MAX_TOKEN_TTL_SECONDS)) {
    throw bad(`ttl_seconds must be a whole number from 10 to ${MAX_TOKEN_TTL_SECONDS}.`);
  }
  for (const key of ['sub', 'registration_id', 'session_id']) {
    const value = fields[key];
    if (value !== undefined && (typeof value !== 'string' || !ID.test(value))) throw bad(`${key} must be 1-200 letters, digits or _ . : @ -.`);
  }
  return fields;
}
