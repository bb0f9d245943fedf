import { CLIENT_MESSAGES, type ClientMessageType } from '../client-messages.js';
import { MAX_AUDIO_CHUNK_BYTES, PROTOCOL_VERSION, VOICE_WS_PATH } from '../limits.js';
import { SERVER_EVENTS, type ServerEventType } from '../server-events.js';
import { CLIENT_MESSAGE_EXAMPLES, SERVER_EVENT_EXAMPLES } from './examples.js';
import { contractSchemas, SCHEMA_REF_PREFIX, type JsonSchema } from './json-schemas.js';

/** Where the service serves the document. */
export const ASYNCAPI_PATH = '/asyncapi.json';

/** The message name of raw binary audio frames (the only frames that are not JSON). */
export const BINARY_AUDIO_MESSAGE = 'audio.binary';

const CHANNEL = 'voice';

/**
 * The AsyncAPI 3.0 document of the voice WebSocket, generated from the protocol classes: one
 * message per client message type (the server `receive`s them), one per server event type (the
 * server `send`s them), and the raw binary audio frames. Payloads are the JSON Schemas of
 * `contractSchemas()`.
 */
export function buildAsyncApiDocument(): JsonSchema {
  const schemas = contractSchemas();
  const messages: Record<string, JsonSchema> = {};
  const operations: Record<string, JsonSchema> = {};

  const addMessage = (name: string, action: 'receive' | 'send', message: JsonSchema): void => {
    messages[name] = { name, contentType: 'application/json', ...message };
    operations[operationId(action, name)] = {
      action,
      channel: { $ref: `#/channels/${CHANNEL}` },
      summary: action === 'receive' ? `Client sends \`${name}\`.` : `Server sends \`${name}\`.`,
      messages: [{ $ref: `#/channels/${CHANNEL}/messages/${name}` }],
    };
  };
  const jsonMessage = (name: string, cls: abstract new () => object, example: Record<string, unknown>): JsonSchema => ({
    title: name,
    summary: schemas[cls.name]!['description'],
    payload: { $ref: `${SCHEMA_REF_PREFIX}${cls.name}` },
    examples: [{ name: 'example', payload: example }],
  });

  for (const [name, cls] of Object.entries(CLIENT_MESSAGES)) addMessage(name, 'receive', jsonMessage(name, cls, CLIENT_MESSAGE_EXAMPLES[name as ClientMessageType]));
  addMessage(BINARY_AUDIO_MESSAGE, 'receive', {
    title: 'binary audio frame',
    summary: `Microphone audio as a binary WebSocket frame: raw PCM16LE mono at the session's stt.sample_rate (or mu-law bytes for ulaw_8000), 20 ms to 1 s (at most ${MAX_AUDIO_CHUNK_BYTES} bytes) per frame, an even byte count for PCM.`,
    contentType: 'application/octet-stream',
    payload: { type: 'string', format: 'binary' },
  });
  for (const [name, cls] of Object.entries(SERVER_EVENTS)) addMessage(name, 'send', jsonMessage(name, cls, SERVER_EVENT_EXAMPLES[name as ServerEventType]));

  return {
    asyncapi: '3.0.0',
    info: {
      title: 'Voice Layer voice protocol',
      version: PROTOCOL_VERSION,
      description: [
        'One WebSocket per conversation. The server sends `session.ready`; the client sends `session.configure` first, then',
        '`text.prompt` and microphone audio (binary frames or `audio.append`, ended by a pause or `audio.commit`). Each user',
        'turn is answered in order: `assistant.started`, `assistant.message`, then `assistant.audio.start`, chunks and',
        '`assistant.audio.end`, then `turn.metrics` (with a streaming chat backend, `assistant.message.delta` events come',
        'first and audio may start before `assistant.message`). Every text frame is one JSON object with a `type`.',
        'Errors never close the socket.',
        '',
        'Generated from the protocol library. FRONTEND_HANDOFF.md explains every field and event; `/test` is a browser',
        'console for this protocol; `GET /v1/voice/config` lists the providers, voices and formats a server offers.',
      ].join('\n'),
    },
    defaultContentType: 'application/json',
    servers: {
      local: {
        host: 'localhost:8000',
        protocol: 'ws',
        description: 'The service on its defaults (`npm start`). Use `wss` behind TLS.',
      },
    },
    channels: {
      [CHANNEL]: {
        address: VOICE_WS_PATH,
        title: 'Voice session',
        description: 'A voice session: client messages in, server events out, over one WebSocket.',
        messages: Object.fromEntries(Object.keys(messages).map((name) => [name, { $ref: `#/components/messages/${name}` }])),
      },
    },
    operations,
    components: { messages, schemas },
  };
}

/** `receiveSessionConfigure`, `sendAssistantAudioChunk`, ... */
function operationId(action: string, name: string): string {
  return action + name.split(/[._]/).map((part) => part[0]!.toUpperCase() + part.slice(1)).join('');
}
