import { Controller, Get, NotFoundException, Param, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Response } from 'express';
import { fileURLToPath } from 'node:url';

/** Where the browser test console is served. */
export const CONSOLE_PATH = '/test';

/** The console's files: compiled modules beside this file in dist (see `npm run build`). */
const WEB_ROOT = fileURLToPath(new URL('./web/', import.meta.url));
const ASSET_NAME = /^[a-z][a-z0-9-]*\.(?:js|js\.map|css)$/;
/** Everything comes from this service: no other origin is ever contacted. */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "connect-src 'self' ws: wss:",
  "img-src 'self' data:",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** Serves the browser test console: one page and its ES modules and stylesheet. */
@ApiExcludeController()
@Controller(CONSOLE_PATH.slice(1))
export class ConsoleController {
  @Get()
  page(@Res() res: Response): void {
    send(res, 'index.html');
  }

  @Get(':file')
  asset(@Param('file') file: string, @Res() res: Response): void {
    if (!ASSET_NAME.test(file)) throw new NotFoundException();
    send(res, file);
  }
}

function send(res: Response, file: string): void {
  res.setHeader('content-security-policy', CONTENT_SECURITY_POLICY);
  res.sendFile(file, { root: WEB_ROOT, headers: { 'cache-control': 'no-cache' } }, (error) => {
    if (error && !res.headersSent) res.status(404).json({ statusCode: 404, message: `Not found: ${CONSOLE_PATH}/${file}` });
  });
}
