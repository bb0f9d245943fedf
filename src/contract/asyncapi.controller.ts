import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ASYNCAPI_PATH, buildAsyncApiDocument, type JsonSchema } from '@app/protocol';

/** Serves the machine-readable contract of the voice WebSocket, generated from the protocol library. */
@ApiTags('voice')
@Controller()
export class AsyncApiController {
  private readonly document = buildAsyncApiDocument();

  @Get(ASYNCAPI_PATH)
  @ApiOperation({
    summary: 'AsyncAPI 3.0 document of the voice WebSocket',
    description: 'Every client message and server event with its JSON Schema (under components.schemas) and an example.',
  })
  @ApiOkResponse({ description: 'The AsyncAPI document.' })
  getDocument(): JsonSchema {
    return this.document;
  }
}
